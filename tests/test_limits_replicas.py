"""Replicas behind a load balancer: with one Redis (RAG_STATE_URL) they hold one key to one limit; without it each
keeps its own windows, so the key gets its limit once per replica (what the HA profile did before the shared state).

One check runs real `rag serve` processes (two replicas sharing the Redis: the deployment's shape, separate
interpreters and connection pools); the others run three apps in this process, each with its own `Limiter`, as
three replicas hold three, over the same real Redis or without it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.app import ThreadedServer, settings_for
from tests.support.headers import bearer
from tests.support.launcher import RedisServer, free_port, launch_api
from tests.support.scripted_chat import ScriptedChatModel

LIMIT = 30  # requests a minute for the key, burst the same
KEY = "replica-key"


@contextmanager
def _processes(folder: Path, count: int, **env: str) -> Iterator[list[str]]:
    """`count` `rag serve` processes over empty stores of their own, started side by side: their base URLs."""
    servers = []
    try:
        for i in range(count):
            servers.append(
                launch_api(
                    folder / f"replica-{i}" / "qdrant",
                    folder / f"replica-{i}.log",
                    RAG_API_KEYS=f"{KEY}=default",
                    RAG_RATE_LIMIT_PER_MINUTE=str(LIMIT),
                    RAG_RATE_LIMIT_BURST=str(LIMIT),
                    RAG_LLM_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",  # no LLM: the limit is on every endpoint
                    **env,
                )
            )
        yield [server.wait_ready("/healthz", 240).base_url for server in servers]
    finally:
        for server in servers:
            server.stop()


@contextmanager
def _in_process(factory: pytest.TempPathFactory, count: int, state_url: str | None) -> Iterator[list[str]]:
    """`count` apps in this process under uvicorn, each with its own limiter (over `state_url`, or in its memory):
    their base URLs."""
    with ExitStack() as stack:
        urls = []
        for _ in range(count):
            settings = settings_for(
                factory.mktemp("replica") / "qdrant",
                api_keys=f"{KEY}=default",
                rate_limit_per_minute=LIMIT,
                rate_limit_burst=LIMIT,
                state_url=state_url,
            )
            server = ThreadedServer(settings, ScriptedChatModel()).start()
            stack.callback(server.stop)
            urls.append(server.base_url)
        yield urls


def _burst(urls: list[str], requests: int) -> list[int]:
    """`requests` requests of one key, spread round-robin over the replicas, eight at a time."""

    def one(i: int) -> int:
        return httpx.get(f"{urls[i % len(urls)]}/v1/models", headers=bearer(KEY), timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(requests)))


def _assert_one_limit(statuses: list[int]) -> None:
    admitted = statuses.count(200)
    assert abs(admitted - LIMIT) <= 0.05 * LIMIT, admitted
    assert statuses.count(429) == len(statuses) - admitted


def test_replica_processes_sharing_redis_hold_one_limit(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    redis.Redis.from_url(redis_server.url).flushdb()
    with _processes(tmp_path_factory.mktemp("processes"), 2, RAG_STATE_URL=redis_server.url) as urls:
        statuses = _burst(urls, 3 * LIMIT)
        ready = httpx.get(f"{urls[0]}/readyz", timeout=30).json()
    assert ready["checks"]["state"]["backend"] == "redis" and ready["checks"]["state"]["reachable"]
    _assert_one_limit(statuses)


def test_replicas_sharing_redis_hold_one_limit_and_without_it_each_holds_its_own(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    redis.Redis.from_url(redis_server.url).flushdb()
    with _in_process(tmp_path_factory, 3, redis_server.url) as urls:
        shared = _burst(urls, 3 * LIMIT)
        ready = httpx.get(f"{urls[0]}/readyz", timeout=30).json()
    assert ready["checks"]["state"]["backend"] == "redis" and ready["checks"]["state"]["reachable"]
    _assert_one_limit(shared)

    with _in_process(tmp_path_factory, 3, None) as urls:
        apart = _burst(urls, 3 * LIMIT)
    assert apart.count(200) == 3 * LIMIT  # each replica admitted the key's whole limit


def test_an_ingest_job_records_its_usage_in_the_shared_state(redis_server: RedisServer, tmp_path: Path) -> None:
    import asyncio
    import json
    import os
    import shutil
    import time

    from rag.limits.redis_backend import RedisState
    from rag.limits.usage import today
    from tests.support.cli import run_cli
    from tests.support.launcher import rag_env
    from tests.support.paths import DOCS

    env = rag_env(tmp_path / "qdrant", RAG_STATE_URL=redis_server.url)
    page = Path(shutil.copy(DOCS / "limits.md", tmp_path / "limits.md"))
    os.utime(page, (time.time() - 60, time.time() - 60))  # well before the runs: its size and mtime are its token
    result = run_cli(["ingest", str(page), "--tenant", "ingest-usage", "--json"], env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)

    async def rows() -> list[tuple[str, int, int, int, int, int, int]]:
        state = RedisState(redis_server.url)
        try:
            found = await state.usage("ingest-usage", today(), today())
        finally:
            await state.aclose()
        return [
            (r.subject, r.counts.chunks_embedded, r.counts.embedding_tokens, r.counts.documents_listed,
             r.counts.documents_fetched, r.counts.bytes_downloaded, r.counts.documents_not_modified)
            for r in found
        ]  # fmt: skip

    # a local file is read, not downloaded: no bytes
    assert asyncio.run(rows()) == [("rag ingest", summary["chunks_upserted"], summary["embedding_tokens"], 1, 1, 0, 0)]
    assert summary["embedding_tokens"] > summary["chunks_upserted"] > 0
    # an unchanged re-run: listed, not read (not modified), its counts added to the same day's row
    assert run_cli(["ingest", str(page), "--tenant", "ingest-usage", "--json"], env).returncode == 0
    expected = ("rag ingest", summary["chunks_upserted"], summary["embedding_tokens"], 2, 1, 0, 1)
    assert asyncio.run(rows()) == [expected]
