"""`rag eval retrieval --dataset DIR [--split test] [--mode M ...] [--json]`: retrieval quality on a BEIR dataset."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from evals.beir import DatasetError, check_dataset, load_qrels, load_queries
from evals.eval_index import TENANT, open_eval_index
from evals.retrieval_eval import evaluate_retrieval
from rag.settings import RetrievalMode, Settings

MODES: tuple[RetrievalMode, ...] = ("dense", "sparse", "hybrid")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("eval", help="measure retrieval quality on a BEIR dataset")
    kinds = p.add_subparsers(dest="kind", required=True)
    r = kinds.add_parser("retrieval", help="nDCG@10, Recall@10/100, MRR@10 of each retrieval mode")
    r.add_argument("--dataset", type=Path, required=True, help="BEIR directory (corpus.jsonl, queries.jsonl, qrels/)")
    r.add_argument("--split", default="test", help="qrels split (default: test)")
    r.add_argument(
        "--mode",
        action="append",
        choices=[*MODES, "all"],
        help="retrieval mode, repeatable, or `all` (default: RAG_RETRIEVAL_MODE)",
    )
    r.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    r.set_defaults(run=run_retrieval)


def _modes(chosen: list[str] | None, settings: Settings) -> list[RetrievalMode]:
    if not chosen:
        return [settings.retrieval_mode]
    return list(MODES) if "all" in chosen else [m for m in MODES if m in chosen]


def run_retrieval(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        check_dataset(args.dataset, args.split)
    except DatasetError as exc:
        print(f"rag eval: {exc}", file=sys.stderr)
        return 2
    queries, qrels = load_queries(args.dataset), load_qrels(args.dataset, args.split)
    index = open_eval_index(args.dataset, settings)
    try:
        results = [
            evaluate_retrieval(
                index.components.retriever,
                collection=index.collection,
                tenant=TENANT,
                queries=queries,
                qrels=qrels,
                mode=mode,
            )
            for mode in _modes(args.mode, settings)
        ]
    finally:
        index.components.close()
    out: dict[str, Any] = {
        "dataset": str(args.dataset),
        "split": args.split,
        "collection": index.collection,
        "corpus_chunks_embedded": index.ingest.chunks_upserted,
        "modes": {r.mode: {**r.metrics, "queries": r.queries, "latency_ms_p50": r.latency_ms_p50} for r in results},
    }
    if len(results) == 1:  # one mode: its metrics at the top level too, as `--json` users expect
        out.update(results[0].metrics)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{args.dataset} ({args.split}, {results[0].queries} queries), collection {index.collection}")
        print(f"{'mode':8} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7} {'p50 ms':>7}")
        for r in results:
            m = r.metrics
            print(
                f"{r.mode:8} {m['ndcg@10']:>8.4f} {m['recall@10']:>7.4f} {m['recall@100']:>7.4f} "
                f"{m['mrr@10']:>7.4f} {r.latency_ms_p50:>7.1f}"
            )
    return 0
