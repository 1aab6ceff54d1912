"""A BEIR corpus as the chunks `rag ingest` makes, with their dense and sparse vectors: the input of the store
benchmarks. Dense vectors are embedded once and cached (keyed by corpus bytes, model and chunking settings) under
`<cache_dir>/bench/`, because embedding SciFact's 11k chunks takes about ten minutes on two CPU cores (measured
once by hand, commit 51309ca: `python -m benchmarks.corpus_vectors` embeds them when not cached; no results file).

Every benchmark finds the evaluation datasets as `rag eval gate` does (evals/data_dir.py): in the folder that
`RAG_EVAL_DATA_DIR` names (the environment or `.env`), e.g. `RAG_EVAL_DATA_DIR=../shared/data`. Nothing guesses a
location: unset, a benchmark stops and says so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from evals.beir import DatasetError
from evals.data_dir import ENV, resolve_data_dir
from ingest.chunking import Chunker
from ingest.loaders import load
from ingest.sources.base import SourceFile
from rag.domain import Chunk, Document, SparseVector
from rag.embedding.base import DenseEmbedder
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def dataset(name: str) -> Path:
    """The BEIR folder `name` (`scifact`, `clapnq`) under RAG_EVAL_DATA_DIR; exits with the reason when that is unset
    or the folder is missing."""
    settings = Settings()
    if settings.evals.data_dir is None:
        raise SystemExit(f"no evaluation data folder: set {ENV} (e.g. {ENV}=../shared/data)")
    try:
        folder = resolve_data_dir(None, settings.evals) / name
    except DatasetError as exc:
        raise SystemExit(str(exc)) from None
    if not (folder / "corpus.jsonl").is_file():
        raise SystemExit(f"{ENV}: no {name}/corpus.jsonl under {folder.parent}")
    return folder


@dataclass
class CorpusVectors:
    chunks: list[Chunk]
    dense: npt.NDArray[np.float32]  # (len(chunks), dim), L2-normalized
    sparse: list[SparseVector]
    embedder: DenseEmbedder
    encoder: Bm25Encoder


def _cache_key(corpus: Path, embedder: DenseEmbedder, settings: Settings) -> str:
    digest = hashlib.sha256(corpus.read_bytes())
    digest.update(f"{embedder.name}/{settings.ingest.chunk_size}/{settings.ingest.chunk_overlap}".encode())
    return digest.hexdigest()[:16]


def corpus_chunks(corpus: Path, settings: Settings, tokenizer: object, tenant: str = "default") -> list[Chunk]:
    """Exactly the chunks `rag ingest` makes of the corpus."""
    chunker = Chunker(tokenizer, chunk_size=settings.ingest.chunk_size, chunk_overlap=settings.ingest.chunk_overlap)
    docs = [d for d in load([SourceFile(corpus, corpus.name)]) if isinstance(d, Document)]
    return [c for d in docs for c in chunker.chunk(d, tenant)]


def corpus_vectors(
    corpus: Path, settings: Settings | None = None, tenant: str = "default", embedder: DenseEmbedder | None = None
) -> CorpusVectors:
    """`embedder` defaults to the PyTorch MiniLM; another (the ONNX backend) gets a cache file of its own."""
    settings = settings or Settings()
    embedder = embedder or SentenceTransformerEmbedder(batch_tokens=settings.embedding.batch_tokens)
    encoder = Bm25Encoder(
        k1=settings.embedding.bm25_k1, b=settings.embedding.bm25_b, avg_len=settings.embedding.bm25_avg_len
    )
    chunks = corpus_chunks(corpus, settings, embedder.tokenizer, tenant)
    texts = [c.embed_text for c in chunks]
    key = _cache_key(corpus, embedder, settings)
    suffix = "" if isinstance(embedder, SentenceTransformerEmbedder) else f"-{embedder.name}"
    cache = settings.embedding.cache_dir / "bench" / f"{corpus.parent.name}-{key}{suffix}.npy"
    if cache.is_file():
        dense = np.load(cache)
    else:
        print(f"embedding {len(texts)} chunks of {corpus} once; cached at {cache}", flush=True)
        dense = np.asarray(embedder.embed_documents(texts), dtype=np.float32)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, dense)
        tmp.replace(cache)
    if dense.shape[0] != len(chunks):
        raise RuntimeError(f"cached vectors at {cache} do not match the chunks; delete the file")
    return CorpusVectors(chunks, dense, encoder.encode_documents(texts), embedder, encoder)


def scaled(cv: CorpusVectors, points: int, seed: int = 7) -> CorpusVectors:
    """The corpus plus noisy copies of its chunks (new doc ids, same payload shape) up to `points` points."""
    if points <= len(cv.chunks):
        return cv
    rng = np.random.default_rng(seed)
    chunks, dense, sparse = list(cv.chunks), [cv.dense], list(cv.sparse)
    copy = 0
    while len(chunks) < points:
        copy += 1
        take = min(len(cv.chunks), points - len(chunks))
        noisy = cv.dense[:take] + rng.normal(0, 0.05, size=cv.dense[:take].shape).astype(np.float32)
        dense.append(noisy / np.linalg.norm(noisy, axis=1, keepdims=True))
        chunks += [replace(c, doc_id=f"{c.doc_id}~{copy}") for c in cv.chunks[:take]]
        sparse += cv.sparse[:take]
    return replace(cv, chunks=chunks, dense=np.vstack(dense), sparse=sparse)


if __name__ == "__main__":
    vectors = corpus_vectors(dataset("scifact") / "corpus.jsonl")
    print(f"{len(vectors.chunks)} chunks, dense {vectors.dense.shape}")
