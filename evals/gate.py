"""The quality gate: retrieval metrics on fixed datasets must stay at or above the thresholds in a checked-in file
(`evals/quality_gate.json`). CI runs it through the tests; `rag eval gate` runs it by hand.

A check with `"kind": "answers"` runs a dataset through the chat pipeline (`rag eval answers`; a feedback dataset
from `rag eval feedback`, say) and bounds its summary's metrics from below (`min`) and above (`max`: a feedback set's
`rejected_repeated`, the share of thumbs-down answers that came back unchanged)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, cast

from evals.beir import DatasetError, load_qrels, load_queries
from evals.data_dir import resolve_data_dir
from evals.eval_index import TENANT, open_eval_index
from evals.results import METRIC_NAMES, RETRIEVAL_MODES, AnswerSummary
from evals.retrieval_eval import evaluate_mode
from evals.subset import make_subset
from rag.settings import RetrievalMode, Settings

THRESHOLDS = Path(__file__).with_name("quality_gate.json")


class ThresholdsError(ValueError):
    """A thresholds file the gate cannot use (the message says where and why)."""


@dataclass(frozen=True)
class GateCheck:
    dataset: str  # a folder under the data root
    mode: RetrievalMode
    minimums: dict[str, float]  # metric -> lowest accepted value
    distractors: int | None = None  # gate on a subset: qrels documents plus this many others
    kind: Literal["retrieval", "answers"] = "retrieval"
    maximums: dict[str, float] = field(default_factory=dict)  # metric -> highest accepted value (answers)
    max_questions: int | None = None  # answers: a sample of the questions


@dataclass(frozen=True)
class GateResult:
    check: GateCheck
    measured: dict[str, float | None]
    failures: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"dataset": self.check.dataset, "kind": self.check.kind}
        if self.check.kind == "retrieval":
            shown["mode"] = self.check.mode
        return shown | {"metrics": self.measured, "min": dict(self.check.minimums), "max": dict(self.check.maximums)}

    def bounds(self) -> list[tuple[str, str, float]]:
        """(metric, `min` or `max`, bound) of the check."""
        return [(k, "min", v) for k, v in self.check.minimums.items()] + [
            (k, "max", v) for k, v in self.check.maximums.items()
        ]


@dataclass(frozen=True)
class GateReport:
    """Every check's measured metrics; failed when any metric is below its minimum."""

    data_dir: Path
    results: tuple[GateResult, ...]

    @property
    def failures(self) -> list[str]:
        return [f for r in self.results for f in r.failures]

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "failures": self.failures, "checks": [r.to_json() for r in self.results]}


def load_checks(path: Path = THRESHOLDS) -> list[GateCheck]:
    """The checks of a thresholds file; `ThresholdsError` for an unknown mode or metric, or a malformed file."""
    try:
        raw = json.loads(path.read_text())
        checks = [_check(c) for c in raw["checks"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, ThresholdsError):
            raise ThresholdsError(f"{path}: {exc}") from None
        raise ThresholdsError(f"{path}: not a thresholds file ({type(exc).__name__}: {exc})") from exc
    return checks


def _answer_metrics() -> tuple[str, ...]:
    return tuple(f.name for f in fields(AnswerSummary) if f.type in ("float | None", "int", "float"))


def _answers_check(raw: dict[str, Any]) -> GateCheck:
    minimums, maximums = raw.get("min", {}), raw.get("max", {})
    names = _answer_metrics()
    unknown = sorted((set(minimums) | set(maximums)) - set(names))
    if unknown:
        raise ThresholdsError(f"unknown answers metric {unknown[0]!r} (one of {', '.join(names)})")
    return GateCheck(
        str(raw["dataset"]), "hybrid", {k: float(v) for k, v in minimums.items()}, kind="answers",
        maximums={k: float(v) for k, v in maximums.items()}, max_questions=raw.get("max_questions"),
    )  # fmt: skip


def _check(raw: dict[str, Any]) -> GateCheck:
    if raw.get("kind", "retrieval") == "answers":
        return _answers_check(raw)
    mode, minimums = raw["mode"], raw["min"]
    if mode not in RETRIEVAL_MODES:
        raise ThresholdsError(f"unknown mode {mode!r} (one of {', '.join(RETRIEVAL_MODES)})")
    unknown = sorted(set(minimums) - set(METRIC_NAMES))
    if unknown:
        raise ThresholdsError(f"unknown metric {unknown[0]!r} (one of {', '.join(METRIC_NAMES)})")
    return GateCheck(str(raw["dataset"]), cast(RetrievalMode, mode), {k: float(v) for k, v in minimums.items()},
                     raw.get("distractors"))  # fmt: skip


def _dataset_dir(check: GateCheck, data_root: Path, settings: Settings) -> Path:
    source = data_root / check.dataset
    if check.distractors is None:
        return source
    return make_subset(
        source,
        settings.embedding.cache_dir / "eval" / "subsets" / f"{check.dataset}-{check.distractors}",
        distractors=check.distractors,
    )


def _failures(check: GateCheck, measured: dict[str, float | None]) -> list[str]:
    failures = []
    for metric, minimum in check.minimums.items():
        value = measured.get(metric)
        if value is None or value < minimum:
            failures.append(f"{check.dataset} {check.mode if check.kind == 'retrieval' else 'answers'} {metric} "
                            f"{'none' if value is None else f'{value:.4f}'} < {minimum:.4f}")  # fmt: skip
    for metric, maximum in check.maximums.items():
        value = measured.get(metric)
        if value is not None and value > maximum:
            failures.append(f"{check.dataset} answers {metric} {value:.4f} > {maximum:.4f}")
    return failures


def _run_answers(check: GateCheck, data_root: Path, settings: Settings) -> GateResult:
    from evals.answers_eval import evaluate_answers  # the LLM and its stack only for an answers check

    summary = evaluate_answers(data_root / check.dataset, settings, max_questions=check.max_questions).summary
    values = summary.to_json()
    measured = {k: (None if values[k] is None else float(values[k])) for k in _answer_metrics()}
    return GateResult(check, measured, _failures(check, measured))


def run_gate(checks: list[GateCheck], data_root: Path, settings: Settings) -> list[GateResult]:
    """Each dataset (or subset) is prepared and opened once, however many checks it has."""
    results = [_run_answers(c, data_root, settings) for c in checks if c.kind == "answers"]
    retrieval = [c for c in checks if c.kind == "retrieval"]
    for source in dict.fromkeys((c.dataset, c.distractors) for c in retrieval):
        group = [c for c in retrieval if (c.dataset, c.distractors) == source]
        dataset = _dataset_dir(group[0], data_root, settings)
        queries, qrels = load_queries(dataset), load_qrels(dataset)
        index = open_eval_index(dataset, settings)
        try:
            for check in group:
                found = evaluate_mode(
                    index.components,
                    collection=index.collection,
                    tenant=TENANT,
                    queries=queries,
                    qrels=qrels,
                    mode=check.mode,
                )
                measured: dict[str, float | None] = dict(found.metrics.by_name())
                results.append(GateResult(check, measured, _failures(check, measured)))
        finally:
            index.components.close()
    return results


def evaluate_gate(settings: Settings, *, thresholds: Path = THRESHOLDS, data_dir: Path | None = None) -> GateReport:
    """The gate over the datasets under `data_dir` (default: RAG_EVAL_DATA_DIR). `DatasetError` when that folder
    or a dataset in it is missing, `ThresholdsError` for a thresholds file it cannot use."""
    root = resolve_data_dir(data_dir, settings.evals)
    checks = load_checks(thresholds)
    missing = sorted({c.dataset for c in checks if not (root / c.dataset / "corpus.jsonl").is_file()})
    missing += sorted({c.dataset for c in checks if c.kind == "answers" and not (root / c.dataset / "answers.jsonl")
                       .is_file()} - set(missing))  # fmt: skip
    if missing:
        raise DatasetError(f"datasets not found under {root}: {', '.join(missing)}")
    return GateReport(root, tuple(run_gate(checks, root, settings)))
