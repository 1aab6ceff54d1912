"""The state backend and limiter the settings describe: Redis at RAG_STATE_URL, else in-process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from rag.limits.backend import StateBackend, StateUnavailable
from rag.limits.guarded import GuardedState
from rag.limits.limiter import Limiter
from rag.limits.limits_file import Limits
from rag.limits.memory_backend import MemoryState
from rag.limits.redis_backend import RedisState
from rag.limits.usage import UsageCounts, UsageRecord, today
from rag.settings import LimitSettings

log = logging.getLogger(__name__)


def limits_of(settings: LimitSettings) -> Limits:
    """The limits the settings and the limits file give (ValueError naming the file for a bad one)."""
    return Limits.of(
        settings.limits_file,
        requests_per_minute=settings.rate_limit_per_minute,
        burst=settings.rate_limit_burst,
        max_concurrent_chats=settings.tenant_max_concurrent_chats,
    )


def state_backend(settings: LimitSettings) -> StateBackend:
    if settings.state_url is None:
        return MemoryState(retention_days=settings.usage_retention_days)
    password = settings.state_password.get_secret_value() if settings.state_password else None
    return RedisState(
        settings.state_url,
        password=password,
        timeout_s=settings.state_timeout_s,
        retention_days=settings.usage_retention_days,
    )


def build_limiter(
    settings: LimitSettings, limits: Limits | None = None, *, on_skip: Callable[[str], None] = lambda check: None
) -> Limiter:
    """Build inside the event loop that will use it (a Redis connection pool belongs to one loop)."""
    guarded = GuardedState(
        state_backend(settings),
        policy=settings.state_failure,
        retry_s=settings.state_retry_s,
        on_skip=on_skip,
    )
    return Limiter(guarded, limits or limits_of(settings), auth_failures_per_minute=settings.auth_failures_per_minute)


def record_ingest_usage(settings: LimitSettings, tenant: str, counts: UsageCounts) -> None:
    """An ingestion job's usage (chunks embedded, embedding tokens) into the shared state, when RAG_STATE_URL names
    one (in-process counters would die with the job). Synchronous, for the CLI; an unreachable Redis is logged and
    the job's own summary still has the counts."""
    if settings.state_url is None or not counts.items():
        return

    async def write() -> None:
        backend = state_backend(settings)
        unreachable: tuple[type[Exception], ...] = (StateUnavailable, *backend.errors)
        try:
            await backend.add_usage([UsageRecord(tenant, today(), "rag ingest", None, counts)])
        except unreachable as exc:
            log.error("usage of this ingest not recorded: the shared state (%s) is unreachable: %s", backend.name, exc)
        finally:
            await backend.aclose()

    asyncio.run(write())
