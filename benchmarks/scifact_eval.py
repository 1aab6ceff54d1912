"""Retrieval metrics of a loaded collection per mode, for the benchmarks that compare engines or embedders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from evals.metrics import document_scores, score_run
from evals.results import RetrievalMetrics
from rag.access.document_access import Reader
from rag.components import fusion as fusion_of
from rag.domain import SparseVector
from rag.settings import RetrievalMode, RetrievalSettings
from rag.store.base import VectorStore

FUSION = fusion_of(RetrievalSettings())  # the platform's default fusion (RAG_FUSION unset)

QueryVectors = Mapping[str, tuple[list[float], SparseVector]]


def evaluate_modes(
    store: VectorStore,
    collection: str,
    queries: QueryVectors,
    qrels: Mapping[str, Mapping[str, int]],
    modes: Sequence[RetrievalMode],
    depth: int = 50,
) -> dict[RetrievalMode, RetrievalMetrics]:
    """mode -> nDCG@10, Recall@10, Recall@100, MRR@10 of the store queried directly with precomputed vectors;
    `depth` chunks per query, documents scored by their best."""
    out: dict[RetrievalMode, RetrievalMetrics] = {}
    for mode in modes:
        run = {
            qid: document_scores(
                store.query(
                    collection,
                    reader=Reader.whole_tenant("default"),
                    mode=mode,
                    dense=dense,
                    sparse=sparse,
                    limit=depth,
                    prefetch_limit=depth,
                    fusion=FUSION,
                )
            )
            for qid, (dense, sparse) in queries.items()
        }
        out[mode] = score_run(qrels, run)
    return out
