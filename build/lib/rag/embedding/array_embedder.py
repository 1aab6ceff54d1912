"""What the embedders that compute numpy arrays share: their identity, list output, and single queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class ArrayEmbedder:
    """A `DenseEmbedder` from one method, `embed_array` (L2-normalized rows in input order)."""

    _dimension: int
    _name: str
    _tokenizer: Any  # a Hugging Face tokenizer

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def name(self) -> str:
        return self._name

    @property
    def tokenizer(self) -> object:
        """The model's tokenizer, so chunk sizes are counted in the tokens the model sees."""
        return self._tokenizer

    def embed_array(self, texts: Sequence[str]) -> Vectors:
        raise NotImplementedError

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = self.embed_array(texts).tolist() if texts else []
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
