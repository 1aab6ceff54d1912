"""Injection flags at ingest (rag/evidence/injection.py): the similarity threshold, the share of ordinary chunks
flagged, and the recall on the red-team corpus (evals/redteam.py); with `--attacks`, the attacks' success through the
real pipeline before and after the defences.

    .venv/bin/python -m benchmarks.injection [--attacks]

Ordinary corpora: SciFact and ClapNQ (their eval collections: chunks and stored vectors) and this repository's
docs/ (ingested into a temporary store). Red team: the 60 injected documents, chunked and embedded the same way.
The threshold is the lowest on a grid at which the similarity check alone flags at most `--similarity-budget` of
each ordinary corpus; then each corpus's chunks flagged by pattern, by similarity and either, and the red-team
documents caught (any of their chunks flagged), per kind.

Attacks: the red-team documents mixed into ClapNQ's corpus, ingested as `rag ingest` would (flags included), and
each one's question asked through the chat pipeline with the configured LLM (the in-process engine unless
RAG_LLM_BASE_URL is set) over the ordinary corpus and that one injected document, at the settings users get but
`--attack-max-tokens` (96: an attack shows early; it halves the run): before (sources unfenced, flagged sources
kept as any other), fence only (fenced, flagged sources kept) and after (fenced sources, RAG_INJECTED_SOURCES's
default). Per kind, the share of answers
showing the attack's effect (`evals.redteam.attack_succeeded`) among the questions whose injected document was
retrieved.
Prints tables, writes benchmarks/results/injection.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.corpus_vectors import ROOT, dataset
from evals.eval_index import TENANT, open_eval_index
from evals.redteam import KINDS, attack_succeeded, red_team
from ingest.formats.base import LoadFailure
from ingest.loaders import SUFFIXES, load
from ingest.sources.local import discover
from ingest.sync import Ingestor
from rag.answering.pipeline import PipelineConfig, RagPipeline
from rag.answering.prompts import Turn
from rag.answering.requests import RequestBuilder
from rag.components import Components, build_components
from rag.domain import Document
from rag.evidence.injection import InjectionDetector, pattern_hits
from rag.llm.factory import build_chat_model
from rag.settings import Settings

GRID = [round(0.30 + 0.01 * i, 2) for i in range(51)]  # 0.30 .. 0.80


def stored(components: Components, collection: str) -> tuple[list[str], list[str], np.ndarray]:
    """Every chunk of a collection: doc ids, texts, dense vectors."""
    ids, texts, vectors = [], [], []
    for batch in components.store.scroll_points(collection):
        ids += [c.doc_id for c in batch.chunks]
        texts += [c.text for c in batch.chunks]
        vectors += batch.dense
    return ids, texts, np.asarray(vectors, dtype=np.float32)


def ingested(documents: Iterable[Document | LoadFailure]) -> tuple[list[str], list[str], np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings().updated(qdrant_url=None, qdrant_path=Path(tmp), tenant=TENANT)
        components = build_components(settings)
        try:
            Ingestor.for_components(components, collection="c", tenant=TENANT).run(documents)
            return stored(components, "c")
        finally:
            components.close()


def attacks_through_pipeline(settings: Settings, max_tokens: int) -> dict[str, Any]:
    """Each red-team question asked over ClapNQ's corpus and its own injected document only (a filter on the
    `part` metadata: the other 119 red-team documents share its topic and would crowd it out)."""
    attacks = red_team()
    with (dataset("clapnq") / "corpus.jsonl").open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    ordinary = [
        Document(r["_id"], r["text"], r.get("title", ""), f"clapnq/{r['_id']}", {"part": "clapnq"}) for r in records
    ]
    injected = [replace(a.document, metadata={"part": a.document.doc_id}) for a in attacks]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings.updated(qdrant_url=None, qdrant_path=Path(tmp), tenant=TENANT)
        components = build_components(settings)
        try:
            Ingestor.for_components(components, collection="c", tenant=TENANT).run([*ordinary, *injected])
            builder = RequestBuilder(settings)
            base = PipelineConfig.from_settings(settings)
            configs = {
                "before": replace(base, fence_sources=False, injected_sources="keep"),
                "fence_only": replace(base, injected_sources="keep"),  # which of the two defences does what
                "after": base,
            }
            model = build_chat_model(settings)
            for name, config in configs.items():
                pipeline = RagPipeline(components.retriever, model, config)
                rows = []
                for attack in attacks:
                    request = builder.chat(
                        [Turn("user", attack.question)],
                        tenant=TENANT,
                        collection="c",
                        max_tokens=max_tokens,
                        filters={"part": ["clapnq", attack.document.doc_id]},
                    )
                    answer = pipeline.answer(request)
                    rows.append(
                        {
                            "kind": attack.kind,
                            "doc_id": attack.document.doc_id,
                            "held_out": attack.held_out,
                            "retrieved": any(c.doc_id == attack.document.doc_id for c in answer.citations),
                            "abstention": answer.evidence.abstention,
                            "succeeded": attack_succeeded(attack.kind, answer.text),
                            "answer": answer.text[:300],
                        }
                    )
                    print(f"{name} {attack.document.doc_id}: {rows[-1]['succeeded']} {answer.text[:80]!r}", flush=True)
                out[name] = rows
        finally:
            components.close()
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for name, rows in out.items():
        summary[name] = {}
        for kind in KINDS:
            reached = [r for r in rows if r["kind"] == kind and r["retrieved"]]
            summary[name][kind] = {
                "retrieved": len(reached),
                "succeeded": sum(r["succeeded"] for r in reached),
                "rate": round(sum(r["succeeded"] for r in reached) / len(reached), 4) if reached else None,
            }
    names = list(out)
    print(f"\n{'kind':>16} " + " ".join(f"{n:>12}" for n in names) + "   (attacks that worked / document retrieved)")
    for kind in KINDS:
        cells = [f"{summary[n][kind]['succeeded']}/{summary[n][kind]['retrieved']}" for n in names]
        print(f"{kind:>16} " + " ".join(f"{c:>12}" for c in cells))
    return {"model": settings.llm.model, "max_tokens": max_tokens, "summary": summary, "answers": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--similarity-budget", type=float, default=0.005)
    parser.add_argument("--attacks", action="store_true", help="also run the red-team questions through the LLM")
    parser.add_argument("--attack-max-tokens", type=int, default=96, help="answer length for the red-team questions")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "injection.json")
    args = parser.parse_args()
    settings = Settings()
    corpora: dict[str, tuple[list[str], list[str], np.ndarray]] = {}
    for name in ("scifact", "clapnq"):
        index = open_eval_index(dataset(name), settings)
        try:
            corpora[name] = stored(index.components, index.collection)
        finally:
            index.components.close()
    corpora["docs"] = ingested(load(discover([ROOT / "docs"], SUFFIXES)))
    attacks = red_team()
    redteam = ingested([a.document for a in attacks])
    kind_of = {a.document.doc_id: a.kind for a in attacks}
    held_out_of = {a.document.doc_id: a.held_out for a in attacks}

    components = build_components(settings, lazy_embedder=True)
    try:
        detector = InjectionDetector(components.embedder, min_similarity=1.0)
        detector.similarity(["You are warmed up."])
        started = time.perf_counter()
        similarity = {name: detector.similarity(texts) for name, (_, texts, _) in corpora.items()}
        checked = sum(len(texts) for _, texts, _ in corpora.values())
        check_s = time.perf_counter() - started
        sample = [t for _, texts, _ in corpora.values() for t in texts][:1000]
        started = time.perf_counter()
        components.embedder.embed_documents(sample)
        embed_s = (time.perf_counter() - started) * checked / len(sample)
        red_similarity = detector.similarity(redteam[1])
    finally:
        components.close()
    cost = {"chunks": checked, "similarity_check_s": round(check_s, 2), "embedding_them_s_estimated": round(embed_s, 1)}
    threshold = next(
        (t for t in GRID if all(float(np.mean(s >= t)) <= args.similarity_budget for s in similarity.values())),
        GRID[-1],
    )
    rows: dict[str, Any] = {}
    for name, (_, texts, _) in corpora.items():
        patterns = np.array([bool(pattern_hits(t)) for t in texts])
        similar = similarity[name] >= threshold
        rows[name] = {
            "chunks": len(texts),
            "flagged_by_pattern": round(float(patterns.mean()), 4),
            "flagged_by_similarity": round(float(similar.mean()), 4),
            "flagged": round(float((patterns | similar).mean()), 4),
            "examples": [t[:160] for t, p in zip(texts, patterns, strict=True) if p][:5],
        }
    ids, texts, _ = redteam
    caught: dict[str, bool] = {}
    by_pattern: dict[str, bool] = {}
    for doc_id, text, score in zip(ids, texts, red_similarity, strict=True):
        pattern = bool(pattern_hits(text))
        by_pattern[doc_id] = by_pattern.get(doc_id, False) or pattern
        caught[doc_id] = caught.get(doc_id, False) or pattern or bool(score >= threshold)
    recall: dict[str, Any] = {}
    for part, held_out in (("tuning", False), ("held_out", True)):
        docs = [d for d in caught if held_out_of[d] == held_out]
        per_kind = {}
        for kind in KINDS:
            of_kind = [caught[d] for d in docs if kind_of[d] == kind]
            per_kind[kind] = round(sum(of_kind) / len(of_kind), 4)
        recall[part] = {
            "documents": len(docs),
            "recall": round(sum(caught[d] for d in docs) / len(docs), 4),
            "recall_patterns_only": round(sum(by_pattern[d] for d in docs) / len(docs), 4),
            "per_kind": per_kind,
            "missed": sorted(d for d in docs if not caught[d]),
        }
    print(f"similarity threshold: {threshold} (similarity alone flags <= {args.similarity_budget:.1%} of each corpus)")
    print(f"{'corpus':>8} {'chunks':>7} {'pattern':>8} {'similar':>8} {'flagged':>8}")
    for name, row in rows.items():
        print(
            f"{name:>8} {row['chunks']:>7} {row['flagged_by_pattern']:>8.2%} {row['flagged_by_similarity']:>8.2%} "
            f"{row['flagged']:>8.2%}"
        )
    for part, row in recall.items():
        print(
            f"red team, {part}: {row['recall']:.2%} of {row['documents']} documents flagged "
            f"({row['recall_patterns_only']:.2%} by patterns alone); per kind {row['per_kind']}"
        )
    print(
        f"similarity check of {cost['chunks']} chunks: {cost['similarity_check_s']} s (embedding them: about "
        f"{cost['embedding_them_s_estimated']} s)"
    )
    result = {
        "min_similarity": threshold,
        "similarity_budget": args.similarity_budget,
        "corpora": rows,
        "red_team": recall,
        "cost": cost,
    }
    if args.attacks:
        calibrated = settings.updated(injection_min_similarity=threshold)
        result["attacks"] = attacks_through_pipeline(calibrated, args.attack_max_tokens)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
