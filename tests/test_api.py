"""The API's contract, in process (tests/support/app.py: the real store and embedder, a scripted chat model) called
with the official clients, and once end to end: `rag serve` under uvicorn with the in-process engine."""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langchain_openai import ChatOpenAI
from openai import APIStatusError, AuthenticationError, NotFoundError, OpenAI
from starlette.testclient import TestClient

from rag.answering.prompts import NO_SOURCES_ANSWER
from serving.lifecycle import lifecycle_of
from tests.support.app import BASE_URL, app_client, settings_for
from tests.support.docs_store import SERVED_KEY, copy_store
from tests.support.launcher import Server, free_port
from tests.support.scripted_chat import ANSWER

QUESTION = "How do I deploy the platform on Kubernetes?"
MAX_TOKENS = 24  # the in-process app's RAG_MAX_TOKENS (tests/conftest.py): ANSWER is cut there
CUT_ANSWER = " ".join(ANSWER.split(" ")[:MAX_TOKENS])


@pytest.fixture(scope="module")
def client(api_client: TestClient) -> OpenAI:
    return OpenAI(base_url=BASE_URL + "/v1", api_key="unused", max_retries=0, http_client=api_client)


def test_models_lists_the_rag_model(client: OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["rag"]


def test_non_streamed_answer_with_citations(client: OpenAI) -> None:
    reply = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}])
    assert reply.choices[0].message.content == CUT_ANSWER and reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == MAX_TOKENS and reply.usage.prompt_tokens > 50
    citations = (reply.model_extra or {})["citations"]
    assert [c["index"] for c in citations] == list(range(1, len(citations) + 1))
    assert citations[0]["doc_id"] == "deployment.md"
    assert {"index", "doc_id", "title", "source", "excerpt", "score"} <= set(citations[0])


def test_streamed_answer_with_citations_and_usage(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="rag",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == CUT_ANSWER
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == MAX_TOKENS  # token by token
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["length"]
    cited = [c for c in chunks if (c.model_extra or {}).get("citations")]
    assert len(cited) == 1 and not cited[0].choices
    assert cited[0].model_extra["citations"][0]["doc_id"] == "deployment.md"  # type: ignore[index]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == MAX_TOKENS


def test_raw_sse_framing(api_client: TestClient) -> None:
    body = {"model": "rag", "messages": [{"role": "user", "content": QUESTION}], "stream": True}
    with api_client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-accel-buffering"] == "no" and r.headers["cache-control"] == "no-cache"
        raw = r.read().decode()
    assert raw.endswith("\n\n")
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") and "\n" not in e for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(event[6:]) for event in events[:-1]]
    assert len({c["id"] for c in chunks}) == 1 and {c["object"] for c in chunks} == {"chat.completion.chunk"}
    for chunk in chunks:
        for choice in chunk["choices"]:
            assert "delta" in choice


def test_langchain_chat_openai_invoke_and_stream(api_client: TestClient) -> None:
    llm = ChatOpenAI(
        base_url=BASE_URL + "/v1",
        api_key="unused",  # type: ignore[arg-type]
        model="rag",
        max_retries=0,
        http_client=api_client,
    )
    assert llm.invoke(QUESTION).text == CUT_ANSWER
    pieces = [c.text for c in llm.stream(QUESTION)]
    assert len([p for p in pieces if p]) == MAX_TOKENS and "".join(pieces) == CUT_ANSWER


def test_extra_fields_collection_top_k_and_filter(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="rag",
        messages=[{"role": "user", "content": "How do I stream the chat API's answers with the openai client?"}],
        extra_body={"collection": "docs", "top_k": 2, "filter": {"doc_id": "api.md"}},
        max_tokens=4,
    )
    citations = (reply.model_extra or {})["citations"]
    assert len(citations) == 2 and {c["doc_id"] for c in citations} == {"api.md"}
    assert reply.usage is not None and reply.usage.completion_tokens == 4  # the request's max_tokens reached the LLM


def test_a_question_nothing_in_the_filtered_documents_answers_gets_an_abstention(client: OpenAI) -> None:
    """The relevance check (RAG_MIN_RELEVANCE) sees only what the filter lets through."""
    reply = client.chat.completions.create(
        model="rag",
        messages=[{"role": "user", "content": "Which team won the 1998 football world cup?"}],
        extra_body={"filter": {"doc_id": "api.md"}},
        max_tokens=4,
    )
    assert reply.choices[0].message.content == NO_SOURCES_ANSWER
    assert (reply.model_extra or {})["citations"] == []
    assert reply.usage is not None and reply.usage.completion_tokens == 0  # the LLM was not asked


def test_retrieve_returns_scored_chunks(api_client: TestClient) -> None:
    r = api_client.post("/v1/retrieve", json={"query": "helm install", "top_k": 3, "mode": "sparse"})
    assert r.status_code == 200
    data = r.json()["data"]
    assert len(data) == 3 and data[0]["doc_id"] == "deployment.md"
    assert data[0]["score"] >= data[1]["score"] >= data[2]["score"]


def _error(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("payload", "status", "param"),
    [
        ({"model": "rag", "messages": []}, 400, "messages"),
        ({"model": "rag", "messages": [{"role": "user", "content": "  "}]}, 400, "messages"),
        ({"model": "rag", "messages": [{"role": "wizard", "content": "hi"}]}, 400, "messages.0.role"),
        ({"model": "rag", "messages": "hello"}, 400, "messages"),
        ({"messages": [{"role": "user", "content": "hi"}]}, 400, "model"),
        (
            {"model": "rag", "messages": [{"role": "user", "content": "hi"}], "collection": "nope"},
            404,
            "collection",
        ),
        ({"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}, 404, "model"),
        ({"model": "rag", "messages": [{"role": "user", "content": "hi"}], "top_k": 0}, 400, "top_k"),
    ],
)
def test_bad_requests_get_openai_errors(
    api_client: TestClient, payload: dict[str, object], status: int, param: str
) -> None:
    r = api_client.post("/v1/chat/completions", json=payload)
    assert r.status_code == status
    assert _error(r)["param"] == param


def test_malformed_json_and_oversized_body(api_client: TestClient) -> None:
    r = api_client.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in str(_error(r)["message"])
    big = json.dumps({"model": "rag", "messages": [{"role": "user", "content": "a" * 2_000_000}]})
    r = api_client.post("/v1/chat/completions", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and _error(r)["code"] == "request_too_large"


def test_openai_client_sees_typed_errors(client: OpenAI) -> None:
    with pytest.raises(NotFoundError):
        client.chat.completions.create(
            model="rag", messages=[{"role": "user", "content": "x"}], extra_body={"collection": "nope"}
        )


def test_health_and_readiness(api_client: TestClient) -> None:
    assert api_client.get("/healthz").json() == {"status": "ok"}
    ready = api_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready" and ready.json()["down"] == []
    assert set(ready.json()["checks"]) == {"store", "embedder", "llm", "state"}
    assert ready.json()["checks"]["state"] == {"ok": True, "backend": "memory", "reachable": True, "failure": "open"}


@pytest.fixture(scope="module")
def api_without_llm(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The API pointed at an LLM server that does not exist (the real OpenAI client, no retry)."""
    dead = f"http://127.0.0.1:{free_port()}/v1"
    store = copy_store(docs_store, tmp_path_factory, "nollm")
    with app_client(settings_for(store, llm_base_url=dead, llm_max_retries=0)) as test_client:
        yield test_client


def test_llm_down_is_503_and_retrieval_still_works(api_without_llm: TestClient) -> None:
    client = OpenAI(base_url=BASE_URL + "/v1", api_key="unused", max_retries=0, http_client=api_without_llm)
    for stream in (False, True):
        with pytest.raises(APIStatusError) as exc:
            client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}], stream=stream)
        assert exc.value.status_code == 503
        assert "language model backend is unreachable" in str(exc.value)
    r = api_without_llm.post("/v1/retrieve", json={"query": "helm"})
    assert r.status_code == 200 and r.json()["data"]
    ready = api_without_llm.get("/readyz")
    assert ready.status_code == 503 and ready.json()["down"] == ["llm"]


def test_delete_document_then_it_is_gone(api_client: TestClient) -> None:
    """Stores a document of its own, then deletes it: independent of the other tests and of their order."""
    doc = {"id": "zephyr-ledger.md", "text": "The quartermaster's ledger of the Zephyr expedition lists forty "
           "crates of brass lanterns and twelve barrels of lamp oil.", "title": "Zephyr ledger"}  # fmt: skip
    stored = api_client.post("/v1/documents", json=doc)
    assert stored.status_code == 200 and stored.json()["status"] in ("created", "unchanged"), stored.text
    query = {"query": "Zephyr expedition quartermaster ledger lanterns", "top_k": 5, "mode": "sparse"}
    before = api_client.post("/v1/retrieve", json=query).json()["data"]
    assert before[0]["doc_id"] == "zephyr-ledger.md"
    r = api_client.delete("/v1/documents/zephyr-ledger.md")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "zephyr-ledger.md" and body["deleted"] is True and body["chunks_deleted"] > 0
    after = api_client.post("/v1/retrieve", json=query).json()["data"]
    assert all(d["doc_id"] != "zephyr-ledger.md" for d in after)
    again = api_client.delete("/v1/documents/zephyr-ledger.md")
    assert again.status_code == 404 and _error(again)["param"] == "doc_id"
    missing = api_client.delete("/v1/documents/x.md", params={"collection": "nope"})
    assert missing.status_code == 404 and _error(missing)["param"] == "collection"


def test_end_to_end_through_rag_serve_with_the_in_process_engine(served: Server) -> None:
    """The process users run: `rag serve` under uvicorn, the CPU engine generating, the `openai` client over a
    real socket (streamed answers through it: tests/test_streaming.py)."""
    client = OpenAI(base_url=served.base_url + "/v1", api_key=SERVED_KEY, max_retries=0)
    assert [m.id for m in client.models.list()] == ["rag"]
    with pytest.raises(AuthenticationError):
        OpenAI(base_url=served.base_url + "/v1", api_key="wrong", max_retries=0).models.list()
    reply = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}])
    assert reply.choices[0].message.content and reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None and reply.usage.completion_tokens > 0 and reply.usage.prompt_tokens > 50
    citations = (reply.model_extra or {})["citations"]
    assert citations[0]["doc_id"] == "deployment.md"
    with pytest.raises(NotFoundError):
        client.chat.completions.create(
            model="rag", messages=[{"role": "user", "content": "x"}], extra_body={"collection": "nope"}
        )


def test_readiness_is_false_while_draining_and_authentication_is_known(api_client: TestClient) -> None:
    """The lifecycle `rag serve`'s SIGTERM handler sets (serving/graceful.py; the signal itself: tests/test_shutdown.py)
    and reads (no keys: loopback only)."""
    lifecycle = lifecycle_of(api_client.app)  # type: ignore[arg-type]
    assert lifecycle.authenticated is False and lifecycle.draining is False
    lifecycle.draining = True
    try:
        ready = api_client.get("/readyz")
        assert ready.status_code == 503 and ready.json() == {"status": "draining", "down": [], "checks": {}}
        assert api_client.get("/healthz").status_code == 200  # alive, only not ready
    finally:
        lifecycle.draining = False
    assert api_client.get("/readyz").status_code == 200
