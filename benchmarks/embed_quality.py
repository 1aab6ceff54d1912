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

from benchmarks.corpus_vectors import ROOT, SCIFACT, corpus_vectors
from benchmarks.scifact_eval import metrics_per_mode
from benchmarks.store import load
from evals.beir import load_qrels, load_queries
from rag.components import build_embedder
from rag.settings import Settings
from rag.store.edge import EdgeStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "embed_quality.json")
    args = parser.parse_args()
    qrels, texts = load_qrels(SCIFACT, "test"), load_queries(SCIFACT)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for backend in ("torch", "onnx-int8"):
        settings = Settings(embed_backend=backend)
        cv = corpus_vectors(SCIFACT / "corpus.jsonl", settings, embedder=build_embedder(settings))
        queries = {q: (cv.embedder.embed_query(texts[q]), cv.encoder.encode_query(texts[q])) for q in qrels}
        with tempfile.TemporaryDirectory() as tmp:
            store = EdgeStore(Path(tmp))
            load(store, "scifact", cv)
            results[backend] = metrics_per_mode(store, "scifact", queries, qrels, ("dense", "hybrid"))
            store.close()
        print(backend, results[backend], flush=True)
    print(f"\n{'mode':>7} {'torch fp32':>11} {'onnx int8':>10} {'diff':>8}")
    for mode in ("dense", "hybrid"):
        a, b = results["torch"][mode]["ndcg@10"], results["onnx-int8"][mode]["ndcg@10"]
        print(f"{mode:>7} {a:>11.4f} {b:>10.4f} {b - a:>+8.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
