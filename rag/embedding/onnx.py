"""`DenseEmbedder` on onnxruntime: the sentence-transformers model exported to ONNX (int8 by default), with the same
mean pooling and normalization as the model's own pipeline, so vectors match the PyTorch embedder's closely.

The export's `tokenizer.json` is read by the `tokenizers` library itself (the same ids as the transformers tokenizer
built from it): an ingest process on the CPU imports neither transformers nor torch, about 1.4 s a process here."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.embedding.array_embedder import ArrayEmbedder, Vectors
from rag.embedding.token_batches import TokenBatch, token_batches
from rag.errors import BackendUnavailable
from rag.hf_runtime import offline
from rag.settings import EmbeddingSettings, default_of


class OnnxEmbedder(ArrayEmbedder):
    def __init__(
        self,
        model_dir: Path,
        *,
        quantized: bool = True,
        batch_tokens: int = default_of(EmbeddingSettings, "batch_tokens"),
    ) -> None:
        offline()
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = model_dir / ("model_int8.onnx" if quantized else "model.onnx")
        for needed in (path, model_dir / "tokenizer.json"):
            if not needed.is_file():
                raise BackendUnavailable(f"ONNX model not found: {needed}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))  # as saved, for chunking
        config = model_dir / "sentence_bert_config.json"
        self._max_length = int(json.loads(config.read_text())["max_seq_length"]) if config.is_file() else 256
        self._encoder = Tokenizer.from_file(str(model_dir / "tokenizer.json"))  # its own copy, for embedding
        self._pad_id = int(self._encoder.padding["pad_id"]) if self._encoder.padding else 0
        self._encoder.no_padding()  # batches are padded by token_batches, after sorting by length
        self._encoder.enable_truncation(self._max_length)
        self._batch_tokens = batch_tokens
        self._name = f"{model_dir.name}-{'int8' if quantized else 'fp32'}"  # the export layout is in the name
        self._dimension = int(json.loads((model_dir / "config.json").read_text())["hidden_size"])

    def _embed(self, batch: TokenBatch) -> Vectors:
        feed = {k: v for k, v in batch.features().items() if k in self._inputs}
        (tokens,) = self._session.run(["token_embeddings"], feed)
        mask = batch.attention_mask[..., None].astype(np.float32)
        pooled = (tokens * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        normalized: Vectors = (pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)).astype(
            np.float32
        )
        return normalized

    def embed_array(self, texts: Sequence[str]) -> Vectors:
        """Embeddings in input order, computed on token-budget batches."""
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        ids = [e.ids for e in self._encoder.encode_batch(list(texts))]
        for batch in token_batches(ids, pad_id=self._pad_id, token_budget=self._batch_tokens):
            out[batch.rows] = self._embed(batch)
        return out
