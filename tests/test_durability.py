"""A real `rag ingest` killed (SIGKILL) in the middle of writing: the Edge shard reopens and a rerun converges to
exactly the chunks of an uninterrupted ingest, with no duplicates and no losses."""

import json
import signal
import subprocess
import time
from pathlib import Path

from rag.store.base import document_hashes
from rag.store.edge import EdgeStore
from tests.conftest import RAG_BIN, rag_env, run_rag

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau".split()


def _corpus(path: Path, n: int) -> Path:
    rows = (
        {"_id": f"d{i}", "title": f"Doc {i}", "text": " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(40))}
        for i in range(n)
    )
    corpus = path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return corpus


def _state(store_path: Path) -> tuple[int, dict[str, set[str]]]:
    store = EdgeStore(store_path / "edge")
    try:
        return store.count("docs"), document_hashes(store, "docs", "default")
    finally:
        store.close()


def test_killed_ingest_reopens_and_converges(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path, 1500)
    killed_path, clean_path = tmp_path / "killed", tmp_path / "clean"

    process = subprocess.Popen(
        [RAG_BIN, "ingest", str(corpus), "--json"],
        env=rag_env(killed_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    marker = killed_path / "edge" / "docs" / "collection.json"
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    time.sleep(2)  # into the embedding and upsert batches
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the ingest finished before it could be killed; make the corpus larger"

    partial_count, _ = _state(killed_path)  # the shard reopens after the kill
    rerun = run_rag(["ingest", str(corpus), "--json"], rag_env(killed_path))
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["documents_added"] + summary["documents_unchanged"] == 1500

    clean = run_rag(["ingest", str(corpus), "--json"], rag_env(clean_path))
    assert clean.returncode == 0, clean.stderr
    assert _state(killed_path) == _state(clean_path)
    assert partial_count < _state(clean_path)[0]  # the kill really interrupted the writing
