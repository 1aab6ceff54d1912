"""Retrieval metrics with ir-measures (trec_eval underneath): chunk hits become document scores, then nDCG@10,
Recall@10, Recall@100 and MRR@10 over the queries that have qrels."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import ir_measures
from ir_measures import RR, R, nDCG

from evals.results import MetricName, RetrievalMetrics
from rag.domain import Hit

MEASURES: dict[MetricName, ir_measures.Measure] = {
    "ndcg@10": nDCG @ 10,
    "recall@10": R @ 10,
    "recall@100": R @ 100,
    "mrr@10": RR @ 10,
}


def document_scores(hits: Iterable[Hit]) -> dict[str, float]:
    """A document scores its best chunk's score."""
    scores: dict[str, float] = {}
    for hit in hits:
        doc = hit.chunk.doc_id
        scores[doc] = max(scores.get(doc, hit.score), hit.score)
    return scores


def retrieval_metrics(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]]
) -> dict[str, float]:
    """Mean of each measure over the queries in `qrels` (a query missing from `run` scores 0), by metric name."""
    found = ir_measures.calc_aggregate(list(MEASURES.values()), qrels, run)
    return {name: float(found[measure]) for name, measure in MEASURES.items()}


def score_run(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]]) -> RetrievalMetrics:
    """`retrieval_metrics`, typed."""
    return RetrievalMetrics.from_names(retrieval_metrics(qrels, run))
