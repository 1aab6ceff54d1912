"""`POST /v1/documents`: store one document in the caller's tenant (chunked, embedded, synced like `rag ingest`);
`DELETE /v1/documents/{doc_id}`: remove one of the caller's documents (all its chunks)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from ingest.formats.base import BadDocument, LoadOptions
from ingest.sync import Ingestor
from rag.domain import Document
from rag.errors import InvalidInput
from rag.store.deletion import delete_document
from serving.deps import StateDep, TenantDep
from serving.protocol import DocumentDeleted, DocumentStored, DocumentUpload, ErrorResponse
from serving.state import AppState

router = APIRouter()


def _store_document(state: AppState, upload: DocumentUpload, tenant: str) -> DocumentStored:
    settings, components = state.settings, state.components
    target = components.requests.target(tenant=tenant, collection=upload.collection)
    try:  # the ingestion limits hold here too
        LoadOptions.from_settings(settings).check_text(upload.text)
    except BadDocument as exc:
        raise InvalidInput(f"'text': {exc}", param="text") from None
    document = Document(upload.id, upload.text, upload.title, f"api:{upload.id}", dict(upload.metadata))
    ingestor = Ingestor.for_components(components, collection=target.collection, tenant=target.tenant)
    summary = ingestor.run([document])
    if summary.failed:  # over RAG_INGEST_MAX_CHUNKS: refused, and any stored version kept
        raise InvalidInput(f"'text': {summary.failed[0]['error']}", param="text")
    status: Literal["created", "updated", "unchanged"] = (
        "created" if summary.documents_added else "updated" if summary.documents_updated else "unchanged"
    )
    return DocumentStored(id=upload.id, collection=target.collection, status=status, chunks=summary.chunks_upserted)


@router.post(
    "/v1/documents",
    response_model=DocumentStored,
    responses={code: {"model": ErrorResponse} for code in (400, 413, 503)},
)
async def upload(body: DocumentUpload, state: StateDep, tenant: TenantDep) -> DocumentStored:
    if not body.text.strip():  # it would chunk to nothing: not a no-op success
        raise InvalidInput("'text': a document needs text other than whitespace", param="text")
    return await run_in_threadpool(_store_document, state, body, tenant)


@router.delete(
    "/v1/documents/{doc_id:path}",
    response_model=DocumentDeleted,
    responses={code: {"model": ErrorResponse} for code in (400, 404, 503)},
)
async def delete(
    doc_id: str, state: StateDep, tenant: TenantDep, collection: str | None = Query(default=None)
) -> DocumentDeleted:
    components = state.components
    target = components.requests.target(tenant=tenant, collection=collection)
    chunks = await run_in_threadpool(
        delete_document, components.store, components.namespace, target.collection, target.tenant, doc_id
    )
    return DocumentDeleted(id=doc_id, collection=target.collection, chunks_deleted=chunks)
