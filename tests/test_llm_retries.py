"""Retries to the LLM server happen only before its first token. A scripted OpenAI-compatible upstream on loopback
(the failure cases vLLM cannot be made to produce on demand) behind the API in process (tests/support/app.py), which
calls it with the real OpenAI client."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.app import app_client, settings_for
from tests.support.docs_store import copy_store

BODY = {
    "model": "rag",
    "messages": [{"role": "user", "content": "How do I deploy the platform on Kubernetes?"}],
    "stream": True,
}


class ScriptedUpstream(ThreadingHTTPServer):
    """Answers chat requests by script: `fail` (503), `too-long` (400, as vLLM refuses a prompt over the model's
    context), `ok` (a two-token stream), `cut` (one token, then the connection drops). Counts the chat requests."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[str] = []
        self.chat_requests = 0


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedUpstream
    protocol_version = "HTTP/1.1"  # chunked streams: a dropped connection is then an incomplete response

    def log_message(self, *args: object) -> None:
        pass

    def _chunk(self, content: str) -> bytes:
        delta = {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
        return f"data: {json.dumps({'id': 'x', 'object': 'chat.completion.chunk', 'model': 'm', **delta})}\n\n".encode()

    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.chat_requests += 1
        step = self.server.script.pop(0) if self.server.script else "ok"
        if step in ("fail", "too-long"):
            body = b'{"error": {"message": "overloaded", "type": "server_error"}}'
            if step == "too-long":
                body = b'{"error": {"message": "maximum context length is 8192 tokens", "type": "BadRequestError"}}'
            self.send_response(503 if step == "fail" else 400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._send_chunked(self._chunk("Use "))
        if step == "cut":  # no terminating chunk: the client sees the response break off
            self.close_connection = True
            return
        self._send_chunked(self._chunk("Helm."))
        self._send_chunked(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _send_chunked(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def api_on_scripted(
    docs_store: Path, tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream
) -> Iterator[TestClient]:
    settings = settings_for(
        copy_store(docs_store, tmp_path_factory, "retries"),
        llm_base_url=f"http://127.0.0.1:{upstream.server_address[1]}/v1",
        llm_model="m",
        llm_max_retries=2,
    )
    with app_client(settings) as client:
        yield client


def _events(api: TestClient) -> list[str]:
    with api.stream("POST", "/v1/chat/completions", json=BODY) as r:
        assert r.status_code == 200
        return [e for e in r.read().decode().split("\n\n") if e.startswith("data: ")]


def test_a_failure_before_the_first_token_is_retried(api_on_scripted: TestClient, upstream: ScriptedUpstream) -> None:
    upstream.script, before = ["fail", "ok"], upstream.chat_requests
    events = _events(api_on_scripted)
    text = "".join(c["delta"].get("content") or "" for e in events[:-1] for c in json.loads(e[6:]).get("choices", []))
    assert text == "Use Helm." and events[-1] == "data: [DONE]"
    assert upstream.chat_requests - before == 2  # the 503, then the retry


def test_a_failure_after_the_first_token_is_not_retried(
    api_on_scripted: TestClient, upstream: ScriptedUpstream
) -> None:
    upstream.script, before = ["cut", "ok"], upstream.chat_requests
    events = _events(api_on_scripted)
    assert any("Use" in e for e in events)  # the token that came before the cut (its trailing space held back)
    assert "error" in json.loads(events[-2][6:]) and events[-1] == "data: [DONE]"
    assert upstream.chat_requests - before == 1  # no second request once tokens flowed


def test_a_prompt_the_llm_server_refuses_is_a_400_not_a_503(
    api_on_scripted: TestClient, upstream: ScriptedUpstream
) -> None:
    upstream.script, before = ["too-long"], upstream.chat_requests
    r = api_on_scripted.post("/v1/chat/completions", json={**BODY, "stream": False})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages", r.text
    assert "top_k" in r.json()["error"]["message"] and "8192" not in r.json()["error"]["message"]  # no internals
    assert upstream.chat_requests - before == 1  # a refusal is not retried
