"""The repository's docs/ as a store, the corpus most tests ask about: ingested once a session by the real CLI
(conftest's `docs_store`), then copied for each holder (an embedded store has one holder: one process, one app),
and served over a copy by `rag serve`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.launcher import Server, launch_api

# The CPU engine's torch on one thread in the suite's servers: its OpenMP threads spin at barriers while other
# processes (the tests, other test runs) hold the cores, which made a 16-token answer 3 to 10 times slower.
ONE_THREAD = "1"
# A question the docs answer plainly (deployment.md): the chat generates. Its answerability on the docs store is
# about 0.6, far from RAG_ANSWERABILITY_MIN (0.10); the vaguer "how do I deploy it?" sits at the threshold (0.10 to
# 0.12 as the docs change, and as the int8 embedder's batches fall), so tests that need an answer do not ask it.
ANSWERED_QUESTION = "How do I deploy the platform on Kubernetes?"
SERVED_KEY = "secret-key-for-observability"  # `served`'s one API key, in the tenant the docs store was ingested in


def copy_store(source: Path, factory: pytest.TempPathFactory, name: str) -> Path:
    """A private copy of an embedded store (one process, one app holds an embedded store)."""
    path = factory.mktemp(f"{name}-store") / "qdrant"
    shutil.copytree(source, path)
    return path


def launch_docs_copy(docs_store: Path, factory: pytest.TempPathFactory, name: str, **env: str) -> Server:
    """`rag serve` over a private copy of the docs store (a server holds its embedded store alone), logging to
    `<logs>/<name>.log`, not waited for (`Server.wait_ready`): several start side by side."""
    return launch_api(copy_store(docs_store, factory, name), factory.mktemp("logs") / f"{name}.log", **env)


def serve_docs_copy(docs_store: Path, factory: pytest.TempPathFactory, name: str, **env: str) -> Server:
    """`launch_docs_copy`, ready once `/healthz` answers."""
    return launch_docs_copy(docs_store, factory, name, **env).wait_ready("/healthz", 240)
