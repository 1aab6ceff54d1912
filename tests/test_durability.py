"""A real `rag ingest` killed (SIGKILL) in the middle of writing: the Edge shard reopens and a rerun converges to
exactly the chunks of an uninterrupted ingest, with no duplicates and no losses."""

import json
import signal
import subprocess
from pathlib import Path

from rag.store.base import document_hashes
from rag.store.edge import EdgeStore
from tests.support.cli import run_cli
from tests.support.launcher import RAG_BIN, rag_env

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
    store = EdgeStore.under(store_path)
    try:
        return store.count("docs"), document_hashes(store, "docs", "default")
    finally:
        store.close()


def test_killed_ingest_reopens_and_converges(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path, 200)
    killed_path, clean_path = tmp_path / "killed", tmp_path / "clean"

    # many small writes, so the kill lands among them; killed once 100 of the 200 documents are read, which is
    # past the first upserts (the loader runs at most three batches of 16 chunks ahead of the writer)
    env = rag_env(killed_path, RAG_INGEST_BATCH_CHUNKS="16", RAG_PROGRESS_EVERY_S="0.05")
    _run_until(["ingest", str(corpus), "--json"], env, 100)

    partial_count, _ = _state(killed_path)  # the shard reopens after the kill
    assert partial_count > 0  # the kill landed after some chunks were written
    rerun = run_cli(["ingest", str(corpus), "--json"], rag_env(killed_path))
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["documents_added"] + summary["documents_unchanged"] == 200

    clean = run_cli(["ingest", str(corpus), "--json"], rag_env(clean_path))
    assert clean.returncode == 0, clean.stderr
    assert _state(killed_path) == _state(clean_path)
    assert partial_count < _state(clean_path)[0]  # the kill really interrupted the writing


def _versioned_corpus(path: Path, changed: range, kept: range, added: range) -> Path:
    """Documents of `changed` get new text, `kept` stay as `_corpus` wrote them, `added` are new; the rest left."""

    def text(i: int, salt: int) -> str:
        return " ".join(WORDS[(i * 7 + j + salt) % len(WORDS)] for j in range(40))

    rows = [{"_id": f"d{i}", "title": f"Doc {i}", "text": text(i, 3)} for i in changed]
    rows += [{"_id": f"d{i}", "title": f"Doc {i}", "text": text(i, 0)} for i in (*kept, *added)]
    corpus = path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return corpus


def _run_until(args: list[str], env: dict[str, str], documents: int) -> None:
    """Start `rag ingest`, SIGKILL it once its progress line reports `documents` processed."""
    process = subprocess.Popen([RAG_BIN, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for line in process.stderr:
        done = line.split(": ")[-1].split("/")[0].replace(",", "")
        if line.startswith("ingest ") and done.isdigit() and int(done) >= documents:
            process.send_signal(signal.SIGKILL)
            break
    assert process.wait() == -signal.SIGKILL, "the ingest finished before it could be killed"


def test_update_with_prune_killed_twice_converges(tmp_path: Path) -> None:
    """Changed, kept, removed and new documents; the syncing run (with --prune) is killed twice mid-way; the
    rerun leaves exactly the chunks a clean ingest of the new corpus makes."""
    killed_path, clean_path = tmp_path / "killed", tmp_path / "clean"
    first = run_cli(["ingest", str(_corpus(tmp_path, 100)), "--json"], rag_env(killed_path))
    assert first.returncode == 0, first.stderr
    corpus = _versioned_corpus(tmp_path, changed=range(0, 30), kept=range(60, 100), added=range(100, 180))
    # batches of 4 chunks keep the loader at most 16 documents ahead of the writer: its progress, read on stderr,
    # follows the writing, and at 100 of the 150 documents some 50 are still to embed when the kill lands
    env = rag_env(killed_path, RAG_PROGRESS_EVERY_S="0.05", RAG_INGEST_BATCH_CHUNKS="4")
    for documents in (50, 100):
        _run_until(["ingest", str(corpus), "--prune"], env, documents)
        assert _state(killed_path)[0] > 0  # the shard reopens after each kill
    rerun = run_cli(["ingest", str(corpus), "--prune", "--json"], rag_env(killed_path))
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["documents_pruned"] == 30  # d30..d59 left the corpus

    clean = run_cli(["ingest", str(corpus), "--json"], rag_env(clean_path))
    assert clean.returncode == 0, clean.stderr
    count, hashes = _state(killed_path)
    assert (count, hashes) == _state(clean_path)
    assert count == 150 and all(len(h) == 1 for h in hashes.values())  # one version each, nothing duplicated
