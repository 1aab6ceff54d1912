"""The failure policy around a state backend (RAG_STATE_FAILURE). When the backend cannot be reached a check either
passes (`open`: logged once per outage, each skipped check counted) or fails with 503 (`closed`). Either way usage
is never dropped: records that cannot be written wait in memory (up to `max_pending`) and are written, before
anything else, once the backend answers again. After a failure the backend is left alone for RAG_STATE_RETRY_S,
so an outage costs a request at most one timeout per interval, not one per check."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, TypeVar

from rag.errors import BackendUnavailable
from rag.limits.backend import StateBackend, StateUnavailable
from rag.limits.usage import UsageRecord

log = logging.getLogger(__name__)
T = TypeVar("T")
FailurePolicy = Literal["open", "closed"]


class GuardedState:
    def __init__(
        self,
        backend: StateBackend,
        *,
        policy: FailurePolicy = "open",
        retry_s: float = 1.0,
        max_pending: int = 100_000,
        on_skip: Callable[[str], None] = lambda check: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend, self.policy = backend, policy
        self._retry_s, self._max_pending, self._on_skip, self._clock = retry_s, max_pending, on_skip, clock
        self._errors: tuple[type[Exception], ...] = (StateUnavailable, *backend.errors)
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._pending: list[UsageRecord] = []

    @property
    def up(self) -> bool:
        return self._down_since is None

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def check(self, name: str, call: Callable[[], Awaitable[T]], fallback: T) -> T:
        """`call`'s result; when the backend cannot be reached, `fallback` (policy `open`, the check counted as
        skipped under `name`) or BackendUnavailable (policy `closed`)."""
        if not await self._reachable():
            return self._unavailable(name, fallback)
        try:
            return await call()
        except self._errors as exc:
            self._failed(exc)
            return self._unavailable(name, fallback)

    async def read(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call`'s result, or BackendUnavailable whatever the policy: a read (usage) has no fallback."""
        if await self._reachable():
            try:
                return await call()
            except self._errors as exc:
                self._failed(exc)
        raise BackendUnavailable(f"the shared state ({self.backend.name}) is unreachable: retry shortly")

    async def add_usage(self, records: Sequence[UsageRecord]) -> None:
        """Write the records, or keep them to write once the backend is back (never raises for an outage)."""
        if await self._reachable():
            try:
                await self.backend.add_usage(records)
                return
            except self._errors as exc:
                self._failed(exc)
        self._pending.extend(records)
        overflow = len(self._pending) - self._max_pending
        if overflow > 0:
            del self._pending[:overflow]
            log.error("state backend %s: %d usage records dropped (more than %d waiting)",
                      self.backend.name, overflow, self._max_pending)  # fmt: skip

    async def ping(self) -> bool:
        """Whether the backend answers now (tried whatever the retry interval; writes waiting usage if it does)."""
        self._retry_at = 0.0
        return await self._reachable()

    async def _reachable(self) -> bool:
        if self._down_since is None:
            return True
        if self._clock() < self._retry_at:
            return False
        try:
            await self.backend.ping()
        except self._errors as exc:
            self._failed(exc)
            return False
        if self._down_since is None:  # another request saw it recover meanwhile
            return True
        down_s = self._clock() - self._down_since
        self._down_since = None
        waiting = len(self._pending)
        await self._flush()
        log.warning("state backend %s reachable again after %.1f s; %d waiting usage records written",
                    self.backend.name, down_s, waiting - len(self._pending))  # fmt: skip
        return self._down_since is None

    async def _flush(self) -> None:
        """Write the waiting records (taken out first: a concurrent flush never writes them twice)."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            await self.backend.add_usage(batch)
        except self._errors as exc:
            self._failed(exc)
            self._pending[:0] = batch

    def _failed(self, exc: BaseException) -> None:
        now = self._clock()
        self._retry_at = now + self._retry_s
        if self._down_since is None:
            self._down_since = now
            log.error(
                "state backend %s unreachable (%s): %s; retrying every %.1f s",
                self.backend.name, exc, "failing open, checks skipped" if self.policy == "open" else
                "failing closed, requests refused with 503", self._retry_s,
            )  # fmt: skip

    def _unavailable(self, name: str, fallback: T) -> T:
        if self.policy == "closed":
            raise BackendUnavailable(f"the shared state ({self.backend.name}) is unreachable: retry shortly")
        self._on_skip(name)
        return fallback
