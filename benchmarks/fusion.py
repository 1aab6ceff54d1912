"""Hybrid fusion settings by measurement: each fusion method, RRF constant, weight and prefetch depth on the cached
eval collections of SciFact and ClapNQ, through the API's retriever (`rag eval retrieval`'s code).

    .venv/bin/python -m benchmarks.fusion [--dataset DIR ...]

To see whether a choice generalizes rather than fits the 300 SciFact test queries, every setting is also scored
on the odd and the even half of the queries separately. Prints a table per dataset, writes
benchmarks/results/fusion.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.corpus_vectors import ROOT, dataset
from evals.beir import load_qrels, load_queries
from evals.eval_index import TENANT, open_eval_index
from evals.metrics import score_run
from evals.retrieval_eval import evaluate_mode
from rag.settings import Settings
from rag.store.fusion import Fusion

# (name, fusion, prefetch depth, top_k). Rows with top_k 100 give every metric; rows with top_k 10 show how the
# prefetch depth changes the top 10 (the API asks for a few chunks, so the prefetch depth is what fusion sees).
SETTINGS: list[tuple[str, Fusion, int, int]] = [
    *[(f"rrf k={k}", Fusion("rrf", k), 100, 100) for k in (2, 10, 60)],
    *[(f"rrf k=60 w={d}/{s}", Fusion("rrf", 60, (d, s)), 100, 100) for d, s in ((1.0, 1.5), (1.5, 1.0), (1.0, 2.0))],
    *[(f"rrf k=10 w={d}/{s}", Fusion("rrf", 10, (d, s)), 100, 100) for d, s in ((1.0, 1.5), (1.5, 1.0))],
    ("dbsf", Fusion("dbsf"), 100, 100),
    *[
        (f"{name} top 10", fusion, depth, 10)
        for name, fusion in (("rrf k=60", Fusion("rrf")), ("dbsf", Fusion("dbsf")))
        for depth in (10, 20, 50, 100)
    ],
]


def _halves(qrels: dict[str, dict[str, int]]) -> tuple[dict[str, Any], dict[str, Any]]:
    ids = sorted(qrels)
    return {q: qrels[q] for q in ids[0::2]}, {q: qrels[q] for q in ids[1::2]}


def measure(dataset: Path) -> list[dict[str, Any]]:
    queries, qrels = load_queries(dataset), load_qrels(dataset)
    odd, even = _halves(qrels)
    index = open_eval_index(dataset, Settings())
    rows = []
    try:
        retriever = index.components.retriever
        for mode in ("dense", "sparse"):
            result = evaluate_mode(
                index.components, collection=index.collection, tenant=TENANT, queries=queries, qrels=qrels, mode=mode
            )
            rows.append({"setting": mode, "depth": "-", **result.metrics.by_name()})
        for name, fusion, depth, top_k in SETTINGS:
            retriever.fusion, retriever.prefetch_k = fusion, depth
            result = evaluate_mode(
                index.components,
                collection=index.collection,
                tenant=TENANT,
                queries=queries,
                qrels=qrels,
                mode="hybrid",
                depth=top_k,
            )
            odd_m, even_m = (score_run(half, result.run) for half in (odd, even))
            rows.append(
                {
                    "setting": name,
                    "depth": depth,
                    **result.metrics.by_name(),
                    "ndcg@10 odd": odd_m.ndcg_at_10,
                    "ndcg@10 even": even_m.ndcg_at_10,
                }
            )
    finally:
        index.components.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dataset",
        type=Path,
        action="append",
        help="BEIR directory (default: scifact and clapnq under RAG_EVAL_DATA_DIR)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fusion.json")
    args = parser.parse_args()
    results = {}
    for folder in args.dataset or [dataset("scifact"), dataset("clapnq")]:
        rows = measure(folder)
        results[folder.name] = rows
        print(f"\n{folder.name}")
        print(
            f"{'setting':22} {'depth':>5} {'nDCG@10':>8} {'odd':>7} {'even':>7} {'R@10':>7} {'R@100':>7} {'MRR@10':>7}"
        )
        for r in rows:
            halves = (
                f"{r.get('ndcg@10 odd', 0):>7.4f} {r.get('ndcg@10 even', 0):>7.4f}" if "ndcg@10 odd" in r else " " * 15
            )
            print(
                f"{r['setting']:22} {r['depth']:>5} {r['ndcg@10']:>8.4f} {halves} {r['recall@10']:>7.4f} "
                f"{r['recall@100']:>7.4f} {r['mrr@10']:>7.4f}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
