"""FastAPI dependencies as `Annotated` aliases: routers declare what they need, the lifespan provides it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from rag.errors import BackendUnavailable
from rag.settings import Settings
from serving.state import AppState


def get_state(request: Request) -> AppState:
    state: AppState | None = getattr(request.app.state, "rag", None)
    if state is None:
        raise BackendUnavailable("the service is starting")
    return state


def get_settings(state: Annotated[AppState, Depends(get_state)]) -> Settings:
    return state.settings


def get_tenant(state: Annotated[AppState, Depends(get_state)]) -> str:
    """The caller's tenant. One tenant until API keys map callers to tenants."""
    return state.settings.tenant


StateDep = Annotated[AppState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TenantDep = Annotated[str, Depends(get_tenant)]
