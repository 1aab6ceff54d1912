"""The playground at `/ui`: a chat, the caller's documents, feedback and (for admins) evaluation reports, in the
browser. Plain ES modules and one stylesheet from serving/playground/ (no build step, no CDN: every asset is served
here), under a strict Content-Security-Policy (scripts and styles from this origin only, no inline script). It is a
client of the public API like any other: `config.json` (the model, the default collection, how to sign in) is the
only thing served for it alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from rag.errors import NotFound
from rag.settings import Settings

PLAYGROUND = Path(__file__).resolve().parent.parent / "playground"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def oidc_config(settings: Settings) -> dict[str, Any] | None:
    """What the playground needs for the authorization code flow with PKCE: the issuer and a public client."""
    if not settings.oidc.issuer or not settings.ui.oidc_client_id:
        return None
    return {
        "issuer": settings.oidc.issuer,
        "client_id": settings.ui.oidc_client_id,
        "scope": settings.ui.oidc_scope,
        "resource": settings.ui.oidc_resource,
    }


def security_headers(settings: Settings) -> dict[str, str]:
    """Scripts, styles and fonts from this origin only, no inline script or style element; images from here or
    blob: (report plots fetched with the bearer credential); fetches to this API and, with sign-in by OIDC, to the
    issuer (discovery, token endpoint); never framed."""
    connect = "'self'" + (f" {_origin(settings.oidc.issuer)}" if oidc_config(settings) and settings.oidc.issuer else "")
    policy = "; ".join([
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob:",
        f"connect-src {connect}", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    ])  # fmt: skip
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def playground_router(settings: Settings, *, authenticated: bool) -> APIRouter:
    files = {p.name: p for p in PLAYGROUND.iterdir() if p.suffix in MEDIA_TYPES}
    headers = security_headers(settings)
    config = {
        "model": settings.api.model_name,
        "collection": settings.store.collection,
        "auth": authenticated,
        "oidc": oidc_config(settings),
    }
    router = APIRouter(include_in_schema=False)

    @router.get("/ui")
    async def to_playground() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=308)

    @router.get("/ui/config.json")
    async def playground_config() -> JSONResponse:
        return JSONResponse(config, headers=headers)

    @router.get("/ui/{name}")
    async def playground_file(name: str) -> FileResponse:
        path = files.get(name)
        if path is None:
            raise NotFound(f"no playground file '{name}'")
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=headers)

    @router.get("/ui/")
    async def playground_page() -> FileResponse:
        return FileResponse(files["index.html"], media_type=MEDIA_TYPES[".html"], headers=headers)

    return router
