"""Pipeline logic over the real store and embedder, with a deterministic fake chat model."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from rag.access.namespace import CollectionNamespace
from rag.answering.pipeline import PipelineConfig, RagPipeline
from rag.answering.prompts import NO_SOURCES_ANSWER, UNANSWERABLE_ANSWER, Turn
from rag.answering.requests import ChatRequest, RequestBuilder
from rag.answering.retrieval import Retriever
from rag.domain import Chunk
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.errors import InvalidInput
from rag.evidence.answerability import AnswerabilityModel, RetrievalSignals
from rag.settings import Settings
from rag.store.base import VectorStore
from rag.store.fusion import Fusion

BUILD = RequestBuilder(Settings(_env_file=None))
# The default settings without the answerability gate (RAG_ANSWERABILITY_MIN 0), which one test sets itself.
CONFIG = PipelineConfig.from_settings(Settings(_env_file=None, answerability_min=0.0))


def _request(question: str, turns: list[Turn] | None = None) -> ChatRequest:
    """As the API builds it, on the default settings (RAG_MIN_RELEVANCE 0.25, hybrid retrieval)."""
    return BUILD.chat(turns or [Turn("user", question)], tenant="t", collection="c", top_k=2, max_tokens=8)


def _retriever(store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder) -> Retriever:
    """Collections named as stored, hybrid results fused by DBSF."""
    return Retriever(
        store, embedder, sparse, prefetch_k=10, fusion=Fusion("dbsf"), namespace=CollectionNamespace("shared")
    )


def _store(store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder, chunks: list[Chunk]) -> None:
    """The chunks in collection `c`, embedded as ingestion embeds them."""
    texts = [c.embed_text for c in chunks]
    store.upsert("c", chunks, embedder.embed_documents(texts), sparse.encode_documents(texts))


def _pipeline(
    store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder, reply: str
) -> RagPipeline:
    model = GenericFakeChatModel(messages=iter([AIMessage(reply)]))
    return RagPipeline(_retriever(store, embedder, sparse), model, CONFIG)


def test_abstains_without_calling_the_llm_when_nothing_is_found(
    vector_store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    vector_store.ensure_collection("c", embedder.dimension)
    pipeline = _pipeline(vector_store, embedder, sparse, "an invented answer")
    answer = pipeline.answer(_request("What is the boiling point of water?"))
    assert answer.text == NO_SOURCES_ANSWER and answer.citations == []


def test_answer_carries_numbered_citations_of_the_retrieved_chunks(
    vector_store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    vector_store.ensure_collection("c", embedder.dimension)
    chunks = [
        Chunk("t", f"d{i}", "h", 0, text, f"T{i}", f"s{i}")
        for i, text in enumerate(["Water boils at 100 C.", "Ice melts at 0 C."])
    ]
    _store(vector_store, embedder, sparse, chunks)
    answer = _pipeline(vector_store, embedder, sparse, "It boils at 100 C [1].").answer(
        _request("When does water boil?")
    )
    assert answer.text == "It boils at 100 C [1]."
    assert [(c.index, c.doc_id) for c in answer.citations] == [(1, "d0"), (2, "d1")]


def test_last_message_must_be_a_user_question(
    vector_store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    pipeline = _pipeline(vector_store, embedder, sparse, "x")
    with pytest.raises(InvalidInput):
        pipeline.ground(_request("q", turns=[Turn("user", "q"), Turn("assistant", "a")]))


def test_abstains_when_the_best_chunk_is_not_relevant_enough(
    vector_store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    vector_store.ensure_collection("c", embedder.dimension)
    chunks = [Chunk("t", "d0", "h", 0, "Water boils at 100 degrees Celsius at sea level.", "Water", "s0")]
    _store(vector_store, embedder, sparse, chunks)
    pipeline = _pipeline(vector_store, embedder, sparse, "an invented answer")
    off_topic = pipeline.answer(_request("Which team won the 1998 football world cup?"))
    assert off_topic.text == NO_SOURCES_ANSWER and off_topic.citations == []
    on_topic = _pipeline(vector_store, embedder, sparse, "At 100 C [1].").answer(_request("When does water boil?"))
    assert on_topic.text == "At 100 C [1]."


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_min_relevance_empties_the_result_only_below_the_threshold(
    vector_store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder, mode: str
) -> None:
    vector_store.ensure_collection("c", embedder.dimension)
    chunks = [Chunk("t", "d0", "h", 0, "Water boils at 100 degrees Celsius at sea level.", "Water", "s0")]
    _store(vector_store, embedder, sparse, chunks)
    retriever = _retriever(vector_store, embedder, sparse)
    question = "At what temperature does water boil?"
    best = embedder.embed_query(question)
    cosine = sum(a * b for a, b in zip(best, embedder.embed_documents([chunks[0].embed_text])[0], strict=True))
    asked = {"tenant": "t", "collection": "c", "top_k": 1, "mode": mode}
    hits = retriever.retrieve(BUILD.retrieval(question, min_relevance=cosine - 0.01, **asked))  # type: ignore[arg-type]
    assert [h.chunk.doc_id for h in hits] == ["d0"]
    assert retriever.retrieve(BUILD.retrieval(question, min_relevance=cosine + 0.01, **asked)) == []  # type: ignore[arg-type]


def test_retrieval_signals_describe_the_hits(
    vector_store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    vector_store.ensure_collection("c", embedder.dimension)
    chunks = [
        Chunk("t", f"d{i}", "h", 0, text, f"T{i}", f"s{i}")
        for i, text in enumerate(["Water boils at 100 degrees Celsius.", "Ice melts at 0 degrees Celsius."])
    ]
    _store(vector_store, embedder, sparse, chunks)
    retriever = _retriever(vector_store, embedder, sparse)
    asked = {"tenant": "t", "collection": "c", "top_k": 2, "min_relevance": 0.0}
    request = BUILD.retrieval("When does water boil?", mode="hybrid", **asked)  # type: ignore[arg-type]
    found = retriever.retrieve_with_signals(request)
    assert found.signals is not None and found.hits == retriever.retrieve(request)
    dense = retriever.retrieve(BUILD.retrieval("When does water boil?", mode="dense", **asked))  # type: ignore[arg-type]
    assert found.signals.dense_top == pytest.approx(dense[0].score, abs=1e-5)
    assert found.signals.dense_margin == pytest.approx(dense[0].score - dense[1].score, abs=1e-5)
    assert found.signals.sparse_top > 0 and found.signals.coverage == 1.0  # "water", "boil": both held
    assert retriever.retrieve_with_signals(request, signals=False).signals is None


def test_the_answerability_gate_abstains_before_generation(
    vector_store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    vector_store.ensure_collection("c", embedder.dimension)
    chunks = [Chunk("t", "d0", "h", 0, "Water boils at 100 degrees Celsius at sea level.", "Water", "s0")]
    _store(vector_store, embedder, sparse, chunks)
    retriever = _retriever(vector_store, embedder, sparse)
    model = AnswerabilityModel.load()

    def pipeline(minimum: float) -> RagPipeline:
        config = replace(CONFIG, answerability_min=minimum, answerability=model)
        return RagPipeline(retriever, GenericFakeChatModel(messages=iter([AIMessage("At 100 C [1].")])), config)

    asked = _request("When does water boil?")
    probability = pipeline(0.5).ground(asked).answerable
    assert probability is not None and 0 < probability < 1
    kept = pipeline(probability - 1e-6).answer(asked)
    assert kept.text == "At 100 C [1]." and kept.evidence.abstention is None
    gated = pipeline(probability + 1e-6).answer(asked)  # the fake model is never called: nothing to consume
    assert gated.text == UNANSWERABLE_ANSWER and gated.evidence.abstention == "unanswerable"
    assert gated.citations == []


def test_the_shipped_answerability_model_rises_with_similarity_and_refuses_unknown_features(tmp_path: Path) -> None:
    model = AnswerabilityModel.load()
    low, high = (model.probability(RetrievalSignals(d, 0.1, 3.0, 0.8)) for d in (0.3, 0.8))
    assert 0 < low < high < 1
    bad = tmp_path / "model.json"
    bad.write_text(json.dumps({"weights": {"dense_top": 1.0, "mystery": 2.0}, "bias": 0}))
    with pytest.raises(ValueError, match="mystery"):
        AnswerabilityModel.load(bad)
