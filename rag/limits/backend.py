"""The narrow interface of the shared state, one implementation per backend: rate-limit windows (the `limits`
library's storage), tokens spent per tenant per UTC day and month, and usage by day, subject and key."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from limits.aio.storage import Storage

from rag.limits.usage import UsageRecord, UsageRow


class StateUnavailable(Exception):
    """The backend could not be reached or did not answer in time (RAG_STATE_TIMEOUT_S)."""


@dataclass(frozen=True, slots=True)
class Spent:
    """A tenant's tokens spent (prompt plus completion) on a UTC day and in its calendar month."""

    day: int
    month: int


class StateBackend(ABC):
    name: str  # for /readyz and logs: "memory" or "redis"
    errors: tuple[type[Exception], ...] = ()  # what its client raises when the backend cannot be reached

    @property
    @abstractmethod
    def rate_storage(self) -> Storage:
        """Where the rate limiter's windows live (`limits.aio` storage over the same backend)."""

    @abstractmethod
    async def add_usage(self, records: Sequence[UsageRecord]) -> None:
        """Add the records' counts to the usage by day and to their tenants' tokens spent, all or none."""

    @abstractmethod
    async def spent(self, tenant: str, day: date) -> Spent:
        """The tenant's tokens spent on `day` and in its month."""

    @abstractmethod
    async def usage(self, tenant: str, first: date, last: date) -> list[UsageRow]:
        """The tenant's usage rows from `first` to `last` (UTC days, both included), by day, subject and key."""

    @abstractmethod
    async def ping(self) -> None:
        """Return when the backend answers; StateUnavailable when it does not."""

    async def aclose(self) -> None:  # noqa: B027 (nothing to release in memory)
        """Release connections."""
