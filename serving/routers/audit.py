"""`GET /v1/audit`: the caller's tenant's recent audit events, newest first, a page at a time (admins), from the
records database."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from serving.deps import AdminDep, StateDep
from serving.protocol import ErrorResponse

router = APIRouter()
MAX_ID = 2**63 - 1  # the largest id a records row may have


class AuditPage(BaseModel):
    """Events as rag/records/rows.py `AuditEvent` holds them, each with its `id`; `last_id` is the next page's
    `before` while `has_more`."""

    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    has_more: bool
    last_id: int | None


@router.get(
    "/v1/audit",
    response_model=AuditPage,
    responses={c: {"model": ErrorResponse} for c in (401, 403, 429)},
)
async def audit_events(
    state: StateDep,
    principal: AdminDep,
    # bounded as the database's integers are (SQLite's and PostgreSQL's BIGINT): a larger cursor is a 400, not a 500
    before: int | None = Query(default=None, ge=1, le=MAX_ID, description="the last id of the page before"),
    limit: int = Query(default=100, ge=1, le=1000),
) -> AuditPage:
    await run_in_threadpool(state.record_writer.flush)  # the events of requests answered before this one
    rows = await run_in_threadpool(state.records.audit_events, principal.tenant, before=before, limit=limit + 1)
    page = rows[:limit]
    data = [{"id": i, **asdict(event), "time": event.time.isoformat(timespec="milliseconds")} for i, event in page]
    return AuditPage(data=data, has_more=len(rows) > limit, last_id=page[-1][0] if page else None)
