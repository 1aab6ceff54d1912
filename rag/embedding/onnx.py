"""`DenseEmbedder` on onnxruntime: the sentence-transformers model exported to ONNX (int8 by default), with the same
mean pooling and normalization as the model's own pipeline, so vectors match the PyTorch embedder's closely."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.embedding.array_embedder import ArrayEmbedder, Vectors
from rag.errors import BackendUnavailable
from rag.hf_runtime import offline_and_quiet


class OnnxEmbedder(ArrayEmbedder):
    def __init__(self, model_dir: Path, *, name: str, quantized: bool = True, batch_size: int = 64) -> None:
        offline_and_quiet()
        import onnxruntime as ort
        from transformers import AutoTokenizer

        path = model_dir / ("model_int8.onnx" if quantized else "model.onnx")
        if not path.is_file():
            raise BackendUnavailable(f"ONNX model not found: {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        config = model_dir / "sentence_bert_config.json"
        self._max_length = int(json.loads(config.read_text())["max_seq_length"]) if config.is_file() else 256
        self._batch_size = batch_size
        self._name = f"{name}-onnx-{'int8' if quantized else 'fp32'}"
        self._dimension = int(self._embed(["dimension probe"]).shape[1])

    def _embed(self, texts: Sequence[str]) -> Vectors:
        batch = self._tokenizer(
            list(texts), padding=True, truncation=True, max_length=self._max_length, return_tensors="np"
        )
        feed = {k: v.astype(np.int64) for k, v in batch.items() if k in self._inputs}
        (tokens,) = self._session.run(["token_embeddings"], feed)
        mask = batch["attention_mask"][..., None].astype(np.float32)
        pooled = (tokens * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        normalized: Vectors = (pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)).astype(
            np.float32
        )
        return normalized

    def embed_array(self, texts: Sequence[str]) -> Vectors:
        """Embeddings in input order; batches are cut from length-sorted texts so padding stays small."""
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._embed([texts[i] for i in idx])
        return out
