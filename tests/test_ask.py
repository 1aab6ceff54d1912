"""`rag ask` end to end: the real CLI, the ingested docs, the in-process model (in a `rag` process of its own, its
torch on one thread, ONE_THREAD)."""

import shutil
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.docs_store import ANSWERED_QUESTION, ONE_THREAD
from tests.support.launcher import rag_env, run_rag


def test_ask_prints_an_answer_and_numbered_sources(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("ask-store") / "qdrant"
    shutil.copytree(docs_store, path)
    result = run_rag(["ask", ANSWERED_QUESTION], rag_env(path, RAG_MAX_TOKENS="12", OMP_NUM_THREADS=ONE_THREAD))
    assert result.returncode == 0, result.stderr
    answer, _, sources = result.stdout.partition("\n\nSources:\n")
    assert answer.strip()
    assert sources.splitlines()[0].startswith("  [1] Deploying the platform (")


def test_ask_unknown_collection_fails_clearly(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("ask-store2") / "qdrant"
    shutil.copytree(docs_store, path)
    # in this process: a collection that does not exist fails before the language model loads
    result = run_cli(["ask", "anything", "--collection", "nope"], rag_env(path))
    assert result.returncode == 1
    assert "collection 'nope' does not exist" in result.stderr
