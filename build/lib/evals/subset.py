"""A fixed, smaller copy of a BEIR dataset for the CI quality gate: every query of the split, every document a
query's qrels name, and the first `distractors` other documents in corpus order. Deterministic, so its eval
collection is cached like any other."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from evals.beir import load_qrels


def make_subset(dataset: Path, target: Path, *, split: str = "test", distractors: int = 1000) -> Path:
    """Writes the subset under `target` (replacing an older one) and returns it."""
    relevant = {doc for docs in load_qrels(dataset, split).values() for doc in docs}
    staging = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "qrels").mkdir(parents=True)
    kept = 0
    with (dataset / "corpus.jsonl").open(encoding="utf-8") as src, (staging / "corpus.jsonl").open("w") as out:
        for line in src:
            if not line.strip():
                continue
            doc_id = str(json.loads(line)["_id"])
            if doc_id in relevant or kept < distractors:
                kept += doc_id not in relevant
                out.write(line if line.endswith("\n") else line + "\n")
    shutil.copy(dataset / "queries.jsonl", staging / "queries.jsonl")
    shutil.copy(dataset / "qrels" / f"{split}.tsv", staging / "qrels" / f"{split}.tsv")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target
