"""`POST /v1/retrieve`: query -> scored chunks, no generation."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from rag.limits.usage import UsageCounts
from serving.deps import ReaderDep, StateDep
from serving.metering import meter
from serving.protocol import ErrorResponse, RetrievedChunk, RetrieveRequest, RetrieveResponse

router = APIRouter()


@router.post(
    "/v1/retrieve",
    response_model=RetrieveResponse,
    responses={code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 429, 503)},
)
async def retrieve(body: RetrieveRequest, state: StateDep, principal: ReaderDep) -> RetrieveResponse:
    request = state.components.requests.retrieval(
        body.query,
        principal=principal,
        collection=body.collection,
        top_k=body.top_k,
        mode=body.mode,
        filters=body.filter,
        min_relevance=body.min_relevance,
    )
    with state.metrics.retrieving(request.collection, request.top_k, request.mode):
        hits = await run_in_threadpool(state.components.retriever.retrieve, request)
    doc_ids = list(dict.fromkeys(h.chunk.doc_id for h in hits))
    await state.audit.record(principal, "POST /v1/retrieve", "retrieve", request.collection, doc_ids)
    await meter(state, principal, UsageCounts(retrieval_calls=1))
    return RetrieveResponse(
        collection=request.collection,
        mode=request.mode,
        data=[
            RetrievedChunk(
                index=i,
                doc_id=h.chunk.doc_id,
                chunk_index=h.chunk.chunk_index,
                title=h.chunk.title,
                source=h.chunk.source,
                text=h.chunk.text,
                score=h.score,
                metadata=h.chunk.metadata,
            )
            for i, h in enumerate(hits, start=1)
        ],
    )
