"""Streaming through real infrastructure: keep-alive comments while retrieval and prefill run (`rag serve` with the
in-process engine, over a real socket), errors after the stream started (in OpenAI's shape, then `[DONE]`), usage
chunks, and a client disconnect that closes the upstream request (the app in process in front of an LLM server that
never answers: under Starlette's TestClient, and under uvicorn on loopback for the disconnect). Clients: raw HTTP,
the official `openai` client, LangChain's `ChatOpenAI`."""

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
from starlette.testclient import TestClient

from rag.settings import Settings
from tests.support.app import BASE_URL, ThreadedServer, app_client, settings_for
from tests.support.docs_store import SERVED_KEY, copy_store
from tests.support.headers import bearer
from tests.support.launcher import Server

QUESTION = "How do I deploy the platform on Kubernetes?"
BODY = {"model": "rag", "messages": [{"role": "user", "content": QUESTION}], "stream": True}
SERVED_AUTH = bearer(SERVED_KEY)


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
def silent_upstream() -> Iterator[SilentUpstream]:
    upstream = SilentUpstream()
    yield upstream
    upstream.close()


def _stuck_settings(store: Path, upstream: SilentUpstream, timeout_s: float) -> Settings:
    return settings_for(
        store,
        llm_base_url=f"http://127.0.0.1:{upstream.port}/v1",
        llm_timeout_s=timeout_s,
        llm_max_retries=0,
        stream_keepalive_s=0.2,
    )


@pytest.fixture(scope="module")
def stuck_llm_api(
    docs_store: Path, tmp_path_factory: pytest.TempPathFactory, silent_upstream: SilentUpstream
) -> Iterator[TestClient]:
    """The app in process with the real OpenAI client to an LLM that never answers, timing out after 1 s."""
    settings = _stuck_settings(copy_store(docs_store, tmp_path_factory, "stuck"), silent_upstream, 1.0)
    with app_client(settings) as client:
        yield client


@pytest.fixture(scope="module")
def stuck_llm_server(
    docs_store: Path, tmp_path_factory: pytest.TempPathFactory, silent_upstream: SilentUpstream
) -> Iterator[ThreadedServer]:
    """The same under uvicorn on loopback (a client can leave), timing out after 30 s: long after the client left."""
    settings = _stuck_settings(copy_store(docs_store, tmp_path_factory, "stuck-served"), silent_upstream, 30.0)
    server = ThreadedServer(settings).start()
    yield server
    server.stop()


def test_keepalive_comments_come_before_the_first_chunk(served: Server) -> None:
    body = {**BODY, "max_tokens": 4}
    with httpx.stream(
        "POST", served.base_url + "/v1/chat/completions", json=body, headers=SERVED_AUTH, timeout=120
    ) as r:
        assert r.status_code == 200 and r.headers["x-accel-buffering"] == "no"
        raw = r.read().decode()
    events = [e for e in raw.split("\n\n") if e]
    assert events[0] == ": keep-alive"
    data = [e for e in events if not e.startswith(":")]
    assert all(e.startswith("data: ") for e in data) and data[-1] == "data: [DONE]"
    first = json.loads(data[0][6:])
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert all(e == ": keep-alive" for e in events[: events.index(data[0])])  # comments only before the data


def test_clients_read_a_kept_alive_stream_with_usage(served: Server) -> None:
    client = OpenAI(base_url=served.base_url + "/v1", api_key=SERVED_KEY, max_retries=0)
    short = {"max_tokens": 4, "extra_body": {"top_k": 1}}  # one source: a short prompt for the CPU engine
    chunks = list(client.chat.completions.create(**BODY, **short, stream_options={"include_usage": True}))  # type: ignore[call-overload]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None and 0 < chunks[-1].usage.completion_tokens <= 4
    llm = ChatOpenAI(
        base_url=served.base_url + "/v1",
        api_key=SERVED_KEY,  # type: ignore[arg-type]
        model="rag",
        max_retries=0,
        max_tokens=4,  # type: ignore[call-arg]
        extra_body={"top_k": 1},
        stream_usage=True,
    )
    total = None
    for piece in llm.stream(QUESTION):
        total = piece if total is None else total + piece
    assert total is not None and total.text
    assert total.usage_metadata is not None and 0 < total.usage_metadata["output_tokens"] <= 4


def test_an_error_after_the_stream_started_is_sent_inside_it(stuck_llm_api: TestClient) -> None:
    """The LLM never answers: the stream has started (keep-alives), the LLM times out after 1 s, and the error
    arrives as an OpenAI error event followed by [DONE]."""
    with stuck_llm_api.stream("POST", "/v1/chat/completions", json=BODY) as r:
        assert r.status_code == 200
        events = [e for e in r.read().decode().split("\n\n") if e]
    assert events[0] == ": keep-alive" and events[-1] == "data: [DONE]"
    error = json.loads(events[-2][6:])["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "backend_unavailable"
    client = OpenAI(base_url=BASE_URL + "/v1", api_key="unused", max_retries=0, http_client=stuck_llm_api)
    with pytest.raises(openai.APIError, match="language model"):
        list(client.chat.completions.create(**BODY))  # type: ignore[call-overload]
    llm = ChatOpenAI(
        base_url=BASE_URL + "/v1",
        api_key="unused",  # type: ignore[arg-type]
        model="rag",
        max_retries=0,
        http_client=stuck_llm_api,
    )
    with pytest.raises(openai.APIError):
        list(llm.stream(QUESTION))


def test_a_client_disconnect_closes_the_upstream_request(
    stuck_llm_server: ThreadedServer, silent_upstream: SilentUpstream
) -> None:
    before_accepted, before_closed = silent_upstream.accepted, silent_upstream.closed_by_peer
    with httpx.stream("POST", stuck_llm_server.base_url + "/v1/chat/completions", json=BODY, timeout=60) as r:
        assert next(r.iter_lines()) == ": keep-alive"
        deadline = time.monotonic() + 5
        while silent_upstream.accepted == before_accepted and time.monotonic() < deadline:
            time.sleep(0.02)
        assert silent_upstream.accepted == before_accepted + 1  # the upstream request is in flight
    # the client has gone (long before the LLM's 30 s timeout): our server must drop the upstream request
    deadline = time.monotonic() + 1.5
    while silent_upstream.closed_by_peer == before_closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert silent_upstream.closed_by_peer == before_closed + 1
