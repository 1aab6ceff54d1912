"""`DenseEmbedder` that keeps a GPU fed: the transformer called directly on pre-tokenized, length-bucketed batches.

`SentenceTransformer.encode` tokenizes each batch on the calling thread while the GPU waits, so an H200 sits idle
most of the time. Here a thread pool tokenizes batches ahead (fast tokenizers release the GIL), texts are sorted by
length so a batch pads little, batches are large and fp16 on CUDA, and host-to-device copies come from pinned memory
on a side stream so they overlap the previous batch's compute. Pooling and normalization match the model's own
(mean over tokens, L2). On CPU the same code runs in fp32, which is how the tests check it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedding.array_embedder import ArrayEmbedder, Vectors
from rag.errors import BackendUnavailable
from rag.hf_runtime import offline_and_quiet


class BatchedTransformerEmbedder(ArrayEmbedder):
    def __init__(
        self,
        model_dir: Path,
        *,
        name: str,
        device: str = "cuda",
        batch_size: int = 1024,
        tokenizer_workers: int = 4,
    ) -> None:
        offline_and_quiet()
        import torch
        from transformers import AutoModel, AutoTokenizer

        if not (model_dir / "config.json").is_file():
            raise BackendUnavailable(f"embedding model directory not found: {model_dir}")
        self._torch = torch
        self._device = torch.device(device)
        self._cuda = self._device.type == "cuda"
        dtype = torch.float16 if self._cuda else torch.float32
        self._model = AutoModel.from_pretrained(str(model_dir), dtype=dtype).to(self._device).eval()
        self._tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        config = model_dir / "sentence_bert_config.json"
        self._max_length = int(json.loads(config.read_text())["max_seq_length"]) if config.is_file() else 256
        self._batch_size = batch_size
        self._workers = max(1, min(tokenizer_workers, os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="tokenize")
        self._copy_stream = torch.cuda.Stream() if self._cuda else None  # type: ignore[no-untyped-call]
        self._name = name
        self._dimension = int(self._model.config.hidden_size)

    def _tokenize(self, texts: list[str]) -> dict[str, Any]:
        batch = self._tokenizer(texts, padding=True, truncation=True, max_length=self._max_length, return_tensors="pt")
        return {k: (v.pin_memory() if self._cuda else v) for k, v in batch.items()}

    def _batches(self, texts: Sequence[str], order: list[int]) -> Iterator[tuple[list[int], dict[str, Any]]]:
        """Tokenized batches in order, produced by the pool a few batches ahead of the model."""
        slices = [order[i : i + self._batch_size] for i in range(0, len(order), self._batch_size)]
        ahead: list[tuple[list[int], Future[dict[str, Any]]]] = []
        for idx in slices:
            ahead.append((idx, self._pool.submit(self._tokenize, [texts[i] for i in idx])))
            if len(ahead) > self._workers:
                done_idx, future = ahead.pop(0)
                yield done_idx, future.result()
        for done_idx, future in ahead:
            yield done_idx, future.result()

    def embed_array(self, texts: Sequence[str]) -> Vectors:
        torch = self._torch
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for idx, batch in self._batches(texts, order):
                if self._copy_stream is not None:
                    with torch.cuda.stream(self._copy_stream):
                        on_device = {k: v.to(self._device, non_blocking=True) for k, v in batch.items()}
                    torch.cuda.current_stream().wait_stream(self._copy_stream)
                else:
                    on_device = batch
                tokens = self._model(**on_device).last_hidden_state
                mask = on_device["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled.float(), dim=1)
                out[idx] = pooled.cpu().numpy()
        return out
