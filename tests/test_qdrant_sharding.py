"""The server engine against a loopback HTTP server that records what qdrant-client sends and answers as Qdrant's
REST API does (no Qdrant server runs here). Cluster mode: collections the platform creates carry
RAG_QDRANT_SHARD_NUMBER and RAG_QDRANT_REPLICATION_FACTOR (the Helm chart sets them for a clustered Qdrant). Parity
with the embedded engines (tests/support/store_suite.py): a bad name is refused before any request, a missing collection
is the same NotFound."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rag.components import build_store
from rag.errors import InvalidInput, NotFound
from rag.settings import Settings
from rag.store.base import VectorStore
from rag.store.engine import StoreEngine
from tests.support.store_suite import BAD_NAMES, NAMED_CALLS

# the recorder answers the client's version probe loosely; compatibility is not what these tests check
pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")


class RecordingQdrant(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.created: dict[str, Any] = {}
        self.requests: list[str] = []  # "METHOD /path" of every request


class _Handler(BaseHTTPRequestHandler):
    server: RecordingQdrant

    def _send_json(self, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer(self, result: object) -> None:
        self._send_json({"result": result, "status": "ok", "time": 0.0})

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        if parsed:  # before answering: once the client has its answer, the request is on record
            self.server.requests.append(f"{self.command} {self.path}")
        return parsed

    def do_GET(self) -> None:
        if self.path.endswith("/exists"):
            self._answer({"exists": False})
        else:  # the client's version check
            self._send_json({"title": "qdrant", "version": "1.20.0"})

    def _not_found(self) -> None:
        body = json.dumps({"status": {"error": "Not found: Collection doesn't exist!"}, "time": 0.0}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        path = self.path.split("?")[0]
        if path.count("/") == 2:  # PUT /collections/{name}
            self.server.created[path.split("/")[2]] = body
            self._answer(True)
        elif path.endswith("/points"):  # upserting into a collection this server lacks
            self._not_found()
        else:  # PUT /collections/{name}/index: the payload indexes
            self._answer({"operation_id": 1, "status": "completed"})

    def do_POST(self) -> None:  # points searched, counted, scrolled, deleted: in a collection this server lacks
        self.rfile.read(int(self.headers["Content-Length"]))
        self._not_found()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def qdrant() -> Iterator[RecordingQdrant]:
    server = RecordingQdrant()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def _server(qdrant: RecordingQdrant, **settings: Any) -> VectorStore:
    return build_store(Settings(qdrant_url=f"http://127.0.0.1:{qdrant.server_address[1]}", **settings).store)


def _create(qdrant: RecordingQdrant, **settings: Any) -> dict[str, Any]:
    store = _server(qdrant, **settings)
    try:
        store.ensure_collection("docs", 384)
    finally:
        store.close()
    return qdrant.created["docs"]


def test_a_cluster_collection_gets_the_configured_shards_and_copies(qdrant: RecordingQdrant) -> None:
    body = _create(qdrant, qdrant_shard_number=6, qdrant_replication_factor=2)
    assert (body["shard_number"], body["replication_factor"]) == (6, 2)
    assert body["vectors"]["dense"]["size"] == 384


def test_without_the_settings_the_server_decides(qdrant: RecordingQdrant) -> None:
    body = _create(qdrant)
    assert "shard_number" not in body and "replication_factor" not in body


@pytest.mark.parametrize("call", sorted(NAMED_CALLS))
def test_a_bad_collection_name_is_invalid_input_before_any_request(qdrant: RecordingQdrant, call: str) -> None:
    store = _server(qdrant)
    assert isinstance(store, StoreEngine)
    try:
        for name in BAD_NAMES:
            with pytest.raises(InvalidInput):
                NAMED_CALLS[call](store, name)
    finally:
        store.close()
    assert not [r for r in qdrant.requests if "/collections" in r]


@pytest.mark.parametrize("call", ["count", "delete_document", "delete_stale", "query", "scroll_points", "upsert"])
def test_a_missing_collection_is_the_same_not_found_as_on_every_engine(qdrant: RecordingQdrant, call: str) -> None:
    """The server's 404 becomes the NotFound every engine gives, by the collection's name
    (tests/support/store_suite.py)."""
    store = _server(qdrant)
    assert isinstance(store, StoreEngine)
    try:
        with pytest.raises(NotFound) as exc:
            NAMED_CALLS[call](store, "missing")
    finally:
        store.close()
    assert exc.value.message == "collection 'missing' does not exist" and exc.value.param == "collection"
    assert [r for r in qdrant.requests if r.split()[1].startswith("/collections/missing/points")]  # the server said
