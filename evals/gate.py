"""The quality gate: retrieval metrics on fixed datasets must stay at or above the thresholds in a checked-in file
(`evals/quality_gate.json`). CI runs it through the tests; `rag eval gate` runs it by hand."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from evals.beir import DatasetError, load_qrels, load_queries
from evals.data_dir import resolve_data_dir
from evals.eval_index import TENANT, open_eval_index
from evals.results import METRIC_NAMES, RETRIEVAL_MODES, MetricName, RetrievalMetrics
from evals.retrieval_eval import evaluate_mode
from evals.subset import make_subset
from rag.domain import RetrievalMode
from rag.settings import Settings

THRESHOLDS = Path(__file__).with_name("quality_gate.json")


class ThresholdsError(ValueError):
    """A thresholds file the gate cannot use (the message says where and why)."""


@dataclass(frozen=True)
class GateCheck:
    dataset: str  # a folder under the data root
    mode: RetrievalMode
    minimums: dict[MetricName, float]  # metric -> lowest accepted value
    distractors: int | None = None  # gate on a subset: qrels documents plus this many others


@dataclass(frozen=True)
class GateResult:
    check: GateCheck
    metrics: RetrievalMetrics
    failures: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.check.dataset,
            "mode": self.check.mode,
            "metrics": self.metrics.by_name(),
            "min": dict(self.check.minimums),
        }


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


def _check(raw: dict[str, Any]) -> GateCheck:
    mode, minimums = raw["mode"], raw["min"]
    if mode not in RETRIEVAL_MODES:
        raise ThresholdsError(f"unknown mode {mode!r} (one of {', '.join(RETRIEVAL_MODES)})")
    unknown = sorted(set(minimums) - set(METRIC_NAMES))
    if unknown:
        raise ThresholdsError(f"unknown metric {unknown[0]!r} (one of {', '.join(METRIC_NAMES)})")
    return GateCheck(
        str(raw["dataset"]),
        cast(RetrievalMode, mode),
        {cast(MetricName, k): float(v) for k, v in minimums.items()},
        raw.get("distractors"),
    )


def _dataset_dir(check: GateCheck, data_root: Path, settings: Settings) -> Path:
    source = data_root / check.dataset
    if check.distractors is None:
        return source
    return make_subset(
        source,
        settings.cache_dir / "eval" / "subsets" / f"{check.dataset}-{check.distractors}",
        distractors=check.distractors,
    )


def run_gate(checks: list[GateCheck], data_root: Path, settings: Settings) -> list[GateResult]:
    """Each dataset (or subset) is prepared and opened once, however many checks it has."""
    results = []
    for source in dict.fromkeys((c.dataset, c.distractors) for c in checks):
        group = [c for c in checks if (c.dataset, c.distractors) == source]
        dataset = _dataset_dir(group[0], data_root, settings)
        queries, qrels = load_queries(dataset), load_qrels(dataset)
        index = open_eval_index(dataset, settings)
        try:
            for check in group:
                found = evaluate_mode(
                    index.components.retriever,
                    collection=index.collection,
                    tenant=TENANT,
                    queries=queries,
                    qrels=qrels,
                    mode=check.mode,
                )
                failures = [
                    f"{check.dataset} {check.mode} {metric} {found.metrics.value(metric):.4f} < {minimum:.4f}"
                    for metric, minimum in check.minimums.items()
                    if found.metrics.value(metric) < minimum
                ]
                results.append(GateResult(check, found.metrics, failures))
        finally:
            index.components.close()
    return results


def evaluate_gate(settings: Settings, *, thresholds: Path = THRESHOLDS, data_dir: Path | None = None) -> GateReport:
    """The gate over the datasets under `data_dir` (default: RAG_EVAL_DATA_DIR). `DatasetError` when that folder
    or a dataset in it is missing, `ThresholdsError` for a thresholds file it cannot use."""
    root = resolve_data_dir(data_dir, settings)
    checks = load_checks(thresholds)
    missing = sorted({c.dataset for c in checks if not (root / c.dataset / "corpus.jsonl").is_file()})
    if missing:
        raise DatasetError(f"datasets not found under {root}: {', '.join(missing)}")
    return GateReport(root, tuple(run_gate(checks, root, settings)))
