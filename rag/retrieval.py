"""Retrieval: embed the query (dense and/or BM25) and run one Qdrant query, fused inside Qdrant for hybrid.

A request may set `min_relevance`, a dense cosine similarity: when even the best chunk is less similar than that to
the query, nothing relevant was found and the result is empty (the chat then abstains without calling the LLM).
Fused (DBSF, RRF) and BM25 scores are relative to each query, so the check uses the dense score: in hybrid mode one
more nearest-neighbour query of one point. Sparse mode has no bounded score and is never gated."""

from __future__ import annotations

from dataclasses import dataclass

from rag.access import Reader
from rag.domain import Hit, RetrievalMode
from rag.embedding.base import DenseEmbedder, SparseEncoder
from rag.errors import InvalidInput, NotFound
from rag.store.base import PayloadFilter, VectorStore
from rag.store.fusion import DEFAULT_FUSION, Fusion
from rag.store.namespace import CollectionNamespace

MAX_TOP_K = 100


@dataclass(frozen=True, slots=True)
class RetrievalRequest:
    query: str
    collection: str
    reader: Reader  # its tenant, and what it may see there
    top_k: int
    mode: RetrievalMode
    filters: PayloadFilter | None = None
    min_relevance: float = 0.0  # best dense cosine below this: nothing relevant (0 disables the check)
    with_dense: bool = False  # hits carry their chunks' dense vectors (a chat's attribution compares with them)


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
        namespace: CollectionNamespace | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.sparse = sparse
        self.prefetch_k = prefetch_k
        self.fusion = fusion
        self.namespace = namespace or CollectionNamespace("shared")  # none given: collections are named as stored

    def retrieve(self, request: RetrievalRequest) -> list[Hit]:
        if not request.query.strip():
            raise InvalidInput("the query is empty", param="query")
        if not 1 <= request.top_k <= MAX_TOP_K:
            raise InvalidInput(f"top_k must be between 1 and {MAX_TOP_K}", param="top_k")
        name = self.namespace.store_name(request.collection, request.reader.tenant)
        dense = self.embedder.embed_query(request.query) if request.mode != "sparse" else None
        sparse = self.sparse.encode_query(request.query) if request.mode != "dense" else None
        try:
            hits = self.store.query(
                name,
                reader=request.reader,
                mode=request.mode,
                dense=dense,
                sparse=sparse,
                limit=request.top_k,
                prefetch_limit=max(self.prefetch_k, request.top_k),
                filters=request.filters,
                fusion=self.fusion,
                with_dense=request.with_dense,
            )
        except NotFound:  # named as the caller knows it, not as the store does
            raise NotFound(f"collection '{request.collection}' does not exist", param="collection") from None
        if hits and dense is not None and request.min_relevance > 0:
            best = hits[0].score if request.mode == "dense" else self._best_dense_score(name, request, dense)
            if best < request.min_relevance:
                return []
        return hits

    def _best_dense_score(self, name: str, request: RetrievalRequest, dense: list[float]) -> float:
        nearest = self.store.query(
            name,
            reader=request.reader,
            mode="dense",
            dense=dense,
            sparse=None,
            limit=1,
            prefetch_limit=1,
            filters=request.filters,
            fusion=self.fusion,
        )
        return nearest[0].score if nearest else 0.0
