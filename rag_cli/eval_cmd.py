"""`rag eval retrieval --dataset DIR [--split test] [--mode M ...] [--json]`: retrieval quality on a BEIR dataset;
`rag eval answers --dataset DIR [--max-questions N] [--json]`: the chat pipeline against gold answers;
`rag eval gate [--thresholds FILE] [--data DIR] [--json]`: exit 1 when a metric is below its checked-in threshold.
`retrieval` and `answers` also write a report folder (report.json, report.md, a PNG; evals/report.py): `--report
DIR`, by default `reports/<kind>-<dataset folder name>`, or `--no-report`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.answers_eval import as_rows, evaluate_question, summarize
from evals.beir import DatasetError, GoldAnswer, check_dataset, load_answers, load_qrels, load_queries
from evals.eval_index import TENANT, open_eval_index
from evals.gate import THRESHOLDS, load_checks, run_gate
from evals.groundedness import build_groundedness
from evals.report import ReportKind, default_report_dir, write_answers_report, write_retrieval_report
from evals.retrieval_eval import evaluate_retrieval
from rag.domain import RetrievalMode
from rag.settings import Settings
from rag_cli.progress import Progress

MODES: tuple[RetrievalMode, ...] = ("dense", "sparse", "hybrid")
DATA_ROOT = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


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
    _report_options(r, "retrieval")
    r.set_defaults(run=run_retrieval)
    a = kinds.add_parser("answers", help="answer quality against answers.jsonl (full chat pipeline)")
    a.add_argument("--dataset", type=Path, required=True, help="BEIR directory with answers.jsonl")
    a.add_argument("--max-questions", type=int, help="at most N questions, answerable and unanswerable alternating")
    a.add_argument("--json", action="store_true", help="print one JSON object (summary and per question) on stdout")
    _report_options(a, "answers")
    a.set_defaults(run=run_answers)
    g = kinds.add_parser("gate", help="fail (exit 1) when a metric drops below its threshold")
    g.add_argument("--thresholds", type=Path, default=THRESHOLDS, help=f"thresholds file (default: {THRESHOLDS.name})")
    g.add_argument("--data", type=Path, default=DATA_ROOT, help="folder holding the datasets (default: ../shared/data)")
    g.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    g.set_defaults(run=run_gate_cmd)


def _report_options(p: argparse.ArgumentParser, kind: ReportKind) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help=f"write report.json, report.md and {kind}.png here (default: reports/{kind}-<dataset folder name>)",
    )
    group.add_argument("--no-report", action="store_true", help="write no report folder")


def _report_dir(args: argparse.Namespace, kind: ReportKind) -> Path | None:
    if args.no_report:
        return None
    return args.report if args.report is not None else default_report_dir(kind, args.dataset)


def _write_report(write: Callable[[], Path]) -> int:
    """The report after the results are out: a folder that cannot be written is exit 1, the results stand."""
    try:
        md = write()
    except OSError as exc:
        print(f"rag eval: report not written: {exc}", file=sys.stderr)
        return 1
    print(f"report: {md}", file=sys.stderr)
    return 0


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
    report_dir = _report_dir(args, "retrieval")
    if report_dir is None:
        return 0
    return _write_report(lambda: write_retrieval_report(report_dir, out, settings))


def run_gate_cmd(args: argparse.Namespace) -> int:
    checks = load_checks(args.thresholds)
    missing = sorted({c.dataset for c in checks if not (args.data / c.dataset / "corpus.jsonl").is_file()})
    if missing:
        print(f"rag eval gate: datasets not found under {args.data}: {', '.join(missing)}", file=sys.stderr)
        return 2
    results = run_gate(checks, args.data, Settings())
    failures = [f for r in results for f in r.failures]
    if args.json:
        rows = [
            {"dataset": r.check.dataset, "mode": r.check.mode, "metrics": r.metrics, "min": r.check.minimums}
            for r in results
        ]
        print(json.dumps({"passed": not failures, "failures": failures, "checks": rows}))
    else:
        for r in results:
            shown = ", ".join(f"{k} {r.metrics[k]:.4f} (min {v:.4f})" for k, v in r.check.minimums.items())
            print(f"{'FAIL' if r.failures else 'ok  '} {r.check.dataset} {r.check.mode}: {shown}")
    for failure in failures:
        print(f"rag eval gate: below threshold: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _alternating(golds: list[GoldAnswer], limit: int | None) -> list[GoldAnswer]:
    """Answerable and unanswerable questions taken in turn, in file order, up to `limit`."""
    if limit is None or limit >= len(golds):
        return golds
    yes, no = [g for g in golds if g.answerable], [g for g in golds if not g.answerable]
    mixed = [g for pair in zip(yes, no, strict=False) for g in pair]
    rest = yes[len(no) :] + no[len(yes) :]
    return (mixed + rest)[:limit]


def run_answers(args: argparse.Namespace) -> int:
    from rag.components import build_pipeline

    settings = Settings()
    if not (args.dataset / "answers.jsonl").is_file() or not (args.dataset / "corpus.jsonl").is_file():
        print(f"rag eval: {args.dataset} needs corpus.jsonl and answers.jsonl", file=sys.stderr)
        return 2
    golds = _alternating(load_answers(args.dataset), args.max_questions)
    index = open_eval_index(args.dataset, settings)
    try:
        pipeline = build_pipeline(index.components)
        groundedness = build_groundedness(settings)
        results = []
        with Progress(len(golds), "eval answers", every_s=settings.progress_every_s, unit="question") as progress:
            for gold in golds:
                result = evaluate_question(
                    pipeline,
                    gold,
                    collection=index.collection,
                    tenant=TENANT,
                    settings=settings,
                    groundedness=groundedness,
                )
                results.append(result)
                progress.advance()
    finally:
        index.components.close()
    summary = summarize(results, groundedness.name)
    out = {"dataset": str(args.dataset), "summary": summary, "questions": as_rows(results)}
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in summary.items():
            print(f"{key:28} {value}")
    report_dir = _report_dir(args, "answers")
    if report_dir is None:
        return 0
    return _write_report(lambda: write_answers_report(report_dir, out, settings, collection=index.collection))
