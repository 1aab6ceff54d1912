"""Usage metering at the API: one record per chat, retrieval or upload, in the shared state (by tenant, UTC day,
subject and key) and on the `tenant`-labelled Prometheus counters."""

from __future__ import annotations

from starlette.requests import Request

from rag.access.identity import Principal
from rag.errors import QuotaExceeded
from rag.limits.usage import UsageCounts, UsageRecord, today
from serving import rate_headers
from serving.state import AppState


async def meter(state: AppState, principal: Principal, counts: UsageCounts) -> None:
    record = UsageRecord(principal.tenant, today(), principal.subject, principal.key_id, counts)
    await state.limiter.record(record)
    state.metrics.metered(principal.tenant, counts)


async def admit_tokens(state: AppState, request: Request, principal: Principal) -> None:
    """The tenant's token quota before a chat: 429 (`insufficient_quota`) once spent; its window in the
    `x-ratelimit-*-tokens` headers either way."""
    try:
        window = await state.limiter.admit_tokens(principal.tenant)
    except QuotaExceeded as refused:
        rate_headers.note_refusal(request, "tokens", refused)
        raise
    rate_headers.note(request, "tokens", window)
