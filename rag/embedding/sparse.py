"""BM25 sparse vectors for Qdrant: term-frequency weights here, IDF applied by Qdrant (`Modifier.IDF`).

Documents get the BM25 term-frequency part, `tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len))`; queries get
weight 1 per distinct term. Qdrant multiplies each matched term by its IDF over the collection, so the dot product
is the BM25 score. `avg_len` is a fixed setting, so a chunk's vector never changes when the collection grows.
Terms are lowercased words, English stop words dropped, Snowball-stemmed, hashed to stable 31-bit ids.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import Stemmer

from rag.domain import SparseVector
from rag.settings import EmbeddingSettings, default_of

_WORD = re.compile(r"\w+", re.UNICODE)

ENGLISH_STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)


@lru_cache(maxsize=200_000)
def term_id(term: str) -> int:
    """A stable id for a term, identical across processes and engines (Python's `hash` is salted)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little") & 0x7FFFFFFF


class Bm25Tokenizer:
    """Lowercase words, no English stop words, Snowball English stems."""

    def __init__(self) -> None:
        self._stemmer = Stemmer.Stemmer("english")

    def __call__(self, text: str) -> list[str]:
        words = [w for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOP_WORDS]
        return list(self._stemmer.stemWords(words))


class Bm25Encoder:
    """`SparseEncoder` producing BM25 vectors for a sparse vector with Qdrant's IDF modifier."""

    def __init__(
        self,
        *,
        k1: float = default_of(EmbeddingSettings, "bm25_k1"),
        b: float = default_of(EmbeddingSettings, "bm25_b"),
        avg_len: float = default_of(EmbeddingSettings, "bm25_avg_len"),
    ) -> None:
        self._tokenize = Bm25Tokenizer()
        self._k1, self._b, self._avg_len = k1, b, avg_len

    def _document_vector(self, text: str) -> SparseVector:
        terms = self._tokenize(text)
        norm = self._k1 * (1 - self._b + self._b * len(terms) / self._avg_len)
        weights: dict[int, float] = {}
        for term, tf in Counter(terms).items():
            idx = term_id(term)
            weights[idx] = weights.get(idx, 0.0) + tf * (self._k1 + 1) / (tf + norm)
        return SparseVector(indices=list(weights), values=list(weights.values()))

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        return [self._document_vector(t) for t in texts]

    def encode_query(self, text: str) -> SparseVector:
        ids = sorted({term_id(t) for t in self._tokenize(text)})
        return SparseVector(indices=ids, values=[1.0] * len(ids))
