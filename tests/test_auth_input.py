"""Authentication input that costs or floods: request heads over RAG_MAX_HEADER_BYTES refused by `rag serve` as they
arrive (a real uvicorn process: the parser is what is under test), bearer credentials over RAG_MAX_TOKEN_BYTES
refused unread, failed authentications limited per client address (RAG_AUTH_FAILURES_PER_MINUTE) on both state
backends, in process (tests/support/app.py), and rate-limit buckets that no two callers share."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from rag.access.identity import Principal
from rag.errors import RateLimited
from rag.limits.guarded import GuardedState
from rag.limits.limiter import Limiter
from rag.limits.limits_file import Limits, TenantLimits
from rag.limits.memory_backend import MemoryState
from serving.deps import rate_bucket
from tests.support.app import BASE_URL, app_client, settings_for
from tests.support.headers import bearer
from tests.support.launcher import RedisServer, Server, free_port, start_api
from tests.support.scripted_chat import ScriptedChatModel

KEY = "auth-input-key-0001"
HEAD_LIMIT = 16_384


def _head(port: int, path: str, header_bytes: int, *, end: bool = True) -> bytes:
    """A GET whose Authorization header holds `header_bytes` bytes of token, ended (a blank line) or not."""
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {'x' * header_bytes}\r\n"
    return (head + ("\r\n" if end else "")).encode()


def _exchange(port: int, data: bytes) -> bytes:
    """Send `data` on a fresh connection, then read until the server closes it (or 10 s pass)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


@pytest.fixture(scope="module")
def served(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("auth-input")
    shutil.copytree(docs_store, folder / "qdrant")
    server = start_api(
        folder / "qdrant",
        folder / "serve.log",
        RAG_API_KEYS=f"{KEY}=default",
        RAG_MAX_HEADER_BYTES=str(HEAD_LIMIT),
        RAG_MAX_TOKEN_BYTES="8192",
        RAG_AUTH_FAILURES_PER_MINUTE="0",
        RAG_LOG_FORMAT="text",
        RAG_LLM_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",  # no LLM: no request here reaches one
    )
    yield server
    server.stop()


def test_a_head_over_the_limit_is_refused_as_it_arrives_and_only_such_a_head(served: Server) -> None:
    """More than RAG_MAX_HEADER_BYTES of head, not even finished: 431 in OpenAI shape and the connection closed,
    one warning in the log; the server goes on serving. The count starts again with each request: two requests on
    one keep-alive connection, each under the limit but over it together, are both answered; a body is not head
    (a 100 kB body reaches the app)."""
    port = int(served.base_url.rsplit(":", 1)[1])
    answer = _exchange(port, _head(port, "/v1/models", 2 * HEAD_LIMIT, end=False))
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large", answer[:200]
    error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "request_header_fields_too_large" and str(HEAD_LIMIT) in error["message"]
    assert httpx.get(served.base_url + "/healthz", timeout=5).status_code == 200
    log = served.log.read_text()
    assert log.count(f"request head over {HEAD_LIMIT} bytes") == 1 and "Traceback" not in log

    one = _head(port, "/v1/models", HEAD_LIMIT // 2 + 1000)
    last = one.replace(b"Authorization:", b"Connection: close\r\nAuthorization:")
    answer = _exchange(port, one + last)
    assert answer.count(b"HTTP/1.1 401 Unauthorized") == 2, answer[:300]
    body = json.dumps({"query": "helm " * 20_000}).encode()
    headers = {**bearer(KEY), "Content-Type": "application/json"}
    r = httpx.post(served.base_url + "/v1/retrieve", content=body, headers=headers, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "query", r.text  # the app read the body whole


def test_a_bearer_credential_over_the_token_limit_is_refused_unread(served: Server) -> None:
    """Under the head limit but over RAG_MAX_TOKEN_BYTES: 401 naming the limit, whether shaped as a key or a JWT."""
    for token in ("k" * 8193, f"{'e' * 4000}.{'e' * 4000}.{'e' * 200}"):
        r = httpx.get(served.base_url + "/v1/models", headers=bearer(token), timeout=10)
        assert r.status_code == 401 and "longer than 8192 bytes" in r.json()["error"]["message"]
    ok = httpx.get(served.base_url + "/v1/models", headers=bearer(KEY), timeout=10)
    assert ok.status_code == 200


FAILURES = 5  # failed authentications a minute per client address, in the tests below


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """The state settings of each backend (Redis: the session's real server)."""
    if request.param == "memory":
        return {}
    server: RedisServer = request.getfixturevalue("redis_server")
    return {"state_url": server.url}


def _from(api: TestClient, address: str, credential: str | None = None) -> httpx.Response:
    """GET /v1/models from `address`, through the app's own event loop (where its Redis connections live)."""

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=api.app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            headers = bearer(credential) if credential else {}
            return await client.get("/v1/models", headers=headers)

    assert api.portal is not None
    return api.portal.call(get)


@contextmanager
def _limited_app(folder: Path, state: dict[str, str]) -> Iterator[TestClient]:
    settings = settings_for(
        folder / "qdrant", api_keys=SecretStr(f"{KEY}=default"), auth_failures_per_minute=FAILURES, **state
    )  # fmt: skip
    with app_client(settings, ScriptedChatModel()) as api:
        yield api


def test_failed_authentications_are_limited_per_client_address(backend: dict[str, str], tmp_path: Path) -> None:
    """Each bad credential from an address counts; past the limit every request from it, a good key's too, is 429
    in OpenAI shape with Retry-After before its credential is looked at. Requests without credentials do not count;
    another address is not affected; with Redis another replica refuses the address as well."""
    address = f"192.0.2.{uuid.uuid4().int % 250 + 1}"  # an address of its own: the session's Redis outlives a test
    with _limited_app(tmp_path, backend) as api:
        assert all(_from(api, address).status_code == 401 for _ in range(3 * FAILURES))  # no credential: not counted
        bad = [_from(api, address, f"wrong-{i}") for i in range(FAILURES)]
        assert [r.status_code for r in bad] == [401] * FAILURES
        for credential in ("wrong-again", KEY):
            refused = _from(api, address, credential)
            assert refused.status_code == 429, refused.text
            error = refused.json()["error"]
            assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
            assert "failed authentications" in error["message"] and 1 <= int(refused.headers["Retry-After"]) <= 60
        assert _from(api, f"198.51.100.{address.rsplit('.')[-1]}", KEY).status_code == 200  # another address
        assert api.get("/healthz").status_code == 200  # the health checks need no credential
        if backend:
            with _limited_app(tmp_path / "replica", backend) as replica:
                assert _from(replica, address, KEY).status_code == 429


def test_no_two_callers_share_a_rate_bucket() -> None:
    """A user's bucket is its tenant and subject, each percent-encoded: tenant `a` with subject `b/c` is not
    tenant `a/b` with subject `c`, nor is a user named like a key a key's bucket."""
    callers = [
        Principal("a", "b/c"),
        Principal("a/b", "c"),
        Principal("a", "b%2Fc"),
        Principal("a", "key:0123456789ab"),
        Principal("a", "x", key_id="0123456789ab"),
    ]
    buckets = [rate_bucket(p) for p in callers]
    assert len(set(buckets)) == len(buckets) and not any("/" in b.split("/", 1)[1] for b in buckets if "/" in b)

    async def scenario() -> None:
        limiter = Limiter(GuardedState(MemoryState()), Limits(TenantLimits(requests_per_minute=1, burst=1)))
        for bucket in buckets:  # one request each: each in a window of its own
            await limiter.admit_request("a", bucket)
        with pytest.raises(RateLimited):
            await limiter.admit_request("a", buckets[0])

    asyncio.run(scenario())
