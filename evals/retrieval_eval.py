"""Retrieval quality of a collection: every query that has qrels goes through the API's `Retriever`; its chunk hits
become document scores (a document scores its best chunk), scored with ir-measures."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from evals.metrics import document_scores, retrieval_metrics
from rag.domain import RetrievalMode
from rag.retrieval import MAX_TOP_K, RetrievalRequest, Retriever


@dataclass
class RetrievalResult:
    mode: RetrievalMode
    queries: int
    metrics: dict[str, float]  # ndcg@10, recall@10, recall@100, mrr@10
    latency_ms_p50: float
    latency_ms_p95: float
    run: dict[str, dict[str, float]] = field(repr=False)  # query id -> {doc id: score}


def evaluate_retrieval(
    retriever: Retriever,
    *,
    collection: str,
    tenant: str,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    mode: RetrievalMode,
    depth: int = MAX_TOP_K,
) -> RetrievalResult:
    """Runs the queries of `qrels` (`depth` chunks each); a qrels query with no text is an error."""
    missing = [qid for qid in qrels if qid not in queries]
    if missing:
        raise ValueError(f"{len(missing)} queries in the qrels have no text, e.g. '{missing[0]}'")
    run: dict[str, dict[str, float]] = {}
    latencies: list[float] = []
    for qid in qrels:
        started = time.perf_counter()
        hits = retriever.retrieve(RetrievalRequest(queries[qid], collection, tenant, depth, mode))
        latencies.append((time.perf_counter() - started) * 1000)
        run[qid] = document_scores(hits)
    cuts = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else latencies * 19
    return RetrievalResult(
        mode=mode,
        queries=len(qrels),
        metrics=retrieval_metrics(qrels, run),
        latency_ms_p50=round(statistics.median(latencies), 2),
        latency_ms_p95=round(cuts[18], 2),
        run=run,
    )
