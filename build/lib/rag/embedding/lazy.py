"""An embedder that loads its model on first use. Chunking needs only the tokenizer (loaded in a tenth of a second),
so a re-run over an unchanged corpus never pays the seconds the model costs to import and load."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from rag.embedding.base import DenseEmbedder
from rag.hf_runtime import offline_and_quiet


class LazyEmbedder:
    def __init__(self, load: Callable[[], DenseEmbedder], *, name: str, tokenizer_dir: Path) -> None:
        self._load, self._name, self._tokenizer_dir = load, name, tokenizer_dir
        self._inner: DenseEmbedder | None = None
        self._tokenizer: object | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    def _model(self) -> DenseEmbedder:
        with self._lock:
            if self._inner is None:
                self._inner = self._load()
            return self._inner

    @property
    def dimension(self) -> int:
        return self._model().dimension

    @property
    def name(self) -> str:
        return self._name

    @property
    def tokenizer(self) -> object:
        if self._inner is not None:
            return self._inner.tokenizer
        if self._tokenizer is None:
            fast = self._tokenizer_dir / "tokenizer.json"
            if fast.is_file():  # the same tokenizer without importing transformers (and torch)
                from tokenizers import Tokenizer

                self._tokenizer = Tokenizer.from_file(str(fast))
            else:
                offline_and_quiet()
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(str(self._tokenizer_dir))
        return self._tokenizer

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self._model().embed_documents(texts) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._model().embed_query(text)
