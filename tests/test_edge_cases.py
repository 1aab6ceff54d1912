"""Edge cases that got a 500 or were accepted wrongly (issue 14): each is a 400 in OpenAI's error shape, naming the
field as `param`. Here in process (tests/support/app.py: the app with its lifespan under Starlette's TestClient, a
scripted chat model); tests/test_fuzz.py sends the same raw bodies over a real socket, to the app under uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from rag.access.document_access import Reader
from rag.errors import InvalidInput
from rag.store.edge import EdgeStore
from rag.store.edge_layout import EdgeLayout
from rag.store.filters import conditions
from serving.metrics import ApiMetrics
from serving.request_context import RequestContextMiddleware
from tests.support.app import app_client as inprocess_app
from tests.support.app import settings_for
from tests.support.edge_cases import CHAT, DOCUMENTS, EDGE_CASE_PARAMS, RETRIEVE, assert_openai_400
from tests.support.scripted_chat import ScriptedChatModel


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    """The app in process over an empty Edge store with one document in `docs`; a scripted chat model."""
    store = tmp_path_factory.mktemp("edge-cases") / "qdrant"
    with inprocess_app(settings_for(store, embedded_store="edge"), ScriptedChatModel()) as client:
        stored = client.post(DOCUMENTS, json={"id": "deploy.md", "text": "Deploy it with Helm.", "metadata": {"n": 1}})
        assert stored.status_code == 200, stored.text
        yield client, store


@pytest.mark.parametrize(("path", "body", "param", "fragment"), EDGE_CASE_PARAMS)
def test_edge_case_is_a_400_in_openai_shape(
    app_client: tuple[TestClient, Path], path: str, body: bytes, param: str, fragment: str
) -> None:
    client, _ = app_client
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert_openai_400(r.status_code, r.json(), param, fragment)


def test_a_collection_name_with_a_newline_creates_no_second_folder(app_client: tuple[TestClient, Path]) -> None:
    client, store = app_client
    r = client.post(DOCUMENTS, json={"id": "x", "text": "some text", "collection": "docs\n"})
    assert r.status_code == 400
    assert sorted(p.name for p in EdgeLayout.under(store).root.iterdir()) == ["docs"]


def test_the_limits_themselves_are_accepted(app_client: tuple[TestClient, Path]) -> None:
    client, _ = app_client
    for value in (2**63 - 1, -(2**63), [2**63 - 1, -(2**63)]):
        r = client.post(RETRIEVE, json={"query": "helm", "filter": {"n": value}})
        assert r.status_code == 200, r.text
    r = client.post(DOCUMENTS, json={"id": "big", "text": "large numbers", "metadata": {"a": 2**63 - 1, "b": 1.5}})
    assert r.status_code == 200, r.text
    assert client.post(DOCUMENTS, json={"id": "u", "text": "caf\u00e9 \U0001f600"}).status_code == 200  # real non-ASCII
    r = client.post(CHAT, json={"model": "rag", "messages": [{"role": "user", "content": "How to deploy? \U0001f680"}]})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("key", ["lang\n", "tenant\n", "a.b\n", "lang\n\n"])
def test_filter_keys_must_match_whole(key: str) -> None:
    with pytest.raises(InvalidInput) as err:
        conditions(Reader.whole_tenant("t"), {key: "en"})
    assert err.value.param == "filter"


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, [1, 2**63], [-(2**63) - 1]])
def test_filter_integers_lie_in_int64(value: int | list[int]) -> None:
    with pytest.raises(InvalidInput, match="64 bits"):
        conditions(Reader.whole_tenant("t"), {"n": value})
    assert conditions(Reader.whole_tenant("t"), {"n": 2**63 - 1}).must[-1] == ("metadata.n", 2**63 - 1)


def test_edge_store_refuses_a_collection_name_ending_in_a_newline(tmp_path: Path) -> None:
    store = EdgeStore.under(tmp_path)
    try:
        for call in (lambda: store.ensure_collection("docs\n", 4), lambda: store.collection_exists("docs\n")):
            with pytest.raises(InvalidInput) as err:
                call()
            assert err.value.param == "collection"
        assert not list(EdgeLayout.under(tmp_path).root.iterdir())
    finally:
        store.close()


def _echoed_request_id(given: bytes) -> str:
    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "GET", "path": "/v1/models", "headers": [(b"x-request-id", given)]}
    asyncio.run(RequestContextMiddleware(ok, ApiMetrics())(scope, receive, send))
    headers: dict[bytes, bytes] = dict(sent[0]["headers"])
    return headers[b"x-request-id"].decode()


def test_a_request_id_ending_in_a_newline_is_replaced() -> None:
    assert _echoed_request_id(b"abc-123") == "abc-123"
    replaced = _echoed_request_id(b"abc-123\n")
    assert replaced != "abc-123\n" and len(replaced) == 32


def test_the_ingestion_limits_hold_for_documents_stored_through_the_api(tmp_path: Path) -> None:
    """A document over RAG_INGEST_MAX_CHUNKS or RAG_INGEST_MAX_DOCUMENT_CHARS is a 400, not a silent 'unchanged',
    and the version stored before stays."""
    settings = settings_for(
        tmp_path / "qdrant", chunk_size=32, chunk_overlap=0, ingest_max_chunks=3, ingest_max_document_chars=5_000
    )
    with inprocess_app(settings, ScriptedChatModel()) as client:
        assert client.post(DOCUMENTS, json={"id": "d", "text": "A short first version."}).json()["status"] == "created"
        long = " ".join(f"Sentence {i} of a longer second version." for i in range(60))
        r = client.post(DOCUMENTS, json={"id": "d", "text": long})
        assert_openai_400(r.status_code, r.json(), "text", "RAG_INGEST_MAX_CHUNKS")
        r = client.post(DOCUMENTS, json={"id": "d", "text": "x" * 5_001})
        assert_openai_400(r.status_code, r.json(), "text", "RAG_INGEST_MAX_DOCUMENT_CHARS")
        hits = client.post(RETRIEVE, json={"query": "short first version"}).json()["data"]
        assert [h["text"] for h in hits] == ["A short first version."]
