"""Per-document access through the HTTP endpoints themselves, as a property over generated cases (hypothesis): the
API in process (tests/support/app.py: the real Edge store and embedder, a scripted chat model) with a fixed set of
API keys, each a principal (tenant, user, groups, role).

Each example stores generated documents with generated access into a collection of its own, through
`POST /v1/documents`, then, for every principal, the documents it reaches through `POST /v1/retrieve`, the chat's
citations and `GET /v1/documents` are exactly those the rules allow (tests/test_access_properties.py states them),
and `DELETE /v1/documents/{id}` answers 404 for every document it may not see. The store-level property test runs
the 10,000 cases; this one checks that the endpoints hand the store the right principal.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from starlette.testclient import TestClient

from tests.support.access_rules import DOCS, Doc, allowed
from tests.support.app import empty_store_api
from tests.support.headers import bearer

# key: (tenant, subject, groups, role); t0's admin stores t0's documents, t1's admin t1's
PRINCIPALS = {
    "k-t0-writer-000001": ("t0", "loader", frozenset(), "writer"),
    "k-t0-admin-0000001": ("t0", "root", frozenset(), "admin"),
    "k-t0-u0-g0-000001": ("t0", "u0", frozenset({"g0"}), "reader"),
    "k-t0-u1-g12-00001": ("t0", "u1", frozenset({"g1", "g2"}), "reader"),
    "k-t0-u2-none-0001": ("t0", "u2", frozenset(), "reader"),
    "k-t1-writer-000001": ("t1", "loader", frozenset(), "writer"),
    "k-t1-admin-0000001": ("t1", "root", frozenset(), "admin"),
    "k-t1-u0-g0-000001": ("t1", "u0", frozenset({"g0"}), "reader"),
}
STORERS = {"t0": "k-t0-admin-0000001", "t1": "k-t1-admin-0000001"}  # admins store the ids they give
COUNTER = itertools.count()


def _keys() -> str:
    lines = []
    for key, (tenant, subject, groups, role) in PRINCIPALS.items():
        attributes = f"roles={role} subject={subject}" + (f" groups={','.join(sorted(groups))}" if groups else "")
        lines.append(f"{key}={tenant} {attributes}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # the chat answers every question here: the answerability gate (its own tests) would turn "text" away
    unlimited = {"max_tokens": 2, "rate_limit_per_minute": 0, "answerability_min": 0.0}
    with empty_store_api(tmp_path_factory, "access-api-properties", api_keys=SecretStr(_keys()), **unlimited) as client:
        yield client


def _reach(api: TestClient, key: str, collection: str, in_tenant: int) -> dict[str, set[str]]:
    """What each endpoint gives the key's principal (a collection its tenant does not hold reaches nothing)."""
    found: dict[str, set[str]] = {}
    body = {"query": "text", "collection": collection, "top_k": max(in_tenant, 1), "min_relevance": 0}
    r = api.post("/v1/retrieve", json=body, headers=bearer(key))
    found["retrieve"] = {d["doc_id"] for d in r.json()["data"]} if r.status_code == 200 else set()
    chat = {"model": "rag", "messages": [{"role": "user", "content": "text"}], "collection": collection,
            "top_k": max(in_tenant, 1)}  # fmt: skip
    r = api.post("/v1/chat/completions", json=chat, headers=bearer(key))
    found["chat"] = {c["doc_id"] for c in r.json()["citations"]} if r.status_code == 200 else set()
    r = api.get("/v1/documents", params={"collection": collection, "limit": 1000}, headers=bearer(key))
    found["list"] = {d["id"] for d in r.json()["data"]} if r.status_code == 200 else set()
    return found


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(docs=DOCS)
def test_every_endpoint_gives_each_principal_exactly_its_documents(api: TestClient, docs: list[Doc]) -> None:
    collection = f"c{next(COUNTER)}"
    tenants = ["t0", "t1"]
    for i, doc in enumerate(docs):
        access = None if doc.access is None else {
            "tenant_wide": doc.access.tenant_wide, "services": sorted(doc.access.users),  # the principals are keys
            "groups": sorted(doc.access.groups),
        }  # fmt: skip
        body = {"id": f"d{i}", "text": f"text {i}", "collection": collection, **({"access": access} if access else {})}
        r = api.post("/v1/documents", json=body, headers=bearer(STORERS[tenants[doc.tenant]]))
        assert r.status_code == 200, r.text
    for key, (tenant, subject, groups, role) in PRINCIPALS.items():
        want = {
            f"d{i}"
            for i, d in enumerate(docs)
            if allowed(tenant, subject, groups, role == "admin", "tenant", d, tenants[d.tenant])
        }
        in_tenant = sum(1 for d in docs if tenants[d.tenant] == tenant)
        for endpoint, got in _reach(api, key, collection, in_tenant).items():
            if endpoint == "chat" and want:
                assert got and got <= want, (endpoint, key, docs)  # the chat cites up to top_k of its sources
            else:
                assert got == want, (endpoint, key, docs)
        if role == "writer":
            for i in range(len(docs)):  # a writer never deletes what it may not see: 404 as for nothing there
                if f"d{i}" not in want:
                    r = api.delete(f"/v1/documents/d{i}", params={"collection": collection}, headers=bearer(key))
                    assert r.status_code == 404, (key, i, docs)
