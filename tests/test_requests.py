"""One request builder (rag/answering/requests.py): every entry point fills its defaults from the settings alike, the
evaluations measure the temperature users get, and /v1/retrieve applies the chat's relevance floor."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from pydantic import Field
from starlette.testclient import TestClient

from evals.answers_eval import evaluate_question
from evals.beir import GoldAnswer
from evals.groundedness import TokenSupport
from rag.access.document_access import Reader
from rag.access.identity import Principal
from rag.access.namespace import CollectionNamespace
from rag.answering.pipeline import PipelineConfig, RagPipeline
from rag.answering.prompts import Turn
from rag.answering.requests import MAX_TOP_K, RequestBuilder
from rag.answering.retrieval import Retriever
from rag.domain import Chunk
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.errors import InvalidInput
from rag.settings import Settings
from rag.store.base import VectorStore
from rag.store.fusion import Fusion
from serving.app import create_app

SETTINGS = Settings(
    collection="kb", tenant="acme", top_k=4, retrieval_mode="dense", min_relevance=0.3, max_tokens=77, temperature=0.6
)


def test_what_a_caller_leaves_out_comes_from_the_settings() -> None:
    build = RequestBuilder(SETTINGS)
    chat = build.chat([Turn("user", "q")])
    assert (chat.collection, chat.reader, chat.top_k, chat.mode) == ("kb", Reader.whole_tenant("acme"), 4, "dense")
    assert (chat.max_tokens, chat.temperature, chat.min_relevance, chat.filters) == (77, 0.6, 0.3, None)
    retrieval = build.retrieval("q")
    assert (retrieval.collection, retrieval.reader.tenant, retrieval.top_k, retrieval.mode) == (
        "kb",
        "acme",
        4,
        "dense",
    )
    assert retrieval.min_relevance == 0.3
    assert build.target() == build.target(tenant=None, collection=None)
    assert (build.target().collection, build.target().tenant) == ("kb", "acme")


def test_what_a_caller_gives_wins_and_zero_temperature_or_relevance_is_kept() -> None:
    build = RequestBuilder(SETTINGS)
    chat = build.chat(
        [Turn("user", "q")], tenant="t", collection="c", top_k=2, max_tokens=5, temperature=0.0, filters={"a": 1}
    )
    assert (chat.collection, chat.reader.tenant, chat.top_k, chat.max_tokens, chat.temperature) == ("c", "t", 2, 5, 0.0)
    assert chat.filters == {"a": 1}
    retrieval = build.retrieval("q", mode="sparse", min_relevance=0.0)
    assert (retrieval.mode, retrieval.min_relevance) == ("sparse", 0.0)
    same = build.retrieval("q2", tenant="t", collection="c", top_k=2, mode="dense", filters={"a": 1})
    assert chat.retrieval("q2") == replace(same, with_dense=True)  # a chat's sources come with their vectors
    assert not same.with_dense


def test_a_principal_reads_what_its_role_and_groups_allow_and_the_operator_its_whole_tenant() -> None:
    build = RequestBuilder(SETTINGS)
    alice = Principal("t", "alice", frozenset({"hr"}), frozenset({"reader"}))
    assert build.reader(alice) == Reader("t", everything=False, subject="alice", groups=frozenset({"hr"}))
    assert build.retrieval("q", principal=alice).reader == build.chat([], principal=alice).reader == build.reader(alice)
    admin = Principal("t", "root", roles=frozenset({"admin"}))
    assert build.reader(admin) == Reader.whole_tenant("t") == build.reader(tenant="t")
    assert build.reader() == Reader.whole_tenant("acme")  # the operator of RAG_TENANT
    private = RequestBuilder(SETTINGS.updated(default_access="admins"))
    assert not private.reader(alice).default_visible and build.reader(alice).default_visible
    with pytest.raises(ValueError):
        build.reader(alice, tenant="t")


def test_each_bound_is_checked_by_the_builder_for_every_entry_point() -> None:
    """top_k, max_tokens and the messages' number and size are checked in one place, the builder, so the CLI and
    the evaluations keep the API's bounds (the API's schema only states them); an error names the field."""
    bounded = RequestBuilder(Settings(max_messages=2, max_input_chars=10, max_tokens_limit=50))
    question = [Turn("user", "q")]
    for asked, param in [
        ({"top_k": 0}, "top_k"),
        ({"top_k": MAX_TOP_K + 1}, "top_k"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 51}, "max_tokens"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            bounded.chat(question, **asked)  # type: ignore[arg-type]
        assert refused.value.param == param, asked
    at_bounds = bounded.chat(question, top_k=MAX_TOP_K, max_tokens=50)
    assert (at_bounds.top_k, at_bounds.max_tokens, bounded.retrieval("q", top_k=1).top_k) == (MAX_TOP_K, 50, 1)
    for turns in ([Turn("user", "q")] * 3, [Turn("user", "eleven char")]):
        with pytest.raises(InvalidInput) as refused:
            bounded.chat(turns)
        assert refused.value.param == "messages"
    with pytest.raises(InvalidInput) as refused:
        bounded.retrieval("q", top_k=MAX_TOP_K + 1)
    assert refused.value.param == "top_k"


def test_requests_are_made_by_the_builder_alone() -> None:
    """No module constructs a retrieval or chat request but rag/answering/requests.py (the eval ran without the
    relevance floor while it built its own)."""
    root = Path(__file__).resolve().parents[1]
    made = re.compile(r"\b(RetrievalRequest|ChatRequest)\(")
    packages = ("rag", "serving", "evals", "rag_cli", "ingest", "benchmarks", "tests")
    makers = sorted(
        str(p.relative_to(root)) for d in packages for p in (root / d).rglob("*.py") if made.search(p.read_text())
    )
    assert makers == ["rag/answering/requests.py"]


class _Recording(GenericFakeChatModel):
    """A fake chat model that remembers the keyword arguments of each call."""

    calls: list[dict[str, object]] = Field(default_factory=list)

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(dict(kwargs))
        return super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs)


def test_the_evaluation_asks_the_model_with_the_users_temperature(
    vector_store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    """It hard-coded temperature 0 while users got RAG_TEMPERATURE."""
    vector_store.ensure_collection("c", embedder.dimension)
    chunk = Chunk("t", "d0", "h", 0, "Water boils at 100 degrees Celsius at sea level.", "Water", "s0")
    vector_store.upsert(
        "c", [chunk], embedder.embed_documents([chunk.embed_text]), sparse.encode_documents([chunk.text])
    )
    model = _Recording(messages=iter([AIMessage("At 100 C [1].")]), calls=[])
    retriever = Retriever(
        vector_store, embedder, sparse, prefetch_k=10, fusion=Fusion("dbsf"), namespace=CollectionNamespace("shared")
    )
    pipeline = RagPipeline(retriever, model, PipelineConfig.from_settings(SETTINGS))
    gold = GoldAnswer("q1", "When does water boil?", answerable=True, gold_doc_ids=["d0"], answers=["At 100 C."])
    evaluate_question(pipeline, gold, collection="c", tenant="t", settings=SETTINGS, groundedness=TokenSupport())
    assert model.calls and model.calls[0]["temperature"] == 0.6
    assert model.calls[0]["max_tokens"] == 77


@pytest.fixture(scope="module")
def kb_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(qdrant_path=tmp_path_factory.mktemp("requests") / "qdrant", min_relevance=0.3)
    model = GenericFakeChatModel(messages=iter([]))
    with TestClient(create_app(settings, chat_model=model), raise_server_exceptions=False) as client:
        stored = client.post("/v1/documents", json={"id": "water", "text": "Water boils at 100 degrees Celsius."})
        assert stored.status_code == 200, stored.text
        yield client


def test_retrieve_applies_the_chats_relevance_floor_unless_the_caller_sets_one(kb_client: TestClient) -> None:
    """/v1/retrieve ignored RAG_MIN_RELEVANCE: it returned chunks a chat would not be grounded on."""
    off_topic = {"query": "Which team won the 1998 football world cup?", "mode": "dense"}
    assert kb_client.post("/v1/retrieve", json=off_topic).json()["data"] == []
    ranked = kb_client.post("/v1/retrieve", json={**off_topic, "min_relevance": 0}).json()["data"]
    assert [c["doc_id"] for c in ranked] == ["water"] and ranked[0]["score"] < 0.3
    on_topic = kb_client.post("/v1/retrieve", json={"query": "When does water boil?", "mode": "dense"}).json()
    assert [c["doc_id"] for c in on_topic["data"]] == ["water"]
    bad = kb_client.post("/v1/retrieve", json={**off_topic, "min_relevance": 2})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "min_relevance"


def test_the_api_names_the_field_a_bound_refused(kb_client: TestClient) -> None:
    """The builder checks the bound; the error names the field as it was sent (OpenAI's max_completion_tokens too)."""
    chat = {"model": "rag", "messages": [{"role": "user", "content": "When does water boil?"}]}
    for asked, param in [
        ({"top_k": 0}, "top_k"),
        ({"top_k": MAX_TOP_K + 1}, "top_k"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 4097}, "max_tokens"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"max_tokens": 8, "max_completion_tokens": 4097}, "max_completion_tokens"),
    ]:
        r = kb_client.post("/v1/chat/completions", json={**chat, **asked})
        assert r.status_code == 400 and r.json()["error"]["param"] == param, (asked, r.text)
    r = kb_client.post("/v1/retrieve", json={"query": "water", "top_k": MAX_TOP_K + 1})
    assert r.status_code == 400 and r.json()["error"]["param"] == "top_k"
