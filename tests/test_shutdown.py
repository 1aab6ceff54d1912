"""Graceful shutdown of `rag serve`: on SIGTERM readiness goes false at once, a stream in flight finishes, then the
process exits; the wait for in-flight requests is bounded."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.docs_store import ONE_THREAD, launch_docs_copy
from tests.support.launcher import Server

BODY = {
    "model": "rag",
    "messages": [{"role": "user", "content": "How do I deploy the platform on Kubernetes?"}],
    "stream": True,
    "top_k": 1,  # one source: a short prompt, the first token soon on the CPU engine
}


def _stream_in_background(server: Server, events: list[str], first: threading.Event) -> threading.Thread:
    def read() -> None:
        try:
            with httpx.stream("POST", server.base_url + "/v1/chat/completions", json=BODY, timeout=120) as r:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        events.append(line)
                        first.set()
        except httpx.HTTPError as exc:
            events.append(f"error: {type(exc).__name__}")
            first.set()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _wait_for_log(server: Server, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in server.log.read_text():
        assert time.monotonic() < deadline, f"{text!r} not in the server log after {timeout_s} s"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def launched(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """Each test's own server, both launched at once (each loads its model for seconds); a test waits for its own,
    signals it and stops it."""
    servers = {
        "drain": launch_docs_copy(
            docs_store,
            tmp_path_factory,
            "drain",
            RAG_SHUTDOWN_DRAIN_S="1",
            RAG_SHUTDOWN_TIMEOUT_S="120",  # the 48 tokens can take longer than the default 30 s on a loaded machine
            RAG_MAX_TOKENS="48",
            RAG_TEMPERATURE="0",
            OMP_NUM_THREADS=ONE_THREAD,
        ),
        "bounded": launch_docs_copy(
            docs_store,
            tmp_path_factory,
            "bounded",
            RAG_SHUTDOWN_TIMEOUT_S="1",
            RAG_MAX_TOKENS="512",
            OMP_NUM_THREADS=ONE_THREAD,
        ),
    }
    yield servers
    for server in servers.values():
        server.stop()  # a no-op for one its test stopped


def test_sigterm_drains_then_lets_the_stream_finish(launched: dict[str, Server]) -> None:
    server = launched["drain"].wait_ready("/healthz", 240)
    try:
        events: list[str] = []
        first = threading.Event()
        reader = _stream_in_background(server, events, first)
        assert first.wait(60)
        server.process.send_signal(signal.SIGTERM)
        _wait_for_log(server, "SIGTERM: not ready", timeout_s=10)  # logged once the signal handler has run
        ready = httpx.get(server.base_url + "/readyz")  # still listening during the drain, but not ready
        assert ready.status_code == 503 and ready.json()["status"] == "draining"
        reader.join(60)
        assert events[-1] == "data: [DONE]" and not any(e.startswith("error") for e in events)
        server.process.wait(30)
        assert "finishing in-flight requests" in server.log.read_text()
    finally:
        server.stop()


def test_in_flight_requests_get_a_bounded_time(launched: dict[str, Server]) -> None:
    """A long generation (512 tokens on the CPU) is cut after RAG_SHUTDOWN_TIMEOUT_S=1 instead of holding the pod."""
    server = launched["bounded"].wait_ready("/healthz", 240)
    try:
        events: list[str] = []
        first = threading.Event()
        reader = _stream_in_background(server, events, first)
        assert first.wait(60)
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(20)
        assert time.monotonic() - stopped_at < 10
        reader.join(10)
        assert events and events[-1] != "data: [DONE]"  # cut, not completed
    finally:
        server.stop()
