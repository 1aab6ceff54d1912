"""Evaluation reports a person reads: for a finished `rag eval retrieval` or `rag eval answers` run, a folder with
`report.json` (the object the command's `--json` prints), `report.md` (settings, metric tables, the questions
worth a look) and a plot (`retrieval.png` or `answers.png`, linked from the Markdown)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import astuple
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from evals.results import (
    AnswerResults,
    AnswerSummary,
    ModeResult,
    QuestionResult,
    RetrievalMetrics,
    RetrievalResults,
    RetrievalSettings,
)

ReportKind = Literal["retrieval", "answers"]
# In the order of RetrievalMetrics' fields.
METRIC_LABELS = ("nDCG@10", "Recall@10", "Recall@100", "MRR@10")
SummaryValue = float | int | str | None
ANSWER_ROWS: tuple[tuple[str, Callable[[AnswerSummary], SummaryValue], int], ...] = (
    ("questions", lambda s: s.questions, 4),
    ("answerable", lambda s: s.answerable, 4),
    ("unanswerable", lambda s: s.unanswerable, 4),
    ("gold document retrieved", lambda s: s.gold_retrieved, 4),
    ("gold document cited", lambda s: s.gold_cited, 4),
    ("citation precision (checked markers)", lambda s: s.citation_precision, 4),
    ("answers with a valid marker", lambda s: s.valid_marker, 4),
    ("markers naming no source (removed)", lambda s: s.removed_markers, 4),
    ("sentences supported", lambda s: s.sentences_supported, 4),
    ("gold document among supporting sources", lambda s: s.gold_supporting, 4),
    ("token F1", lambda s: s.token_f1, 4),
    ("ROUGE-L", lambda s: s.rouge_l, 4),
    ("abstention accuracy", lambda s: s.abstention_accuracy, 4),
    ("abstained when unanswerable", lambda s: s.abstained_when_unanswerable, 4),
    ("answered when answerable", lambda s: s.answered_when_answerable, 4),
    ("groundedness", lambda s: s.groundedness, 4),
    ("groundedness method", lambda s: s.groundedness_method, 4),
    ("answers the judge could not score", lambda s: s.groundedness_unscored, 4),
    ("retrieval ms (p50)", lambda s: s.retrieval_ms_p50, 1),
    ("first token ms (p50)", lambda s: s.first_token_ms_p50, 1),
    ("generation ms (p50)", lambda s: s.generation_ms_p50, 1),
)
PER_QUESTION: tuple[tuple[str, Callable[[QuestionResult], float | None]], ...] = (
    ("token F1", lambda q: q.token_f1),
    ("ROUGE-L", lambda q: q.rouge_l),
    ("groundedness", lambda q: q.groundedness),
)
_ABSTENTION_GROUPS = (("answerable", True), ("unanswerable", False))
WORST = 10
ANSWER_CHARS = 200


def default_report_dir(kind: ReportKind, dataset: Path) -> Path:
    """`reports/<kind>-<dataset folder name>`, relative to the current directory."""
    return Path("reports") / f"{kind}-{dataset.resolve().name}"


def write_retrieval_report(out_dir: Path, results: RetrievalResults, *, now: datetime | None = None) -> Path:
    """Writes report.json (what `rag eval retrieval --json` prints), report.md and retrieval.png; returns the
    Markdown's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir, results.to_json())
    _retrieval_plot(results.modes, out_dir / "retrieval.png")
    header = [
        ("dataset", f"`{results.dataset}`"),
        ("split", results.split),
        ("collection", f"`{results.collection}`"),
        ("date (UTC)", _date(now)),
        ("retrieval modes", ", ".join(m.mode for m in results.modes)),
        *_retrieval_settings(results.settings),
    ]
    rows = [
        [m.mode, *(_num(v) for v in _metric_values(m.metrics)), str(m.queries), _num(m.latency_ms_p50, 1)]
        for m in results.modes
    ]
    lines = [
        f"# Retrieval evaluation: {results.dataset.name}",
        "",
        *_table(["setting", "value"], [[f"**{k}**", v] for k, v in header]),
        "",
        "## Metrics",
        "",
        *_table(["mode", *METRIC_LABELS, "queries", "p50 latency (ms)"], rows),
        "",
        "![retrieval metrics per mode](retrieval.png)",
        "",
    ]
    return _write_md(out_dir, lines)


def write_answers_report(out_dir: Path, results: AnswerResults, *, now: datetime | None = None) -> Path:
    """Writes report.json (what `rag eval answers --json` prints), report.md and answers.png; returns the
    Markdown's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir, results.to_json())
    questions = results.questions
    _answers_plot(questions, out_dir / "answers.png")
    gen = results.generation
    header = [
        ("dataset", f"`{results.dataset}`"),
        ("split", "answers.jsonl"),
        ("collection", f"`{results.collection}`"),
        ("date (UTC)", _date(now)),
        ("retrieval mode", f"{gen.retrieval_mode}, top {gen.top_k} chunks, min relevance {gen.min_relevance}"),
        ("answerability min", f"{gen.answerability_min}"),
        *_retrieval_settings(results.retrieval),
        ("LLM", f"`{gen.llm_model}`, " + (f"at {gen.llm_base_url}" if gen.llm_base_url else "in-process engine")),
        ("max tokens, temperature", f"{gen.max_tokens}, {gen.temperature}"),
    ]
    scored = [(q.token_f1, q) for q in questions if q.answerable and q.token_f1 is not None]
    worst = [q for _, q in sorted(scored, key=lambda fq: (fq[0], fq[1].qid))[:WORST]]
    answered = [q for q in questions if not q.answerable and not q.abstained]
    lines = [
        f"# Answer evaluation: {results.dataset.name}",
        "",
        *_table(["setting", "value"], [[f"**{k}**", v] for k, v in header]),
        "",
        "## Summary",
        "",
        *_table(["metric", "value"], [[label, _num(get(results.summary), d)] for label, get, d in ANSWER_ROWS]),
        "",
        "![answer metrics per question](answers.png)",
        "",
        "## Abstention by answerability threshold",
        "",
        *_curve(results.summary),
        "",
        f"## Worst {len(worst)} answerable questions by token F1",
        "",
        *(
            _table(
                ["question", "token F1", "ROUGE-L", "answer"],
                [[_cell(q.qid), _num(q.token_f1), _num(q.rouge_l), _answer(q.answer)] for q in worst],
            )
            if worst
            else ["None scored."]
        ),
        "",
        f"## Unanswerable questions answered instead of abstaining ({len(answered)})",
        "",
        *(
            _table(["question", "answer"], [[_cell(q.qid), _answer(q.answer)] for q in answered])
            if answered
            else ["None: every unanswerable question was declined."]
        ),
        "",
    ]
    return _write_md(out_dir, lines)


def _curve(summary: AnswerSummary) -> list[str]:
    """The abstention curve, and beside it the same with the attribution check (no supported sentence: abstain)."""
    if not summary.abstention_curve:
        return ["No answerability probabilities: the gate was off (RAG_ANSWERABILITY_MIN=0)."]
    rows = [
        [
            _num(plain["threshold"], 2),
            _num(plain["answered_when_answerable"]),
            _num(plain["abstained_when_unanswerable"]),
            _num(both["answered_when_answerable"]),
            _num(both["abstained_when_unanswerable"]),
        ]
        for plain, both in zip(summary.abstention_curve, summary.abstention_curve_with_attribution, strict=True)
    ]
    head = ["threshold", "answered (answerable)", "abstained (unanswerable)", "with attribution: answered", "abstained"]
    return _table(head, rows)


def _metric_values(metrics: RetrievalMetrics) -> tuple[float, ...]:
    """The metrics in METRIC_LABELS' order."""
    return tuple(float(v) for v in astuple(metrics))


def _retrieval_settings(run: RetrievalSettings) -> list[tuple[str, str]]:
    fusion: str = run.fusion
    if fusion == "rrf":
        dense, sparse = run.fusion_weights
        fusion += f" (k {run.rrf_k}, weights {dense}/{sparse})"
    index = run.index
    return [
        ("fusion (hybrid)", f"{fusion}, prefetch {run.prefetch_k}"),
        ("relevance floor (dense, hybrid)", f"{run.min_relevance} (best chunk's cosine; below it, no hits)"),
        ("chunk size / overlap", f"{index.chunk_size} / {index.chunk_overlap} tokens"),
        ("embedding", f"{index.embed_model}, {index.embed_backend}"),
    ]


def _write_json(out_dir: Path, payload: dict[str, Any]) -> None:
    (out_dir / "report.json").write_text(json.dumps(payload, indent=2) + "\n")


def _write_md(out_dir: Path, lines: list[str]) -> Path:
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path


def _date(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int | str):  # bool too
        return str(value)
    return f"{float(value):.{digits}f}"


def _cell(text: str) -> str:
    """Text that stays inside one Markdown table cell."""
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")


def _answer(text: str) -> str:
    flat = " ".join(text.split())
    return _cell(flat if len(flat) <= ANSWER_CHARS else flat[: ANSWER_CHARS - 1] + "…") or "(empty)"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _retrieval_plot(modes: Sequence[ModeResult], path: Path) -> None:
    from matplotlib.figure import Figure  # a Figure renders with Agg on its own: no pyplot, no GUI backend

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(len(modes), 1)
    for i, result in enumerate(modes):
        xs = [j + (i - (len(modes) - 1) / 2) * width for j in range(len(METRIC_LABELS))]
        bars = ax.bar(xs, _metric_values(result.metrics), width, label=result.mode)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    ax.set_xticks(range(len(METRIC_LABELS)), METRIC_LABELS)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("score")
    ax.set_title("Retrieval quality per mode")
    ax.legend(title="mode")
    fig.savefig(path, dpi=120)


def _answers_plot(questions: Sequence[QuestionResult], path: Path) -> None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 7), layout="constrained")
    axes = fig.subplots(2, 2)
    for ax, (label, get) in zip(axes.flat, PER_QUESTION, strict=False):
        values = [v for v in map(get, questions) if v is not None]
        if values:
            ax.hist(values, bins=10, range=(0, 1), edgecolor="white")
        else:
            ax.text(0.5, 0.5, "no scored questions", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlim(0, 1)
        ax.set_title(f"{label} per question (n={len(values)})")
        ax.set_xlabel(label)
        ax.set_ylabel("questions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax = axes.flat[3]
    groups = [(name, [q for q in questions if q.answerable == wanted]) for name, wanted in _ABSTENTION_GROUPS]
    shares = [sum(q.abstention_correct for q in qs) / len(qs) if qs else 0.0 for _, qs in groups]
    bars = ax.bar([f"{name}\n(n={len(qs)})" for name, qs in groups], shares, color=["tab:blue", "tab:orange"])
    ax.bar_label(bars, fmt="%.2f", padding=2)
    ax.set_ylim(0, 1.1)
    ax.set_title("abstention accuracy")
    ax.set_ylabel("share correct (answered / abstained)")
    fig.savefig(path, dpi=120)
