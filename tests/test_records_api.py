"""Traces and feedback through the API in process (tests/support/app.py: the real store, embedder and records
database, a scripted chat model), called with the real `openai` client and plain HTTP.

A traced tenant's chats (streamed and not) leave traces its admins read, by id and a page at a time, with ids,
hashes, scores, timings and no content unless RAG_TRACE_CONTENT allows it; readers cannot read them; an untraced
tenant leaves none. Feedback is given by the answer's reader (or an admin), linked to its trace, replaced when
given again, refused to anyone else. On PostgreSQL a question holding NUL leaves its trace and owner, and an id
holding one is not found (404, an empty page), never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai import OpenAI
from pydantic import SecretStr
from starlette.testclient import TestClient

from tests.support.app import BASE_URL, empty_store_api
from tests.support.headers import bearers
from tests.support.postgres import PostgresServer

KEYS = """
writer-key-000001=acme roles=writer subject=loader
alice-key-0000001=acme roles=reader subject=alice
bob-key-000000001=acme roles=reader subject=bob
admin-key-0000001=acme roles=admin subject=root
globex-reader-001=globex roles=reader subject=alice
globex-admin-0001=globex roles=admin subject=gina
"""
KEY = {"loader": "writer-key-000001", "alice": "alice-key-0000001", "bob": "bob-key-000000001",
       "root": "admin-key-0000001", "g-alice": "globex-reader-001", "gina": "globex-admin-0001"}  # fmt: skip
DOCS = {
    "deploy.md": "The platform is deployed on Kubernetes with its Helm chart, one release per environment.",
    "keys.md": "API keys live in a Kubernetes Secret that the chart mounts into the API pods.",
}


H = bearers(KEY)  # each caller's Authorization header


def _app(tmp_path_factory: pytest.TempPathFactory, name: str, **overrides: Any) -> Iterator[TestClient]:
    with empty_store_api(
        tmp_path_factory, name, api_keys=SecretStr(KEYS), trace_tenants="acme=7", **overrides
    ) as client:
        for tenant_writer in ("root",):  # an admin writes the ids it gives
            for doc_id, text in DOCS.items():
                r = client.post("/v1/documents", json={"id": doc_id, "text": text, "title": doc_id},
                                headers=H[tenant_writer])  # fmt: skip
                assert r.status_code == 200, r.text
        yield client


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from _app(tmp_path_factory, "traces")


@pytest.fixture(scope="module")
def api_with_content(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from _app(tmp_path_factory, "traces-content", trace_content=True)


@pytest.fixture(scope="module")
def api_on_postgres(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer) -> Iterator[TestClient]:
    """Traces with content, in a real PostgreSQL (tests/support/postgres.py), whose text cannot hold NUL."""
    yield from _app(tmp_path_factory, "traces-postgres", trace_content=True, database_url=postgres.new_database())


def _client(api: TestClient, who: str) -> OpenAI:
    return OpenAI(base_url=BASE_URL + "/v1", api_key=KEY[who], max_retries=0, http_client=api)


def _ask(api: TestClient, who: str, question: str = "how is the platform deployed?", stream: bool = False) -> str:
    client = _client(api, who)
    if not stream:
        return client.chat.completions.create(model="rag", messages=[{"role": "user", "content": question}]).id
    ids = {c.id for c in client.chat.completions.create(
        model="rag", messages=[{"role": "user", "content": question}], stream=True)}  # fmt: skip
    (cid,) = ids
    return cid


def test_a_traced_tenants_chats_leave_traces_its_admins_read_without_content(api: TestClient) -> None:
    plain, streamed = _ask(api, "alice"), _ask(api, "bob", stream=True)
    page = api.get("/v1/traces", headers=H["root"])
    assert page.status_code == 200, page.text
    by_id = {t["id"]: t for t in page.json()["data"]}
    assert {plain, streamed} <= set(by_id)
    trace = by_id[plain]
    assert trace["subject"] == "alice" and trace["collection"] == "docs" and trace["finish_reason"] == "stop"
    assert len(trace["settings_fingerprint"]) == 16 and trace["model"]
    assert trace["content"] is None  # RAG_TRACE_CONTENT is off
    assert trace["hits"] and all(h["text"] is None and h["title"] is None for h in trace["hits"])
    assert all(len(h["doc_hash"]) >= 16 and h["chunk_id"] and h["index"] >= 1 for h in trace["hits"])
    assert {h["doc_id"] for h in trace["hits"]} <= set(DOCS)
    assert any(h["cited"] for h in trace["hits"])  # the scripted answer cites [1]
    assert set(trace["timings"]) == {"retrieval_ms", "first_token_ms", "generation_ms", "total_ms"}
    assert 0 < trace["timings"]["retrieval_ms"] <= trace["timings"]["total_ms"]
    assert trace["usage"]["completion_tokens"] > 0 and trace["attributions"]
    assert trace["expires_at"] - trace["created_at"] == 7 * 86400  # acme's retention
    assert by_id[streamed]["subject"] == "bob"
    one = api.get(f"/v1/traces/{plain}", headers=H["root"])
    assert one.status_code == 200 and one.json()["id"] == plain
    written = [line for line in api.get("/metrics").text.splitlines() if line.startswith("rag_records_total{")]
    assert any('outcome="written"' in line and float(line.split()[-1]) >= 4 for line in written), written


def test_readers_cannot_read_traces_and_other_tenants_see_none_of_them(api: TestClient) -> None:
    cid = _ask(api, "alice")
    for who in ("alice", "bob", "loader", "g-alice"):
        assert api.get("/v1/traces", headers=H[who]).status_code == 403
        assert api.get(f"/v1/traces/{cid}", headers=H[who]).status_code == 403
    assert api.get(f"/v1/traces/{cid}", headers=H["gina"]).status_code == 404
    assert api.get("/v1/traces", headers=H["gina"]).json()["data"] == []


def test_an_untraced_tenant_leaves_no_trace_but_keeps_feedback(api: TestClient) -> None:
    r = api.post("/v1/documents", json={"id": "g.md", "text": DOCS["deploy.md"]}, headers=H["gina"])
    assert r.status_code == 200, r.text
    cid = _ask(api, "g-alice")
    assert api.get(f"/v1/traces/{cid}", headers=H["gina"]).status_code == 404
    given = api.post("/v1/feedback", json={"completion_id": cid, "rating": "up"}, headers=H["g-alice"])
    assert given.status_code == 200, given.text
    assert given.json()["trace"] is False and given.json()["subject"] == "alice"


def test_traces_page_newest_first(api: TestClient) -> None:
    asked = [_ask(api, "alice", f"question number {n} about the deployment") for n in range(3)]
    first = api.get("/v1/traces", params={"limit": 2}, headers=H["root"]).json()
    assert [t["id"] for t in first["data"]] == asked[::-1][:2] and first["has_more"]
    rest = api.get("/v1/traces", params={"limit": 2, "after": first["last_id"]}, headers=H["root"]).json()
    assert rest["data"][0]["id"] == asked[0]


def test_feedback_by_the_answers_reader_is_linked_to_its_trace_and_replaced_when_given_again(api: TestClient) -> None:
    cid = _ask(api, "alice")
    body = {"completion_id": cid, "rating": "down", "comment": "wrong chart", "corrected_answer": "With Helm."}
    given = api.post("/v1/feedback", json=body, headers=H["alice"])
    assert given.status_code == 200, given.text
    assert given.json()["trace"] is True and given.json()["rating"] == "down"
    again = api.post("/v1/feedback", json={"completion_id": cid, "rating": "up"}, headers=H["alice"]).json()
    assert again["id"] == given.json()["id"] and again["rating"] == "up" and again["corrected_answer"] is None
    by_admin = api.post("/v1/feedback", json={"completion_id": cid, "rating": "down"}, headers=H["root"])
    assert by_admin.status_code == 200  # an admin reviews the tenant's answers
    trace = api.get(f"/v1/traces/{cid}", headers=H["root"]).json()
    assert sorted((f["subject"], f["rating"]) for f in trace["feedback"]) == [("alice", "up"), ("root", "down")]


def test_feedback_on_someone_elses_or_an_unknown_answer_is_refused(api: TestClient) -> None:
    cid = _ask(api, "alice")
    refused = api.post("/v1/feedback", json={"completion_id": cid, "rating": "down"}, headers=H["bob"])
    assert refused.status_code == 403 and refused.json()["error"]["param"] == "completion_id"
    other = api.post("/v1/feedback", json={"completion_id": cid, "rating": "down"}, headers=H["g-alice"])
    assert other.status_code == 404  # another tenant's answer does not exist for it, same subject name or not
    unknown = api.post("/v1/feedback", json={"completion_id": "chatcmpl-nope", "rating": "up"}, headers=H["alice"])
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "invalid_request_error"
    bad = api.post("/v1/feedback", json={"completion_id": cid, "rating": "meh"}, headers=H["alice"])
    assert bad.status_code == 400 and "error" in bad.json()
    extra = api.post("/v1/feedback", json={"completion_id": cid, "rating": "up", "x": 1}, headers=H["alice"])
    assert extra.status_code == 400


def test_with_content_allowed_a_trace_holds_the_question_the_answer_and_the_sources(
    api_with_content: TestClient,
) -> None:
    question = "where do the API keys live?"
    reply = _client(api_with_content, "alice").chat.completions.create(
        model="rag", messages=[{"role": "user", "content": question}]
    )
    trace = api_with_content.get(f"/v1/traces/{reply.id}", headers=H["root"]).json()
    assert trace["content"] == {"question": question, "retrieval_query": question,
                                "answer": reply.choices[0].message.content}  # fmt: skip
    texts = {h["doc_id"]: h["text"] for h in trace["hits"]}
    assert texts and all(texts[d] == DOCS[d] for d in texts)
    assert all(h["title"] == h["doc_id"] for h in trace["hits"])


def test_a_question_holding_nul_leaves_its_trace_and_its_owner_on_postgresql(api_on_postgres: TestClient) -> None:
    """PostgreSQL's text refuses NUL: the records keep U+FFFD in its place, and the asker's feedback is taken."""
    question = "how is the\x00 platform deployed?"
    cid = _ask(api_on_postgres, "alice", question)
    rated = api_on_postgres.post("/v1/feedback", json={"completion_id": cid, "rating": "up"}, headers=H["alice"])
    assert rated.status_code == 200, rated.text
    assert rated.json()["trace"] is True
    trace = api_on_postgres.get(f"/v1/traces/{cid}", headers=H["root"]).json()
    assert trace["content"]["question"] == "how is the\ufffd platform deployed?"
    failed = [line for line in api_on_postgres.get("/metrics").text.splitlines()
              if line.startswith('rag_records_total{outcome="failed"}')]  # fmt: skip
    assert not failed or float(failed[0].split()[-1]) == 0, failed


def test_feedback_on_a_completion_id_holding_nul_is_not_found_rather_than_a_server_error(
    api_on_postgres: TestClient,
) -> None:
    cid = _ask(api_on_postgres, "alice")
    for completion_id in ("x\x00", f"{cid}\x00"):  # the second names no answer either, not `cid`
        given = api_on_postgres.post("/v1/feedback", json={"completion_id": completion_id, "rating": "up"},
                                     headers=H["alice"])  # fmt: skip
        assert given.status_code == 404, given.text
        error = given.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == "completion_id"


def test_a_traces_cursor_holding_nul_is_an_empty_page_rather_than_a_server_error(api_on_postgres: TestClient) -> None:
    page = api_on_postgres.get("/v1/traces?after=%00", headers=H["root"])
    assert page.status_code == 200, page.text
    assert page.json()["data"] == [] and page.json()["has_more"] is False  # an unknown cursor, as any other


def test_a_trace_id_holding_nul_is_not_found_rather_than_a_server_error(api_on_postgres: TestClient) -> None:
    one = api_on_postgres.get("/v1/traces/a%00b", headers=H["root"])
    assert one.status_code == 404, one.text
    assert one.json()["error"]["type"] == "invalid_request_error"
