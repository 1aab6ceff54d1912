"""`rag copy`: a collection moves from the embedded Edge store to another store, all points intact."""

import json
from pathlib import Path

from rag.store.base import document_hashes
from rag.store.edge import EdgeStore
from rag.store.qdrant import QdrantStore
from tests.support.cli import run_cli
from tests.support.launcher import rag_env


def test_rag_copy_moves_the_collection_and_reports_it(docs_store: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    result = run_cli(["copy", "--to-path", str(target), "--to-engine", "qdrant-local"], rag_env(docs_store))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    source = EdgeStore.under(docs_store)
    copied = QdrantStore(path=target)
    try:
        assert summary["points"] == source.count("docs") == copied.count("docs") > 0
        assert summary["from"].startswith("qdrant-edge:") and summary["to"].startswith("qdrant-local:")
        assert document_hashes(copied, "docs", "default") == document_hashes(source, "docs", "default")
    finally:
        source.close()
        copied.close()


def test_rag_copy_errors(docs_store: Path, tmp_path: Path) -> None:
    missing = run_cli(["copy", "--to-path", str(tmp_path / "t"), "--collection", "nope"], rag_env(docs_store))
    assert missing.returncode == 1 and "collection 'nope' does not exist" in missing.stderr
    no_key = run_cli(
        ["copy", "--to-url", "http://127.0.0.1:9", "--to-api-key-env", "RAG_TEST_UNSET"], rag_env(docs_store)
    )
    assert no_key.returncode == 2 and "RAG_TEST_UNSET is not set" in no_key.stderr
