"""Cluster mode: collections the platform creates on a Qdrant server carry RAG_QDRANT_SHARD_NUMBER and
RAG_QDRANT_REPLICATION_FACTOR (the Helm chart sets them for a clustered Qdrant). No Qdrant server runs here, so a
loopback HTTP server records what qdrant-client sends and answers as Qdrant's REST API does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rag.components import build_store
from rag.settings import Settings

# the recorder answers the client's version probe loosely; compatibility is not what these tests check
pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")


class RecordingQdrant(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.created: dict[str, Any] = {}


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

    def do_GET(self) -> None:
        if self.path.endswith("/exists"):
            self._answer({"exists": False})
        else:  # the client's version check
            self._send_json({"title": "qdrant", "version": "1.20.0"})

    def do_PUT(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        path = self.path.split("?")[0]
        if path.count("/") == 2:  # PUT /collections/{name}
            self.server.created[path.split("/")[2]] = body
            self._answer(True)
        else:  # PUT /collections/{name}/index: the payload indexes
            self._answer({"operation_id": 1, "status": "completed"})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def qdrant() -> Iterator[RecordingQdrant]:
    server = RecordingQdrant()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def _create(qdrant: RecordingQdrant, **settings: Any) -> dict[str, Any]:
    url = f"http://127.0.0.1:{qdrant.server_address[1]}"
    store = build_store(Settings(qdrant_url=url, **settings))
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
