"""Retrieval: embed the query (dense and/or BM25) and run one Qdrant query, fused inside Qdrant for hybrid."""

from __future__ import annotations

from dataclasses import dataclass

from rag.domain import Hit
from rag.embedding.base import DenseEmbedder, SparseEncoder
from rag.errors import InvalidInput
from rag.settings import RetrievalMode
from rag.store.base import PayloadFilter, VectorStore
from rag.store.fusion import DEFAULT_FUSION, Fusion

MAX_TOP_K = 100


@dataclass(frozen=True, slots=True)
class RetrievalRequest:
    query: str
    collection: str
    tenant: str
    top_k: int
    mode: RetrievalMode
    filters: PayloadFilter | None = None


class Retriever:
    """The one retriever behind the API, the CLI and the evaluation harness."""

    def __init__(
        self,
        store: VectorStore,
        embedder: DenseEmbedder,
        sparse: SparseEncoder,
        *,
        prefetch_k: int,
        fusion: Fusion = DEFAULT_FUSION,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.sparse = sparse
        self.prefetch_k = prefetch_k
        self.fusion = fusion

    def retrieve(self, request: RetrievalRequest) -> list[Hit]:
        if not request.query.strip():
            raise InvalidInput("the query is empty", param="query")
        if not 1 <= request.top_k <= MAX_TOP_K:
            raise InvalidInput(f"top_k must be between 1 and {MAX_TOP_K}", param="top_k")
        dense = self.embedder.embed_query(request.query) if request.mode != "sparse" else None
        sparse = self.sparse.encode_query(request.query) if request.mode != "dense" else None
        return self.store.query(
            request.collection,
            tenant=request.tenant,
            mode=request.mode,
            dense=dense,
            sparse=sparse,
            limit=request.top_k,
            prefetch_limit=max(self.prefetch_k, request.top_k),
            filters=request.filters,
            fusion=self.fusion,
        )
