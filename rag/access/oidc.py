"""OIDC bearer tokens (JWT access tokens) into principals: verified by PyJWT against the issuer's published keys.

Settings (RAG_OIDC_*, docs/access.md): the issuer, whose discovery document names the JWKS; the audience; the
accepted algorithms (asymmetric only: `none` and HMAC are refused whatever is configured); the claims holding the
tenant, subject, groups and roles.

An API key configured as such is looked up first (serving/deps.py); any other bearer credential shaped like a JWT
comes here. A token is accepted when its signature verifies with a key of the issuer's JWKS and its `iss`, `aud`,
`exp` and `nbf` hold (with `RAG_OIDC_LEEWAY_S` of clock skew). Keys are cached: a token signed with a key id the
cache does not know makes one refetch (at most one every `RAG_OIDC_JWKS_MIN_REFETCH_S`), so a provider's key
rotation is followed without a restart; the keys are refreshed every `RAG_OIDC_JWKS_REFRESH_S`, and while the
provider cannot be reached the cached keys stay in use for `RAG_OIDC_JWKS_MAX_STALE_S` at most (then 503).

Whatever a token holds, a token that does not pass is a 401 naming why, never a server error: its header is read
by PyJWT, which refuses a `kid` that is not a string, a `crit` header and undecodable parts (every PyJWT error is
caught). The signature is verified in a worker thread, off the event loop; the token's length is bounded before it
gets here (RAG_MAX_TOKEN_BYTES, serving/deps.py). The tenant claim must be a tenant name (rag/tenants.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from rag.access.identity import Principal, roles_of
from rag.errors import BackendUnavailable, Unauthorized
from rag.settings import OidcSettings
from rag.tenants import TENANT_RULE, is_tenant_name

log = logging.getLogger(__name__)

REFUSED_ALGORITHMS = ("none", "HS256", "HS384", "HS512")


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated parts: a JWS compact serialization (an API key never has two dots)."""
    return token.count(".") == 2


class JwksCache:
    """The issuer's signing keys by key id, fetched through its discovery document and kept fresh."""

    def __init__(self, settings: OidcSettings, client: httpx.AsyncClient, clock: Callable[[], float] = time.monotonic):
        if settings.issuer is None:
            raise ValueError("JwksCache needs RAG_OIDC_ISSUER")
        self._issuer = settings.issuer.rstrip("/")
        self._settings, self._client, self._clock = settings, client, clock
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # the last successful fetch
        self._tried_at = float("-inf")  # the last attempt, successful or not
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The key a token's header names; one refetch (rate-limited) for a key id not known yet."""
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self._settings.jwks_refresh_s
        unknown = kid not in self._keys and not (kid is None and len(self._keys) == 1)
        if stale or (unknown and now - self._tried_at >= self._settings.jwks_min_refetch_s):
            await self._refresh()
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        found = self._keys.get(kid)
        if found is None:
            raise Unauthorized("the token is signed by a key the identity provider does not publish")
        return found

    async def _refresh(self) -> None:
        async with self._lock:
            now = self._clock()
            if self._fetched_at is not None and now - self._tried_at < self._settings.jwks_min_refetch_s:
                return  # another request refreshed meanwhile
            self._tried_at = now
            try:
                self._keys = await self._fetch()
                self._fetched_at = self._clock()
            except (httpx.HTTPError, ValueError, jwt.PyJWKError) as exc:
                age = None if self._fetched_at is None else now - self._fetched_at
                if age is None or age > self._settings.jwks_max_stale_s:
                    raise BackendUnavailable("the identity provider's signing keys cannot be fetched") from exc
                log.warning("OIDC keys not refreshed (%s); the cached keys, %.0f s old, stay in use", exc, age)

    async def _fetch(self) -> dict[str | None, jwt.PyJWK]:
        discovery = await self._get_json(f"{self._issuer}/.well-known/openid-configuration")
        if str(discovery.get("issuer", "")).rstrip("/") != self._issuer:
            raise ValueError(f"the discovery document names issuer {discovery.get('issuer')!r}")
        jwks = await self._get_json(str(discovery["jwks_uri"]))
        keys: dict[str | None, jwt.PyJWK] = {}
        for entry in jwks.get("keys", []):
            if entry.get("use", "sig") != "sig" or entry.get("kty") == "oct":
                continue  # encryption keys, and symmetric keys, never verify a token here
            try:
                keys[entry.get("kid")] = jwt.PyJWK(entry)
            except jwt.PyJWKError:
                continue  # a key type or curve this library does not support: other keys may serve
        if not keys:
            raise ValueError("the JWKS holds no signing key")
        return keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._client.get(url, timeout=10)
        response.raise_for_status()
        data = response.json()
        if not isinstance(data, dict):
            raise ValueError(f"{url} did not answer a JSON object")
        return data


class OidcVerifier:
    def __init__(self, settings: OidcSettings, client: httpx.AsyncClient | None = None) -> None:
        if settings.issuer is None or settings.audience is None:
            raise ValueError("OidcVerifier needs RAG_OIDC_ISSUER and RAG_OIDC_AUDIENCE")
        self._settings = settings
        self._client = client or httpx.AsyncClient()
        self._keys = JwksCache(settings, self._client)
        self._algorithms = [a for a in settings.algorithms if a not in REFUSED_ALGORITHMS]

    async def aclose(self) -> None:
        await self._client.aclose()

    async def principal(self, token: str) -> Principal:
        """The user principal of a valid token; Unauthorized (401) naming what is wrong otherwise."""
        s = self._settings
        try:
            header = jwt.get_unverified_header(token)  # checks `kid` is a string and refuses `crit` extensions
        except jwt.DecodeError:
            raise Unauthorized("the bearer token is not a JWT") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token header: {exc}") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise Unauthorized(f"token algorithm {str(alg)[:20]!r} is not accepted")
        key = await self._keys.key(header.get("kid"))
        try:
            claims = await asyncio.to_thread(  # hashing and verifying: off the event loop
                jwt.decode,
                token,
                key=key,
                algorithms=[alg],
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("the token is not for this API (audience)") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("the token is from another issuer") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        return self._principal_of(claims)

    def _principal_of(self, claims: dict[str, Any]) -> Principal:
        s = self._settings
        tenant, subject = claims.get(s.tenant_claim), claims.get(s.subject_claim)
        if not isinstance(tenant, str) or not tenant:
            raise Unauthorized(f"the token has no '{s.tenant_claim}' claim (the tenant)")
        if not is_tenant_name(tenant):
            raise Unauthorized(f"the token's '{s.tenant_claim}' claim is not a tenant name ({TENANT_RULE})")
        if not isinstance(subject, str) or not subject:
            raise Unauthorized(f"the token has no '{s.subject_claim}' claim (the subject)")
        groups = _names(claims.get(s.groups_claim))
        given_roles = _names(claims.get(s.roles_claim))
        known = [r for r in given_roles if r in ("reader", "writer", "admin")]  # a provider's other roles are not ours
        roles = roles_of(known or s.default_roles, "token")
        return Principal(tenant, subject, frozenset(groups), roles)


def _names(value: object) -> list[str]:
    """A claim holding names: a list of strings, or one string of space-separated names (as `scope` is)."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v]
    return []
