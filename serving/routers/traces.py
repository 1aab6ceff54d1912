"""`GET /v1/traces` and `GET /v1/traces/{id}`: how the tenant's answers came about, for its admins only (traces are
kept for the tenants RAG_TRACE_TENANTS names; the content only with RAG_TRACE_CONTENT)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from rag.errors import NotFound
from serving.deps import AdminDep, StateDep
from serving.protocol import ErrorResponse
from serving.records_protocol import TraceObject, TracePage

router = APIRouter()
LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime holds: later ones are a 400
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorResponse} for c in (400, 401, 403, 429, 503)}


def _time(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


@router.get("/v1/traces", response_model=TracePage, responses=_ERRORS)
async def list_traces(
    state: StateDep,
    principal: AdminDep,
    since: int | None = Query(default=None, ge=0, le=LAST_SECOND, description="created at or after (Unix seconds)"),
    until: int | None = Query(default=None, ge=0, le=LAST_SECOND, description="created before (Unix seconds)"),
    after: str | None = Query(default=None, max_length=100, description="the last id of the page before"),
    limit: int = Query(default=20, ge=1, le=100),
) -> TracePage:
    await run_in_threadpool(state.record_writer.flush)  # answers finished before this request
    rows = await run_in_threadpool(
        lambda: state.records.traces(
            principal.tenant, since=_time(since), until=_time(until), after=after, limit=limit + 1
        )
    )
    page = rows[:limit]
    return TracePage(data=[TraceObject.of(t) for t in page], has_more=len(rows) > limit,
                     last_id=page[-1].id if page else None)  # fmt: skip


@router.get("/v1/traces/{trace_id}", response_model=TraceObject, responses={**_ERRORS, 404: {"model": ErrorResponse}})
async def get_trace(trace_id: str, state: StateDep, principal: AdminDep) -> TraceObject:
    await run_in_threadpool(state.record_writer.flush)
    trace = await run_in_threadpool(state.records.trace, principal.tenant, trace_id)
    if trace is None:
        raise NotFound(f"no trace '{trace_id}' in this tenant (traces are kept only where RAG_TRACE_TENANTS says)")
    return TraceObject.of(trace)
