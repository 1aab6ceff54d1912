"""Retrieval quality of a collection: every query that has qrels goes through the API's `Retriever`, asked as
`/v1/retrieve` asks (`RequestBuilder.retrieval`); its chunk hits become document scores (a document scores its best
chunk), scored with ir-measures.

The relevance floor applies as it does for users (RAG_MIN_RELEVANCE): a query whose best chunk is less similar than
that gets no hits, and scores 0 on every metric (it still counts in the means). RAG_MIN_RELEVANCE=0 measures the
ranking alone. Sparse retrieval has no floor."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from evals.beir import check_dataset, load_qrels, load_queries
from evals.eval_index import TENANT, open_eval_index
from evals.metrics import document_scores, score_run
from evals.results import ModeResult, RetrievalResults, RetrievalSettings
from rag.answering.requests import MAX_TOP_K
from rag.components import Components
from rag.settings import RetrievalMode, Settings


def evaluate_retrieval(
    dataset: Path,
    settings: Settings,
    *,
    modes: Sequence[RetrievalMode] | None = None,
    split: str = "test",
) -> RetrievalResults:
    """The dataset's `split` in each of `modes` (default: RAG_RETRIEVAL_MODE) against its eval collection, which is
    ingested first where the cache lacks it. `DatasetError` when the folder is not a BEIR dataset."""
    check_dataset(dataset, split)
    queries, qrels = load_queries(dataset), load_qrels(dataset, split)
    index = open_eval_index(dataset, settings)
    try:
        results = tuple(
            evaluate_mode(
                index.components,
                collection=index.collection,
                tenant=TENANT,
                queries=queries,
                qrels=qrels,
                mode=mode,
            )
            for mode in modes or [settings.retrieval.mode]
        )
    finally:
        index.components.close()
    return RetrievalResults(
        dataset=dataset,
        split=split,
        collection=index.collection,
        corpus_chunks_embedded=index.ingest.chunks_upserted,
        settings=RetrievalSettings.of(settings),
        modes=results,
    )


def evaluate_mode(
    components: Components,
    *,
    collection: str,
    tenant: str,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    mode: RetrievalMode,
    depth: int = MAX_TOP_K,
) -> ModeResult:
    """Runs the queries of `qrels` (`depth` chunks each) through `components`' retriever, built by its request
    builder; a qrels query with no text is an error."""
    missing = [qid for qid in qrels if qid not in queries]
    if missing:
        raise ValueError(f"{len(missing)} queries in the qrels have no text, e.g. '{missing[0]}'")
    run: dict[str, dict[str, float]] = {}
    latencies: list[float] = []
    retriever, requests = components.retriever, components.requests
    for qid in qrels:
        request = requests.retrieval(queries[qid], tenant=tenant, collection=collection, top_k=depth, mode=mode)
        started = time.perf_counter()
        hits = retriever.retrieve(request)
        latencies.append((time.perf_counter() - started) * 1000)
        run[qid] = document_scores(hits)
    cuts = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else latencies * 19
    return ModeResult(
        mode=mode,
        queries=len(qrels),
        metrics=score_run(qrels, run),
        latency_ms_p50=round(statistics.median(latencies), 2),
        latency_ms_p95=round(cuts[18], 2),
        run=run,
    )
