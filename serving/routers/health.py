"""`GET /healthz` (the process is up) and `GET /readyz` (each dependency: store, embedder, LLM, shared state)."""

from __future__ import annotations

import httpx
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from serving.deps import StateDep
from serving.state import AppState

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check_store(state: AppState) -> None:
    state.components.store.list_collections()


def _check_embedder(state: AppState) -> None:
    state.components.embedder.embed_query("ready")


async def _check_llm(state: AppState) -> None:
    base_url = state.settings.llm.base_url
    if not base_url:
        return  # the in-process engine was loaded at startup
    headers = {"Authorization": f"Bearer {state.settings.llm.api_key.get_secret_value()}"}
    async with httpx.AsyncClient(timeout=3.0) as client:
        response = await client.get(base_url.rstrip("/") + "/models", headers=headers)
        response.raise_for_status()


@router.get("/readyz")
async def readyz(state: StateDep) -> JSONResponse:
    if state.lifecycle.draining:  # shutting down: take this instance out of the load balancer
        return JSONResponse(status_code=503, content={"status": "draining", "down": [], "checks": {}})
    checks: dict[str, dict[str, object]] = {}
    for name, check in (("store", _check_store), ("embedder", _check_embedder)):
        try:
            await run_in_threadpool(check, state)
            checks[name] = {"ok": True}
        except Exception as exc:
            checks[name] = {"ok": False, "error": type(exc).__name__}
    try:
        await _check_llm(state)
        checks["llm"] = {"ok": True, "backend": state.llm_name}
    except Exception as exc:
        checks["llm"] = {"ok": False, "backend": state.llm_name, "error": type(exc).__name__}
    # The shared state: down for readiness only when failing closed (failing open, the API serves without it).
    guarded = state.limiter.state
    reachable = await guarded.ping()
    checks["state"] = {"ok": reachable or guarded.policy == "open", "backend": guarded.backend.name,
                       "reachable": reachable, "failure": guarded.policy}  # fmt: skip
    down = [name for name, c in checks.items() if not c["ok"]]
    body = {"status": "ready" if not down else "unavailable", "down": down, "checks": checks}
    return JSONResponse(status_code=200 if not down else 503, content=body)
