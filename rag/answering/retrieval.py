"""Retrieval: embed the query (dense and/or BM25) and run one Qdrant query, fused inside Qdrant for hybrid.

Its requests come from `RequestBuilder` (rag/answering/requests.py), which checks their bounds. A request sets
`min_relevance`, a dense cosine similarity: when even the best chunk is less similar than that to the query,
nothing relevant was found and the result is empty (the chat then abstains without calling the LLM). Fused (DBSF,
RRF) and BM25 scores are relative to each query, so the check uses the dense score: in hybrid mode one more
nearest-neighbour query of one point. Sparse mode has no bounded score and is never gated.

A chat's retrieval also asks for the signals that tell whether the hits can answer the question
(`retrieve_with_signals`, rag/evidence/answerability.py): the dense top two, the BM25 top one, the query terms'
coverage."""

from __future__ import annotations

from dataclasses import dataclass

from rag.access.namespace import CollectionNamespace
from rag.answering.requests import RetrievalRequest
from rag.domain import Hit, SparseVector
from rag.embedding.base import DenseEmbedder, SparseEncoder
from rag.embedding.sparse import Bm25Tokenizer
from rag.errors import InvalidInput, NotFound
from rag.evidence.answerability import RetrievalSignals
from rag.settings import RetrievalMode
from rag.store.base import VectorStore
from rag.store.fusion import Fusion
from rag.store.visibility import missing, told_of


@dataclass(frozen=True, slots=True)
class Retrieved:
    """What a retrieval found: the hits (empty when nothing relevant was found), and the signals, when asked for,
    that tell whether they can answer the question."""

    hits: list[Hit]
    signals: RetrievalSignals | None


class Retriever:
    """The one retriever behind the API, the CLI and the evaluation harness. How hybrid results are fused
    (RAG_FUSION) and how collections are named in the store (RAG_TENANT_ISOLATION) are settings, read by
    rag/components.py: no default here."""

    def __init__(
        self,
        store: VectorStore,
        embedder: DenseEmbedder,
        sparse: SparseEncoder,
        *,
        prefetch_k: int,
        fusion: Fusion,
        namespace: CollectionNamespace,
        listed: str | None = None,
    ) -> None:
        self.store = store
        self.listed = listed  # the collection every caller is told of (rag/store/visibility.py)
        self.embedder = embedder
        self.sparse = sparse
        self.prefetch_k = prefetch_k
        self.fusion = fusion
        self.namespace = namespace
        self._terms = Bm25Tokenizer()

    def retrieve(self, request: RetrievalRequest) -> list[Hit]:
        return self.retrieve_with_signals(request, signals=False).hits

    def retrieve_with_signals(self, request: RetrievalRequest, *, signals: bool = True) -> Retrieved:
        """The hits, and with `signals` what the retrieval says of them (rag/evidence/answerability.py): both query
        vectors are then computed whatever the mode, and two more one-line queries run (dense top two, sparse top
        one)."""
        if not request.query.strip():
            raise InvalidInput("the query is empty", param="query")
        name = self.namespace.store_name(request.collection, request.reader.tenant)
        dense = self.embedder.embed_query(request.query) if signals or request.mode != "sparse" else None
        sparse = self.sparse.encode_query(request.query) if signals or request.mode != "dense" else None
        try:
            hits = self.store.query(
                name,
                reader=request.reader,
                mode=request.mode,
                dense=dense if request.mode != "sparse" else None,
                sparse=sparse if request.mode != "dense" else None,
                limit=request.top_k,
                prefetch_limit=max(self.prefetch_k, request.top_k),
                filters=request.filters,
                fusion=self.fusion,
                with_dense=request.with_dense,
            )
        except NotFound:  # named as the caller knows it, not as the store does
            raise missing(request.collection) from None
        if not hits:  # nothing to the caller: is it told the collection exists? (asked only then: off the hot path)
            if not told_of(self.store, name, request.collection, request.reader, listed=self.listed):
                raise missing(request.collection)
            return Retrieved([], None)
        found = self._signals(name, request, hits, dense, sparse) if signals and dense and sparse else None
        if dense is not None and request.min_relevance > 0 and request.mode != "sparse":
            if found is not None:
                best = found.dense_top
            elif request.mode == "dense":
                best = hits[0].score
            else:
                best = self._best_dense(name, request, dense, 1)[0]
            if best < request.min_relevance:
                return Retrieved([], found)
        return Retrieved(hits, found)

    def _best_dense(self, name: str, request: RetrievalRequest, dense: list[float], limit: int) -> list[float]:
        """The best `limit` dense similarities (0.0 where fewer points match)."""
        nearest = self._one_mode(name, request, "dense", dense, None, limit)
        scores = [h.score for h in nearest]
        return scores + [0.0] * (limit - len(scores))

    def _one_mode(
        self,
        name: str,
        request: RetrievalRequest,
        mode: RetrievalMode,
        dense: list[float] | None,
        sparse: SparseVector | None,
        limit: int,
    ) -> list[Hit]:
        return self.store.query(
            name,
            reader=request.reader,
            mode=mode,
            dense=dense,
            sparse=sparse,
            limit=limit,
            prefetch_limit=limit,
            filters=request.filters,
            fusion=self.fusion,
        )

    def _signals(
        self, name: str, request: RetrievalRequest, hits: list[Hit], dense: list[float], sparse: SparseVector
    ) -> RetrievalSignals:
        first, second = self._best_dense(name, request, dense, 2)
        best_sparse = self._one_mode(name, request, "sparse", None, sparse, 1)
        terms = set(self._terms(request.query))
        held = {t for h in hits for t in self._terms(h.chunk.embed_text)}
        return RetrievalSignals(
            dense_top=first,
            dense_margin=first - second,
            sparse_top=best_sparse[0].score / max(1, len(sparse.indices)) if best_sparse else 0.0,
            coverage=len(terms & held) / len(terms) if terms else 0.0,
        )
