"""FastAPI dependencies as `Annotated` aliases: routers declare what they need, the lifespan provides it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rag.access.identity import Principal, Role
from rag.access.oidc import looks_like_jwt
from rag.errors import BackendUnavailable, Forbidden, RateLimited, Unauthorized
from serving import rate_headers
from serving.logs import caller_key_id, caller_tenant
from serving.state import AppState

_bearer = HTTPBearer(auto_error=False, description="an API key from RAG_API_KEYS (when keys are configured)")


# The dependencies are `async def` although none awaits: FastAPI runs a plain `def` dependency in its thread pool,
# a thread hop per dependency per request (not measurable in `python -m benchmarks.load`'s added time to first token:
# 10.9 -> 10.8 ms at 300 pairs, measured once by hand, commit 2508e95; docs/performance.md).


async def get_state(request: Request) -> AppState:
    state: AppState | None = getattr(request.app.state, "rag", None)
    if state is None:
        raise BackendUnavailable("the service is starting")
    return state


def _part(text: str) -> str:
    """One part of a rate-limit bucket, percent-encoded: it never holds the `/` and `:` that separate parts."""
    return quote(text, safe="")


def rate_bucket(principal: Principal) -> str:
    """The window a caller's requests count in: its API key, or its user (tenant and subject, each percent-encoded,
    so tenant `a` with subject `b/c` and tenant `a/b` with subject `c` are two buckets, not one)."""
    if principal.key_id:
        return f"key:{_part(principal.key_id)}"
    return f"user:{_part(principal.tenant)}/{_part(principal.subject)}"


def client_address(request: Request) -> str:
    """Who failed authentication: the client's address (behind a proxy, the one uvicorn's proxy headers give:
    FORWARDED_ALLOW_IPS, docs/access.md), percent-encoded as a bucket part."""
    return _part(request.client.host if request.client else "unknown")


async def _authenticate(state: AppState, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials.strip():
        raise Unauthorized("missing credentials: send the header 'Authorization: Bearer KEY' (an API key or a token)")
    secret = credentials.credentials.strip()
    if len(secret) > state.settings.access.max_token_bytes:  # refused unread: no key compared, no token decoded
        raise Unauthorized(f"the bearer credential is longer than {state.settings.access.max_token_bytes} bytes")
    principal: Principal | None = state.api_keys.find(secret) if state.api_keys is not None else None  # keys first
    if principal is None:
        if state.oidc is not None and looks_like_jwt(secret):
            principal = await state.oidc.principal(secret)
        else:
            raise Unauthorized("invalid API key" if state.api_keys is not None else "the bearer token is not a JWT")
    return principal


async def get_principal(
    state: Annotated[AppState, Depends(get_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    request: Request,
) -> Principal:
    """The caller, resolved once per request from its bearer credential (401 without a valid one): an OIDC token
    (a JWT, when RAG_OIDC_ISSUER is set) or an API key; then its request rate, per key or user, in the shared state
    (429 past it; the window in the `x-ratelimit-*-requests` headers). A client address over its failed
    authentications (RAG_AUTH_FAILURES_PER_MINUTE) gets 429 before its credential is looked at; a credential that
    fails counts against it (a request without one does not). Without keys or an issuer configured (development on
    loopback) every caller is an admin of the deployment's tenant, not rate-limited."""
    if state.api_keys is None and state.oidc is None:
        anonymous = Principal(state.settings.access.tenant, "anonymous", roles=frozenset({"admin"}))
        caller_tenant.set(anonymous.tenant)
        return anonymous
    address = client_address(request)
    await state.limiter.admit_client(address)
    try:
        principal = await _authenticate(state, credentials)
    except Unauthorized:
        if credentials is not None and credentials.scheme.lower() == "bearer" and credentials.credentials.strip():
            await state.limiter.note_auth_failure(address)
        raise
    caller_key_id.set(principal.key_id)  # for the access log (async: set in the request's own context)
    caller_tenant.set(principal.tenant)
    caller = rate_bucket(principal)
    try:
        window = await state.limiter.admit_request(principal.tenant, caller)
    except RateLimited as refused:
        rate_headers.note_refusal(request, "requests", refused)
        raise
    rate_headers.note(request, "requests", window)
    return principal


def requires(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the principal, or 403 (OpenAI error shape) when none of its roles allows `role`."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.has(role):
            raise Forbidden(
                f"this needs the {role} role; the caller has {', '.join(sorted(principal.roles)) or 'none'}"
            )
        return principal

    return check


StateDep = Annotated[AppState, Depends(get_state)]
ReaderDep = Annotated[Principal, Depends(requires("reader"))]
WriterDep = Annotated[Principal, Depends(requires("writer"))]
AdminDep = Annotated[Principal, Depends(requires("admin"))]
