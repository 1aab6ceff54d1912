"""`GET /v1/usage`: a tenant's metered usage by UTC day, for its admins, in a shape close to OpenAI's usage API
(`page` of daily `bucket`s, each with `results`), optionally grouped by subject and API key."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Query
from pydantic import BaseModel

from rag.errors import InvalidInput
from rag.limits.usage import UsageCounts, UsageRow, today
from serving.deps import AdminDep, StateDep
from serving.protocol import ErrorResponse

router = APIRouter()
MAX_DAYS = 366
# The days a query may name: from the Unix epoch (no usage is older) to the day before the last a date holds (the
# default `from`, six days before `to`, and the walk over the days stay in range); outside them a 400, not a 500.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date.max - timedelta(days=1)
GroupBy = Literal["subject", "api_key_id"]


class UsageResult(BaseModel):
    object: Literal["usage.result"] = "usage.result"
    input_tokens: int
    output_tokens: int
    num_model_requests: int
    retrieval_calls: int
    chunks_embedded: int
    embedding_tokens: int
    documents_listed: int = 0  # ingestion jobs at their sources (docs/sources.md)
    documents_fetched: int = 0
    bytes_downloaded: int = 0
    documents_not_modified: int = 0
    subject: str | None = None  # set when grouped by subject
    api_key_id: str | None = None  # set when grouped by api_key_id (the key's short hash)


class UsageBucket(BaseModel):
    object: Literal["bucket"] = "bucket"
    date: date
    start_time: int  # the UTC day, as Unix seconds, as OpenAI's buckets
    end_time: int
    results: list[UsageResult]


class UsagePage(BaseModel):
    object: Literal["page"] = "page"
    tenant: str
    data: list[UsageBucket]
    has_more: bool = False
    next_page: str | None = None


def _result(counts: UsageCounts, subject: str | None, key_id: str | None) -> UsageResult:
    return UsageResult(
        input_tokens=counts.prompt_tokens,
        output_tokens=counts.completion_tokens,
        num_model_requests=counts.requests,
        retrieval_calls=counts.retrieval_calls,
        chunks_embedded=counts.chunks_embedded,
        embedding_tokens=counts.embedding_tokens,
        documents_listed=counts.documents_listed,
        documents_fetched=counts.documents_fetched,
        bytes_downloaded=counts.bytes_downloaded,
        documents_not_modified=counts.documents_not_modified,
        subject=subject,
        api_key_id=key_id,
    )


def _bucket(day: date, rows: list[UsageRow], group_by: set[str]) -> UsageBucket:
    groups: dict[tuple[str | None, str | None], UsageCounts] = {}
    for row in rows:
        key = (row.subject if "subject" in group_by else None, row.key_id if "api_key_id" in group_by else None)
        groups[key] = groups.get(key, UsageCounts()) + row.counts
    start = int(datetime.combine(day, time.min, UTC).timestamp())
    results = [_result(c, s, k) for (s, k), c in sorted(groups.items(), key=lambda g: (str(g[0][0]), str(g[0][1])))]
    return UsageBucket(date=day, start_time=start, end_time=start + 86_400, results=results)


@router.get(
    "/v1/usage",
    response_model=UsagePage,
    responses={code: {"model": ErrorResponse} for code in (400, 401, 403, 429, 503)},
)
async def usage(
    state: StateDep,
    principal: AdminDep,
    from_: Annotated[
        date | None,
        Query(alias="from", ge=FIRST_DAY, le=LAST_DAY, description="first UTC day (default: 6 days before `to`)"),
    ] = None,
    to: Annotated[
        date | None, Query(ge=FIRST_DAY, le=LAST_DAY, description="last UTC day, included (default: today)")
    ] = None,
    group_by: Annotated[
        list[str], Query(description="`subject` and/or `api_key_id`, repeated or comma-separated")
    ] = [],  # noqa: B006
) -> UsagePage:
    groups = {g.strip() for value in group_by for g in value.split(",") if g.strip()}
    if unknown := groups - set(get_args(GroupBy)):
        raise InvalidInput(f"group_by: unknown {', '.join(sorted(unknown))} (subject, api_key_id)", param="group_by")
    last = to or today()
    first = from_ or max(FIRST_DAY, last - timedelta(days=6))
    if first > last:
        raise InvalidInput("'from' is after 'to'", param="from")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(f"at most {MAX_DAYS} days at a time", param="from")
    rows = await state.limiter.usage(principal.tenant, first, last)
    by_day: dict[date, list[UsageRow]] = {}
    for row in rows:
        by_day.setdefault(row.day, []).append(row)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return UsagePage(tenant=principal.tenant, data=[_bucket(d, by_day.get(d, []), groups) for d in days])
