"""An embedded store in use by another process: one clear error naming the holder, exit code 3, no traceback; the
API only says the store is busy; the lock ends with its holder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import qdrant_edge as qe
from qdrant_client import QdrantClient

from rag.errors import BackendUnavailable, StoreBusy
from rag.store.edge import EdgeStore
from rag.store.edge_layout import EdgeLayout
from rag.store.qdrant import QdrantStore
from tests.support.cli import CliResult, run_cli
from tests.support.launcher import RAG_BIN, rag_env, run_rag, start_api

ADVICE = ("RAG_QDRANT_URL", "rag copy --to-path")


@pytest.fixture
def two_docs(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "alpha.md").write_text("# Alpha\n\nAlpha notes: one process opens an embedded store at a time.\n")
    (folder / "beta.md").write_text("# Beta\n\nBeta notes: a Qdrant server is shared by many processes.\n")
    return folder


def _busy(result: CliResult | subprocess.CompletedProcess[str], command: str, pid: int, holder: str) -> None:
    """Exit 3 and one message on stderr that names the holder and what to do, without a traceback."""
    assert result.returncode == 3, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith(f"rag {command}: "), message
    assert "is in use by another process" in message and f"pid {pid}: {holder}" in message, message
    assert " UTC)" in message and all(a in message for a in ADVICE), message


def test_a_second_store_on_the_same_collection_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    """flock belongs to the open file, so two stores conflict even inside one process."""
    first, second = EdgeStore.under(tmp_path), EdgeStore.under(tmp_path)
    try:
        first.ensure_collection("c", 4)
        for attempt in (lambda: second.ensure_collection("c", 4), lambda: second.count("c")):
            with pytest.raises(StoreBusy) as exc:
                attempt()
            assert isinstance(exc.value, BackendUnavailable)  # the API's 503
            assert str(exc.value) == exc.value.message == "the store is busy: another process has it open"
            assert (
                f"collection 'c' of the embedded store {EdgeLayout.under(tmp_path).root.resolve()}" in exc.value.detail
            )
            assert f"(pid {os.getpid()}: " in exc.value.detail
        second.ensure_collection("other", 4)  # the lock is per collection: other shards stay free
        first.close()
        assert second.count("c") == 0
    finally:
        first.close()
        second.close()


def test_a_process_that_skips_the_lock_file_is_still_reported_as_busy(tmp_path: Path) -> None:
    """Edge's own write-ahead log lock and local mode's folder lock map to StoreBusy too."""
    store = EdgeStore.under(tmp_path)
    store.ensure_collection("c", 4)
    store.close()
    raw = qe.EdgeShard.load(str(EdgeLayout.under(tmp_path).shard("c")))
    reopened = EdgeStore.under(tmp_path)
    try:
        with pytest.raises(StoreBusy) as exc:
            reopened.count("c")
        assert "write-ahead log" in exc.value.detail
    finally:
        raw.close()
    assert reopened.count("c") == 0  # the lock file was let go with the failed open
    reopened.close()

    client = QdrantClient(path=str(tmp_path / "local"))
    try:
        with pytest.raises(StoreBusy) as exc:
            QdrantStore(path=tmp_path / "local")
        assert f"the embedded store {(tmp_path / 'local').resolve()} is in use" in exc.value.detail
    finally:
        client.close()
    QdrantStore(path=tmp_path / "local").close()


def test_rag_serve_holds_its_store_and_every_command_says_so(two_docs: Path, tmp_path: Path) -> None:
    store_path = tmp_path / "store"
    env = rag_env(store_path)
    assert run_cli(["ingest", str(two_docs)], env).returncode == 0
    # what is tested is the store: an unreachable LLM server spares loading the in-process model
    server = start_api(store_path, tmp_path / "serve.log", RAG_LLM_BASE_URL="http://127.0.0.1:9/v1")
    try:
        pid = server.process.pid
        _busy(run_cli(["ingest", str(two_docs)], env), "ingest", pid, "rag serve --port")
        _busy(run_cli(["status"], env), "status", pid, "rag serve --port")
        _busy(run_cli(["delete", "--doc-id", "alpha.md"], env), "delete", pid, "rag serve --port")
        _busy(run_rag(["serve", "--port", "9"], env, timeout=120), "serve", pid, "rag serve --port")

        # a collection this test holds: the server's answer is a generic 503, the holder stays in the server's log
        mine = EdgeStore.under(store_path)
        try:
            mine.ensure_collection("held", 384)
            r = httpx.post(server.base_url + "/v1/retrieve", json={"query": "alpha", "collection": "held"}, timeout=60)
        finally:
            mine.close()
        assert r.status_code == 503, r.text
        assert r.json()["error"]["message"] == "the store is busy: another process has it open"
        assert str(os.getpid()) not in r.text and "pytest" not in r.text
    finally:
        server.process.send_signal(signal.SIGKILL)  # however the holder ends, its lock ends with it
        server.process.wait()
    assert f"(pid {os.getpid()}: " in server.log.read_text()
    again = run_cli(["ingest", str(two_docs), "--json"], env)
    assert again.returncode == 0, again.stderr


def _holder_pid(lock: Path) -> int | None:
    try:
        return json.loads(lock.read_text())["pid"]  # type: ignore[no-any-return]
    except (OSError, ValueError, KeyError):
        return None


def test_two_ingests_into_a_fresh_store_the_second_exits_3_while_the_first_writes(tmp_path: Path) -> None:
    """The issue's race made deterministic: the first ingest writes one chunk at a time (many seconds); once it holds
    the fresh store's collection (its pid in the lock file), a second ingest of the same folder reaches its first
    write and must exit 3 naming it, without waiting and without a traceback; the first then finishes."""
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(1500):
        (notes / f"n{i}.md").write_text(f"# Note {i}\n\nNote {i} about the processes that hold a store.\n")
    env = rag_env(tmp_path / "store", RAG_INGEST_BATCH_CHUNKS="1")
    lock = EdgeLayout.under(tmp_path / "store").lock("docs")
    first = subprocess.Popen([RAG_BIN, "ingest", str(notes)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while _holder_pid(lock) != first.pid:
            assert first.poll() is None and time.monotonic() < deadline, "the first ingest never held the store"
            time.sleep(0.05)
        second = run_cli(["ingest", str(notes)], env)
        assert first.poll() is None, "the first ingest ended before the second reached the store: make it longer"
        _busy(second, "ingest", first.pid, f"rag ingest {notes}")
        out, err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, err.decode()[-2000:]
    assert "1500 added" in out.decode()


def test_qdrant_local_mode_store_in_use_exits_3(two_docs: Path, tmp_path: Path) -> None:
    store_path = tmp_path / "store"
    env = rag_env(store_path, RAG_EMBEDDED_STORE="qdrant-local")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from rag.store.qdrant import QdrantStore\n"
        "store = QdrantStore(path=Path(sys.argv[1]))\n"
        "print('open', flush=True)\n"
        "sys.stdin.read()\n"
        "store.close()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(store_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        _busy(run_cli(["ingest", str(two_docs)], env), "ingest", holder.pid, f"python -c {store_path}")
        _busy(run_cli(["status"], env), "status", holder.pid, f"python -c {store_path}")
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
    assert run_cli(["ingest", str(two_docs)], env).returncode == 0
