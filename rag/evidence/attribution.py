"""Sentence-level evidence: which of the numbered sources support each sentence of an answer.

After generation each sentence of the answer (its `[n]` markers aside) is scored against every source it was
given: the dense cosine similarity of the sentence, embedded by the embedder already loaded for retrieval, with the
source chunk's stored vector (returned with the hits), and the lexical overlap, the share of the sentence's content
terms (BM25's tokenizer: stop words out, stems) that the source holds. Support is their weighted mean; the sources
scoring at least `min_support` support the sentence, best first, and a sentence none supports is unsupported. No
extra model runs. Weights and threshold come from python -m benchmarks.attribution (docs/evaluation.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rag.domain import Hit
from rag.embedding.base import DenseEmbedder
from rag.embedding.sparse import Bm25Tokenizer
from rag.evidence.markers import MARKER_PATTERN
from rag.settings import EvidenceSettings

_MARKERS = re.compile(rf"\s*{MARKER_PATTERN}")
# A sentence ends at `.`, `!` or `?` before whitespace, or at a line break; markers right after the end belong to it.
_SENTENCE = re.compile(rf"[^\n]+?(?:[.!?]+(?:\s*{MARKER_PATTERN})*(?=\s|$)|(?=\n)|$)")


@dataclass(frozen=True, slots=True)
class Attribution:
    """One sentence of an answer, `[start, end)` in its text: the source numbers that support it (best first), the
    best support score, and whether any source supports it."""

    start: int
    end: int
    sources: tuple[int, ...]
    score: float
    supported: bool


@dataclass(frozen=True, slots=True)
class AttributionConfig:
    """RAG_ATTRIBUTION_DENSE_WEIGHT and RAG_ATTRIBUTION_MIN_SUPPORT (their defaults are the settings')."""

    dense_weight: float  # the lexical overlap weighs 1 - dense_weight
    min_support: float

    @classmethod
    def of(cls, evidence: EvidenceSettings) -> AttributionConfig:
        return cls(evidence.attribution_dense_weight, evidence.attribution_min_support)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The spans of the sentences of `text` that hold a word (markers, bullets and blank lines are no sentences)."""
    spans = []
    for match in _SENTENCE.finditer(text):
        start, end = match.start(), match.end()
        while start < end and text[start].isspace():
            start += 1
        if any(ch.isalnum() for ch in _MARKERS.sub("", text[start:end])):
            spans.append((start, end))
    return spans


@dataclass(frozen=True, slots=True)
class Support:
    """Per sentence (rows) and source (columns): dense cosine similarity and lexical overlap."""

    dense: npt.NDArray[np.float32]
    lexical: npt.NDArray[np.float32]

    def combined(self, dense_weight: float) -> npt.NDArray[np.float32]:
        combined: npt.NDArray[np.float32] = (dense_weight * self.dense + (1 - dense_weight) * self.lexical).astype(
            np.float32
        )
        return combined


def _unit_rows(vectors: Sequence[Sequence[float]]) -> npt.NDArray[np.float32]:
    array = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = (array / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    return unit


class Attributor:
    """Ties an answer's sentences to the sources that support them."""

    def __init__(self, embedder: DenseEmbedder, config: AttributionConfig) -> None:
        self._embedder = embedder
        self._config = config
        self._terms = Bm25Tokenizer()

    def attribute(self, text: str, hits: Sequence[Hit]) -> list[Attribution]:
        return self.attribute_spans(text, sentence_spans(text), hits)

    def attribute_spans(self, text: str, spans: Sequence[tuple[int, int]], hits: Sequence[Hit]) -> list[Attribution]:
        """The attribution of the sentences of `text` at `spans` (from `sentence_spans`)."""
        if not spans:
            return []
        if not hits:
            return [Attribution(start, end, (), 0.0, False) for start, end in spans]
        sentences = [_MARKERS.sub("", text[a:b]).strip() for a, b in spans]
        scores = self.support(sentences, hits).combined(self._config.dense_weight)
        out = []
        for (start, end), row in zip(spans, scores, strict=True):
            order = np.argsort(-row, kind="stable")
            supporting = tuple(int(i) + 1 for i in order if row[i] >= self._config.min_support)
            out.append(Attribution(start, end, supporting, round(float(row[order[0]]), 4), bool(supporting)))
        return out

    def support(self, sentences: Sequence[str], hits: Sequence[Hit]) -> Support:
        """Dense and lexical support of each sentence (markers removed) by each hit."""
        dense = _unit_rows(self._embedder.embed_documents(sentences)) @ _unit_rows(self._source_vectors(hits)).T
        held = [set(self._terms(h.chunk.embed_text)) for h in hits]
        lexical = np.zeros((len(sentences), len(hits)), dtype=np.float32)
        for i, sentence in enumerate(sentences):
            terms = set(self._terms(sentence))
            if terms:
                lexical[i] = [len(terms & h) / len(terms) for h in held]
        return Support(dense.astype(np.float32), lexical)

    def _source_vectors(self, hits: Sequence[Hit]) -> list[Sequence[float]]:
        """The hits' stored vectors; those a query did not return are embedded here (slower, same result)."""
        missing = [h.chunk.embed_text for h in hits if h.dense is None]
        embedded = iter(self._embedder.embed_documents(missing) if missing else [])
        return [h.dense if h.dense is not None else next(embedded) for h in hits]


class StreamingAttribution:
    """The attribution of an answer while it streams: each sentence is attributed once the next one has begun (its
    span can no longer change: text only grows), so that at the end only the last sentence is left to embed. The
    result is the same as `Attributor.attribute` on the whole text; only when the work is done differs."""

    def __init__(self, attributor: Attributor, hits: Sequence[Hit]) -> None:
        self._attributor, self._hits = attributor, hits
        self._done: dict[tuple[int, int, str], Attribution] = {}
        self._taken = 0  # sentences handed out by `ready`

    def ready(self, text: str) -> list[tuple[int, int]]:
        """The spans of the sentences of `text` that are complete and not handed out before (they are now)."""
        complete = sentence_spans(text)[:-1]
        fresh = complete[self._taken :]
        self._taken = max(self._taken, len(complete))
        return fresh

    def attribute(self, text: str, spans: Sequence[tuple[int, int]]) -> None:
        """Attribute the sentences at `spans` of `text` (blocking: embeds them)."""
        for a in self._attributor.attribute_spans(text, spans, self._hits):
            self._done[(a.start, a.end, text[a.start : a.end])] = a

    def finish(self, text: str) -> list[Attribution]:
        """Every sentence of the whole answer, those not attributed yet attributed now."""
        spans = sentence_spans(text)
        missing = [(a, b) for a, b in spans if (a, b, text[a:b]) not in self._done]
        self.attribute(text, missing)
        return [self._done[(a, b, text[a:b])] for a, b in spans]
