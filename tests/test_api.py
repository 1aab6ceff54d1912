"""The API under uvicorn (`rag serve` subprocess), called over real HTTP with the official clients."""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langchain_openai import ChatOpenAI
from openai import APIStatusError, NotFoundError, OpenAI

from rag.prompts import NO_SOURCES_ANSWER
from tests.conftest import Server, free_port, start_api

QUESTION = "How do I deploy the platform on Kubernetes?"


@pytest.fixture(scope="module")
def client(api: Server) -> OpenAI:
    return OpenAI(base_url=api.base_url + "/v1", api_key="unused", max_retries=0)


def test_models_lists_the_rag_model(client: OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["rag"]


def test_non_streamed_answer_with_citations(client: OpenAI) -> None:
    reply = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}])
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.completion_tokens > 0 and reply.usage.prompt_tokens > 50
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
    assert text and sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 3  # token by token
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish in (["stop"], ["length"])
    cited = [c for c in chunks if (c.model_extra or {}).get("citations")]
    assert len(cited) == 1 and not cited[0].choices
    assert cited[0].model_extra["citations"][0]["doc_id"] == "deployment.md"  # type: ignore[index]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_raw_sse_framing(api: Server) -> None:
    body = {"model": "rag", "messages": [{"role": "user", "content": QUESTION}], "stream": True}
    with httpx.stream("POST", api.base_url + "/v1/chat/completions", json=body, timeout=120) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-accel-buffering"] == "no"
        raw = r.read().decode()
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    for event in events[:-1]:
        for choice in json.loads(event[6:])["choices"]:
            assert "delta" in choice


def test_langchain_chat_openai_invoke_and_stream(api: Server) -> None:
    llm = ChatOpenAI(base_url=api.base_url + "/v1", api_key="unused", model="rag", max_retries=0)  # type: ignore[arg-type]
    assert llm.invoke(QUESTION).text
    pieces = [c.text for c in llm.stream(QUESTION)]
    assert len([p for p in pieces if p]) > 3


def test_extra_fields_collection_top_k_and_filter(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="rag",
        messages=[{"role": "user", "content": "How do I stream the chat API's answers with the openai client?"}],
        extra_body={"collection": "docs", "top_k": 2, "filter": {"doc_id": "api.md"}},
        max_tokens=4,
    )
    citations = (reply.model_extra or {})["citations"]
    assert len(citations) == 2 and {c["doc_id"] for c in citations} == {"api.md"}


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


def test_retrieve_returns_scored_chunks(api: Server) -> None:
    r = httpx.post(api.base_url + "/v1/retrieve", json={"query": "helm install", "top_k": 3, "mode": "sparse"})
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
def test_bad_requests_get_openai_errors(api: Server, payload: dict[str, object], status: int, param: str) -> None:
    r = httpx.post(api.base_url + "/v1/chat/completions", json=payload)
    assert r.status_code == status
    assert _error(r)["param"] == param


def test_malformed_json_and_oversized_body(api: Server) -> None:
    r = httpx.post(
        api.base_url + "/v1/chat/completions",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and "JSON" in str(_error(r)["message"])
    big = json.dumps({"model": "rag", "messages": [{"role": "user", "content": "a" * 2_000_000}]})
    r = httpx.post(api.base_url + "/v1/chat/completions", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and _error(r)["code"] == "request_too_large"


def test_openai_client_sees_typed_errors(client: OpenAI) -> None:
    with pytest.raises(NotFoundError):
        client.chat.completions.create(
            model="rag", messages=[{"role": "user", "content": "x"}], extra_body={"collection": "nope"}
        )


def test_health_and_readiness(api: Server) -> None:
    assert httpx.get(api.base_url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(api.base_url + "/readyz")
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) == {"store", "embedder", "llm"}


@pytest.fixture(scope="module")
def api_without_llm(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The API pointed at an LLM server that does not exist."""
    import shutil

    path = tmp_path_factory.mktemp("nollm-store") / "qdrant"
    shutil.copytree(docs_store, path)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    server = start_api(
        path, tmp_path_factory.mktemp("logs") / "nollm.log", RAG_LLM_BASE_URL=dead, RAG_LLM_MAX_RETRIES="0"
    )
    yield server
    server.stop()


def test_llm_down_is_503_and_retrieval_still_works(api_without_llm: Server) -> None:
    client = OpenAI(base_url=api_without_llm.base_url + "/v1", api_key="unused", max_retries=0)
    for stream in (False, True):
        with pytest.raises(APIStatusError) as exc:
            client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}], stream=stream)
        assert exc.value.status_code == 503
        assert "language model backend is unreachable" in str(exc.value)
    r = httpx.post(api_without_llm.base_url + "/v1/retrieve", json={"query": "helm"})
    assert r.status_code == 200 and r.json()["data"]
    ready = httpx.get(api_without_llm.base_url + "/readyz")
    assert ready.status_code == 503 and ready.json()["down"] == ["llm"]


def test_delete_document_then_it_is_gone(api: Server) -> None:
    """Runs last in this module: it removes storage.md from the served collection."""
    query = {"query": "rag copy moves a collection to a Qdrant server", "top_k": 5, "mode": "sparse"}
    before = httpx.post(api.base_url + "/v1/retrieve", json=query).json()["data"]
    assert any(d["doc_id"] == "storage.md" for d in before)
    r = httpx.delete(api.base_url + "/v1/documents/storage.md")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "storage.md" and body["deleted"] is True and body["chunks_deleted"] > 0
    after = httpx.post(api.base_url + "/v1/retrieve", json=query).json()["data"]
    assert all(d["doc_id"] != "storage.md" for d in after)
    again = httpx.delete(api.base_url + "/v1/documents/storage.md")
    assert again.status_code == 404 and _error(again)["param"] == "doc_id"
    missing = httpx.delete(api.base_url + "/v1/documents/x.md", params={"collection": "nope"})
    assert missing.status_code == 404 and _error(missing)["param"] == "collection"
