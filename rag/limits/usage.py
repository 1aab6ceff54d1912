"""What is metered: per tenant, day (UTC), subject and API key, the counts of chat and ingestion work."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime


@dataclass(frozen=True, slots=True)
class UsageCounts:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0  # chat requests answered (abstentions included)
    retrieval_calls: int = 0  # retrievals: one per chat that retrieved, one per POST /v1/retrieve
    chunks_embedded: int = 0  # ingestion
    embedding_tokens: int = 0  # ingestion: the embedder's tokens of the chunks it embedded
    # ingestion at its sources (ingest/sources/): documents listed, bodies fetched and their bytes, documents whose
    # change token (or the server) said they had not changed, so nothing was fetched
    documents_listed: int = 0
    documents_fetched: int = 0
    bytes_downloaded: int = 0
    documents_not_modified: int = 0

    @property
    def tokens(self) -> int:
        """What token quotas count: prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def items(self) -> dict[str, int]:
        """The non-zero counts by name."""
        return {k: v for k, v in asdict(self).items() if v}

    def __add__(self, other: UsageCounts) -> UsageCounts:
        return UsageCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


METRICS = tuple(f.name for f in fields(UsageCounts))


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """Counts to add for one tenant on one day, by subject and API key (`key_id`: a key's short hash; None for OIDC
    users, the CLI and unauthenticated development)."""

    tenant: str
    day: date
    subject: str
    key_id: str | None
    counts: UsageCounts


@dataclass(frozen=True, slots=True)
class UsageRow:
    """A tenant's counts on one day for one subject and key."""

    day: date
    subject: str
    key_id: str | None
    counts: UsageCounts


def today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"
