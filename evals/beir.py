"""BEIR dataset files: `queries.jsonl` and `qrels/<split>.tsv` (the corpus is loaded by ingestion's loaders)."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def load_queries(dataset: Path) -> dict[str, str]:
    """Query id -> text."""
    with (dataset / "queries.jsonl").open(encoding="utf-8") as lines:
        return {str(q["_id"]): str(q["text"]) for q in map(json.loads, lines) if q}


def load_qrels(dataset: Path, split: str = "test") -> dict[str, dict[str, int]]:
    """Query id -> {document id: relevance}, from the TSV with header `query-id corpus-id score`."""
    qrels: dict[str, dict[str, int]] = {}
    with (dataset / "qrels" / f"{split}.tsv").open(encoding="utf-8", newline="") as rows:
        for row in csv.DictReader(rows, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return qrels
