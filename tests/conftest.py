"""Shared fixtures: real embedder, real Qdrant (local mode in a temporary folder), the docs store, the API in
process (tests/support/app.py) and `rag serve` on loopback (tests/support/launcher.py). What they are built from
lives in tests/support/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.hf_runtime import offline
from rag.store.base import VectorStore
from rag.store.edge import EdgeStore
from rag.store.qdrant import QdrantStore
from tests.support.cli import run_cli
from tests.support.docs_store import ONE_THREAD, SERVED_KEY, serve_docs_copy
from tests.support.launcher import RedisServer, Server, rag_env
from tests.support.paths import DOCS
from tests.support.postgres import PostgresServer
from tests.support.s3_server import SeaweedS3

offline()  # before any model loads, as the CLI does


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real Redis for the session (tests keep apart by tenant or key names, or flush it)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the session; each test takes a fresh database of its own (`new_database`)."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def sparse() -> Bm25Encoder:
    return Bm25Encoder()


@pytest.fixture(params=["edge", "qdrant-local"])
def vector_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """A fresh store in a folder of its own, once per embedded engine (Edge, Qdrant's local mode): the tests that
    take it hold on both (the engine-neutral suite itself is tests/support/store_suite.py)."""
    engine: VectorStore = EdgeStore.under(tmp_path) if request.param == "edge" else QdrantStore(path=tmp_path / "q")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def docs_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local Qdrant store holding the repository's docs/ (ingested by the real CLI), in collection `docs`."""
    path = tmp_path_factory.mktemp("docs-store") / "qdrant"
    result = run_cli(["ingest", str(DOCS), "--json"], rag_env(path))
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="session")
def served(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`rag serve` under uvicorn with the in-process engine, over a copy of the docs store: the process users run,
    for the tests that need one (end to end, keep-alives through a real socket, logs and traces). One API key
    (SERVED_KEY), keep-alives every 50 ms (retrieval plus prefill take longer), 16 tokens an answer, spans printed
    to its log (the console exporter)."""
    server = serve_docs_copy(
        docs_store,
        tmp_path_factory,
        "served",
        RAG_API_KEYS=f"{SERVED_KEY}=default",
        RAG_STREAM_KEEPALIVE_S="0.05",
        RAG_MAX_TOKENS="16",
        OMP_NUM_THREADS=ONE_THREAD,
        OTEL_TRACES_EXPORTER="console",
        OTEL_SERVICE_NAME="rag-api-test",
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def api_client(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The API in process over a copy of the docs store, without keys, answering with `ScriptedChatModel`."""
    from tests.support.app import app_client, settings_for  # the app loads here
    from tests.support.docs_store import copy_store
    from tests.support.scripted_chat import ScriptedChatModel

    settings = settings_for(copy_store(docs_store, tmp_path_factory, "inprocess"), max_tokens=24)
    with app_client(settings, ScriptedChatModel()) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One real S3 server (SeaweedFS) for the session; each test takes a bucket of its own (`new_bucket`)."""
    server = SeaweedS3(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()
