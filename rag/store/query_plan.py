"""Engine-neutral query plans: what a retrieval mode asks of the store, before any engine's types.

Dense and sparse modes are one nearest-neighbour query on one named vector; hybrid prefetches both and fuses them
inside the engine, by (weighted) reciprocal rank fusion or distribution-based score fusion. A query whose sparse
side is empty (only stop words) has no sparse prefetch, and in sparse mode matches nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.domain import SparseVector
from rag.settings import RetrievalMode
from rag.store.fusion import Fusion
from rag.store.payload import DENSE, SPARSE


@dataclass(frozen=True, slots=True)
class Nearest:
    using: str  # DENSE or SPARSE
    vector: list[float] | SparseVector


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """Either one `nearest` query, or `prefetch` queries (each `prefetch_limit` deep) fused by `fusion`, whose
    weights then match the prefetches one to one."""

    nearest: Nearest | None = None
    prefetch: tuple[Nearest, ...] = ()
    fusion: Fusion | None = None  # a hybrid plan's, always given

    @property
    def fused_by(self) -> Fusion:
        """The fusion of a prefetch plan (`plan_query` builds none without one)."""
        if self.fusion is None:
            raise ValueError("a fused query plan without a fusion")
        return self.fusion

    @property
    def rrf_weights(self) -> list[float] | None:
        """Per-prefetch RRF weights, or None when they are all equal (plain RRF)."""
        weights = list(self.fused_by.weights[: len(self.prefetch)])
        return None if len(set(weights)) <= 1 else weights


def plan_query(
    mode: RetrievalMode, dense: Sequence[float] | None, sparse: SparseVector | None, fusion: Fusion | None = None
) -> QueryPlan | None:
    """The plan for `mode`, or None when the query can match nothing."""
    if mode in ("dense", "hybrid") and dense is None:
        raise ValueError(f"{mode} search needs a dense query")
    if mode in ("sparse", "hybrid") and sparse is None:
        raise ValueError(f"{mode} search needs a sparse query")
    if mode == "hybrid" and fusion is None:
        raise ValueError("hybrid search needs a fusion (RAG_FUSION's, through the retriever)")
    dense_side = Nearest(DENSE, list(dense)) if dense is not None else None
    sparse_side = Nearest(SPARSE, sparse) if sparse is not None and sparse.indices else None
    if mode == "dense":
        return QueryPlan(nearest=dense_side)
    if mode == "sparse":
        return QueryPlan(nearest=sparse_side) if sparse_side else None
    assert dense_side is not None
    return QueryPlan(prefetch=(dense_side, sparse_side) if sparse_side else (dense_side,), fusion=fusion)
