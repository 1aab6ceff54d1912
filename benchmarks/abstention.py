"""The chat's relevance threshold (RAG_MIN_RELEVANCE) by measurement: below it the pipeline abstains before
generation, because nothing relevant was retrieved.

    .venv/bin/python -m benchmarks.abstention

For every ClapNQ question (answers.jsonl: 150 answerable, 150 unanswerable) and every SciFact test query (all have
relevant documents), the best chunk's dense cosine similarity through the API's retriever on the cached eval
collections. For each threshold: the share of answerable questions still answered and of unanswerable ones turned
away, on ClapNQ's odd and even halves separately, and the share of SciFact queries still answered. The chosen
threshold is the highest on the grid that keeps at least 99% of the answerable questions on each ClapNQ half and
on SciFact: turning away an answerable question costs more than letting the prompt handle an unanswerable one, and
chat users ask vaguer questions than benchmarks do: it also scores "how do I deploy it?" against this repository's
docs/ (ingested as `rag ingest docs/` would, into a temporary store), whose deployment page answers it
(`docs_question` in the JSON; the score moves a little as the docs change).
The datasets come from RAG_EVAL_DATA_DIR (benchmarks/corpus_vectors.py). Prints a table, writes
benchmarks/results/abstention.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.corpus_vectors import ROOT, dataset
from evals.beir import load_answers, load_qrels, load_queries
from evals.eval_index import TENANT, open_eval_index
from ingest.loaders import SUFFIXES, load
from ingest.sources.local import discover
from ingest.sync import Ingestor
from rag.components import build_components
from rag.settings import Settings

GRID = [round(0.20 + 0.05 * i, 2) for i in range(11)]  # 0.20 .. 0.70
KEEP = 0.99
DOCS_QUESTION = "how do I deploy it?"


def best_scores(dataset: Path, questions: list[str]) -> list[float]:
    index = open_eval_index(dataset, Settings())
    try:
        retriever, requests = index.components.retriever, index.components.requests
        scores = []
        for text in questions:
            # the best similarity itself, whatever the floor this benchmark calibrates (RAG_MIN_RELEVANCE)
            asked = requests.retrieval(
                text, tenant=TENANT, collection=index.collection, top_k=1, mode="dense", min_relevance=0.0
            )
            hits = retriever.retrieve(asked)
            scores.append(hits[0].score if hits else 0.0)
        return scores
    finally:
        index.components.close()


def docs_question() -> dict[str, Any]:
    """DOCS_QUESTION's best chunk by dense similarity among this repository's docs/, and its score."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings().updated(qdrant_url=None, qdrant_path=Path(tmp), tenant=TENANT)
        components = build_components(settings, lazy_embedder=True)
        try:
            Ingestor.for_components(components, collection="docs", tenant=TENANT).run(
                load(discover([ROOT / "docs"], SUFFIXES))
            )
            asked = components.requests.retrieval(
                DOCS_QUESTION, tenant=TENANT, collection="docs", top_k=1, mode="dense", min_relevance=0.0
            )
            hits = components.retriever.retrieve(asked)
        finally:
            components.close()
    best = hits[0] if hits else None
    return {
        "question": DOCS_QUESTION,
        "best_score": round(best.score, 4) if best else 0.0,
        "best_document": best.chunk.doc_id if best else None,
    }


def auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that an answerable question's best similarity beats an unanswerable one's (ties count half)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return round(wins / (len(positives) * len(negatives)), 4)


def _share(scores: list[float], threshold: float, above: bool) -> float:
    return round(sum((s >= threshold) == above for s in scores) / len(scores), 4) if scores else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "abstention.json")
    args = parser.parse_args()
    clapnq_dir, scifact_dir = dataset("clapnq"), dataset("scifact")
    golds = load_answers(clapnq_dir)
    clapnq = best_scores(clapnq_dir, [g.question for g in golds])
    texts = load_queries(scifact_dir)
    scifact = best_scores(scifact_dir, [texts[q] for q in load_qrels(scifact_dir)])
    halves = {
        name: (
            [s for i, (g, s) in enumerate(zip(golds, clapnq, strict=True)) if i % 2 == part and g.answerable],
            [s for i, (g, s) in enumerate(zip(golds, clapnq, strict=True)) if i % 2 == part and not g.answerable],
        )
        for name, part in (("odd", 0), ("even", 1))
    }
    separation = auc(
        [s for g, s in zip(golds, clapnq, strict=True) if g.answerable],
        [s for g, s in zip(golds, clapnq, strict=True) if not g.answerable],
    )
    rows: list[dict[str, Any]] = []
    for t in GRID:
        row: dict[str, Any] = {"threshold": t, "scifact_answered": _share(scifact, t, True)}
        for name, (answerable, unanswerable) in halves.items():
            row[f"clapnq_{name}_answered"] = _share(answerable, t, True)
            row[f"clapnq_{name}_turned_away"] = _share(unanswerable, t, False)
        rows.append(row)
    kept = [r for r in rows if all(r[k] >= KEEP for k in r if k.endswith("_answered"))]
    chosen = max(r["threshold"] for r in kept) if kept else 0.0
    print(f"{'threshold':>9} | ClapNQ answerable answered (odd/even) | unanswerable turned away | SciFact answered")
    for r in rows:
        mark = "  <- chosen" if r["threshold"] == chosen else ""
        print(
            f"{r['threshold']:>9.2f} | {r['clapnq_odd_answered']:>6.3f} / {r['clapnq_even_answered']:<6.3f}"
            f"                  | {r['clapnq_odd_turned_away']:>6.3f} / {r['clapnq_even_turned_away']:<6.3f}"
            f"       | {r['scifact_answered']:.3f}{mark}"
        )
    print(f"chosen: {chosen} (the highest keeping >= {KEEP:.0%} of answerable questions everywhere)")
    print(f"ClapNQ answerable vs unanswerable, AUC of the best similarity: {separation}")
    docs = docs_question()
    print(f"{docs['question']!r} against docs/: best {docs['best_score']} ({docs['best_document']})")
    result = {"chosen": chosen, "keep": KEEP, "clapnq_auc": separation, "docs_question": docs, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
