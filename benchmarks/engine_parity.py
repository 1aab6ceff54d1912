"""SciFact retrieval quality per mode on each engine: the same points must rank the same anywhere.

    .venv/bin/python -m benchmarks.engine_parity

Loads SciFact's chunks (vectors cached by benchmarks/corpus_vectors.py) into Qdrant Edge and qdrant-client's local
mode, runs the 300 test queries in dense, sparse and hybrid mode on each (50 chunks per query, documents scored by
their best chunk), and reports nDCG@10 (with Recall@10, Recall@100, MRR@10) per engine and the largest difference.
Writes benchmarks/results/engine_parity.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks.corpus_vectors import ROOT, corpus_vectors, dataset
from benchmarks.scifact_eval import evaluate_modes
from benchmarks.store import ENGINES, MODES, load
from evals.beir import load_qrels, load_queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=50, help="chunks retrieved per query")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "engine_parity.json")
    args = parser.parse_args()

    scifact = dataset("scifact")
    cv = corpus_vectors(scifact / "corpus.jsonl")
    qrels = load_qrels(scifact, "test")
    texts = load_queries(scifact)
    queries = {qid: (cv.embedder.embed_query(texts[qid]), cv.encoder.encode_query(texts[qid])) for qid in qrels}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for engine, make in ENGINES.items():
        with tempfile.TemporaryDirectory() as tmp:
            store = make(Path(tmp))
            load(store, "scifact", cv)
            started = time.perf_counter()
            for mode, found in evaluate_modes(store, "scifact", queries, qrels, MODES, args.depth).items():
                metrics = found.by_name()  # the JSON's metric names: {"ndcg@10": ..., ...}
                results.setdefault(mode, {})[engine] = metrics
                print(f"{engine:>12} {mode:>7} {metrics}", flush=True)
            print(f"{engine}: {time.perf_counter() - started:.1f} s for all modes", flush=True)
            store.close()

    print(f"\n{'mode':>7} " + " ".join(f"{e:>13}" for e in ENGINES) + "  max |diff| nDCG@10")
    for mode_name, per_engine in results.items():
        values = [per_engine[e]["ndcg@10"] for e in ENGINES]
        print(f"{mode_name:>7} " + " ".join(f"{v:>13.4f}" for v in values) + f"  {max(values) - min(values):.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"queries": len(queries), "depth": args.depth, "results": results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
