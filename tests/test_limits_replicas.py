"""Three `rag serve` processes, as three replicas behind a load balancer: with one Redis (RAG_STATE_URL) they hold
one key to one limit; without it each process keeps its own windows, so the key gets its limit three times over
(what the HA profile did before the shared state)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.launcher import RedisServer, Server, free_port, start_api

LIMIT = 30  # requests a minute for the key, burst the same
BURST = 3 * LIMIT


@contextmanager
def _replicas(docs_store: Path, folder: Path, **env: str) -> Iterator[list[Server]]:
    servers: list[Server] = []
    try:
        for i in range(3):
            store = folder / f"replica-{i}" / "qdrant"
            shutil.copytree(docs_store, store)
            env_i = {
                "RAG_API_KEYS": "replica-key=default",
                "RAG_RATE_LIMIT_PER_MINUTE": str(LIMIT),
                "RAG_RATE_LIMIT_BURST": str(LIMIT),
                "RAG_LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",  # no LLM: the limit is on every endpoint
                **env,
            }
            servers.append(start_api(store, folder / f"replica-{i}.log", **env_i))
        yield servers
    finally:
        for server in servers:
            server.stop()


def _burst(servers: list[Server]) -> list[int]:
    """BURST requests of one key, spread round-robin over the replicas, eight at a time."""

    def one(i: int) -> int:
        server = servers[i % len(servers)]
        response = httpx.get(
            f"{server.base_url}/v1/models", headers={"Authorization": "Bearer replica-key"}, timeout=30
        )
        return response.status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(BURST)))


def test_replicas_sharing_redis_hold_one_limit_and_without_it_each_holds_its_own(
    docs_store: Path, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    redis_server_url = redis_server.url
    import redis

    redis.Redis.from_url(redis_server_url).flushdb()
    with _replicas(docs_store, tmp_path_factory.mktemp("shared"), RAG_STATE_URL=redis_server_url) as servers:
        shared = _burst(servers)
        ready = httpx.get(f"{servers[0].base_url}/readyz", timeout=30).json()
    assert ready["checks"]["state"]["backend"] == "redis" and ready["checks"]["state"]["reachable"]
    admitted = shared.count(200)
    assert abs(admitted - LIMIT) <= 0.05 * LIMIT, admitted
    assert shared.count(429) == BURST - admitted

    with _replicas(docs_store, tmp_path_factory.mktemp("apart")) as servers:
        apart = _burst(servers)
    assert apart.count(200) == 3 * LIMIT  # each process admitted the key's whole limit


def test_an_ingest_job_records_its_usage_in_the_shared_state(redis_server: RedisServer, tmp_path: Path) -> None:
    import asyncio
    import json

    from rag.limits.redis_backend import RedisState
    from rag.limits.usage import today
    from tests.support.launcher import rag_env, run_rag
    from tests.support.paths import DOCS

    env = rag_env(tmp_path / "qdrant", RAG_STATE_URL=redis_server.url)
    result = run_rag(["ingest", str(DOCS / "limits.md"), "--tenant", "ingest-usage", "--json"], env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)

    async def rows() -> list[tuple[str, int, int]]:
        state = RedisState(redis_server.url)
        try:
            found = await state.usage("ingest-usage", today(), today())
        finally:
            await state.aclose()
        return [(r.subject, r.counts.chunks_embedded, r.counts.embedding_tokens) for r in found]

    assert asyncio.run(rows()) == [("rag ingest", summary["chunks_upserted"], summary["embedding_tokens"])]
    assert summary["embedding_tokens"] > summary["chunks_upserted"] > 0
