"""BEIR dataset files: `corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv` (the corpus is loaded by ingestion's
loaders)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path


class DatasetError(ValueError):
    """A dataset directory that is not a usable BEIR dataset (the message says what is missing)."""


def check_dataset(dataset: Path, split: str) -> None:
    for needed in (dataset / "corpus.jsonl", dataset / "queries.jsonl", dataset / "qrels" / f"{split}.tsv"):
        if not needed.is_file():
            raise DatasetError(f"{dataset} is not a BEIR dataset: {needed.relative_to(dataset)} is missing")


def check_answers_dataset(dataset: Path) -> None:
    """A folder `rag eval answers` can use: a corpus and its questions with gold answers."""
    if not (dataset / "answers.jsonl").is_file() or not (dataset / "corpus.jsonl").is_file():
        raise DatasetError(f"{dataset} needs corpus.jsonl and answers.jsonl")


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


@dataclass(frozen=True)
class GoldAnswer:
    """A question of `answers.jsonl` (ClapNQ's layout): its gold answers and the documents that hold them."""

    qid: str
    question: str
    answerable: bool
    gold_doc_ids: list[str]
    answers: list[str]
    # answers that must not come back unchanged (a thumbs-down's, evals/feedback_export.py)
    rejected_answers: list[str] = field(default_factory=list)


def load_answers(dataset: Path) -> list[GoldAnswer]:
    with (dataset / "answers.jsonl").open(encoding="utf-8") as lines:
        return [
            GoldAnswer(
                str(r["_id"]),
                str(r["question"]),
                bool(r["answerable"]),
                [str(d) for d in r.get("gold_doc_ids") or []],
                [str(a) for a in r.get("answers") or [] if str(a).strip()],
                [str(a) for a in r.get("rejected_answers") or [] if str(a).strip()],
            )
            for r in map(json.loads, lines)
            if r
        ]
