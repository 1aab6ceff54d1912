"""Shared fixtures: real embedder, real Qdrant (local mode in a temporary folder), the docs store, the API in
process (tests/inprocess.py) and `rag serve` on loopback (serving/launcher.py)."""

from __future__ import annotations

import shutil
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
from serving.launcher import RedisServer, Server, rag_env, run_rag, start_api
from tests.postgres_server import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SHARED_DATA = ROOT.parent / "shared" / "data"

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
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """Every store implementation, each in a fresh folder: the shared store suite runs against all of them."""
    engine: VectorStore = EdgeStore.under(tmp_path) if request.param == "edge" else QdrantStore(path=tmp_path / "q")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def docs_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local Qdrant store holding the repository's docs/ (ingested by the real CLI), in collection `docs`."""
    path = tmp_path_factory.mktemp("docs-store") / "qdrant"
    result = run_rag(["ingest", str(DOCS), "--json"], rag_env(path))
    assert result.returncode == 0, result.stderr
    return path


def serve_docs_copy(docs_store: Path, factory: pytest.TempPathFactory, name: str, **env: str) -> Server:
    """`rag serve` over a private copy of the docs store (a server holds its embedded store alone), logging to
    `<logs>/<name>.log`."""
    path = factory.mktemp(f"{name}-store") / "qdrant"
    shutil.copytree(docs_store, path)
    return start_api(path, factory.mktemp("logs") / f"{name}.log", **env)


# The CPU engine's torch on one thread in the suite's servers: its OpenMP threads spin at barriers while other
# processes (the tests, other test runs) hold the cores, which made a 16-token answer 3 to 10 times slower.
ONE_THREAD = "1"
SERVED_KEY = "secret-key-for-observability"  # `served`'s one API key, in the tenant the docs store was ingested in


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
    from tests.inprocess import ScriptedChatModel, app_client, copy_store, settings_for  # the app loads here

    settings = settings_for(copy_store(docs_store, tmp_path_factory, "inprocess"), max_tokens=24)
    with app_client(settings, ScriptedChatModel()) as test_client:
        yield test_client
