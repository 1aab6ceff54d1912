"""SciFact retrieval quality of the embedding backends: PyTorch fp32 against ONNX int8, on the same chunks.

    .venv/bin/python -m benchmarks.embed_quality

Each backend embeds all SciFact chunks (cached per backend by benchmarks/corpus_vectors.py) and its own queries;
both collections live in Qdrant Edge; the 300 test queries run in dense and hybrid mode. Reports nDCG@10 (and the
other metrics) per backend and the difference, and writes benchmarks/results/embed_quality.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.corpus_vectors import ROOT, corpus_vectors, dataset
from benchmarks.scifact_eval import evaluate_modes
from benchmarks.store import load
from evals.beir import load_qrels, load_queries
from evals.results import RetrievalMetrics
from rag.components import build_embedder
from rag.settings import RetrievalMode, Settings
from rag.store.edge import EdgeStore

MODES: tuple[RetrievalMode, ...] = ("dense", "hybrid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "embed_quality.json")
    args = parser.parse_args()
    scifact = dataset("scifact")
    qrels, texts = load_qrels(scifact, "test"), load_queries(scifact)
    results: dict[str, dict[RetrievalMode, RetrievalMetrics]] = {}
    for backend in ("torch", "onnx-int8"):
        settings = Settings(embed_backend=backend)
        cv = corpus_vectors(scifact / "corpus.jsonl", settings, embedder=build_embedder(settings.embedding))
        queries = {q: (cv.embedder.embed_query(texts[q]), cv.encoder.encode_query(texts[q])) for q in qrels}
        with tempfile.TemporaryDirectory() as tmp:
            store = EdgeStore(Path(tmp))
            load(store, "scifact", cv)
            results[backend] = evaluate_modes(store, "scifact", queries, qrels, MODES)
            store.close()
        print(backend, {mode: m.by_name() for mode, m in results[backend].items()}, flush=True)
    print(f"\n{'mode':>7} {'torch fp32':>11} {'onnx int8':>10} {'diff':>8}")
    for mode in MODES:
        a, b = results["torch"][mode].ndcg_at_10, results["onnx-int8"][mode].ndcg_at_10
        print(f"{mode:>7} {a:>11.4f} {b:>10.4f} {b - a:>+8.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shown = {backend: {mode: m.by_name() for mode, m in per_mode.items()} for backend, per_mode in results.items()}
    args.out.write_text(json.dumps(shown, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
