"""Feedback becomes evaluation: `rag eval feedback --export DIR` turns the rated answers of the records database
into a dataset `rag eval answers` (and the quality gate) runs, in the layout of evals/beir.py:

- `corpus.jsonl`: every passage the rated answers were given (the traces' retrieved chunks, `_id` = chunk id);
- `answers.jsonl`: one case per feedback:
  - thumbs up: its cited passages become the gold documents and its answer a gold answer (a thumbs-up abstention
    becomes an unanswerable question);
  - a corrected answer: it becomes the gold answer;
  - thumbs down without a correction: `rejected_answers` holds the old answer, which must not come back unchanged
    (`rejected_repeated` in the results);
- `feedback.jsonl`: where each case came from (feedback and completion ids, tenant, rating, comment, the settings
  fingerprint the answer was given with).

A case needs its answer's trace with content (RAG_TRACE_TENANTS, RAG_TRACE_CONTENT): feedback on an answer without
one is skipped, and said so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rag.evidence.markers import MARKER
from rag.records.store import FeedbackCase, RecordStore


def comparable(text: str) -> str:
    """An answer as compared: without its [n] markers, whitespace folded."""
    return " ".join(MARKER.sub(" ", text).split())


@dataclass
class ExportSummary:
    folder: Path
    cases: dict[str, int] = field(default_factory=lambda: {"approved": 0, "corrected": 0, "rejected": 0})
    passages: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (feedback id, why)

    @property
    def written(self) -> int:
        return sum(self.cases.values())


def _case(case: FeedbackCase) -> tuple[str, dict[str, Any]] | str:
    """(kind, the answers.jsonl line) of one feedback, or why it cannot be a case."""
    given, trace = case.feedback, case.trace
    if trace is None:
        return "no trace of this answer was kept (its tenant is not in RAG_TRACE_TENANTS)"
    if trace.content is None or any(h.text is None for h in trace.hits):
        return "its trace holds no content (RAG_TRACE_CONTENT was off)"
    line: dict[str, Any] = {"_id": given.id, "question": trace.content.question, "answerable": True,
                            "gold_doc_ids": [], "answers": [], "rejected_answers": []}  # fmt: skip
    if given.corrected_answer:
        line["answers"] = [given.corrected_answer]
        if given.rating == "up":
            line["gold_doc_ids"] = [h.chunk_id for h in trace.hits if h.cited]
        return "corrected", line
    if given.rating == "up":
        if trace.abstention is not None:  # it was right to abstain
            return "approved", line | {"answerable": False}
        line["gold_doc_ids"] = [h.chunk_id for h in trace.hits if h.cited]
        line["answers"] = [comparable(trace.content.answer)]
        return "approved", line
    line["rejected_answers"] = [trace.content.answer]
    return "rejected", line


def export_feedback(
    store: RecordStore, folder: Path, *, tenant: str | None = None, since: datetime | None = None
) -> ExportSummary:
    """Writes the dataset of the feedback given since `since` (every tenant's unless `tenant`) into `folder`."""
    summary = ExportSummary(folder)
    lines, sources, passages = [], [], {}
    for case in store.feedback_cases(tenant=tenant, since=since):
        made = _case(case)
        if isinstance(made, str):
            summary.skipped.append((case.feedback.id, made))
            continue
        kind, line = made
        assert case.trace is not None
        summary.cases[kind] += 1
        lines.append(line)
        for hit in case.trace.hits:
            passages[hit.chunk_id] = {"_id": hit.chunk_id, "title": hit.title or "", "text": hit.text,
                                      "metadata": {"doc_id": hit.doc_id, "source": hit.source}}  # fmt: skip
        given = case.feedback
        sources.append({"_id": given.id, "kind": kind, "completion_id": given.completion_id, "tenant": given.tenant,
                        "subject": given.subject, "rating": given.rating, "comment": given.comment,
                        "created_at": given.created_at.isoformat(), "collection": case.trace.collection,
                        "settings_fingerprint": case.trace.settings_fingerprint})  # fmt: skip
    summary.passages = len(passages)
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("corpus.jsonl", passages.values()), ("answers.jsonl", lines), ("feedback.jsonl", sources)):
        with (folder / name).open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return summary
