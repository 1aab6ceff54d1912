"""Request rates per API key or user, and token quotas per tenant, checked against the shared state; usage recorded
there. What a client sees of them: 429 with Retry-After past a limit, and OpenAI's `x-ratelimit-*` headers.

Rates are moving windows (the `limits` library): `requests_per_minute` in any minute and, when `burst` is smaller,
at most `burst` in any `60 * burst / requests_per_minute` seconds. Quotas count a tenant's prompt plus completion
tokens per UTC day and calendar month; a request is admitted while the tenant is below both, so a stream that
crosses a quota finishes (the overshoot is at most its own tokens) and the next request is refused.

Failed authentications are counted per client address in a moving minute (`auth_failures_per_minute`, 0 for no
limit), in the same storage: while an address has that many in its window, its requests are refused (RateLimited)
before their credentials are checked, until the oldest failure leaves the window.
"""

from __future__ import annotations

import math
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter

from rag.errors import QuotaExceeded, RateLimited
from rag.limits.backend import Spent
from rag.limits.guarded import GuardedState
from rag.limits.limits_file import Limits, TenantLimits
from rag.limits.usage import UsageRecord, UsageRow


@dataclass(frozen=True, slots=True)
class Window:
    """One limit as the `x-ratelimit-*` headers show it: the limit, what is left, and seconds until it resets."""

    limit: int
    remaining: int
    reset_s: float


def _rate_items(limits: TenantLimits) -> list[RateLimitItem]:
    """The moving windows of a rate: the burst slice first (when it is shorter than the minute), then the minute."""
    per_minute = limits.requests_per_minute
    if per_minute <= 0:
        return []
    items: list[RateLimitItem] = []
    if limits.burst < per_minute:
        items.append(RateLimitItemPerSecond(limits.burst, max(1, math.ceil(60 * limits.burst / per_minute))))
    items.append(RateLimitItemPerMinute(per_minute))
    return items


def _seconds_to_next_day(now: datetime) -> float:
    tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return (tomorrow - now).total_seconds()


def _seconds_to_next_month(now: datetime) -> float:
    last = monthrange(now.year, now.month)[1]
    first_next = datetime.combine(date(now.year, now.month, last) + timedelta(days=1), datetime.min.time(), UTC)
    return (first_next - now).total_seconds()


AUTH_FAILURES = "rag-auth-failures"  # the namespace of the failed-authentication windows, beside requests' `rag`


class Limiter:
    def __init__(
        self,
        state: GuardedState,
        limits: Limits,
        *,
        auth_failures_per_minute: int = 0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.state, self.limits, self._now = state, limits, now
        self._windows = MovingWindowRateLimiter(state.backend.rate_storage)
        self._auth_failures = RateLimitItemPerMinute(auth_failures_per_minute) if auth_failures_per_minute else None

    async def admit_client(self, address: str) -> None:
        """RateLimited, with the seconds until a failure leaves the window, while `address` (a client address, as
        one part: no `/`) has had `auth_failures_per_minute` failed authentications in the last minute. One read
        of the window; nothing counted (a check skipped: the backend is down and the policy is `open`)."""
        item = self._auth_failures
        if item is not None:
            await self.state.check("auth", lambda: self._refuse_failing(item, address), None)

    async def _refuse_failing(self, item: RateLimitItem, address: str) -> None:
        stats = await self._windows.get_window_stats(item, AUTH_FAILURES, address)
        if stats.remaining <= 0:
            wait = max(0.0, stats.reset_time - self._now().timestamp())
            raise RateLimited(
                f"too many failed authentications from this address: retry after {math.ceil(wait)} s",
                retry_after_s=wait,
            )

    async def note_auth_failure(self, address: str) -> None:
        """Count one failed authentication of `address` (past the limit, the window stays full)."""
        item = self._auth_failures
        if item is not None:
            await self.state.check("auth", lambda: self._windows.hit(item, AUTH_FAILURES, address), False)

    async def admit_request(self, tenant: str, caller: str) -> Window | None:
        """Count one request of `caller` (an API key or a user) under its tenant's rate: its minute window, or
        RateLimited with the seconds until the fullest window frees a slot. None without a rate (or a check
        skipped: the backend is down and the policy is `open`)."""
        items = _rate_items(self.limits.for_tenant(tenant))
        if not items:
            return None
        return await self.state.check("rate", lambda: self._hit(items, caller), None)

    async def _hit(self, items: list[RateLimitItem], caller: str) -> Window:
        for item in items:
            if not await self._windows.hit(item, "rag", caller):
                stats = await self._windows.get_window_stats(item, "rag", caller)
                wait = max(0.0, stats.reset_time - self._now().timestamp())
                raise RateLimited(
                    f"rate limit exceeded: retry after {math.ceil(wait)} s", retry_after_s=wait, limit=items[-1].amount
                )
        minute = items[-1]
        stats = await self._windows.get_window_stats(minute, "rag", caller)
        return Window(minute.amount, stats.remaining, max(0.0, stats.reset_time - self._now().timestamp()))

    async def admit_tokens(self, tenant: str) -> Window | None:
        """The tenant's token quota: the window closer to its limit (day or month), or QuotaExceeded (429) when the
        tenant has spent a quota, with the seconds until it resets. None without a quota (or a check skipped)."""
        limits = self.limits.for_tenant(tenant)
        if limits.tokens_per_day is None and limits.tokens_per_month is None:
            return None
        now = self._now()
        spent = await self.state.check("quota", lambda: self.state.backend.spent(tenant, now.date()), None)
        if spent is None:
            return None
        windows = self._quota_windows(limits, spent, now)
        exhausted = [(period, w) for period, w in windows.items() if w.remaining <= 0]
        if exhausted:
            period, window = max(exhausted, key=lambda pw: pw[1].reset_s)  # refused until the last one resets
            raise QuotaExceeded(
                f"the tenant's {period} token quota ({window.limit} tokens) is used up: retry after "
                f"{math.ceil(window.reset_s)} s",
                retry_after_s=window.reset_s,
                limit=window.limit,
            )
        return min(windows.values(), key=lambda w: w.remaining)

    @staticmethod
    def _quota_windows(limits: TenantLimits, spent: Spent, now: datetime) -> dict[str, Window]:
        windows = {}
        if limits.tokens_per_day is not None:
            left = limits.tokens_per_day - spent.day
            windows["daily"] = Window(limits.tokens_per_day, max(0, left), _seconds_to_next_day(now))
        if limits.tokens_per_month is not None:
            left = limits.tokens_per_month - spent.month
            windows["monthly"] = Window(limits.tokens_per_month, max(0, left), _seconds_to_next_month(now))
        return windows

    async def record(self, record: UsageRecord) -> None:
        """Add one record to the usage and the tenant's tokens spent (kept for later if the backend is down)."""
        await self.state.add_usage([record])

    async def usage(self, tenant: str, first: date, last: date) -> list[UsageRow]:
        """The tenant's usage by day, subject and key (BackendUnavailable when the backend is down: usage is not
        a check to skip)."""
        return await self.state.read(lambda: self.state.backend.usage(tenant, first, last))
