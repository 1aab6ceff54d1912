"""The process's lifecycle as the app sees it, one typed object from `create_app` on (before the lifespan has built
the components, and after it has closed them): whether callers authenticate, and whether shutdown has begun."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI


@dataclass
class Lifecycle:
    authenticated: bool  # API keys are configured: `rag serve` binds beyond loopback only then
    draining: bool = False  # SIGTERM received (serving/graceful.py): /readyz answers 503 from then on


def lifecycle_of(app: FastAPI) -> Lifecycle:
    """The app's lifecycle, set by `create_app`."""
    lifecycle = app.state.lifecycle
    if not isinstance(lifecycle, Lifecycle):
        raise TypeError("the app was not built by serving.app.create_app")
    return lifecycle
