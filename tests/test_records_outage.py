"""The records database going away and coming late, with a real PostgreSQL of its own (tests/support/postgres.py)
under the API in process: chats go on while it is down (their records are counted as failed), what needs it answers
503 in OpenAI's error shape, and an API that starts before its database waits for it."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import SecretStr

from tests.support.app import app_client, settings_for
from tests.support.headers import bearers
from tests.support.postgres import PostgresServer
from tests.support.scripted_chat import ScriptedChatModel

KEYS = "reader-key-000001=acme roles=reader subject=alice\nadmin-key-0000001=acme roles=admin subject=root\n" \
       "writer-key-000001=acme roles=writer subject=loader"  # fmt: skip
H = bearers({"reader": "reader-key-000001", "admin": "admin-key-0000001", "writer": "writer-key-000001"})
ASK = {"model": "rag", "messages": [{"role": "user", "content": "when is the office open?"}]}


def test_without_its_records_database_the_api_answers_chats_and_503s_what_needs_it(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = PostgresServer().start()
    folder = tmp_path_factory.mktemp("records-outage")
    settings = settings_for(folder / "qdrant", api_keys=SecretStr(KEYS), database_url=server.new_database(),
                            trace_tenants="acme=7", max_tokens=4)  # fmt: skip
    try:
        with app_client(settings, ScriptedChatModel()) as api:
            stored = api.post(
                "/v1/documents", json={"id": "a.md", "text": "The office opens at nine."}, headers=H["writer"]
            )
            assert stored.status_code == 200
            before = api.post("/v1/chat/completions", json=ASK, headers=H["reader"]).json()["id"]
            rated = api.post("/v1/feedback", json={"completion_id": before, "rating": "up"}, headers=H["reader"])
            assert rated.status_code == 200 and rated.json()["trace"] is True
            server.stop()  # the database is gone
            during = api.post("/v1/chat/completions", json=ASK, headers=H["reader"])
            assert during.status_code == 200 and during.json()["choices"][0]["message"]["content"]
            for response in (
                api.post("/v1/feedback", json={"completion_id": before, "rating": "down"}, headers=H["reader"]),
                api.get("/v1/traces", headers=H["admin"]),
                api.get(f"/v1/traces/{before}", headers=H["admin"]),
                api.get("/v1/audit", headers=H["admin"]),
            ):
                assert response.status_code == 503, response.text
                assert response.json()["error"]["message"] == "the records database is unreachable"
            failed = [line for line in api.get("/metrics").text.splitlines()
                      if line.startswith('rag_records_total{outcome="failed"}')]  # fmt: skip
            assert failed and float(failed[0].split()[-1]) >= 1  # the chat's owner and trace, counted
    finally:
        server.stop()


def test_an_api_started_before_its_database_waits_for_it(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = PostgresServer()  # its port is chosen; it starts three seconds after the API
    starter = threading.Timer(3.0, server.start)
    folder = tmp_path_factory.mktemp("records-late")
    settings = settings_for(folder / "qdrant", database_url=server.url(), max_tokens=4)
    began = time.monotonic()
    starter.start()
    try:
        with app_client(settings, ScriptedChatModel()) as api:
            assert time.monotonic() - began >= 3.0
            assert api.get("/v1/audit").status_code == 200  # migrated once it came
    finally:
        starter.join()
        server.stop()
