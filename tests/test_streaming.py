"""Streaming through real infrastructure: keep-alive comments while retrieval and prefill run, errors after the
stream started (in OpenAI's shape, then `[DONE]`), usage chunks, and a client disconnect that closes the upstream
request. `rag serve` under uvicorn; clients: raw HTTP, the official `openai` client, LangChain's `ChatOpenAI`."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI
from openai import OpenAI

from tests.conftest import Server, serve_docs_copy

QUESTION = "How do I deploy the platform on Kubernetes?"
BODY = {"model": "rag", "messages": [{"role": "user", "content": QUESTION}], "stream": True}


class SilentUpstream:
    """A TCP server on loopback that accepts connections and never answers: an LLM stuck before its first token.
    Records when each accepted connection was closed by the other side."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.port = self._sock.getsockname()[1]
        self.accepted = 0
        self.closed_by_peer = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            while conn.recv(65536):  # read the request, never answer; b"" when the client closes
                pass
            self.closed_by_peer += 1

    def close(self) -> None:
        self._sock.close()


@pytest.fixture(scope="module")
def slow_start_api(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The in-process engine, with keep-alives every 50 ms: retrieval plus prefill take longer than that."""
    server = serve_docs_copy(
        docs_store,
        tmp_path_factory,
        "api-keepalive",
        RAG_STREAM_KEEPALIVE_S="0.05",
        RAG_MAX_TOKENS="16",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def silent_upstream() -> Iterator[SilentUpstream]:
    upstream = SilentUpstream()
    yield upstream
    upstream.close()


@pytest.fixture(scope="module")
def stuck_llm_api(
    docs_store: Path, tmp_path_factory: pytest.TempPathFactory, silent_upstream: SilentUpstream
) -> Iterator[Server]:
    server = serve_docs_copy(
        docs_store,
        tmp_path_factory,
        "api-stuck",
        RAG_LLM_BASE_URL=f"http://127.0.0.1:{silent_upstream.port}/v1",
        RAG_LLM_TIMEOUT_S="4",
        RAG_LLM_MAX_RETRIES="0",
        RAG_STREAM_KEEPALIVE_S="0.2",
    )
    yield server
    server.stop()


def test_keepalive_comments_come_before_the_first_chunk(slow_start_api: Server) -> None:
    with httpx.stream("POST", slow_start_api.base_url + "/v1/chat/completions", json=BODY, timeout=120) as r:
        assert r.status_code == 200 and r.headers["x-accel-buffering"] == "no"
        raw = r.read().decode()
    events = [e for e in raw.split("\n\n") if e]
    assert events[0] == ": keep-alive"
    data = [e for e in events if not e.startswith(":")]
    assert all(e.startswith("data: ") for e in data) and data[-1] == "data: [DONE]"
    first = json.loads(data[0][6:])
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert all(e == ": keep-alive" for e in events[: events.index(data[0])])  # comments only before the data


def test_clients_read_a_kept_alive_stream_with_usage(slow_start_api: Server) -> None:
    client = OpenAI(base_url=slow_start_api.base_url + "/v1", api_key="unused", max_retries=0)
    chunks = list(client.chat.completions.create(**BODY, stream_options={"include_usage": True}))  # type: ignore[call-overload]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    llm = ChatOpenAI(
        base_url=slow_start_api.base_url + "/v1",
        api_key="unused",  # type: ignore[arg-type]
        model="rag",
        max_retries=0,
        stream_usage=True,
    )
    total = None
    for piece in llm.stream(QUESTION):
        total = piece if total is None else total + piece
    assert total is not None and total.text
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 0


def test_an_error_after_the_stream_started_is_sent_inside_it(stuck_llm_api: Server) -> None:
    """The LLM never answers: the stream has started (keep-alives), the LLM times out after 4 s, and the error
    arrives as an OpenAI error event followed by [DONE]."""
    with httpx.stream("POST", stuck_llm_api.base_url + "/v1/chat/completions", json=BODY, timeout=60) as r:
        assert r.status_code == 200
        events = [e for e in r.read().decode().split("\n\n") if e]
    assert events[0] == ": keep-alive" and events[-1] == "data: [DONE]"
    error = json.loads(events[-2][6:])["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "backend_unavailable"
    client = OpenAI(base_url=stuck_llm_api.base_url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.APIError, match="language model"):
        list(client.chat.completions.create(**BODY))  # type: ignore[call-overload]
    llm = ChatOpenAI(base_url=stuck_llm_api.base_url + "/v1", api_key="unused", model="rag", max_retries=0)  # type: ignore[arg-type]
    with pytest.raises(openai.APIError):
        list(llm.stream(QUESTION))


def test_a_client_disconnect_closes_the_upstream_request(
    stuck_llm_api: Server, silent_upstream: SilentUpstream
) -> None:
    before_accepted, before_closed = silent_upstream.accepted, silent_upstream.closed_by_peer
    with httpx.stream("POST", stuck_llm_api.base_url + "/v1/chat/completions", json=BODY, timeout=60) as r:
        assert next(r.iter_lines()) == ": keep-alive"
        deadline = time.monotonic() + 5
        while silent_upstream.accepted == before_accepted and time.monotonic() < deadline:
            time.sleep(0.02)
        assert silent_upstream.accepted == before_accepted + 1  # the upstream request is in flight
    # the client has gone (well before the LLM's 4 s timeout): our server must drop the upstream request
    deadline = time.monotonic() + 1.5
    while silent_upstream.closed_by_peer == before_closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert silent_upstream.closed_by_peer == before_closed + 1
