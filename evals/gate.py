"""The quality gate: retrieval metrics on fixed datasets must stay at or above the thresholds in a checked-in file
(`evals/quality_gate.json`). CI runs it through the tests; `rag eval gate` runs it by hand."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from evals.beir import load_qrels, load_queries
from evals.eval_index import TENANT, open_eval_index
from evals.retrieval_eval import evaluate_retrieval
from evals.subset import make_subset
from rag.domain import RetrievalMode
from rag.settings import Settings

THRESHOLDS = Path(__file__).with_name("quality_gate.json")


@dataclass(frozen=True)
class GateCheck:
    dataset: str  # a folder under the data root
    mode: RetrievalMode
    minimums: dict[str, float]  # metric -> lowest accepted value
    distractors: int | None = None  # gate on a subset: qrels documents plus this many others


@dataclass
class GateResult:
    check: GateCheck
    metrics: dict[str, float]
    failures: list[str] = field(default_factory=list)


def load_checks(path: Path = THRESHOLDS) -> list[GateCheck]:
    raw = json.loads(path.read_text())
    return [
        GateCheck(c["dataset"], c["mode"], {k: float(v) for k, v in c["min"].items()}, c.get("distractors"))
        for c in raw["checks"]
    ]


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
                found = evaluate_retrieval(
                    index.components.retriever,
                    collection=index.collection,
                    tenant=TENANT,
                    queries=queries,
                    qrels=qrels,
                    mode=check.mode,
                )
                failures = [
                    f"{check.dataset} {check.mode} {metric} {found.metrics[metric]:.4f} < {minimum:.4f}"
                    for metric, minimum in check.minimums.items()
                    if found.metrics[metric] < minimum
                ]
                results.append(GateResult(check, found.metrics, failures))
        finally:
            index.components.close()
    return results
