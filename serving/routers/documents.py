"""The caller's documents: `POST /v1/documents` stores one (chunked, embedded, synced like `rag ingest`; writers),
`GET /v1/documents` lists those the caller may see, a page at a time, and `DELETE /v1/documents/{doc_id}` removes
one the caller may see (writers)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from ingest.formats.base import BadDocument, LoadOptions
from ingest.sync import Ingestor
from rag.access.document_access import DocumentAccess, Reader
from rag.access.identity import Principal
from rag.access.write_scope import WriteScope
from rag.domain import Document
from rag.errors import Conflict, InvalidInput, NotFound
from rag.limits.usage import UsageCounts
from rag.store.deletion import delete_document
from rag.store.visibility import missing, told_of
from serving.deps import ReaderDep, StateDep, WriterDep
from serving.document_protocol import (
    AccessBody,
    DocumentDeleted,
    DocumentInfo,
    DocumentList,
    DocumentStored,
    DocumentUpload,
)
from serving.metering import meter
from serving.protocol import ErrorResponse
from serving.state import AppState

router = APIRouter()
_ERRORS = (400, 401, 403, 404, 413, 429, 503)


def _store_document(
    state: AppState, upload: DocumentUpload, principal: Principal
) -> tuple[DocumentStored, UsageCounts]:
    settings, components = state.settings, state.components
    target = components.requests.target(tenant=principal.tenant, collection=upload.collection)
    try:  # the ingestion limits hold here too
        LoadOptions.from_settings(settings.ingest).check_text(upload.text)
    except BadDocument as exc:
        raise InvalidInput(f"'text': {exc}", param="text") from None
    access = upload.access.domain() if upload.access else None
    document = Document(upload.id, upload.text, upload.title, f"api:{upload.id}", dict(upload.metadata), access=access)
    stored_as: list[str] = []
    ingestor = Ingestor.for_components(
        components,
        collection=target.collection,
        tenant=target.tenant,
        scope=WriteScope(components.requests.reader(principal)),
        on_accepted=lambda d: stored_as.append(d.doc_id),
    )
    summary = ingestor.run([document])
    if summary.documents_conflicted:  # the caller's own id held by a document it may not see
        raise Conflict(summary.failed[0]["error"], param="id")
    if summary.failed:  # over RAG_INGEST_MAX_CHUNKS: refused, and any stored version kept
        raise InvalidInput(f"'text': {summary.failed[0]['error']}", param="text")
    status: Literal["created", "updated", "access_updated", "unchanged"] = (
        "created"
        if summary.documents_added
        else "updated"
        if summary.documents_updated
        else "access_updated"
        if summary.documents_access_updated
        else "unchanged"
    )
    stored = DocumentStored(
        id=stored_as[0], collection=target.collection, status=status, chunks=summary.chunks_upserted
    )
    return stored, UsageCounts(chunks_embedded=summary.chunks_upserted, embedding_tokens=summary.embedding_tokens)


@router.post("/v1/documents", response_model=DocumentStored, responses={c: {"model": ErrorResponse} for c in _ERRORS})
async def upload(body: DocumentUpload, state: StateDep, principal: WriterDep) -> DocumentStored:
    if not body.text.strip():  # it would chunk to nothing: not a no-op success
        raise InvalidInput("'text': a document needs text other than whitespace", param="text")
    stored, embedded = await run_in_threadpool(_store_document, state, body, principal)
    await state.audit.record(principal, "POST /v1/documents", "store", stored.collection, [stored.id])
    await meter(state, principal, embedded)
    return stored


def _shown(access: set[DocumentAccess | None], reader: Reader) -> AccessBody | None:
    """A document's access as listed: its chunks agree, except after an interrupted change (then the first, in a
    stable order, of those the caller may see; the next `rag ingest` or upload makes them agree). An admin sees the
    lists; anyone else only what gives it access: tenant-wide, or its own name and groups among those listed."""
    if not access:
        return None
    first = sorted(access, key=repr)[0]
    if reader.everything or first is None:
        return AccessBody.of(first)
    mine = DocumentAccess(
        first.tenant_wide,
        first.users & {reader.subject} if reader.kind == "user" else frozenset(),
        first.groups & reader.groups,
        first.services & {reader.subject} if reader.kind == "service" else frozenset(),
    )
    return AccessBody.of(mine)


def _list_documents(
    state: AppState, principal: Principal, collection: str | None, after: str | None, limit: int
) -> DocumentList:
    components = state.components
    reader = components.requests.reader(principal)
    name = components.requests.target(tenant=principal.tenant, collection=collection).collection
    store_name = components.namespace.store_name(name, reader.tenant)
    if not components.store.collection_exists(store_name):
        raise missing(name)
    documents = sorted(components.store.documents(store_name, reader), key=lambda d: d.doc_id)
    if not documents and not told_of(
        components.store, store_name, name, reader, listed=state.settings.store.collection
    ):
        raise missing(name)
    page = [d for d in documents if after is None or d.doc_id > after][: limit + 1]
    data = [
        DocumentInfo(id=d.doc_id, title=d.title, source=d.source, access=_shown(d.access, reader)) for d in page[:limit]
    ]
    return DocumentList(collection=name, data=data, has_more=len(page) > limit, last_id=data[-1].id if data else None)


@router.get("/v1/documents", response_model=DocumentList, responses={c: {"model": ErrorResponse} for c in _ERRORS})
async def list_documents(
    state: StateDep,
    principal: ReaderDep,
    collection: str | None = Query(default=None, min_length=1, max_length=255),
    after: str | None = Query(default=None, min_length=1, max_length=512, description="the last id of the page before"),
    limit: int = Query(default=100, ge=1, le=1000),
) -> DocumentList:
    """The documents of a collection the caller may see (all of its tenant's for an admin), by id."""
    page = await run_in_threadpool(_list_documents, state, principal, collection, after, limit)
    await state.audit.record(principal, "GET /v1/documents", "list", page.collection, [d.id for d in page.data])
    return page


@router.delete(
    "/v1/documents/{doc_id:path}",
    response_model=DocumentDeleted,
    responses={c: {"model": ErrorResponse} for c in _ERRORS},
)
async def delete(
    doc_id: str, state: StateDep, principal: WriterDep, collection: str | None = Query(default=None)
) -> DocumentDeleted:
    """A document the caller may see, with all its chunks (404 alike for one it may not see); an id the caller sees
    no document by names its own (rag/access/write_scope.py), as a write of that id does."""
    components = state.components
    target = components.requests.target(tenant=principal.tenant, collection=collection)
    reader = components.requests.reader(principal)
    where, listed = (components.store, components.namespace, target.collection, reader), state.settings.store.collection

    def remove() -> tuple[str, int]:
        try:
            return doc_id, delete_document(*where, doc_id, listed=listed)
        except NotFound as absent:
            own = WriteScope(reader).own_id(doc_id)
            if own == doc_id or absent.param == "collection":
                raise
        try:
            return own, delete_document(*where, own, listed=listed)
        except NotFound:
            raise NotFound(f"document '{doc_id}' is not in collection '{target.collection}'", param="doc_id") from None

    deleted, chunks = await run_in_threadpool(remove)
    await state.audit.record(principal, "DELETE /v1/documents", "delete", target.collection, [deleted])
    return DocumentDeleted(id=deleted, collection=target.collection, chunks_deleted=chunks)
