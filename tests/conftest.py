"""Shared fixtures: real embedder, real Qdrant (local mode in a temporary folder), real servers on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.hf_runtime import offline
from rag.store.base import VectorStore
from rag.store.edge import EdgeStore
from rag.store.qdrant import QdrantStore

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SHARED_DATA = ROOT.parent / "shared" / "data"
RAG_BIN = str(Path(sys.executable).parent / "rag")

offline()  # before any model loads, as the CLI does


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rag_env(qdrant_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `rag` subprocess: this test's store, nothing from the developer's `RAG_*`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_CACHE_DIR"}
    # servers stop at once on SIGTERM unless a test asks for the drain (tests/test_shutdown.py)
    env.update({"RAG_QDRANT_PATH": str(qdrant_path), "HF_HUB_OFFLINE": "1", "RAG_SHUTDOWN_DRAIN_S": "0", **extra})
    return env


def run_rag(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RAG_BIN, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(cmd: list[str], env: dict[str, str], port: int, log: Path, ready_path: str, timeout: float) -> Server:
    """Start a server process and wait until `ready_path` answers 200 (or fail with its log)."""
    handle = log.open("wb")
    process = subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(base + ready_path, timeout=2).status_code == 200:
                return Server(base, process, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"{cmd[0]} not ready after {timeout} s:\n{log.read_text()[-3000:]}")


def start_api(qdrant_path: Path, log: Path, **env: str) -> Server:
    port = free_port()
    return start_server(
        [RAG_BIN, "serve", "--port", str(port)], rag_env(qdrant_path, **env), port, log, "/healthz", 240
    )


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


@pytest.fixture(scope="session")
def api(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`rag serve` under uvicorn with the in-process engine, over a copy of the docs store."""
    server = serve_docs_copy(docs_store, tmp_path_factory, "api", RAG_MAX_TOKENS="24")
    yield server
    server.stop()
