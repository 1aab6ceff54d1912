"""Writes through the API respect what the writer may see (docs/access.md, "Writes"), in process (tests/support/app.py:
the real store and embedder, a scripted chat model).

An admin stores an hr-only document; a writer outside hr then writes that id through `POST /v1/documents` and
`POST /v1/documents/files`, with new text and with tenant-wide access: the hr document keeps its text and access,
hr readers still retrieve it, and each answer is the one the same write to an id that exists nowhere gets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from tests.support.app import empty_store_api
from tests.support.headers import bearers

KEYS = """
writer-key-000001=acme roles=writer subject=loader
hrwriter-key-0001=acme roles=writer groups=hr subject=hilda
hr-key-0000000001=acme roles=reader groups=hr subject=hanna
admin-key-0000001=acme roles=admin subject=root
"""
H = bearers({"loader": "writer-key-000001", "hilda": "hrwriter-key-0001", "hanna": "hr-key-0000000001",
             "root": "admin-key-0000001"})  # fmt: skip
SECRET = "Salary bands of the platform team, reviewed every March."
C = "writes"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with empty_store_api(
        tmp_path_factory, "writes", api_keys=SecretStr(KEYS), max_tokens=4, rate_limit_per_minute=0
    ) as client:
        body = {"id": "hr/victim.md", "text": SECRET, "collection": C, "access": {"groups": ["hr"]}}
        assert client.post("/v1/documents", json=body, headers=H["root"]).json()["status"] == "created"
        yield client


def _store(api: TestClient, who: str, doc_id: str, text: str, **extra: Any) -> dict[str, Any]:
    r = api.post("/v1/documents", json={"id": doc_id, "text": text, "collection": C, **extra}, headers=H[who])
    return {"status_code": r.status_code, **r.json()}


def _listed(api: TestClient, who: str) -> dict[str, Any]:
    r = api.get("/v1/documents", params={"collection": C}, headers=H[who])
    return {d["id"]: d for d in r.json()["data"]}


def _victim_intact(api: TestClient) -> None:
    victim = _listed(api, "root")["hr/victim.md"]
    assert victim["access"] == {"tenant_wide": False, "users": [], "groups": ["hr"], "services": []}
    hits = api.post("/v1/retrieve", json={"query": "salary bands", "collection": C, "min_relevance": 0},
                    headers=H["hanna"]).json()["data"]  # fmt: skip
    assert [h["text"] for h in hits if h["doc_id"] == "hr/victim.md"] == [SECRET]


def _without_id(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "id"}


def test_a_writer_cannot_overwrite_or_re_permission_a_document_it_may_not_see(api: TestClient) -> None:
    overwrite = _store(api, "loader", "hr/victim.md", "Everyone earns the same now.")
    fresh = _store(api, "loader", "hr/nothing-here.md", "Everyone earns the same now.")
    assert overwrite["status_code"] == 200 and overwrite["status"] == "created"
    assert overwrite["id"] == "service:loader/hr/victim.md" and fresh["id"] == "service:loader/hr/nothing-here.md"
    assert _without_id(overwrite) == _without_id(fresh)  # what is hidden reads as what does not exist
    _victim_intact(api)
    widened = _store(api, "loader", "hr/victim.md", SECRET, access={"tenant_wide": True})  # re-permission, guessed text
    assert widened["status"] == "updated" and widened["id"] == "service:loader/hr/victim.md"  # its own copy
    assert "hr/victim.md" not in _listed(api, "loader")  # the hidden one stays hidden
    _victim_intact(api)
    assert api.delete(f"/v1/documents/hr/victim.md?collection={C}", headers=H["loader"]).json()["id"] == (
        "service:loader/hr/victim.md"  # the id names the caller's own document, as the writes did
    )
    again = api.delete(f"/v1/documents/hr/victim.md?collection={C}", headers=H["loader"])
    assert again.status_code == 404 and "hr/victim.md" in again.json()["error"]["message"]
    _victim_intact(api)


def test_an_upload_under_a_hidden_documents_name_stores_the_writers_own(api: TestClient) -> None:
    sent = [("files", ("victim.md", b"# Pay\n\nEveryone earns the same now."))]
    r = api.post("/v1/documents/files", files=sent, data={"collection": "writes-files"}, headers=H["root"])
    assert r.json()["documents"] == [{"id": "victim.md", "file": "victim.md"}]  # an admin's, tenant default access
    api.post("/v1/documents", json={"id": "victim.md", "text": SECRET, "collection": "writes-files",
             "access": {"groups": ["hr"]}}, headers=H["root"])  # fmt: skip
    over = api.post("/v1/documents/files", files=sent, data={"collection": "writes-files"}, headers=H["loader"])
    none = [("files", ("absent.md", b"# Pay\n\nEveryone earns the same now."))]
    fresh = api.post("/v1/documents/files", files=none, data={"collection": "writes-files"}, headers=H["loader"])
    assert over.json()["documents"] == [{"id": "service:loader/victim.md", "file": "victim.md"}]
    assert {k: v for k, v in over.json().items() if k != "documents"} == {
        k: v for k, v in fresh.json().items() if k != "documents"
    }
    listed = api.get("/v1/documents", params={"collection": "writes-files"}, headers=H["root"]).json()["data"]
    victim = next(d for d in listed if d["id"] == "victim.md")
    assert victim["access"]["groups"] == ["hr"] and victim["source"] == "api:victim.md"  # the upload did not reset it


def test_a_writer_that_may_see_a_document_writes_it_in_place(api: TestClient) -> None:
    seen = _store(api, "hilda", "hr/victim.md", SECRET, access={"groups": ["hr"]})  # hilda is in hr
    assert (seen["id"], seen["status"]) == ("hr/victim.md", "unchanged")


def test_the_writers_own_id_held_by_a_document_it_may_not_see_is_a_conflict(api: TestClient) -> None:
    first = _store(api, "loader", "mine.md", "For hr only.", access={"groups": ["hr"]})  # leaves the writer out
    assert (first["id"], first["status"]) == ("service:loader/mine.md", "created")
    again = _store(api, "loader", "mine.md", "For hr only, again.")
    assert again["status_code"] == 409 and again["error"]["code"] == "conflict"
    assert _listed(api, "root")["service:loader/mine.md"]["access"]["groups"] == ["hr"]


def test_a_keys_subject_in_a_users_list_is_another_principal(api: TestClient) -> None:
    """An API key is a service: a document listing the user `hanna` is not the key whose subject is hanna's."""
    api.post("/v1/documents", json={"id": "for-user.md", "text": "A note for the user hanna.", "collection": C,
             "access": {"users": ["hanna"]}}, headers=H["root"])  # fmt: skip
    api.post("/v1/documents", json={"id": "for-key.md", "text": "A note for the service hanna.", "collection": C,
             "access": {"services": ["hanna"]}}, headers=H["root"])  # fmt: skip
    seen = _listed(api, "hanna")
    assert "for-key.md" in seen and "for-user.md" not in seen
