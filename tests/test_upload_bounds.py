"""What one `POST /v1/documents/files` may cost (docs/api.md): documents counted before any work, chunks bounded
as they are embedded, uploads at once per process, file names a file system holds, and a client that leaves
stopping its upload. In process (tests/support/app.py: the real store and embedder); the disconnect through a real
socket to uvicorn in a thread."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from serving.state import AppState
from tests.support.app import ThreadedServer, empty_store_api, settings_for
from tests.support.scripted_chat import ScriptedChatModel

UPLOAD = "/v1/documents/files"


def _records(count: int) -> bytes:
    return "".join(json.dumps({"id": f"r{i}", "text": f"record number {i}"}) + "\n" for i in range(count)).encode()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    bounds = {"upload_max_documents": 20, "upload_max_chunks": 3, "upload_max_concurrent": 1, "ingest_batch_chunks": 2}
    with empty_store_api(tmp_path_factory, "upload-bounds", **bounds) as client:
        yield client


def _stored(api: TestClient, collection: str) -> set[str]:
    r = api.get("/v1/documents", params={"collection": collection, "limit": 1000})
    return {d["id"] for d in r.json()["data"]} if r.status_code == 200 else set()


def test_an_upload_holding_more_documents_than_allowed_is_refused_before_any_work(api: TestClient) -> None:
    r = api.post(UPLOAD, files=[("files", ("rows.jsonl", _records(21)))], data={"collection": "many"})
    assert r.status_code == 400 and "RAG_UPLOAD_MAX_DOCUMENTS" in r.json()["error"]["message"], r.text
    assert "21 documents" in r.json()["error"]["message"] and _stored(api, "many") == set()


def test_an_upload_stops_at_its_chunk_bound_keeping_and_naming_what_it_stored(api: TestClient) -> None:
    rows = _records(1) + b"not json\n" + _records(10)[len(_records(1)) :]  # r0, a bad line, r1..r9
    r = api.post(UPLOAD, files=[("files", ("rows.jsonl", rows))], data={"collection": "bounded"})
    body = r.json()
    assert r.status_code == 200 and body["chunks"] == 4, body  # the batch that reached 3 chunks was the last
    stored = {d["id"] for d in body["documents"]}
    assert stored == {"rows.jsonl#r0", "rows.jsonl#r1", "rows.jsonl#r2", "rows.jsonl#r3"} == _stored(api, "bounded")
    bad, rest = body["failed"]  # the bad line is its own failure, not among those left unstored
    assert bad["file"] == "rows.jsonl:2" and rest["file"] == "rows.jsonl"
    assert rest["error"].startswith("6 documents not stored: the upload reached 3"), rest


def test_uploads_beyond_the_concurrent_bound_are_refused_at_once(api: TestClient) -> None:
    state: AppState = api.app.state.rag  # type: ignore[attr-defined]
    with state.uploads.hold():  # one upload in progress
        r = api.post(UPLOAD, files=[("files", ("a.md", b"# A\n\nText."))], data={"collection": "busy"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded" and r.headers["Retry-After"]
    assert "RAG_UPLOAD_MAX_CONCURRENT" in r.json()["error"]["message"] and _stored(api, "busy") == set()
    assert api.post(UPLOAD, files=[("files", ("a.md", b"# A\n\nText."))], data={"collection": "busy"}).is_success


@pytest.mark.parametrize("name", ["x" * 253 + ".md", "é" * 127 + ".md", "a\x00b.md"])
def test_a_file_name_a_file_system_cannot_hold_is_a_clear_error(api: TestClient, name: str) -> None:
    # the multipart body by hand: httpx would percent-encode the NUL of a file name
    body = (
        f'--b\r\nContent-Disposition: form-data; name="collection"\r\n\r\nnames\r\n'
        f'--b\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n\r\n# A\n\nText.\r\n--b--\r\n'
    ).encode()
    r = api.post(UPLOAD, content=body, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "files", r.text
    assert "255 bytes" in r.json()["error"]["message"]


def test_a_file_name_of_255_bytes_is_stored(api: TestClient) -> None:
    name = "x" * 252 + ".md"
    r = api.post(UPLOAD, files=[("files", (name, b"# A\n\nText."))], data={"collection": "names"})
    assert r.status_code == 200, r.text


def test_a_client_that_leaves_stops_its_upload(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_for(tmp_path / "qdrant", ingest_batch_chunks=8)
    server = ThreadedServer(settings, ScriptedChatModel()).start()
    try:
        boundary = "bound"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="rows.jsonl"\r\n\r\n'.encode()
            + _records(4000)
            + f"\r\n--{boundary}--\r\n".encode()
        )
        head = (
            f"POST {UPLOAD} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
        ).encode()
        state: AppState = server.app.state.rag  # type: ignore[attr-defined]
        with caplog.at_level(logging.INFO, logger="serving.routers.document_files"):
            with socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]))) as sock:
                sock.sendall(head + body)
                deadline = time.monotonic() + 60
                while _chunks(server) == 0 and time.monotonic() < deadline:  # a first batch is stored
                    time.sleep(0.02)
            left = time.monotonic()
            while state.uploads.in_progress and time.monotonic() - left < 60:
                time.sleep(0.05)
        assert not state.uploads.in_progress, "the upload went on after its client left"
        stored = _chunks(server)  # a record is a chunk
        assert 0 < stored < 4000  # stopped between batches: what was stored stays
        (line,) = [r.getMessage() for r in caplog.records if "upload left by its client" in r.getMessage()]
        assert line.startswith(f"upload left by its client: {stored} documents stored"), line
    finally:
        server.stop()


def _chunks(server: ThreadedServer) -> int:
    """The chunks of the default collection (what `GET /v1/collections` counts)."""
    listed = httpx.get(server.base_url + "/v1/collections").json()["data"]
    return sum(c["chunks"] for c in listed if c["id"] == "docs")
