"""Chats in flight per tenant (issue 27): at most `max_concurrent_chats` at once (RAG_TENANT_MAX_CONCURRENT_CHATS, or
the tenant's entry in the limits file); one more is refused with 429 in OpenAI's shape and Retry-After; a slot is
given back when its chat ends, fails or its client leaves, streamed or not. The cap is what bounds a token quota's
overshoot: twelve chats at once against a 100-token quota spent twelve answers before it, at most the cap's now.

The app in process under uvicorn in a thread (tests/support/app.py: a real socket, so that streams stay open and
clients can leave), the real store and embedder, a scripted chat model that holds its answers after their first
token until the test lets them go; on both state backends (in-process, and a real Redis, where two apps count one
tenant's chats together and a dead replica's slots lapse)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from openai import OpenAI
from pydantic import SecretStr

from rag.errors import BackendUnavailable, RateLimited
from rag.limits.chat_slots import ChatSlots
from rag.limits.guarded import GuardedState
from rag.limits.limits_file import Limits, TenantLimits
from rag.limits.memory_backend import MemoryState
from rag.limits.redis_backend import RedisState
from rag.settings import Settings
from tests.support.app import ThreadedServer, settings_for
from tests.support.docs_store import ANSWERED_QUESTION
from tests.support.headers import bearer
from tests.support.launcher import RedisServer, free_port
from tests.support.scripted_chat import ScriptedChatModel

HOLD, FAIL = "HOLD-27", "FAIL-27"  # in a question: the answer waits after its first token; the model fails there
GATE = threading.Event()  # set: held answers go on


class _Count:
    def __init__(self) -> None:
        self._lock, self.value = threading.Lock(), 0

    def add(self, n: int) -> None:
        with self._lock:
            self.value += n


WAITING = _Count()  # answers waiting at the gate now, in every app of this process
CAP, ROOMY_CAP, METERED_CAP, QUOTA = 2, 3, 3, 100
ANSWER = "Deploy it with the Helm chart, as the docs describe, then point it at Qdrant."


class GatedChatModel(ScriptedChatModel):
    """ScriptedChatModel whose answer to a question holding HOLD stops after its first token until GATE is set, and
    to one holding FAIL raises there."""

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        text = " ".join(m.text for m in messages)
        first = True
        async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
            yield chunk
            if first:
                first = False
                if FAIL in text:
                    raise RuntimeError("the model failed mid-answer")
                if HOLD in text and not GATE.is_set():
                    WAITING.add(1)
                    try:
                        while not GATE.is_set():
                            await asyncio.sleep(0.01)
                    finally:
                        WAITING.add(-1)


class Api:
    """One app (a ThreadedServer) and its tenants' keys."""

    def __init__(self, server: ThreadedServer, tenants: dict[str, str]) -> None:
        self.server, self.tenants = server, tenants
        self.url = server.base_url + "/v1/chat/completions"

    def client(self, key: str) -> OpenAI:
        return OpenAI(base_url=self.server.base_url + "/v1", api_key=key, max_retries=0, timeout=60)

    def chat(self, key: str, question: str = ANSWERED_QUESTION, *, timeout: float = 60) -> httpx.Response:
        body = {"model": "rag", "messages": [{"role": "user", "content": question}]}
        return httpx.post(self.url, json=body, headers=bearer(key), timeout=timeout)


class HeldStream:
    """A streamed chat whose answer is held after its first token: open (its first chunk read) until `finish` reads
    it to its end or `leave` drops the connection."""

    def __init__(self, api: Api, key: str) -> None:
        self._client = httpx.Client(timeout=60)
        body = {"model": "rag", "stream": True, "messages": [{"role": "user", "content": f"{HOLD} how to deploy?"}]}
        request = self._client.build_request("POST", api.url, json=body, headers=bearer(key))
        self.response = self._client.send(request, stream=True)
        assert self.response.status_code == 200, self.response.read()
        self._lines = self.response.iter_lines()
        while not (line := next(self._lines)).startswith("data: {"):  # keep-alive comments, blank lines
            pass
        assert json.loads(line[6:])["object"] == "chat.completion.chunk"

    def finish(self) -> list[str]:
        data = [line for line in self._lines if line.startswith("data: ")]
        self.leave()
        assert data[-1] == "data: [DONE]", data
        return data

    def leave(self) -> None:
        self.response.close()
        self._client.close()


def _eventually(check: Callable[[], bool], what: str, within_s: float = 15) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _assert_refused(api: Api, key: str, cap: int, *, stream: bool = False) -> None:
    """The next chat of `key`'s tenant is refused: 429 in OpenAI's shape, before any byte of an answer."""
    messages: Any = [{"role": "user", "content": ANSWERED_QUESTION}]
    with pytest.raises(openai.RateLimitError) as refused:
        api.client(key).chat.completions.create(model="rag", messages=messages, stream=stream)
    error = refused.value
    assert error.status_code == 429 and error.code == "rate_limit_exceeded" and error.type == "rate_limit_error"
    assert set(error.response.json()["error"]) == {"message", "type", "param", "code"}
    assert f"too many chats in flight for this tenant: at most {cap} at a time" in error.message
    assert error.response.headers["retry-after"] == "1"


def _admitted(api: Api, key: str) -> bool:
    """Whether a (quick) chat of `key`'s tenant is answered now; anything but 200 or the cap's 429 fails."""
    r = api.chat(key)
    assert r.status_code in (200, 429), r.text
    return r.status_code == 200


def _start(settings: Settings) -> ThreadedServer:
    return ThreadedServer(settings, GatedChatModel(answer=ANSWER)).start()


@pytest.fixture(params=["memory", "redis"], scope="module")
def backend(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The state: in process (None), or a real Redis's URL (flushed afterwards: the session shares it)."""
    if request.param == "memory":
        yield None
        return
    url = request.getfixturevalue("redis_server").url
    yield url
    import redis

    redis.Redis.from_url(url).flushdb()


def _settings(folder: Path, state_url: str | None, suffix: str) -> Settings:
    (folder / "limits.yaml").write_text(
        f"tenants:\n  roomy{suffix}:\n    max_concurrent_chats: {ROOMY_CAP}\n"
        f"  metered{suffix}:\n    tokens_per_day: {QUOTA}\n    max_concurrent_chats: {METERED_CAP}\n"
    )
    keys = f"acme-key=acme{suffix}\nroomy-key=roomy{suffix}\nmetered-key=metered{suffix} roles=admin"
    return settings_for(
        folder / "qdrant",
        api_keys=SecretStr(keys),
        limits_file=folder / "limits.yaml",
        tenant_max_concurrent_chats=CAP,  # every tenant the limits file does not name
        max_tokens=16,
        answerability_min=0.0,
        min_relevance=0.0,
        state_url=state_url,
    )


@pytest.fixture(scope="module")
def api(backend: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    suffix = uuid.uuid4().hex[:6]  # tenants named afresh: the session's Redis outlives the module
    server = _start(_settings(tmp_path_factory.mktemp("chat-slots"), backend, suffix))
    for key in ("acme-key", "roomy-key", "metered-key"):
        document = {"id": "deploy.md", "text": "Deploy the platform on Kubernetes with the Helm chart."}
        r = httpx.post(f"{server.base_url}/v1/documents", json=document, headers=bearer(key),
                       timeout=60)  # fmt: skip
        assert r.status_code == 200, r.text
    yield Api(server, {"suffix": suffix})
    GATE.set()
    server.stop()


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Held answers wait until the test sets it (and go on when it ends, whatever happened)."""
    GATE.clear()
    yield GATE
    GATE.set()


def test_chats_past_the_tenants_cap_are_refused_until_one_ends(api: Api, gate: threading.Event) -> None:
    acme = [HeldStream(api, "acme-key") for _ in range(CAP)]
    _assert_refused(api, "acme-key", CAP)
    _assert_refused(api, "acme-key", CAP, stream=True)
    # another tenant is not affected, and the limits file gives it a cap of its own
    roomy = [HeldStream(api, "roomy-key") for _ in range(ROOMY_CAP)]
    _assert_refused(api, "roomy-key", ROOMY_CAP)
    gate.set()
    for stream in acme + roomy:
        assert any(ANSWER.split()[-1] in line for line in stream.finish())  # each answer went on to its end
    assert _admitted(api, "acme-key") and _admitted(api, "roomy-key")
    gate.clear()
    again = [HeldStream(api, "acme-key") for _ in range(CAP)]  # every slot was given back
    _assert_refused(api, "acme-key", CAP)
    gate.set()
    for stream in again:
        stream.finish()


def test_a_slot_is_given_back_when_its_client_leaves(api: Api, gate: threading.Event) -> None:
    # a stream left after its first chunk
    staying, leaving = HeldStream(api, "acme-key"), HeldStream(api, "acme-key")
    _assert_refused(api, "acme-key", CAP)
    leaving.leave()
    _eventually(lambda: _admitted(api, "acme-key"), "the slot of a stream whose client left was not given back")
    replacement = HeldStream(api, "acme-key")  # the freed slot, and no more
    _assert_refused(api, "acme-key", CAP)
    replacement.leave()
    _eventually(lambda: _admitted(api, "acme-key"), "the slot of a stream whose client left was not given back")

    # a non-streamed chat given up by its client while its answer is held (the server answers 499 to nobody)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(api.chat, "acme-key", f"{HOLD} how to deploy?", timeout=3)
        _eventually(lambda: WAITING.value == CAP, "the held non-streamed chat never reached the model")
        _assert_refused(api, "acme-key", CAP)
        with pytest.raises(httpx.ReadTimeout):
            waiting.result()
    _eventually(lambda: _admitted(api, "acme-key"), "the slot of a chat whose client left was not given back")
    gate.set()
    staying.finish()


def test_chats_that_fail_give_their_slots_back(api: Api, gate: threading.Event) -> None:
    key = "acme-key"
    for _ in range(CAP + 1):
        r = httpx.post(api.url, json={"model": "gpt-nothing", "messages": [{"role": "user", "content": "hi"}]},
                       headers=bearer(key), timeout=60)  # fmt: skip
        assert r.status_code == 404, r.text
        r = httpx.post(api.url, json={"model": "rag", "messages": []}, headers=bearer(key))
        assert r.status_code == 400, r.text
        failed = api.chat(key, f"{FAIL} how to deploy?")  # the model fails after the answer began
        assert failed.status_code == 500, failed.text
        with httpx.stream("POST", api.url, headers=bearer(key), timeout=60,
                          json={"model": "rag", "stream": True,
                                "messages": [{"role": "user", "content": f"{FAIL} how?"}]}) as streamed:  # fmt: skip
            events = [line for line in streamed.iter_lines() if line.startswith("data: ")]
        assert '"type":"server_error"' in events[-2] and events[-1] == "data: [DONE]", events
    held = [HeldStream(api, key) for _ in range(CAP)]  # nothing leaked: the whole cap is free
    _assert_refused(api, key, CAP)
    gate.set()
    for stream in held:
        stream.finish()


def test_twelve_chats_at_once_spend_at_most_the_cap_past_the_quota(api: Api, gate: threading.Event) -> None:
    """The issue's case: twelve chats at once against a 100-token daily quota were all admitted (240 tokens
    spent). With the cap, METERED_CAP of them run, the rest are refused at once, and the tenant's spending past
    its quota is at most those answers."""
    with ThreadPoolExecutor(12) as pool:
        chats = [pool.submit(api.chat, "metered-key", f"{HOLD} {ANSWERED_QUESTION}") for _ in range(12)]
        _eventually(lambda: sum(c.done() for c in chats) == 12 - METERED_CAP, "the chats past the cap were not refused")
        gate.set()
        answers = [c.result() for c in chats]
    admitted = [r.json() for r in answers if r.status_code == 200]
    refused = [r.json()["error"] for r in answers if r.status_code != 200]
    assert len(admitted) == METERED_CAP and {e["code"] for e in refused} == {"rate_limit_exceeded"}, refused
    answered = [a["usage"]["total_tokens"] for a in admitted]
    r = httpx.get(f"{api.server.base_url}/v1/usage", headers=bearer("metered-key"), timeout=60)
    (totals,) = r.json()["data"][-1]["results"]
    spent = totals["input_tokens"] + totals["output_tokens"]
    assert spent == sum(answered) and totals["num_model_requests"] == METERED_CAP  # refused chats spent nothing
    assert spent < QUOTA + METERED_CAP * max(answered)  # docs/limits.md: below the quota plus the cap's answers
    assert spent >= QUOTA  # (each answer's prompt holds its sources: one is near the quota)
    with pytest.raises(openai.RateLimitError) as spent_up:
        api.client("metered-key").chat.completions.create(model="rag", messages=[{"role": "user", "content": "hi"}])
    assert spent_up.value.code == "insufficient_quota"


def test_two_apps_on_one_redis_count_a_tenants_chats_together(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory, gate: threading.Event
) -> None:
    suffix = uuid.uuid4().hex[:6]
    servers = [_start(_settings(tmp_path_factory.mktemp(f"replica-{i}"), redis_server.url, suffix)) for i in (0, 1)]
    try:
        first, second = (Api(s, {}) for s in servers)
        for api in (first, second):  # each app's own store: the document in both
            r = httpx.post(f"{api.server.base_url}/v1/documents", headers=bearer("acme-key"),
                           json={"id": "deploy.md", "text": "Deploy it with the Helm chart."}, timeout=60)  # fmt: skip
            assert r.status_code == 200, r.text
        held = [HeldStream(first, "acme-key"), HeldStream(second, "acme-key")]
        _assert_refused(first, "acme-key", CAP)
        _assert_refused(second, "acme-key", CAP)
        held[0].leave()  # one app's slot given back: the other app admits a chat
        _eventually(lambda: _admitted(second, "acme-key"), "the other app never saw the slot given back")
        gate.set()
        held[1].finish()
    finally:
        GATE.set()
        for server in servers:
            server.stop()


def test_a_dead_replicas_slots_lapse_while_a_live_ones_are_renewed(redis_server: RedisServer) -> None:
    """Over a real Redis with a short lease: a slot its process renews stays held past many leases; once that
    process stops renewing (it died, and gave nothing back), its slot lapses and another process takes it."""
    tenant = f"lease-{uuid.uuid4().hex[:6]}"
    limits = Limits(TenantLimits(max_concurrent_chats=1))

    async def scenario() -> None:
        live, other = (ChatSlots.over(GuardedState(RedisState(redis_server.url)), limits, lease_s=0.3) for _ in "ab")
        slot = await live.admit(tenant)
        assert slot is not None and await other.held(tenant) == 1
        await asyncio.sleep(1.2)  # four leases
        with pytest.raises(RateLimited):
            await other.admit(tenant)
        await live.aclose()  # its renewals stop, its slot is not given back: a replica that died
        await asyncio.sleep(0.5)
        assert await other.held(tenant) == 0
        taken = await other.admit(tenant)
        assert taken is not None
        await taken.release()
        assert await other.held(tenant) == 0
        for slots in (live, other):
            await slots.aclose()
            await slots.state.backend.aclose()

    asyncio.run(scenario())


def test_in_process_slots_hold_the_cap_and_zero_is_no_cap() -> None:
    async def scenario() -> None:
        capped = ChatSlots.over(GuardedState(MemoryState()), Limits(TenantLimits(max_concurrent_chats=2)))
        held = [await capped.admit("t"), await capped.admit("t")]
        with pytest.raises(RateLimited):
            await capped.admit("t")
        assert await capped.admit("u") is not None  # per tenant
        for slot in held:
            assert slot is not None
            await slot.release()
            await slot.release()  # once only
        assert await capped.held("t") == 0
        unlimited = ChatSlots.over(GuardedState(MemoryState()), Limits(TenantLimits(max_concurrent_chats=0)))
        assert [await unlimited.admit("t") for _ in range(100)] == [None] * 100

    asyncio.run(scenario())


def test_an_unreachable_redis_admits_chats_without_a_slot_or_refuses_them_as_the_policy_says() -> None:
    """RAG_STATE_FAILURE, as for the other checks: `open` runs the chat without a slot (the skipped check counted
    under `concurrency`), `closed` refuses it with 503 (BackendUnavailable). A real Redis URL nobody listens on."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    limits = Limits(TenantLimits(max_concurrent_chats=1))

    async def scenario() -> None:
        skipped: list[str] = []
        opened = GuardedState(RedisState(url, timeout_s=0.1), policy="open", on_skip=skipped.append)
        open_slots = ChatSlots.over(opened, limits)
        assert [await open_slots.admit("t") for _ in range(3)] == [None] * 3
        assert skipped == ["concurrency"] * 3
        closed = ChatSlots.over(GuardedState(RedisState(url, timeout_s=0.1), policy="closed"), limits)
        with pytest.raises(BackendUnavailable):
            await closed.admit("t")
        for slots in (open_slots, closed):
            await slots.state.backend.aclose()

    asyncio.run(scenario())
