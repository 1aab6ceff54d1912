"""`DELETE /v1/documents/{doc_id}`: remove one of the caller's documents (all its chunks)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from rag.store.deletion import delete_document
from serving.deps import StateDep, TenantDep
from serving.protocol import DocumentDeleted, ErrorResponse

router = APIRouter()


@router.delete(
    "/v1/documents/{doc_id:path}",
    response_model=DocumentDeleted,
    responses={code: {"model": ErrorResponse} for code in (400, 404, 503)},
)
async def delete(
    doc_id: str, state: StateDep, tenant: TenantDep, collection: str | None = Query(default=None)
) -> DocumentDeleted:
    name = collection or state.settings.collection
    chunks = await run_in_threadpool(delete_document, state.components.store, name, tenant, doc_id)
    return DocumentDeleted(id=doc_id, collection=name, chunks_deleted=chunks)
