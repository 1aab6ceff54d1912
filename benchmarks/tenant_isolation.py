"""What strict tenant isolation costs, and what shared isolation leaks, on SciFact in Qdrant Edge.

    .venv/bin/python -m benchmarks.tenant_isolation [--tenants 10]

Tenant t0 holds SciFact (its chunks as `rag ingest` makes them, embedded once with the ONNX int8 backend and cached
by benchmarks/corpus_vectors.py). With 1 tenant that is the whole store; with N tenants, t1..t(N-1) each hold a
copy of the corpus with noisy dense vectors (the same vocabulary, so shared IDF barely moves: the cost side is what
this measures). Each layout is loaded the way the platform stores it (rag/access/namespace.py):

- `shared`: one collection for all tenants, every query filtered by tenant;
- `strict`: one collection per tenant, `scifact@tN` (IDF per tenant).

Then t0's 300 test queries run in hybrid mode (the default: dense + BM25 prefetch, DBSF) at the platform's depths
(top 10 of 50-deep prefetches, documents scored by their best chunk): nDCG@10 and per-query latency (p50, p95).
The sparse probe is the leak itself: t0's BM25 score of a term held by one of its documents, before and after
another tenant stores 30 documents holding it. Prints a table; writes benchmarks/results/tenant_isolation.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.corpus_vectors import ROOT, CorpusVectors, corpus_vectors, dataset
from evals.beir import load_qrels, load_queries
from evals.metrics import document_scores, retrieval_metrics
from rag.access.document_access import Reader
from rag.access.namespace import CollectionNamespace, TenantIsolation
from rag.components import build_embedder
from rag.components import fusion as fusion_of
from rag.domain import Chunk
from rag.settings import RetrievalSettings, Settings
from rag.store.edge import EdgeStore

FUSION = fusion_of(RetrievalSettings())  # the platform's default fusion (RAG_FUSION unset)

COLLECTION = "scifact"
BATCH = 512
PROBE_TERM = "acquisition"


def _tenant_copy(cv: CorpusVectors, tenant: str, seed: int) -> tuple[list[Chunk], np.ndarray[Any, Any]]:
    if tenant == "t0":
        return [replace(c, tenant=tenant) for c in cv.chunks], cv.dense
    rng = np.random.default_rng(seed)
    noisy = cv.dense + rng.normal(0, 0.05, size=cv.dense.shape).astype(np.float32)
    return [replace(c, tenant=tenant) for c in cv.chunks], noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def _load(store: EdgeStore, names: CollectionNamespace, cv: CorpusVectors, tenants: int) -> float:
    started = time.perf_counter()
    for t in range(tenants):
        tenant = f"t{t}"
        name = names.store_name(COLLECTION, tenant)
        store.ensure_collection(name, cv.dense.shape[1])
        chunks, dense = _tenant_copy(cv, tenant, seed=t)
        for i in range(0, len(chunks), BATCH):
            store.upsert(name, chunks[i : i + BATCH], dense[i : i + BATCH].tolist(), cv.sparse[i : i + BATCH])
    for name in store.list_collections():
        store.optimize(name)
    return time.perf_counter() - started


def _run(
    isolation: TenantIsolation, tenants: int, cv: CorpusVectors, queries: dict[str, Any], qrels: Any
) -> dict[str, Any]:
    names = CollectionNamespace(isolation, home_tenant="none")
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore.under(Path(tmp))
        load_s = _load(store, names, cv, tenants)
        name = names.store_name(COLLECTION, "t0")
        run, seconds = {}, []
        for qid, (dense, sparse) in queries.items():
            started = time.perf_counter()
            hits = store.query(
                name,
                reader=Reader.whole_tenant("t0"),
                mode="hybrid",
                dense=dense,
                sparse=sparse,
                limit=50,
                prefetch_limit=50,
                fusion=FUSION,
            )
            seconds.append(time.perf_counter() - started)
            run[qid] = document_scores(hits)
        probe = _probe(store, names, cv)
        store.close()
    metrics = retrieval_metrics(qrels, run)
    ms = sorted(s * 1000 for s in seconds)
    return {
        "isolation": isolation,
        "tenants": tenants,
        "points": len(cv.chunks) * tenants,
        "store_collections": tenants if isolation == "strict" else 1,
        "load_s": round(load_s, 1),
        "ndcg@10": metrics["ndcg@10"],
        "recall@100": metrics["recall@100"],
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
        **probe,
    }


def _probe(store: EdgeStore, names: CollectionNamespace, cv: CorpusVectors) -> dict[str, float]:
    """t0's best BM25 score for the probe term, before and after tenant `probe` stores 30 chunks holding it."""
    query = cv.encoder.encode_query(PROBE_TERM)
    dense = [0.0] * cv.dense.shape[1]

    def score() -> float:
        hits = store.query(
            names.store_name(COLLECTION, "t0"), reader=Reader.whole_tenant("t0"), mode="sparse", dense=dense,
            sparse=query, limit=1, prefetch_limit=1,
        )  # fmt: skip
        return hits[0].score if hits else 0.0

    before = score()
    texts = [f"Probe note {i}: the {PROBE_TERM} of target {i}." for i in range(30)]
    chunks = [replace(cv.chunks[0], tenant="probe", doc_id=f"probe{i}", text=t) for i, t in enumerate(texts)]
    name = names.store_name(COLLECTION, "probe")
    store.ensure_collection(name, cv.dense.shape[1])
    store.upsert(name, chunks, [cv.dense[0].tolist()] * len(chunks), cv.encoder.encode_documents(texts))
    store.optimize(name)
    return {"probe_score_before": round(before, 4), "probe_score_after": round(score(), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tenant_isolation.json")
    args = parser.parse_args()
    settings = Settings()
    scifact = dataset("scifact")
    cv = corpus_vectors(scifact / "corpus.jsonl", settings, embedder=build_embedder(settings.embedding))
    qrels = load_qrels(scifact, "test")
    texts = load_queries(scifact)
    queries = {qid: (cv.embedder.embed_query(texts[qid]), cv.encoder.encode_query(texts[qid])) for qid in qrels}
    rows = []
    for isolation, tenants in (("shared", 1), ("strict", 1), ("shared", args.tenants), ("strict", args.tenants)):
        row = _run(isolation, tenants, cv, queries, qrels)  # type: ignore[arg-type]
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| isolation | tenants | points | collections | nDCG@10 | p50 ms | p95 ms | load s | probe before/after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['isolation']} | {r['tenants']} | {r['points']:,} | {r['store_collections']} | {r['ndcg@10']:.4f} "
            f"| {r['p50_ms']} | {r['p95_ms']} | {r['load_s']} | {r['probe_score_before']} / {r['probe_score_after']} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"queries": len(queries), "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
