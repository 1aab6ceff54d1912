"""Clients that leave stop the work they asked for: a real `rag serve` with the in-process model, its CPU time read
from /proc. Twenty streamed chats closed at their first bytes, or a non-streamed chat given up by its client, must
leave the server idle within seconds (before: generation ran on to `max_tokens` for a minute and more, and every
later chat waited behind it). And a full line of waiting generations answers 429 before any token (in process)."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support.app import ThreadedServer, settings_for
from tests.support.docs_store import ANSWERED_QUESTION, copy_store, serve_docs_copy
from tests.support.launcher import Server

QUESTION = ANSWERED_QUESTION  # the docs answer it: the model generates (no abstention)
CHAT = {"model": "rag", "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 1500}
STREAMS = 20
IDLE_CORE_SHARE = 0.15  # of one core, over a sliding window of WINDOW_S: other test runs may share the machine
WINDOW_S = 0.5
IDLE_WITHIN_S = 2.0  # after the last client left, on a machine that is not oversubscribed
CPU_AFTER_LEAVING_S = 1.5  # CPU seconds the server may still spend then: a prefill chunk, the requests' ends
# One torch thread: OpenMP threads spin at barriers while other test runs hold the cores, which would blur what the
# server's own CPU time says. Stopping works the same at any thread count.
SERVER_ENV = {"OMP_NUM_THREADS": "1", "RAG_LOCAL_LLM_MAX_WAITING": "32", "RAG_MAX_TOKENS_LIMIT": "2000"}


@pytest.fixture(scope="module")
def api(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = serve_docs_copy(docs_store, tmp_path_factory, "disconnects", **SERVER_ENV)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def capped_api(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    """A limit, not a process property: the app in this process (the real in-process engine, a full line at once)."""
    store = copy_store(docs_store, tmp_path_factory, "capped")
    server = ThreadedServer(settings_for(store, local_llm_max_waiting=0, max_tokens_limit=2000)).start()
    yield server
    server.stop()


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds of the process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _idle_after(pid: int, since: float, cpu_since: float, limit_s: float) -> tuple[float, float] | None:
    """When the process had used under IDLE_CORE_SHARE of a core over the last WINDOW_S: the seconds from `since`
    to the end of that window, and the CPU seconds it used from `cpu_since` until the window began. None when it is
    still busy `limit_s` after `since`."""
    samples: deque[tuple[float, float]] = deque([(time.monotonic(), _cpu_s(pid))])
    while True:
        time.sleep(0.05)
        now = time.monotonic()
        samples.append((now, _cpu_s(pid)))
        while now - samples[1][0] >= WINDOW_S:
            samples.popleft()
        if now - samples[0][0] >= WINDOW_S:
            share = (samples[-1][1] - samples[0][1]) / (now - samples[0][0])
            if share < IDLE_CORE_SHARE:
                return now - since, samples[0][1] - cpu_since
        if now - since > limit_s:
            return None


def _idle_limit_s() -> float:
    """IDLE_WITHIN_S, stretched as far as other processes oversubscribe the cores (the load average per core)."""
    return IDLE_WITHIN_S * min(5.0, max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1)))


def _wait_idle(pid: int, limit_s: float = 120) -> None:
    assert _idle_after(pid, time.monotonic(), _cpu_s(pid), limit_s) is not None, "the server never went idle"


def _short_chat_s(url: str) -> float:
    began = time.monotonic()
    response = httpx.post(url, json={**CHAT, "max_tokens": 8}, timeout=300)
    assert response.status_code == 200 and response.json()["usage"]["completion_tokens"] <= 8
    return time.monotonic() - began


def _assert_idle_soon(
    pid: int, left_at: float, cpu_at_leaving: float, record: pytest.RecordProperty, what: str
) -> None:
    limit = _idle_limit_s()
    idle = _idle_after(pid, left_at, cpu_at_leaving, limit_s=max(limit, 30.0))
    record(f"cpu_idle_after_{what}_s", idle and round(idle[0], 2))
    print(f"\n{what}: server idle after {idle and round(idle[0], 2)} s (limit {limit:.1f} s), having used "
          f"{idle and round(idle[1], 2)} CPU s since the client(s) left")  # fmt: skip
    assert idle is not None, f"{what}: still generating 30 s after the client(s) left"
    seconds, cpu = idle
    assert seconds <= limit and cpu <= CPU_AFTER_LEAVING_S, f"{what}: idle after {seconds:.1f} s, {cpu:.1f} CPU s"


def _stream_and_leave(url: str, left_at: list[float], statuses: list[int]) -> None:
    with httpx.stream("POST", url, json={**CHAT, "stream": True}, timeout=120) as response:
        statuses.append(response.status_code)
        next(response.iter_raw(), b"")  # the first bytes: a keep-alive comment or the first chunk
    left_at.append(time.monotonic())  # a response left unread closes its connection


def _log_problems(server: Server) -> list[str]:
    text = server.log.read_text(errors="replace")
    return [p for p in ("generator already executing", "Task exception was never retrieved") if p in text]


def test_streams_closed_at_their_first_bytes_stop_generating(
    api: Server, record_property: pytest.RecordProperty
) -> None:
    pid, url = api.process.pid, api.base_url + "/v1/chat/completions"
    _wait_idle(pid)
    before = _short_chat_s(url)
    _wait_idle(pid)
    left_at: list[float] = []
    statuses: list[int] = []
    clients = [threading.Thread(target=_stream_and_leave, args=(url, left_at, statuses)) for _ in range(STREAMS)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(300)
    cpu_at_leaving = _cpu_s(pid)
    assert statuses == [200] * STREAMS and len(left_at) == STREAMS
    _assert_idle_soon(pid, max(left_at), cpu_at_leaving, record_property, f"{STREAMS} streams")

    after = _short_chat_s(url)
    record_property("short_chat_before_and_after_s", (round(before, 2), round(after, 2)))
    # before the fix: it waited behind every abandoned generation, each running to max_tokens (minutes)
    assert after < max(10.0, 3 * before), f"an 8-token chat took {after:.1f} s, {before:.1f} s before the streams"
    assert not _log_problems(api)


def test_a_non_streamed_chat_given_up_by_its_client_stops_generating(
    api: Server, record_property: pytest.RecordProperty
) -> None:
    pid, url = api.process.pid, api.base_url + "/v1/chat/completions"
    _wait_idle(pid)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json=CHAT, timeout=3)
    _assert_idle_soon(pid, time.monotonic(), _cpu_s(pid), record_property, "non-streamed")
    assert "POST /v1/chat/completions 499" in api.log.read_text(errors="replace")
    assert not _log_problems(api)


def test_a_full_line_answers_429_before_any_token(capped_api: ThreadedServer) -> None:
    """RAG_LOCAL_LLM_MAX_WAITING=0: while one answer is generated, another chat, streamed or not, is refused with
    429, Retry-After and the OpenAI error shape (code `engine_overloaded`); once the first client left, chats run."""
    client = OpenAI(base_url=capped_api.base_url + "/v1", api_key="unused", max_retries=0)
    messages = CHAT["messages"]
    with client.chat.completions.create(model="rag", messages=messages, max_tokens=1500, stream=True) as first:  # type: ignore[call-overload]
        assert next(iter(first)).choices  # generating now
        for stream in (False, True):
            with pytest.raises(openai.RateLimitError) as refused:
                client.chat.completions.create(model="rag", messages=messages, max_tokens=8, stream=stream)  # type: ignore[call-overload]
            error = refused.value
            assert error.status_code == 429 and int(error.response.headers["retry-after"]) >= 1
            assert error.code == "engine_overloaded" and error.type == "rate_limit_error"
            assert set(error.response.json()["error"]) == {"message", "type", "param", "code"}
    deadline = time.monotonic() + 30
    while True:  # the server notices the first client left, and the model is free
        try:
            answer = client.chat.completions.create(model="rag", messages=messages, max_tokens=8)  # type: ignore[call-overload]
            break
        except openai.RateLimitError:
            assert time.monotonic() < deadline, "still refused long after the first client left"
            time.sleep(0.2)
    assert answer.choices[0].message.content
