"""API keys, tenants and limits: the API in process (tests/support/app.py: the real store and embedder, a scripted chat
model) with the real `openai` client and plain HTTP; what `rag serve` refuses to start with, through the command.

Two tenants store a document each through the API; every test tries to reach the other tenant's chunks (query,
filter, collection name, delete) and must find nothing of it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from pydantic import SecretStr, ValidationError
from starlette.testclient import TestClient

from serving.auth import ApiKeyConfigError, ApiKeys
from tests.support.app import BASE_URL, app_client, settings_for
from tests.support.headers import bearer, bearers
from tests.support.launcher import RAG_BIN, free_port, rag_env
from tests.support.scripted_chat import ScriptedChatModel

KEYS = {"alpha": "key-alpha-1", "beta": "key-beta-1", "burst": "key-burst-1"}
ALPHA_DOC = "Project Falcon's launch codes are kept in the blue vault on the third floor."
BETA_DOC = "Project Heron's budget is four million euros, approved by the board in March."
MODEL = ScriptedChatModel()  # records the prompts it is sent


H = bearers(KEYS)  # each caller's Authorization header


def _openai(api: TestClient, key: str) -> OpenAI:
    return OpenAI(base_url=BASE_URL + "/v1", api_key=key, max_retries=0, http_client=api)


@pytest.fixture(scope="module")
def keyed_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    keys_file = tmp_path_factory.mktemp("secret") / "keys"
    keys_file.write_text(f"# mounted secret\n{KEYS['beta']}=beta roles=admin\n{KEYS['burst']}=burst\n")
    settings = settings_for(
        tmp_path_factory.mktemp("tenants") / "qdrant",
        api_keys=SecretStr(f"{KEYS['alpha']}=alpha roles=admin"),  # an admin writes the ids it gives
        api_keys_file=keys_file,
        rate_limit_per_minute=40,
        rate_limit_burst=40,
        max_tokens=4,
        max_messages=3,
        max_tokens_limit=64,
        max_input_chars=1000,
        # no relevance floor and no answerability gate: the chat answers from whatever the caller's tenant holds,
        # so that what it cites and what it sends the LLM show whose documents it reached
        min_relevance=0.0,
        answerability_min=0.0,
    )
    with app_client(settings, MODEL) as api:
        for tenant, text in (("alpha", ALPHA_DOC), ("beta", BETA_DOC)):
            r = api.post(
                "/v1/documents",
                json={"id": f"{tenant}.md", "text": text, "title": f"{tenant} notes"},
                headers=H[tenant],
            )
            assert r.status_code == 200 and r.json()["status"] == "created", r.text
        r = api.post(
            "/v1/documents",
            json={"id": "beta-only.md", "text": BETA_DOC, "collection": "beta-private"},
            headers=H["beta"],
        )
        assert r.status_code == 200, r.text
        yield api


def _retrieve(api: TestClient, tenant: str, **body: object) -> httpx.Response:
    """No relevance threshold: whatever the tenant's collections hold is found, however weakly it matches."""
    return api.post("/v1/retrieve", json={"min_relevance": 0, **body}, headers=H[tenant])


def test_every_endpoint_but_health_needs_a_valid_key(keyed_api: TestClient) -> None:
    assert keyed_api.get("/healthz").status_code == 200
    assert keyed_api.get("/readyz").status_code == 200
    for method, path in (
        ("GET", "/v1/models"),
        ("POST", "/v1/retrieve"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/documents"),
        ("DELETE", "/v1/documents/alpha.md"),
    ):
        for headers in ({}, bearer("wrong"), {"Authorization": f"Basic {KEYS['alpha']}"}):
            r = keyed_api.request(method, path, json={"query": "x"}, headers=headers)
            assert r.status_code == 401, (path, headers)
            assert r.json()["error"]["code"] == "invalid_api_key" and r.headers["WWW-Authenticate"] == "Bearer"
    with pytest.raises(openai.AuthenticationError):
        _openai(keyed_api, "wrong").models.list()
    assert [m.id for m in _openai(keyed_api, KEYS["beta"]).models.list()] == ["rag"]
    assert _retrieve(keyed_api, "alpha", query="Falcon").json()["data"][0]["doc_id"] == "alpha.md"  # not deleted


def test_a_tenant_never_sees_another_tenants_chunks(keyed_api: TestClient) -> None:
    heron = "What is Project Heron's budget?"
    alpha = [c["doc_id"] for c in _retrieve(keyed_api, "alpha", query=heron, top_k=10).json()["data"]]
    beta = [c["doc_id"] for c in _retrieve(keyed_api, "beta", query=heron, top_k=10).json()["data"]]
    assert alpha == ["alpha.md"] and beta == ["beta.md"]
    # naming the other tenant's document, collection or the tenant itself
    assert _retrieve(keyed_api, "alpha", query=heron, filter={"doc_id": "beta.md"}).json()["data"] == []
    assert _retrieve(keyed_api, "beta", query=heron, collection="beta-private").status_code == 200
    # another tenant's collection reads exactly as one that does not exist (strict isolation, the default)
    theirs = _retrieve(keyed_api, "alpha", query=heron, collection="beta-private")
    nowhere = _retrieve(keyed_api, "alpha", query=heron, collection="no-such-one")
    assert theirs.status_code == nowhere.status_code == 404
    assert theirs.json()["error"]["message"].replace("beta-private", "X") == nowhere.json()["error"]["message"].replace(
        "no-such-one", "X"
    )
    # a caller cannot name a tenant's store collection directly
    assert _retrieve(keyed_api, "alpha", query=heron, collection="beta-private@beta").status_code == 400
    assert _retrieve(keyed_api, "alpha", query=heron, filter={"tenant": "beta"}).status_code == 400
    assert _retrieve(keyed_api, "alpha", query=heron, filter={"metadata.tenant": "beta"}).json()["data"] == []
    # the chat cites only the caller's documents
    reply = _openai(keyed_api, KEYS["alpha"]).chat.completions.create(
        model="rag", messages=[{"role": "user", "content": heron}]
    )
    assert {c["doc_id"] for c in (reply.model_extra or {})["citations"]} == {"alpha.md"}  # cited, and only its own
    assert not any("four million" in m.text for prompt in MODEL.prompts for m in prompt)  # nor sees the LLM
    # deleting the other tenant's document removes nothing of it
    r = keyed_api.delete("/v1/documents/beta.md", headers=H["alpha"])
    assert r.status_code == 404 and r.json()["error"]["param"] == "doc_id"
    assert [c["doc_id"] for c in _retrieve(keyed_api, "beta", query=heron).json()["data"]] == ["beta.md"]


def test_request_limits_answer_in_openai_shape(keyed_api: TestClient) -> None:
    client = _openai(keyed_api, KEYS["alpha"])
    with pytest.raises(openai.BadRequestError) as too_many:
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "hi"}] * 4)
    assert too_many.value.body["param"] == "messages"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "hi"}], max_tokens=65)
    assert too_long.value.body["param"] == "max_tokens"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as too_big:
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "word " * 201}])
    assert too_big.value.body["param"] == "messages" and "1000" in too_big.value.body["message"]  # type: ignore[index]


def test_rate_limit_per_key_with_retry_after(keyed_api: TestClient) -> None:
    """40 a minute: the 41st quick request of one key gets 429 with Retry-After; every response carries OpenAI's
    request headers; another key is unaffected."""
    responses = [keyed_api.get("/v1/models", headers=H["burst"]) for _ in range(41)]
    assert [r.status_code for r in responses] == [200] * 40 + [429]
    assert [int(r.headers["x-ratelimit-remaining-requests"]) for r in responses] == [*range(39, -1, -1), 0]
    assert {r.headers["x-ratelimit-limit-requests"] for r in responses} == {"40"}
    r = keyed_api.get("/v1/models", headers=H["burst"])
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(r.headers["Retry-After"]) <= 60 and r.headers["x-ratelimit-reset-requests"].endswith("s")
    assert keyed_api.get("/v1/models", headers=H["beta"]).status_code == 200


def test_without_keys_serve_refuses_a_public_address(tmp_path: Path) -> None:
    cmd = [RAG_BIN, "serve", "--host", "0.0.0.0", "--port", str(free_port())]
    result = subprocess.run(cmd, env=rag_env(tmp_path / "q"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "RAG_ALLOW_UNAUTHENTICATED" in result.stderr


def test_a_bad_keys_file_stops_the_server(tmp_path: Path) -> None:
    (tmp_path / "keys").write_text("no-tenant-here\n")
    cmd = [RAG_BIN, "serve", "--port", str(free_port())]
    env = rag_env(tmp_path / "q", RAG_API_KEYS_FILE=str(tmp_path / "keys"))
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "entry 2 is not KEY=TENANT" not in result.stderr
    assert "is not KEY=TENANT" in result.stderr and "no-tenant-here" not in result.stderr


def test_keys_may_hold_equals_signs_and_tenants_must_be_tenant_names(tmp_path: Path) -> None:
    """An entry is split at its last `=` (a tenant never holds one): base64 keys keep their padding. A tenant that
    is not a tenant name stops the server, without the entry (which may hold a key) in the message."""
    (tmp_path / "keys").write_text("c2VjcmV0a2V5IQ===acme roles=reader\nc2VjcmV0a2V5Ig=globex\n")
    keys = ApiKeys.from_settings(settings_for(tmp_path / "q", api_keys_file=tmp_path / "keys").access)
    assert keys is not None and len(keys) == 2
    padded, single = keys.find("c2VjcmV0a2V5IQ=="), keys.find("c2VjcmV0a2V5Ig")
    assert padded is not None and (padded.tenant, padded.roles) == ("acme", frozenset({"reader"}))
    assert single is not None and single.tenant == "globex"
    assert keys.find("c2VjcmV0a2V5IQ") is None  # the key is the whole of it, padding included
    for tenant in ("acme/eu", "ü-tenant", "a" * 65, "acme:1", "acme@x", "acme!"):
        (tmp_path / "keys").write_text(f"sk-0123456789={tenant}\n")
        with pytest.raises(ApiKeyConfigError, match="line 1: the tenant of an entry is not a tenant name") as bad:
            ApiKeys.from_settings(settings_for(tmp_path / "q", api_keys_file=tmp_path / "keys").access)
        assert "sk-0123456789" not in str(bad.value), tenant
    with pytest.raises(ApiKeyConfigError, match="not a tenant name"):
        ApiKeys.from_settings(settings_for(tmp_path / "q", api_keys=SecretStr("k1=acme,k2=a/b")).access)
    (tmp_path / "keys").write_text("sk-0123456789=acme/eu\n")
    env = rag_env(tmp_path / "q", RAG_API_KEYS_FILE=str(tmp_path / "keys"))
    result = subprocess.run([RAG_BIN, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 2 and "not a tenant name" in result.stderr and "sk-0123456789" not in result.stderr


def test_rag_tenant_must_be_a_tenant_name(tmp_path: Path) -> None:
    assert settings_for(tmp_path, tenant="acme-eu.1_x").access.tenant == "acme-eu.1_x"
    for tenant in ("acme/eu", "", "a" * 65, "acme eu", "acme\n"):
        with pytest.raises(ValidationError, match="RAG_TENANT must be a tenant name"):
            settings_for(tmp_path, tenant=tenant)


def test_a_bad_limits_file_stops_the_server(tmp_path: Path) -> None:
    (tmp_path / "limits.yaml").write_text("default:\n  tokens_per_day: lots\n")
    cmd = [RAG_BIN, "serve", "--port", str(free_port())]
    env = rag_env(tmp_path / "q", RAG_LIMITS_FILE=str(tmp_path / "limits.yaml"))
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "default.tokens_per_day" in result.stderr and "limits.yaml" in result.stderr
