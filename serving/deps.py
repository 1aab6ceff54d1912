"""FastAPI dependencies as `Annotated` aliases: routers declare what they need, the lifespan provides it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rag.errors import BackendUnavailable
from serving.auth import Caller
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


async def get_caller(
    state: Annotated[AppState, Depends(get_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller, from its API key (401 without a valid one), after its key's rate limit (429). Without keys
    (development on loopback) every caller is the default tenant, not rate-limited."""
    if state.api_keys is None:
        caller = Caller(tenant=state.settings.tenant, key_id=None)
    else:
        header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
        caller = state.api_keys.caller(header)
        caller_key_id.set(caller.key_id)  # for the access log (async: set in the request's own context)
        state.limiter.take(f"key:{caller.key_id}")
    caller_tenant.set(caller.tenant)
    return caller


async def get_tenant(caller: Annotated[Caller, Depends(get_caller)]) -> str:
    return caller.tenant


StateDep = Annotated[AppState, Depends(get_state)]
TenantDep = Annotated[str, Depends(get_tenant)]
