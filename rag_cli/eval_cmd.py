"""`rag eval retrieval --dataset DIR [--split test] [--mode M ...] [--json]`: retrieval quality on a BEIR dataset;
`rag eval answers --dataset DIR [--max-questions N] [--json]`: the chat pipeline against gold answers;
`rag eval gate [--thresholds FILE] [--data DIR] [--json]`: exit 1 when a metric is below its checked-in threshold;
`rag eval feedback --export DIR [--since DATE] [--tenant T]`: the rated answers of the records database as a dataset
`rag eval answers` runs (evals/feedback_export.py);
`rag eval cache list|prune`: the cached eval collections (rag_cli/eval_cache_cmd.py).
`retrieval` and `answers` also write a report folder (report.json, report.md, a PNG; evals/report.py): `--report
DIR`, by default `reports/<kind>-<dataset folder name>`, or `--no-report`.

The work is in evals/; this module parses the arguments and prints. Exit codes: 0 done (the gate: passed), 1 the
gate failed or a report could not be written, 2 a dataset, data folder or thresholds file that cannot be used."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from evals.beir import DatasetError
from rag.settings import RetrievalMode
from rag_cli import eval_cache_cmd

if TYPE_CHECKING:
    from evals.report import ReportKind

# The evaluation stack (LangChain, the metrics, the report's plots) is imported by the command that runs, so every
# other `rag` command starts without it.
RETRIEVAL_MODES: tuple[RetrievalMode, ...] = get_args(RetrievalMode)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("eval", help="measure retrieval and answer quality on BEIR datasets")
    kinds = p.add_subparsers(dest="kind", required=True)
    r = kinds.add_parser("retrieval", help="nDCG@10, Recall@10/100, MRR@10 of each retrieval mode")
    r.add_argument("--dataset", type=Path, required=True, help="BEIR directory (corpus.jsonl, queries.jsonl, qrels/)")
    r.add_argument("--split", default="test", help="qrels split (default: test)")
    r.add_argument(
        "--mode",
        action="append",
        choices=[*RETRIEVAL_MODES, "all"],
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
    f = kinds.add_parser("feedback", help="export the feedback on answers as a dataset `rag eval answers` runs")
    f.add_argument("--export", type=Path, required=True, metavar="DIR", help="the dataset folder to write")
    f.add_argument("--since", type=_since, help="feedback given since this UTC date or time (ISO 8601)")
    f.add_argument("--tenant", help="this tenant's feedback only (default: every tenant's)")
    f.set_defaults(run=run_feedback)
    g = kinds.add_parser("gate", help="fail (exit 1) when a metric drops below its threshold")
    g.add_argument("--thresholds", type=Path, help="thresholds file (default: evals/quality_gate.json)")
    g.add_argument("--data", type=Path, metavar="DIR", help="folder holding the datasets (default: RAG_EVAL_DATA_DIR)")
    g.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    g.set_defaults(run=run_gate_cmd)
    eval_cache_cmd.register(kinds)


def _since(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {value!r}") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def run_feedback(args: argparse.Namespace) -> int:
    from evals.feedback_export import export_feedback
    from rag.records.database import records_url
    from rag.records.store import RecordStore
    from rag.settings import Settings

    store = RecordStore.open(records_url(Settings()))
    try:
        summary = export_feedback(store, args.export, tenant=args.tenant, since=args.since)
    finally:
        store.close()
    for feedback_id, why in summary.skipped:
        print(f"rag eval feedback: skipped {feedback_id}: {why}", file=sys.stderr)
    kinds = ", ".join(f"{n} {kind}" for kind, n in summary.cases.items())
    print(f"{summary.written} cases ({kinds}) over {summary.passages} passages in {args.export}; "
          f"{len(summary.skipped)} feedback skipped")  # fmt: skip
    return 0


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
    from evals.report import default_report_dir

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


def _modes(chosen: list[str] | None) -> list[RetrievalMode] | None:
    if not chosen:
        return None
    return list(RETRIEVAL_MODES) if "all" in chosen else [m for m in RETRIEVAL_MODES if m in chosen]


def run_retrieval(args: argparse.Namespace) -> int:
    from evals.report import write_retrieval_report
    from evals.retrieval_eval import evaluate_retrieval
    from rag.settings import Settings

    try:
        results = evaluate_retrieval(args.dataset, Settings(), modes=_modes(args.mode), split=args.split)
    except DatasetError as exc:
        print(f"rag eval: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results.to_json()))
    else:
        print(
            f"{results.dataset} ({results.split}, {results.modes[0].queries} queries), collection {results.collection}"
        )
        print(f"{'mode':8} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7} {'p50 ms':>7}")
        for r in results.modes:
            m = r.metrics
            print(
                f"{r.mode:8} {m.ndcg_at_10:>8.4f} {m.recall_at_10:>7.4f} {m.recall_at_100:>7.4f} "
                f"{m.mrr_at_10:>7.4f} {r.latency_ms_p50:>7.1f}"
            )
    report_dir = _report_dir(args, "retrieval")
    if report_dir is None:
        return 0
    return _write_report(lambda: write_retrieval_report(report_dir, results))


def _value(value: float | None) -> str:
    return "none" if value is None else f"{value:.4f}"


def run_gate_cmd(args: argparse.Namespace) -> int:
    from evals.gate import THRESHOLDS, ThresholdsError, evaluate_gate
    from rag.settings import Settings

    try:
        report = evaluate_gate(Settings(), thresholds=args.thresholds or THRESHOLDS, data_dir=args.data)
    except (DatasetError, ThresholdsError) as exc:
        print(f"rag eval gate: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        for r in report.results:
            shown = ", ".join(f"{k} {_value(r.measured.get(k))} ({side} {v:.4f})" for k, side, v in r.bounds())
            what = r.check.mode if r.check.kind == "retrieval" else "answers"
            print(f"{'FAIL' if r.failures else 'ok  '} {r.check.dataset} {what}: {shown}")
    for failure in report.failures:
        print(f"rag eval gate: below threshold: {failure}", file=sys.stderr)
    return 0 if report.passed else 1


def run_answers(args: argparse.Namespace) -> int:
    from evals.answers_eval import evaluate_answers
    from evals.report import write_answers_report
    from rag.settings import Settings
    from rag_cli.progress import Progress

    settings = Settings()

    def progress(total: int) -> Progress:
        return Progress(total, "eval answers", every_s=settings.ingest.progress_every_s, unit="question")

    try:
        results = evaluate_answers(args.dataset, settings, max_questions=args.max_questions, progress=progress)
    except DatasetError as exc:
        print(f"rag eval: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results.to_json()))
    else:
        for key, value in results.summary.to_json().items():
            print(f"{key:28} {value}")
    report_dir = _report_dir(args, "answers")
    if report_dir is None:
        return 0
    return _write_report(lambda: write_answers_report(report_dir, results))
