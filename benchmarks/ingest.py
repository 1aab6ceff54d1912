"""Ingestion throughput on SciFact, in one run, each in a process of its own (so each has its own peak memory):

- `rag ingest` with each embedding backend (PyTorch fp32, ONNX int8; on a GPU machine `torch` runs the batched
  CUDA fp16 path and the baselines run on the GPU too), and a re-run on the unchanged corpus;
- plain `SentenceTransformer.encode` (fp32, batch 32) on exactly the chunks the pipeline makes: the ceiling;
- the ONNX int8 backend alone (`embed_array`) on the same chunks, to compare backends without the pipeline;
- LangChain's usual path, `QdrantVectorStore.from_documents` with `HuggingFaceEmbeddings` on the same model and
  the same chunks (local Qdrant).

    .venv/bin/python -m benchmarks.ingest [--corpus FILE] [--limit N]

`--corpus` defaults to scifact/corpus.jsonl under RAG_EVAL_DATA_DIR.

Prints a table (chunks/s, peak RSS) and the ratios, and writes benchmarks/results/ingest.json.
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

from benchmarks.corpus_vectors import ROOT, dataset
from rag.settings import Settings

TORCH, INT8 = "rag ingest, torch fp32", "rag ingest, onnx-int8"
RERUN = "rag ingest re-run, unchanged corpus"
ENCODE = "SentenceTransformer.encode fp32, batch 32"
INT8_ALONE = "onnx-int8 embed_array alone"
LANGCHAIN = "LangChain QdrantVectorStore.from_documents"
PYTHON = sys.executable
RAG = str(Path(sys.executable).parent / "rag")


def _measured(cmd: list[str], env: dict[str, str]) -> tuple[str, float, float]:
    """Run `cmd`; its stdout, wall seconds and peak RSS in MiB (from wait4, this child only)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read().decode()
    if process.returncode not in (0, 1):
        raise RuntimeError(f"{cmd} exited {process.returncode}")
    return stdout, wall, usage.ru_maxrss / 1024


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_CACHE_DIR"}
    return {**env, "HF_HUB_OFFLINE": "1", **extra}


def _ingest(corpus: Path, store: Path, **extra: str) -> dict[str, Any]:
    out, wall, rss = _measured([RAG, "ingest", str(corpus), "--json"], _env(RAG_QDRANT_PATH=str(store), **extra))
    summary = json.loads(out)
    return {"chunks": summary["chunks_upserted"], "seconds": summary["seconds"], "wall": wall, "peak_rss_mib": rss}


def _worker(kind: str, corpus: Path) -> dict[str, Any]:
    """Runs in the child: embed the pipeline's chunks the plain way or LangChain's way; prints its figures."""
    from benchmarks.corpus_vectors import corpus_chunks
    from rag.embedding.dense import SentenceTransformerEmbedder, packaged_minilm_path
    from rag.embedding.device import resolve_device
    from rag.settings import Settings

    settings = Settings()
    device = resolve_device("auto")  # on a GPU machine the baselines run on the GPU too, like `rag ingest`
    embedder = SentenceTransformerEmbedder(device=device)
    chunks = corpus_chunks(corpus, settings, embedder.tokenizer)
    texts = [c.embed_text for c in chunks]
    if kind == "encode":
        started = time.perf_counter()
        embedder._model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        return {"chunks": len(texts), "seconds": time.perf_counter() - started, "device": device}
    if kind == "int8":
        from rag.components import build_embedder

        int8 = build_embedder(Settings(embed_backend="onnx-int8", embed_device="cpu").embedding)
        started = time.perf_counter()
        int8.embed_documents(texts)
        return {"chunks": len(texts), "seconds": time.perf_counter() - started}
    from langchain_core.documents import Document as LcDocument
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_qdrant import QdrantVectorStore

    docs = [LcDocument(page_content=t, metadata={"doc_id": c.doc_id}) for t, c in zip(texts, chunks, strict=True)]
    embeddings = HuggingFaceEmbeddings(
        model_name=str(packaged_minilm_path()),
        model_kwargs={"device": device},
        encode_kwargs={"normalize_embeddings": True},
    )
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        QdrantVectorStore.from_documents(docs, embeddings, path=tmp, collection_name="bench")
        seconds = time.perf_counter() - started
    return {"chunks": len(texts), "seconds": seconds}


def _child(kind: str, corpus: Path) -> dict[str, Any]:
    out, wall, rss = _measured([PYTHON, "-m", "benchmarks.ingest", "--worker", kind, "--corpus", str(corpus)], _env())
    return {**json.loads(out), "wall": wall, "peak_rss_mib": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="a BEIR corpus.jsonl (default: SciFact under RAG_EVAL_DATA_DIR)")
    parser.add_argument("--limit", type=int, help="only the first N documents")
    parser.add_argument("--worker", choices=["encode", "int8", "langchain"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest.json")
    args = parser.parse_args()
    args.corpus = args.corpus or dataset("scifact") / "corpus.jsonl"
    if args.worker:
        print(json.dumps(_worker(args.worker, args.corpus)))
        return
    if not args.corpus.is_file():
        sys.exit(f"corpus not found: {args.corpus}")

    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus
        if args.limit:
            corpus = Path(tmp) / "corpus.jsonl"
            with args.corpus.open() as src:
                corpus.write_text("".join(line for _, line in zip(range(args.limit), src, strict=False)))
        runs = {TORCH: _ingest(corpus, Path(tmp) / "torch", RAG_EMBED_BACKEND="torch")}
        runs[RERUN] = _ingest(corpus, Path(tmp) / "torch", RAG_EMBED_BACKEND="torch")
        runs[INT8] = _ingest(corpus, Path(tmp) / "int8", RAG_EMBED_BACKEND="onnx-int8")
        runs[ENCODE] = _child("encode", corpus)
        runs[INT8_ALONE] = _child("int8", corpus)
        runs[LANGCHAIN] = _child("langchain", corpus)

    def rate(name: str) -> float:
        run = runs[name]
        return float(run["chunks"]) / float(run["seconds"])

    encode, langchain = rate(ENCODE), rate(LANGCHAIN)
    default = INT8 if Settings().embedding.backend == "onnx-int8" else TORCH
    ratios = {
        "torch_pipeline_vs_plain_encode": round(rate(TORCH) / encode, 3),
        "int8_pipeline_vs_plain_encode": round(rate(INT8) / encode, 3),
        "int8_backend_vs_plain_encode": round(rate(INT8_ALONE) / encode, 3),
        "default_pipeline_vs_langchain": round(rate(default) / langchain, 3),
        "langchain_vs_plain_encode": round(langchain / encode, 3),
        "first_run_vs_unchanged_rerun_wall": round(runs[TORCH]["wall"] / runs[RERUN]["wall"], 1),
    }
    print(f"{'run':46} {'chunks':>7} {'seconds':>8} {'chunks/s':>9} {'wall s':>7} {'peak RSS':>9}")
    for name, run in runs.items():
        per_s = run["chunks"] / run["seconds"] if run["chunks"] else 0.0
        print(
            f"{name:46} {run['chunks']:>7} {run['seconds']:>8.2f} {per_s:>9.1f} {run['wall']:>7.1f} "
            f"{run['peak_rss_mib']:>6.0f} MiB"
        )
    for key, value in ratios.items():
        print(f"{key}: {value}")
    result = {
        "corpus": str(args.corpus),
        "limit": args.limit,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.processor()},
        "runs": runs,
        "ratios": ratios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
