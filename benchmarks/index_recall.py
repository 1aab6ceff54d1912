"""Recall@10 of Qdrant Edge's HNSW index against exact search, on the real MiniLM vectors of the SciFact chunks.

    .venv/bin/python -m benchmarks.index_recall [--scale 100000]

Loads the SciFact chunks (vectors cached by benchmarks/corpus_vectors.py) into an Edge collection per HNSW build
setting through `EdgeStore` (the tenant filter and all), optimizes it as `rag ingest` does, and runs every SciFact
query (1,109) as a dense top-10 query with the index and with `exact=True`. `--scale N` adds perturbed copies of the
chunk vectors up to N points, to see the index where it matters more. Prints a table, writes
benchmarks/results/index_recall.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.corpus_vectors import ROOT, CorpusVectors, corpus_vectors, dataset, scaled
from evals.beir import load_queries
from rag.access.document_access import Reader
from rag.store.edge import EdgeStore
from rag.store.index import HnswParams

BUILDS = [HnswParams(m=16, ef_construct=100), HnswParams(m=16, ef_construct=200), HnswParams(m=32, ef_construct=200)]
SEARCH_EF = [32, 64, 128, 256]
COLLECTION = "recall"


def load(store: EdgeStore, cv: CorpusVectors, batch: int = 1024) -> float:
    started = time.perf_counter()
    store.ensure_collection(COLLECTION, cv.dense.shape[1])
    for i in range(0, len(cv.chunks), batch):
        store.upsert(COLLECTION, cv.chunks[i : i + batch], cv.dense[i : i + batch].tolist(), cv.sparse[i : i + batch])
    store.optimize(COLLECTION)
    return time.perf_counter() - started


def top10(store: EdgeStore, query: list[float], exact: bool) -> tuple[list[str], float]:
    started = time.perf_counter()
    hits = store.query(
        COLLECTION,
        reader=Reader.whole_tenant("default"),
        mode="dense",
        dense=query,
        sparse=None,
        limit=10,
        prefetch_limit=10,
        exact=exact,
    )
    return [f"{h.chunk.doc_id}/{h.chunk.chunk_index}" for h in hits], (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, nargs="*", default=[0, 100_000], help="collection sizes (0: SciFact)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "index_recall.json")
    args = parser.parse_args()

    scifact = dataset("scifact")
    cv = corpus_vectors(scifact / "corpus.jsonl")
    queries = [cv.embedder.embed_query(q) for q in load_queries(scifact).values()]
    rows: list[dict[str, float]] = []
    for size in args.scale:
        data = scaled(cv, size)
        for build in BUILDS:
            with tempfile.TemporaryDirectory() as tmp:
                store = EdgeStore(Path(tmp), hnsw=build)
                build_s = load(store, data)
                indexed = store.index_info(COLLECTION)["indexed_vectors"]
                truth = [top10(store, q, exact=True) for q in queries]
                store.close()
                for ef in SEARCH_EF:
                    store = EdgeStore(Path(tmp), hnsw=replace(build, ef=ef))
                    found = [top10(store, q, exact=False) for q in queries]
                    store.close()
                    recall = statistics.fmean(
                        len(set(f) & set(t)) / len(t) for (f, _), (t, _) in zip(found, truth, strict=True) if t
                    )
                    row = {
                        "points": len(data.chunks),
                        "indexed_vectors": indexed,
                        "m": build.m,
                        "ef_construct": build.ef_construct,
                        "hnsw_ef": ef,
                        "recall_at_10": round(recall, 4),
                        "p50_ms_index": round(statistics.median(ms for _, ms in found), 3),
                        "p50_ms_exact": round(statistics.median(ms for _, ms in truth), 3),
                        "load_and_optimize_s": round(build_s, 1),
                    }
                    rows.append(row)
                    print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"queries": len(queries), "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
