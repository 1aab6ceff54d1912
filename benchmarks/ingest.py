"""Ingestion throughput on SciFact: `rag ingest` next to plain `SentenceTransformer.encode` on the same chunks.

    .venv/bin/python benchmarks/ingest.py [--corpus ../shared/data/scifact/corpus.jsonl] [--limit N]

Prints a table and writes benchmarks/results/ingest.json. The ceiling is the embedding alone, on exactly the chunks
the pipeline makes (same chunker, same text with title), with the same batch size, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path, and this module would shadow the `ingest` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "scifact" / "corpus.jsonl"


def run_cli(corpus: Path, store: Path) -> tuple[dict[str, Any], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update({"RAG_QDRANT_PATH": str(store), "HF_HUB_OFFLINE": "1"})
    started = time.perf_counter()
    out = subprocess.run(
        [str(Path(sys.executable).parent / "rag"), "ingest", str(corpus), "--collection", "bench", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout), time.perf_counter() - started


def plain_encode(corpus: Path) -> dict[str, float]:
    from ingest.chunking import Chunker
    from ingest.loaders import load
    from ingest.sources import SourceFile
    from rag.domain import Document
    from rag.embedding.dense import SentenceTransformerEmbedder
    from rag.settings import Settings

    settings = Settings()
    embedder = SentenceTransformerEmbedder(batch_size=settings.embed_batch_size)
    chunker = Chunker(embedder.tokenizer, chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
    docs = [d for d in load([SourceFile(corpus, corpus.name)]) if isinstance(d, Document)]
    texts = [c.embed_text for d in docs for c in chunker.chunk(d, "default")]
    model = embedder._model  # the same SentenceTransformer, called directly: the ceiling
    started = time.perf_counter()
    model.encode(texts, batch_size=settings.embed_batch_size, normalize_embeddings=True, convert_to_numpy=True)
    seconds = time.perf_counter() - started
    return {"documents": len(docs), "chunks": len(texts), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, help="only the first N documents")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest.json")
    args = parser.parse_args()
    if not args.corpus.is_file():
        sys.exit(f"corpus not found: {args.corpus}")

    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus
        if args.limit:
            corpus = Path(tmp) / "corpus.jsonl"
            with args.corpus.open() as src:
                corpus.write_text("".join(line for _, line in zip(range(args.limit), src, strict=False)))
        summary, wall = run_cli(corpus, Path(tmp) / "qdrant")
        rerun, rerun_wall = run_cli(corpus, Path(tmp) / "qdrant")
        ceiling = plain_encode(corpus)

    docs, chunks, seconds = int(summary["documents_seen"]), int(summary["chunks_upserted"]), float(summary["seconds"])
    rows = [
        ("rag ingest (pipeline, after model load)", docs, chunks, seconds),
        ("rag ingest (whole command, with startup)", docs, chunks, wall),
        ("SentenceTransformer.encode (same chunks)", ceiling["documents"], ceiling["chunks"], ceiling["seconds"]),
        (
            "rag ingest re-run, unchanged corpus",
            int(rerun["documents_seen"]),
            int(rerun["chunks_upserted"]),
            float(rerun["seconds"]),
        ),
    ]
    result: dict[str, Any] = {
        "corpus": str(args.corpus),
        "limit": args.limit,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.processor()},
        "rows": [
            {
                "name": n,
                "documents": d,
                "chunks": c,
                "seconds": round(s, 3),
                "docs_per_s": round(d / s, 1),
                "chunks_per_s": round(c / s, 1),
            }
            for n, d, c, s in rows
        ],
        "pipeline_vs_encode_chunks_per_s_ratio": round(
            (chunks / seconds) / (ceiling["chunks"] / ceiling["seconds"]), 3
        ),
        "rerun_wall_seconds": round(rerun_wall, 2),
    }
    print(f"{'run':44} {'docs':>6} {'chunks':>7} {'seconds':>8} {'docs/s':>8} {'chunks/s':>9}")
    for row in result["rows"]:
        cells = (row["documents"], row["chunks"], row["seconds"], row["docs_per_s"], row["chunks_per_s"])
        print(f"{row['name']:44} {cells[0]:>6} {cells[1]:>7} {cells[2]:>8.2f} {cells[3]:>8.1f} {cells[4]:>9.1f}")
    print(f"pipeline / encode ceiling (chunks/s): {result['pipeline_vs_encode_chunks_per_s_ratio']:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
