"""The seams for embedding: a dense embedder and a sparse encoder, each with more than one implementation ahead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rag.domain import SparseVector


class DenseEmbedder(Protocol):
    @property
    def dimension(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def tokenizer(self) -> object:
        """The model's Hugging Face tokenizer: chunks are sized in the tokens the model sees."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class SparseEncoder(Protocol):
    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]: ...

    def encode_query(self, text: str) -> SparseVector: ...
