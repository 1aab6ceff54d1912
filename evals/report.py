"""Evaluation reports a person reads: for a finished `rag eval retrieval` or `rag eval answers` run, a folder with
`report.json` (the object the command's `--json` prints), `report.md` (settings, metric tables, the questions
worth a look) and a plot (`retrieval.png` or `answers.png`, linked from the Markdown)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from rag.settings import Settings

ReportKind = Literal["retrieval", "answers"]
RETRIEVAL_METRICS = (
    ("ndcg@10", "nDCG@10"),
    ("recall@10", "Recall@10"),
    ("recall@100", "Recall@100"),
    ("mrr@10", "MRR@10"),
)
ANSWER_ROWS = (
    ("questions", "questions"),
    ("answerable", "answerable"),
    ("unanswerable", "unanswerable"),
    ("gold_retrieved", "gold document retrieved"),
    ("gold_cited", "gold document cited"),
    ("citation_precision", "citation precision"),
    ("token_f1", "token F1"),
    ("rouge_l", "ROUGE-L"),
    ("abstention_accuracy", "abstention accuracy"),
    ("abstained_when_unanswerable", "abstained when unanswerable"),
    ("answered_when_answerable", "answered when answerable"),
    ("groundedness", "groundedness"),
    ("groundedness_method", "groundedness method"),
    ("groundedness_unscored", "answers the judge could not score"),
    ("retrieval_ms_p50", "retrieval ms (p50)"),
    ("first_token_ms_p50", "first token ms (p50)"),
    ("generation_ms_p50", "generation ms (p50)"),
)
_ABSTENTION_GROUPS = (("answerable", True), ("unanswerable", False))
WORST = 10
ANSWER_CHARS = 200


def default_report_dir(kind: ReportKind, dataset: Path) -> Path:
    """`reports/<kind>-<dataset folder name>`, relative to the current directory."""
    return Path("reports") / f"{kind}-{dataset.resolve().name}"


def write_retrieval_report(
    out_dir: Path, payload: Mapping[str, Any], settings: Settings, *, now: datetime | None = None
) -> Path:
    """Writes report.json, report.md and retrieval.png for the payload `rag eval retrieval --json` prints;
    returns the Markdown's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir, payload)
    modes: Mapping[str, Mapping[str, Any]] = payload["modes"]
    _retrieval_plot(modes, out_dir / "retrieval.png")
    header = [
        ("dataset", f"`{payload['dataset']}`"),
        ("split", str(payload["split"])),
        ("collection", f"`{payload['collection']}`"),
        ("date (UTC)", _date(now)),
        ("retrieval modes", ", ".join(modes)),
        *_retrieval_settings(settings),
    ]
    rows = [
        [mode, *(_num(m[key]) for key, _ in RETRIEVAL_METRICS), str(m["queries"]), _num(m["latency_ms_p50"], 1)]
        for mode, m in modes.items()
    ]
    lines = [
        f"# Retrieval evaluation: {Path(str(payload['dataset'])).name}",
        "",
        *_table(["setting", "value"], [[f"**{k}**", v] for k, v in header]),
        "",
        "## Metrics",
        "",
        *_table(["mode", *(label for _, label in RETRIEVAL_METRICS), "queries", "p50 latency (ms)"], rows),
        "",
        "![retrieval metrics per mode](retrieval.png)",
        "",
    ]
    return _write_md(out_dir, lines)


def write_answers_report(
    out_dir: Path,
    payload: Mapping[str, Any],
    settings: Settings,
    *,
    collection: str,
    now: datetime | None = None,
) -> Path:
    """Writes report.json, report.md and answers.png for the payload `rag eval answers --json` prints (the
    collection is not in that payload); returns the Markdown's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir, payload)
    summary: Mapping[str, Any] = payload["summary"]
    questions: Sequence[Mapping[str, Any]] = payload["questions"]
    _answers_plot(questions, out_dir / "answers.png")
    header = [
        ("dataset", f"`{payload['dataset']}`"),
        ("split", "answers.jsonl"),
        ("collection", f"`{collection}`"),
        ("date (UTC)", _date(now)),
        ("retrieval mode", f"{settings.retrieval_mode}, top {settings.top_k} chunks"),
        *_retrieval_settings(settings),
        (
            "LLM",
            f"`{settings.llm_model}`, "
            + (f"at {settings.llm_base_url}" if settings.llm_base_url else "in-process engine"),
        ),
        ("max tokens, temperature", f"{settings.max_tokens}, 0.0"),
    ]
    scored = [q for q in questions if q["answerable"] and q["token_f1"] is not None]
    worst = sorted(scored, key=lambda q: (q["token_f1"], str(q["qid"])))[:WORST]
    answered = [q for q in questions if not q["answerable"] and not q["abstained"]]
    lines = [
        f"# Answer evaluation: {Path(str(payload['dataset'])).name}",
        "",
        *_table(["setting", "value"], [[f"**{k}**", v] for k, v in header]),
        "",
        "## Summary",
        "",
        *_table(
            ["metric", "value"],
            [[label, _num(summary.get(key), 1 if key.endswith("_ms_p50") else 4)] for key, label in ANSWER_ROWS],
        ),
        "",
        "![answer metrics per question](answers.png)",
        "",
        f"## Worst {len(worst)} answerable questions by token F1",
        "",
        *(
            _table(
                ["question", "token F1", "ROUGE-L", "answer"],
                [[_cell(str(q["qid"])), _num(q["token_f1"]), _num(q["rouge_l"]), _answer(q["answer"])] for q in worst],
            )
            if worst
            else ["None scored."]
        ),
        "",
        f"## Unanswerable questions answered instead of abstaining ({len(answered)})",
        "",
        *(
            _table(["question", "answer"], [[_cell(str(q["qid"])), _answer(q["answer"])] for q in answered])
            if answered
            else ["None: every unanswerable question was declined."]
        ),
        "",
    ]
    return _write_md(out_dir, lines)


def _retrieval_settings(settings: Settings) -> list[tuple[str, str]]:
    fusion: str = settings.fusion
    if fusion == "rrf":
        fusion += f" (k {settings.rrf_k}, weights {settings.fusion_dense_weight}/{settings.fusion_sparse_weight})"
    return [
        ("fusion (hybrid)", f"{fusion}, prefetch {settings.prefetch_k}"),
        ("chunk size / overlap", f"{settings.chunk_size} / {settings.chunk_overlap} tokens"),
        ("embedding", f"{settings.embed_model_path or 'all-MiniLM-L6-v2 (packaged)'}, {settings.embed_backend}"),
    ]


def _write_json(out_dir: Path, payload: Mapping[str, Any]) -> None:
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


def _retrieval_plot(modes: Mapping[str, Mapping[str, Any]], path: Path) -> None:
    from matplotlib.figure import Figure  # a Figure renders with Agg on its own: no pyplot, no GUI backend

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(len(modes), 1)
    for i, (mode, metrics) in enumerate(modes.items()):
        xs = [j + (i - (len(modes) - 1) / 2) * width for j in range(len(RETRIEVAL_METRICS))]
        values = [float(metrics[key]) for key, _ in RETRIEVAL_METRICS]
        bars = ax.bar(xs, values, width, label=mode)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    ax.set_xticks(range(len(RETRIEVAL_METRICS)), [label for _, label in RETRIEVAL_METRICS])
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("score")
    ax.set_title("Retrieval quality per mode")
    ax.legend(title="mode")
    fig.savefig(path, dpi=120)


def _answers_plot(questions: Sequence[Mapping[str, Any]], path: Path) -> None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 7), layout="constrained")
    axes = fig.subplots(2, 2)
    for ax, (key, label) in zip(
        axes.flat, (("token_f1", "token F1"), ("rouge_l", "ROUGE-L"), ("groundedness", "groundedness")), strict=False
    ):
        values = [float(q[key]) for q in questions if q.get(key) is not None]
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
    groups = [(name, [q for q in questions if q["answerable"] == wanted]) for name, wanted in _ABSTENTION_GROUPS]
    shares = [sum(bool(q["abstention_correct"]) for q in qs) / len(qs) if qs else 0.0 for _, qs in groups]
    bars = ax.bar([f"{name}\n(n={len(qs)})" for name, qs in groups], shares, color=["tab:blue", "tab:orange"])
    ax.bar_label(bars, fmt="%.2f", padding=2)
    ax.set_ylim(0, 1.1)
    ax.set_title("abstention accuracy")
    ax.set_ylabel("share correct (answered / abstained)")
    fig.savefig(path, dpi=120)
