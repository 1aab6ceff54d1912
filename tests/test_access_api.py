"""Principals, roles and per-document access through the API in process (tests/support/app.py: the real store and
embedder, a scripted chat model), called with the real `openai` client and plain HTTP.

One tenant's writer stores five documents with different access; readers in different groups, an admin, and a
reader of another tenant then reach exactly what each may see through chat citations, `/v1/retrieve` and
`GET /v1/documents`, and roles decide who may write."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from openai import OpenAI
from pydantic import SecretStr
from starlette.testclient import TestClient

from tests.support.app import BASE_URL, empty_store_api
from tests.support.headers import bearer, bearers

KEYS = """
writer-key-000001=acme roles=writer subject=loader
hr-key-0000000001=acme roles=reader groups=hr subject=hanna
eng-key-000000001=acme roles=reader groups=eng,ops subject=erik
admin-key-0000001=acme roles=admin subject=root
other-key-0000001=other roles=reader groups=hr subject=hanna
"""
KEY = {  # who: their key
    "loader": "writer-key-000001",
    "hanna": "hr-key-0000000001",
    "erik": "eng-key-000000001",
    "root": "admin-key-0000001",
    "other-hanna": "other-key-0000001",
}
DOCUMENTS = {  # id: (text, access)
    "salaries.md": ("Salary bands of the platform team, reviewed every March.", {"groups": ["hr"]}),
    "design.md": ("The platform's design: the store, the retriever and the API.", {"groups": ["eng"]}),
    "handbook.md": ("The platform handbook: how the team works and who to ask.", {"tenant_wide": True}),
    "notes.md": ("Meeting notes about the platform roadmap.", None),
    "erik.md": ("Erik's own notes on the platform's performance.", {"services": ["erik"]}),  # erik is a key
}
SEES = {
    "loader": {"handbook.md", "notes.md"},  # a writer without groups: tenant-wide and default documents
    "hanna": {"salaries.md", "handbook.md", "notes.md"},
    "erik": {"design.md", "handbook.md", "notes.md", "erik.md"},
    "root": set(DOCUMENTS),
    "other-hanna": set(),  # same user and group names, another tenant
}


H = bearers(KEY)  # each caller's Authorization header


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with empty_store_api(tmp_path_factory, "access", api_keys=SecretStr(KEYS), max_tokens=4) as client:
        for doc_id, (text, access) in DOCUMENTS.items():
            body = {"id": doc_id, "text": text, "title": doc_id, **({"access": access} if access else {})}
            r = client.post("/v1/documents", json=body, headers=H["root"])  # an admin writes ids as given
            assert r.status_code == 200 and r.json()["status"] == "created", r.text
        yield client


@pytest.mark.parametrize("who", sorted(SEES))
def test_each_principal_reaches_exactly_its_documents_on_every_endpoint(api: TestClient, who: str) -> None:
    r = api.post("/v1/retrieve", json={"query": "the platform", "top_k": 10, "min_relevance": 0}, headers=H[who])
    if who == "other-hanna":  # its tenant has no collection at all
        assert r.status_code == 404
    else:
        assert r.status_code == 200 and {d["doc_id"] for d in r.json()["data"]} == SEES[who]
        listed = api.get("/v1/documents", headers=H[who]).json()
        assert {d["id"] for d in listed["data"]} == SEES[who] and not listed["has_more"]
        client = OpenAI(base_url=BASE_URL + "/v1", api_key=KEY[who], max_retries=0, http_client=api)
        reply = client.chat.completions.create(
            model="rag", messages=[{"role": "user", "content": "the platform"}], extra_body={"top_k": 10}
        )
        cited = {c["doc_id"] for c in (reply.model_extra or {})["citations"]}
        assert cited and cited <= SEES[who]


def test_the_listing_pages_by_id_and_shows_each_documents_access(api: TestClient) -> None:
    first = api.get("/v1/documents", params={"limit": 2}, headers=H["root"]).json()
    assert [d["id"] for d in first["data"]] == ["design.md", "erik.md"] and first["has_more"]
    rest = api.get("/v1/documents", params={"limit": 10, "after": first["last_id"]}, headers=H["root"]).json()
    assert [d["id"] for d in rest["data"]] == ["handbook.md", "notes.md", "salaries.md"] and not rest["has_more"]
    access = {d["id"]: d["access"] for d in first["data"] + rest["data"]}
    assert access["notes.md"] is None and access["handbook.md"]["tenant_wide"]
    assert access["salaries.md"] == {"tenant_wide": False, "users": [], "groups": ["hr"], "services": []}
    assert access["erik.md"] == {"tenant_wide": False, "users": [], "groups": [], "services": ["erik"]}


def test_a_reader_sees_what_gives_it_access_and_not_who_else_may_see_a_document(api: TestClient) -> None:
    shared = {"users": ["alice", "bob@example.com"], "groups": ["hr", "legal"], "services": ["erik", "payroll"]}
    text = "Who may read the shared plan: listed by name."
    assert api.post(
        "/v1/documents", json={"id": "plan.md", "text": text, "access": shared}, headers=H["root"]
    ).is_success
    try:
        listed = {who: api.get("/v1/documents", headers=H[who]).json()["data"] for who in ("hanna", "erik", "root")}
        plan = {who: next(d["access"] for d in data if d["id"] == "plan.md") for who, data in listed.items()}
        assert plan["hanna"] == {"tenant_wide": False, "users": [], "groups": ["hr"], "services": []}
        assert plan["erik"] == {"tenant_wide": False, "users": [], "groups": [], "services": ["erik"]}
        assert plan["root"] == {"tenant_wide": False, **{k: sorted(v) for k, v in shared.items()}}
    finally:
        api.delete("/v1/documents/plan.md", headers=H["root"])


def test_roles_decide_who_may_write_in_the_openai_error_shape(api: TestClient) -> None:
    body = {"id": "x.md", "text": "x"}
    r = api.post("/v1/documents", json=body, headers=H["hanna"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert r.json()["error"]["type"] == "permission_error" and "writer" in r.json()["error"]["message"]
    assert api.delete("/v1/documents/notes.md", headers=H["hanna"]).status_code == 403
    client = OpenAI(base_url=BASE_URL + "/v1", api_key=KEY["hanna"], max_retries=0, http_client=api)
    with pytest.raises(openai.PermissionDeniedError):
        client.post("/documents", body=body, cast_to=object)
    assert api.get("/v1/documents", headers=bearer("nope")).status_code == 401


def test_a_writer_cannot_delete_what_it_may_not_see_and_an_admin_can(api: TestClient) -> None:
    r = api.delete("/v1/documents/salaries.md", headers=H["loader"])
    assert r.status_code == 404 and "salaries.md" in r.json()["error"]["message"]  # as if it did not exist
    text, access = DOCUMENTS["erik.md"]
    stored = api.post("/v1/documents", json={"id": "tmp.md", "text": text, "access": access}, headers=H["root"])
    assert stored.status_code == 200
    assert api.delete("/v1/documents/tmp.md", headers=H["root"]).json()["chunks_deleted"] >= 1


def test_an_access_only_change_re_embeds_nothing_and_the_next_request_follows_it(api: TestClient) -> None:
    text, _ = DOCUMENTS["notes.md"]
    body = {"id": "notes.md", "text": text, "title": "notes.md", "access": {"groups": ["eng"]}}
    r = api.post("/v1/documents", json=body, headers=H["root"])
    assert r.json()["status"] == "access_updated" and r.json()["chunks"] == 0  # nothing written or embedded
    try:
        seen = api.get("/v1/documents", headers=H["hanna"]).json()["data"]
        assert {d["id"] for d in seen} == SEES["hanna"] - {"notes.md"}
    finally:
        body.pop("access")
        assert api.post("/v1/documents", json=body, headers=H["root"]).json()["status"] == "access_updated"


@pytest.mark.parametrize("key", ["access", "access.groups", "tenant", "tenant.id"])
def test_a_filter_may_narrow_but_never_name_the_access_fields(api: TestClient, key: str) -> None:
    r = api.post("/v1/retrieve", json={"query": "x", "filter": {key: "hr"}}, headers=H["hanna"])
    assert r.status_code == 400 and r.json()["error"]["param"] == "filter"


def test_admins_read_their_tenants_audit_trail_without_content(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="rag.audit"):
        r = api.post("/v1/retrieve", json={"query": "salary bands", "min_relevance": 0}, headers=H["hanna"])
    returned = [d["doc_id"] for d in r.json()["data"]]
    (logged,) = [rec for rec in caplog.records if rec.name == "rag.audit"]
    assert (logged.subject, logged.action, logged.doc_ids) == ("hanna", "retrieve", list(dict.fromkeys(returned)))  # type: ignore[attr-defined]
    assert api.get("/v1/audit", headers=H["hanna"]).status_code == 403  # readers do not read the trail
    page = api.get("/v1/audit", params={"limit": 1}, headers=H["root"]).json()
    (newest,) = page["data"]
    assert newest["subject"] == "hanna" and newest["endpoint"] == "POST /v1/retrieve" and newest["tenant"] == "acme"
    assert newest["doc_ids"] == list(dict.fromkeys(returned)) and newest["key_id"] and newest["request_id"]
    older = api.get("/v1/audit", params={"before": page["last_id"], "limit": 1000}, headers=H["root"]).json()
    stored = [e["doc_ids"][0] for e in older["data"] if e["action"] == "store" and e["subject"] == "root"]
    assert sorted(stored[-len(DOCUMENTS) :]) == sorted(DOCUMENTS)  # the fixture's uploads (the oldest), one event each
    text = str(page) + str(older)
    assert "Salary bands" not in text and KEY["hanna"] not in text  # no content, no credential
    other = api.get("/v1/audit", headers=H["other-hanna"])
    assert other.status_code == 403


ROLE_RANK = {"hanna": "reader", "loader": "writer", "root": "admin"}
NEEDS = {  # every endpoint behind a key, and the least role it needs (docs/access.md, "Roles")
    ("GET", "/v1/models"): "reader",
    ("POST", "/v1/chat/completions"): "reader",
    ("POST", "/v1/retrieve"): "reader",
    ("GET", "/v1/documents"): "reader",
    ("POST", "/v1/documents"): "writer",
    ("DELETE", "/v1/documents/no-such.md"): "writer",
    ("GET", "/v1/audit"): "admin",
}
BODIES = {
    "/v1/chat/completions": {"model": "rag", "messages": [{"role": "user", "content": "the platform"}]},
    "/v1/retrieve": {"query": "the platform"},
    "/v1/documents": {"id": "matrix.md", "text": "A document stored by the role matrix."},
}


@pytest.mark.parametrize("who", sorted(ROLE_RANK))
@pytest.mark.parametrize(("method", "path"), sorted(NEEDS))
def test_every_role_against_every_endpoint(api: TestClient, who: str, method: str, path: str) -> None:
    """The whole matrix, not examples: 403 exactly where the role is below what the endpoint needs."""
    order = ["reader", "writer", "admin"]
    body = BODIES.get(path) if method == "POST" else None
    r = api.request(method, path, json=body, headers=H[who])
    denied = order.index(ROLE_RANK[who]) < order.index(NEEDS[(method, path)])
    assert (r.status_code == 403) == denied, (who, method, path, r.status_code, r.text)
    if denied:
        assert r.json()["error"]["code"] == "forbidden"


def test_a_collection_holding_nothing_the_caller_may_see_reads_as_one_that_does_not_exist(api: TestClient) -> None:
    body = {"id": "pay.md", "text": "The pay scales.", "collection": "hrsecret", "access": {"groups": ["hr"]}}
    assert api.post("/v1/documents", json=body, headers=H["root"]).status_code == 200

    def answers(who: str, collection: str) -> list[tuple[int, str]]:
        asked = [
            api.get("/v1/documents", params={"collection": collection}, headers=H[who]),
            api.post("/v1/retrieve", json={"query": "pay", "collection": collection, "min_relevance": 0},
                     headers=H[who]),
            api.post("/v1/chat/completions", json={"model": "rag", "collection": collection,
                     "messages": [{"role": "user", "content": "pay?"}]}, headers=H[who]),
        ]  # fmt: skip
        if who == "loader":
            asked.append(api.delete("/v1/documents/pay.md", params={"collection": collection}, headers=H[who]))
        return [(r.status_code, r.text.replace(collection, "NAME")) for r in asked]

    for who in ("erik", "loader"):
        assert answers(who, "hrsecret") == answers(who, "no-such-collection"), who
        assert answers(who, "hrsecret")[0][0] == 404
    assert api.get("/v1/documents", params={"collection": "hrsecret"}, headers=H["hanna"]).status_code == 200
    assert [c["id"] for c in api.get("/v1/collections", headers=H["erik"]).json()["data"]] == ["docs"]
