"""Sentence attribution with the real embedder: each sentence tied to the sources that support it, the rest marked
unsupported, the same whether attributed at the end or while the answer streams; sentence spans over any text."""

from __future__ import annotations

import itertools
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.domain import Chunk, Hit
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.evidence.attribution import AttributionConfig, Attributor, StreamingAttribution, sentence_spans
from rag.settings import EvidenceSettings

CONFIG = AttributionConfig.of(EvidenceSettings())  # the settings' defaults

SOURCES = [
    "Water boils at 100 degrees Celsius at sea level; at altitude it boils at lower temperatures.",
    "Ice melts at 0 degrees Celsius. Salt lowers the melting point of ice, which is why roads are salted.",
    "The Helm chart deploys the API as a Deployment and Qdrant as a StatefulSet with persistent volumes.",
]


def _hits(embedder: SentenceTransformerEmbedder, *, with_vectors: bool = True) -> list[Hit]:
    chunks = [Chunk("t", f"d{i}", "h", 0, text, "", f"s{i}") for i, text in enumerate(SOURCES)]
    vectors = embedder.embed_documents([c.embed_text for c in chunks])
    return [Hit(c, 1.0, tuple(v) if with_vectors else None) for c, v in zip(chunks, vectors, strict=True)]


def test_each_sentence_is_tied_to_the_source_that_supports_it(embedder: SentenceTransformerEmbedder) -> None:
    answer = (
        "Water boils at 100 degrees Celsius at sea level [1]. Salt lowers the melting point of ice [2].\n"
        "- Qdrant runs as a StatefulSet [3]\n"
        "The moon landing happened in 1969 with three astronauts."
    )
    attributions = Attributor(embedder, CONFIG).attribute(answer, _hits(embedder))
    assert [answer[a.start : a.end] for a in attributions] == [
        "Water boils at 100 degrees Celsius at sea level [1].",
        "Salt lowers the melting point of ice [2].",
        "- Qdrant runs as a StatefulSet [3]",
        "The moon landing happened in 1969 with three astronauts.",
    ]
    assert [a.sources[:1] for a in attributions] == [(1,), (2,), (3,), ()]
    assert [a.supported for a in attributions] == [True, True, True, False]
    assert attributions[0].score > attributions[3].score


def test_sources_without_stored_vectors_are_embedded_with_the_same_result(
    embedder: SentenceTransformerEmbedder,
) -> None:
    answer = "Ice melts at 0 degrees Celsius. Qdrant is a StatefulSet."
    attributor = Attributor(embedder, CONFIG)
    stored = attributor.attribute(answer, _hits(embedder))
    embedded = attributor.attribute(answer, _hits(embedder, with_vectors=False))
    assert [(a.start, a.end, a.sources) for a in stored] == [(a.start, a.end, a.sources) for a in embedded]
    assert all(abs(a.score - b.score) < 1e-3 for a, b in zip(stored, embedded, strict=True))


def test_no_sources_supports_nothing_and_an_empty_answer_has_no_sentences(
    embedder: SentenceTransformerEmbedder,
) -> None:
    attributor = Attributor(embedder, CONFIG)
    assert [a.supported for a in attributor.attribute("Water boils at 100 C.", [])] == [False]
    assert attributor.attribute("", _hits(embedder)) == [] and attributor.attribute(" [1]. \n", _hits(embedder)) == []
    hit = _hits(embedder)[0]
    assert attributor.attribute("Water boils.", [replace(hit, dense=(0.0,) * embedder.dimension)])[0].score < 0.5


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab .!?\n[]1,é\t", max_size=80))
def test_sentence_spans_are_ordered_disjoint_and_hold_a_word(text: str) -> None:
    spans = sentence_spans(text)
    for (a, b), (c, _) in itertools.pairwise(spans):
        assert a < b <= c
    for a, b in spans:
        assert 0 <= a < b <= len(text) and not text[a].isspace()
        assert any(ch.isalnum() for ch in text[a:b])
    words = [i for i, ch in enumerate(text) if ch.isalpha()]
    assert all(any(a <= i < b for a, b in spans) for i in words)  # every word lies in a sentence


# What the stream check passes on: words, sentence ends, line breaks and whole markers (it holds a split marker back).
_PIECES = st.sampled_from(["Water", " boils", " ice", "é", "1", ".", "!", "?", " ", "\n", "- ", " [1]", "[2]", ","])


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=40))
def test_a_sentence_complete_in_a_prefix_of_the_stream_is_a_sentence_of_the_whole_answer(pieces: list[str]) -> None:
    text = "".join(pieces)
    whole = sentence_spans(text)
    cuts = itertools.accumulate(len(p) for p in pieces)
    for cut in cuts:
        complete = sentence_spans(text[:cut])[:-1]
        assert complete == whole[: len(complete)]


def test_attributed_while_streaming_equals_attributed_at_the_end(embedder: SentenceTransformerEmbedder) -> None:
    answer = (
        "Water boils at 100 degrees Celsius at sea level [1]. Salt lowers the melting point of ice [2].\n"
        "- Qdrant runs as a StatefulSet [3]\nThe moon landing happened in 1969 with three astronauts."
    )
    attributor, hits = Attributor(embedder, CONFIG), _hits(embedder)
    streaming = StreamingAttribution(attributor, hits)
    handed_out = []
    for cut in range(1, len(answer) + 1, 7):
        if spans := streaming.ready(answer[:cut]):
            handed_out += spans
            streaming.attribute(answer[:cut], spans)
    assert len(handed_out) == 3  # every sentence but the last was attributed before the answer ended
    assert streaming.finish(answer) == attributor.attribute(answer, hits)
