"""OIDC users through a real provider: the npm package oidc-provider on loopback (scripts/oidc-provider.sh,
tests/support/oidc_provider.mjs) issues JWT access tokens by the client-credentials grant, with tenant, groups and roles
claims; the API in process (tests/support/app.py) discovers the provider, fetches its JWKS and turns tokens into
principals. Tokens that must not pass (expired, early, for another audience or issuer, signed by an unknown key,
`alg: none`, HS256 keyed with the public key, tampered) are made here with the provider's own private key."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from starlette.testclient import TestClient

from rag.access.oidc import JwksCache
from rag.errors import BackendUnavailable
from tests.support.app import empty_store_api, settings_for
from tests.support.headers import bearer
from tests.support.launcher import Server, free_port
from tests.support.oidc import AUDIENCE, launch_provider, new_signing_key, private_jwk, provider_module

WRITER_KEY = "writer-key-0000001"
HANNA_KEY = "hanna-service-key-0001"  # a service whose subject is also a user's (hanna's token)
CLIENTS = [
    {"client_id": "hanna", "client_secret": "s-hanna", "claims": {"tenant": "acme", "groups": ["hr"]}},
    {
        "client_id": "erik",
        "client_secret": "s-erik",
        "claims": {"tenant": "acme", "groups": ["eng"], "roles": ["writer"]},
    },
    {"client_id": "root", "client_secret": "s-root", "claims": {"tenant": "acme", "roles": ["admin"]}},
    {"client_id": "mallory", "client_secret": "s-mallory", "claims": {"tenant": "other", "groups": ["hr"]}},
    {"client_id": "nobody", "client_secret": "s-nobody", "claims": {}},
]
DOCUMENTS = {"pay.md": ["hr"], "design.md": ["eng"], "handbook.md": None}  # id: groups (None: the default)


@dataclass
class Provider:
    """The running provider, the key it signs with (kid, private key) and how to restart it with other keys."""

    entry: str
    port: int
    folder: Path
    server: Server
    kid: str
    key: rsa.RSAPrivateKey

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, client: str) -> str:
        secret = next(c["client_secret"] for c in CLIENTS if c["client_id"] == client)
        body = {"grant_type": "client_credentials", "client_id": client, "client_secret": secret, "scope": "api"}
        response = httpx.post(self.issuer + "/token", data=body, timeout=30)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """A token signed with the provider's own key: valid unless `claims` or `header` make it not."""
        now = int(time.time())
        base = {"iss": self.issuer, "aud": AUDIENCE, "sub": "hanna", "tenant": "acme", "iat": now, "exp": now + 300}
        return jwt.encode({**base, **claims}, self.key, algorithm="RS256", headers={"kid": self.kid, **header})

    def rotate(self) -> None:
        """Restart with a new key only: tokens signed from now on carry a key id the API has not seen."""
        self.server.stop()
        jwk, self.key = new_signing_key(f"k-{time.monotonic_ns()}")
        self.kid = jwk["kid"]
        self.server = _start(self.entry, self.port, self.folder, jwk)


def _start(entry: str, port: int, folder: Path, jwk: dict[str, Any]) -> Server:
    (folder / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    launched = launch_provider(entry, port, [folder / "jwks.json", folder / "clients.json"], folder / "log")
    return launched.wait_ready("/.well-known/openid-configuration", 60)


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    entry = provider_module()
    folder = tmp_path_factory.mktemp("oidc")
    (folder / "clients.json").write_text(json.dumps(CLIENTS))
    jwk, key = new_signing_key("k-first")
    port = free_port()
    running = Provider(entry, port, folder, _start(entry, port, folder, jwk), jwk["kid"], key)
    yield running
    running.server.stop()


@pytest.fixture(scope="module")
def api(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with empty_store_api(
        tmp_path_factory,
        "oidc-api",
        # the writer writes the ids it gives (an admin); the reader key's subject is a token user's name too
        api_keys=SecretStr(f"{WRITER_KEY}=acme roles=admin\n{HANNA_KEY}=acme roles=reader subject=hanna"),
        oidc_issuer=provider.issuer,
        oidc_audience=AUDIENCE,
        oidc_allow_http=True,
        oidc_jwks_min_refetch_s=0,
        max_tokens=4,
        auth_failures_per_minute=0,  # every refused token here comes from one address (tests/test_auth_input.py)
    ) as client:
        for doc_id, groups in DOCUMENTS.items():
            body = {
                "id": doc_id,
                "text": f"{doc_id}: about the platform",
                **({"access": {"groups": groups}} if groups else {}),
            }
            r = client.post("/v1/documents", json=body, headers=bearer(WRITER_KEY))
            assert r.status_code == 200, r.text
        yield client


def _listed(api: TestClient, token: str) -> httpx.Response:
    return api.get("/v1/documents", headers=bearer(token))


def test_provider_tokens_are_principals_with_their_tenant_groups_and_roles(api: TestClient, provider: Provider) -> None:
    seen = {who: _listed(api, provider.token(who)) for who in ("hanna", "erik", "root", "mallory")}
    assert {d["id"] for d in seen["hanna"].json()["data"]} == {"pay.md", "handbook.md"}
    assert {d["id"] for d in seen["erik"].json()["data"]} == {"design.md", "handbook.md"}
    assert {d["id"] for d in seen["root"].json()["data"]} == set(DOCUMENTS)
    assert seen["mallory"].status_code == 404  # its tenant holds no collection; acme's hr documents stay unseen
    headers = bearer(provider.token("hanna"))
    refused = api.post("/v1/documents", json={"id": "x.md", "text": "x"}, headers=headers)
    assert refused.status_code == 403  # a token without roles is a reader
    stored = api.post(
        "/v1/documents",
        json={"id": "eng-notes.md", "text": "Notes of the engineers.", "access": {"groups": ["eng"]}},
        headers=bearer(provider.token("erik")),
    )
    assert stored.status_code == 200 and stored.json()["status"] == "created"
    no_tenant = _listed(api, provider.token("nobody"))
    assert no_tenant.status_code == 401 and "tenant" in no_tenant.json()["error"]["message"]


def _hs256_with_public_key(provider: Provider) -> str:
    """The classic key-confusion attack: HMAC keyed with the public key's PEM, which anyone can read."""
    pem = provider.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": provider.kid}).encode())
    claims = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "x", "tenant": "acme", "exp": now + 300}
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["groups"] = ["hr", "eng", "legal"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_tokens_that_must_not_pass_are_401(api: TestClient, provider: Provider) -> None:
    now = int(time.time())
    other_key, _ = new_signing_key("k-stranger")
    stranger = jwt.encode(
        {"iss": provider.issuer, "aud": AUDIENCE, "sub": "x", "tenant": "acme", "exp": now + 300},
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": other_key["kid"]},
    )
    refused = {
        "expired": provider.sign({"exp": now - 120}),
        "not yet valid": provider.sign({"nbf": now + 600}),
        "wrong audience": provider.sign({"aud": "https://another.example/api"}),
        "wrong issuer": provider.sign({"iss": "https://evil.example"}),
        "unknown key": stranger,
        "alg none": jwt.encode(
            {"iss": provider.issuer, "aud": AUDIENCE, "sub": "x", "tenant": "acme"}, None, algorithm="none"
        ),
        "HS256 with the public key": _hs256_with_public_key(provider),
        "tampered payload": _tampered(provider.token("hanna")),
    }
    assert _listed(api, provider.sign({})).status_code == 200  # the same signing, untouched: accepted
    for what, token in refused.items():
        r = _listed(api, token)
        assert r.status_code == 401, (what, r.text)
        assert r.json()["error"]["type"] == "authentication_error", what


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: object, claims: object = None, signature: bytes = b"") -> str:
    """A JWS compact serialization of whatever JSON is given, signature as given (none by default)."""
    payload = {"sub": "x", "tenant": "acme"} if claims is None else claims
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}.{_b64(signature)}"


def test_malformed_tokens_are_401_with_one_log_line(
    api: TestClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    """Headers PyJWT refuses with its general InvalidTokenError (a `kid` not a string, a `crit` extension), odd
    `alg`s, parts that are not JSON or base64, keys of another type than the algorithm: each a 401 in OpenAI shape
    and the request's access line, no error logged (they were 500s with two tracebacks each)."""
    kid = provider.kid
    malformed = {
        "kid a list": _unsigned({"alg": "RS256", "kid": ["k1"]}),
        "kid an object": _unsigned({"alg": "RS256", "kid": {"k": 1}}),
        "kid a number": _unsigned({"alg": "RS256", "kid": 7}),
        "crit header": _unsigned({"alg": "RS256", "kid": kid, "crit": ["exp"]}),
        "crit not a list": _unsigned({"alg": "RS256", "kid": kid, "crit": "b64"}),
        "alg a list": _unsigned({"alg": ["RS256"], "kid": kid}),
        "alg an object": _unsigned({"alg": {"RS256": True}, "kid": kid}),
        "header an array": _unsigned(["RS256"]),
        "header not JSON": f"{_b64(b'{not json')}.{_b64(b'{}')}.",
        "header not base64": "!!!!.e30.",
        "payload not JSON": f"{_b64(json.dumps({'alg': 'RS256', 'kid': kid}).encode())}.{_b64(b'[1,')}.{_b64(b'x')}",
        "payload an array": _unsigned({"alg": "RS256", "kid": kid}, [1, 2], b"x" * 256),
        "signature not base64": _unsigned({"alg": "RS256", "kid": kid})[:-1] + "!!!",
        "ES256 with an RSA key": _unsigned({"alg": "ES256", "kid": kid}, None, b"x" * 64),
        "EdDSA with an RSA key": _unsigned({"alg": "EdDSA", "kid": kid}, None, b"x" * 64),
        "b64 false": _unsigned({"alg": "RS256", "kid": kid, "b64": False, "crit": ["b64"]}),
        "empty parts": "..",
    }
    caplog.set_level(logging.INFO)
    for what, token in malformed.items():
        caplog.clear()
        r = _listed(api, token)
        assert r.status_code == 401, (what, r.text)
        assert r.json()["error"]["type"] == "authentication_error", what
        served = [rec.name for rec in caplog.records if not rec.name.startswith("httpx")]  # not the test's client
        assert served == ["rag.access"], (what, caplog.text)


def test_the_tenant_claim_must_be_a_tenant_name(api: TestClient, provider: Provider) -> None:
    assert _listed(api, provider.sign({"tenant": "acme"})).status_code == 200
    for tenant in ("acme/eu", "a" * 65, "acme\n", "acme eu", "ü-tenant", "acme=1"):
        r = _listed(api, provider.sign({"tenant": tenant}))
        assert r.status_code == 401, (tenant, r.text)
        assert "not a tenant name" in r.json()["error"]["message"], tenant


def test_signatures_are_verified_off_the_event_loop(
    api: TestClient, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyJWT's decode (hashing the token, verifying its signature) runs where no event loop runs: a worker thread."""
    where: list[str] = []
    decode = jwt.decode

    def watched(*args: Any, **kwargs: Any) -> Any:
        try:
            asyncio.get_running_loop()
            where.append("event loop")
        except RuntimeError:
            where.append("worker thread")
        return decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", watched)
    assert _listed(api, provider.sign({})).status_code == 200
    assert where == ["worker thread"]


def test_a_key_rotation_is_followed_without_a_restart(api: TestClient, provider: Provider) -> None:
    before = provider.token("hanna")
    assert _listed(api, before).status_code == 200
    provider.rotate()
    after = provider.token("hanna")
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    assert _listed(api, after).status_code == 200  # the unknown key id made the API fetch the keys again
    assert _listed(api, before).status_code == 401  # the retired key is gone from the provider's JWKS


def test_while_the_provider_is_down_cached_keys_serve_for_a_bounded_time(provider: Provider, tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, oidc_issuer=provider.issuer, oidc_audience=AUDIENCE, oidc_allow_http=True,
        oidc_jwks_refresh_s=60, oidc_jwks_max_stale_s=600, oidc_jwks_min_refetch_s=0,
    )  # fmt: skip
    now = [1000.0]

    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            cache = JwksCache(settings.oidc, client, clock=lambda: now[0])
            await cache.key(provider.kid)
            provider.server.stop()
            try:
                now[0] += 120  # due for a refresh, the provider unreachable: the cached keys still serve
                assert (await cache.key(provider.kid)).key_id == provider.kid
                now[0] += 600  # past RAG_OIDC_JWKS_MAX_STALE_S: no more
                with pytest.raises(BackendUnavailable):
                    await cache.key(provider.kid)
            finally:
                provider.server = _start(
                    provider.entry, provider.port, provider.folder, private_jwk(provider.key, provider.kid)
                )

    asyncio.run(scenario())


def test_a_key_and_a_token_of_the_same_subject_are_two_principals(api: TestClient, provider: Provider) -> None:
    """A key with `subject=hanna` and the user hanna (a token) never meet: neither rates the other's answers, and a
    document's `users` list names the user, its `services` list the key."""
    key, token = bearer(HANNA_KEY), bearer(provider.token("hanna"))
    asked = {"model": "rag", "messages": [{"role": "user", "content": "about the platform?"}]}
    by_key = api.post("/v1/chat/completions", json=asked, headers=key).json()["id"]
    by_token = api.post("/v1/chat/completions", json=asked, headers=token).json()["id"]
    assert api.post("/v1/feedback", json={"completion_id": by_key, "rating": "up"}, headers=token).status_code == 403
    assert api.post("/v1/feedback", json={"completion_id": by_token, "rating": "up"}, headers=key).status_code == 403
    assert api.post("/v1/feedback", json={"completion_id": by_key, "rating": "up"}, headers=key).status_code == 200
    writer = bearer(WRITER_KEY)
    for doc_id, access in (("for-user.md", {"users": ["hanna"]}), ("for-service.md", {"services": ["hanna"]})):
        body = {"id": doc_id, "text": f"{doc_id}: a note", "access": access}
        assert api.post("/v1/documents", json=body, headers=writer).status_code == 200
    assert {"for-user.md", "for-service.md"} & {
        d["id"] for d in _listed(api, provider.token("hanna")).json()["data"]
    } == {"for-user.md"}
    assert {"for-user.md", "for-service.md"} & {d["id"] for d in _listed(api, HANNA_KEY).json()["data"]} == {
        "for-service.md"
    }
