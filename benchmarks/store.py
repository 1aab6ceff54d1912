"""Store throughput and latency: Qdrant Edge next to qdrant-client's local mode, at 10k and 100k chunks, in one run.

    .venv/bin/python -m benchmarks.store [--sizes 10000 100000] [--queries 200] [--local-queries 10]

Points are SciFact's chunks with their real MiniLM and BM25 vectors (cached by benchmarks/corpus_vectors.py), plus noisy
copies up to the size; queries are SciFact's real queries. Each engine and size gets two collections: one tenant (the
tenant filter the store always applies matches every point: "none"), and the same points spread over ten tenants
("tenant": the query's tenant holds 10%; "tenant+meta": and a metadata value held by a fifth of those, keyword-indexed
as RAG_INDEXED_METADATA does; without that index this case took 43 ms dense at 100k, measured by this script before
commit d51c779 added the index; no option reproduces it now). Upsert goes through `VectorStore.upsert` in batches of
256, as `rag ingest` does, then `optimize` (Edge builds its indexes there). Queries go through `VectorStore.query`
(payload included). Local mode is slow enough that it runs fewer queries. Prints a table and writes
benchmarks/results/store.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from benchmarks.corpus_vectors import ROOT, CorpusVectors, corpus_vectors, dataset, scaled
from evals.beir import load_queries
from rag.access.document_access import Reader
from rag.components import fusion as fusion_of
from rag.domain import SparseVector
from rag.settings import RetrievalMode, RetrievalSettings
from rag.store.base import PayloadFilter, VectorStore
from rag.store.edge import EdgeStore
from rag.store.qdrant import QdrantStore

FUSION = fusion_of(RetrievalSettings())  # the platform's default fusion (RAG_FUSION unset)

# `metadata.group` is keyword-indexed (RAG_INDEXED_METADATA=group), as a deployment does for keys it filters on.
ENGINES: dict[str, Callable[[Path], VectorStore]] = {
    "edge": lambda root: EdgeStore.under(root, indexed_metadata=["group"]),
    "qdrant-local": lambda root: QdrantStore(path=root / "local", indexed_metadata=["group"]),
}
MODES: tuple[RetrievalMode, ...] = ("dense", "sparse", "hybrid")
TENANTS = 10
BATCH = 256


def spread(cv: CorpusVectors) -> CorpusVectors:
    """The same points over ten tenants, each chunk tagged `metadata.group` g0..g4."""
    chunks = [
        replace(c, tenant=f"t{i % TENANTS}", metadata={**c.metadata, "group": f"g{(i // TENANTS) % 5}"})
        for i, c in enumerate(cv.chunks)
    ]
    return replace(cv, chunks=chunks)


def load(store: VectorStore, collection: str, cv: CorpusVectors) -> dict[str, float]:
    store.ensure_collection(collection, cv.dense.shape[1])
    started = time.perf_counter()
    for i in range(0, len(cv.chunks), BATCH):
        store.upsert(collection, cv.chunks[i : i + BATCH], cv.dense[i : i + BATCH].tolist(), cv.sparse[i : i + BATCH])
    upsert_s = time.perf_counter() - started
    started = time.perf_counter()
    store.optimize(collection)
    return {"upsert_points_per_s": len(cv.chunks) / upsert_s, "optimize_s": time.perf_counter() - started}


def latencies(
    store: VectorStore,
    collection: str,
    tenant: str,
    mode: RetrievalMode,
    queries: list[tuple[list[float], SparseVector]],
    filters: PayloadFilter | None,
) -> list[float]:
    out = []
    for dense, sparse in queries:
        started = time.perf_counter()
        store.query(
            collection,
            reader=Reader.whole_tenant(tenant),
            mode=mode,
            dense=dense,
            sparse=sparse,
            limit=10,
            prefetch_limit=50,
            filters=filters,
            fusion=FUSION,
        )
        out.append((time.perf_counter() - started) * 1000)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--engines", nargs="+", choices=sorted(ENGINES), default=sorted(ENGINES))
    parser.add_argument("--queries", type=int, default=200, help="queries per case on Edge")
    parser.add_argument("--local-queries", type=int, default=10, help="queries per case in local mode")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "store.json")
    args = parser.parse_args()

    scifact = dataset("scifact")
    cv = corpus_vectors(scifact / "corpus.jsonl")
    texts = list(load_queries(scifact).values())[: max(args.queries, args.local_queries)]
    queries = [(cv.embedder.embed_query(t), cv.encoder.encode_query(t)) for t in texts]
    cases: list[tuple[str, str, str, PayloadFilter | None]] = [
        ("none", "single", "default", None),
        ("tenant", "multi", "t3", None),
        ("tenant+meta", "multi", "t3", {"group": "g1"}),
    ]
    loads: list[dict[str, object]] = []
    rows: list[dict[str, object]] = []
    for size in args.sizes:
        single = scaled(cv, size)
        multi = spread(single)
        for engine in args.engines:
            n = args.queries if engine == "edge" else args.local_queries
            with tempfile.TemporaryDirectory() as tmp:
                store = ENGINES[engine](Path(tmp))
                for collection, data in (("single", single), ("multi", multi)):
                    figures = load(store, collection, data)
                    loads.append({"engine": engine, "points": size, "collection": collection, **figures})
                    print(f"load {engine} {size} {collection}: {figures}", flush=True)
                for filter_name, collection, tenant, filters in cases:
                    for mode in MODES:
                        ms = latencies(store, collection, tenant, mode, queries[:n], filters)
                        row = {
                            "engine": engine,
                            "points": size,
                            "mode": mode,
                            "filter": filter_name,
                            "queries": n,
                            "p50_ms": round(statistics.median(ms), 2),
                            "p95_ms": round(percentile(ms, 0.95), 2),
                        }
                        rows.append(row)
                        print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
                store.close()

    print(f"\n{'points':>7} {'mode':>7} {'filter':>12} " + " ".join(f"{e + ' p50':>17}" for e in args.engines))
    for size in args.sizes:
        for filter_name, *_ in cases:
            for mode in MODES:
                cells = [
                    next(r["p50_ms"] for r in rows if (r["engine"], r["points"], r["mode"], r["filter"]) == key)
                    for key in ((e, size, mode, filter_name) for e in args.engines)
                ]
                print(f"{size:>7} {mode:>7} {filter_name:>12} " + " ".join(f"{c:>14} ms" for c in cells))
    for entry in loads:
        print(
            f"upsert {entry['engine']:>12} {entry['points']:>7} {entry['collection']:>6}: "
            f"{entry['upsert_points_per_s']:,.0f} points/s, optimize {entry['optimize_s']:.1f} s"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"platform": platform.platform(), "python": platform.python_version()}
    args.out.write_text(json.dumps({"machine": machine, "loads": loads, "queries": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
