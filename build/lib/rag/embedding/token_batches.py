"""Batches for CPU inference cut by a token budget from texts sorted by their token count.

On CPU the cost of a batch is its padded size (rows x longest row), and mid-sized batches stay in cache. Texts are
tokenized once, sorted by token count (character length is a poor proxy for scientific or code text), and each
batch takes as many texts as fit in `token_budget` padded tokens. Measured once by hand (commit 4ffecff; no script
reproduces it, no results file) on 1,000 SciFact chunks with the packaged MiniLM on 2 cores: PyTorch 27.7 chunks/s
at 4,096 tokens vs 18.7 for `SentenceTransformer.encode` at batch 32 (character-sorted); the ONNX int8 model 41.3
vs 31.7 at batch 32. `python -m benchmarks.ingest` measures the whole pipeline against plain `encode` instead
(benchmarks/results/ingest.json).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

TokenIds = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TokenBatch:
    rows: list[int]  # positions of the batch's texts in the input
    input_ids: TokenIds  # (len(rows), longest), right-padded
    attention_mask: TokenIds

    def features(self) -> dict[str, TokenIds]:
        """The BERT-style inputs; `token_type_ids` is all zeros for single texts."""
        return {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "token_type_ids": np.zeros_like(self.input_ids),
        }


def hf_token_ids(tokenizer: Any, texts: Sequence[str], *, max_length: int) -> list[list[int]]:
    """Each text's token ids from a transformers tokenizer: special tokens added, truncated at `max_length`."""
    if not texts:
        return []
    ids: list[list[int]] = tokenizer(
        list(texts), truncation=True, max_length=max_length, return_attention_mask=False, return_token_type_ids=False
    )["input_ids"]
    return ids


def token_batches(
    encoded: Sequence[Sequence[int]], *, pad_id: int, token_budget: int, max_spread: float = 1.25
) -> Iterator[TokenBatch]:
    """Every text (its token ids) exactly once, in batches of at most `token_budget` padded tokens (a longer text
    goes alone), none holding a text over `max_spread` times its shortest text's length (padding stays small)."""
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    start = 0
    while start < len(order):
        end = start + 1
        while (
            end < len(order)
            and (end + 1 - start) * len(encoded[order[end]]) <= token_budget
            and len(encoded[order[end]]) <= max_spread * max(1, len(encoded[order[start]]))
        ):
            end += 1
        rows = order[start:end]
        width = len(encoded[rows[-1]])
        input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            input_ids[r, : len(encoded[i])] = encoded[i]
            attention_mask[r, : len(encoded[i])] = 1
        yield TokenBatch(rows, input_ids, attention_mask)
        start = end
