"""The FastAPI application: components built once in the lifespan, routers, error mapping, body limit."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from langchain_core.language_models import BaseChatModel

from rag.components import build_components, build_pipeline
from rag.llm.factory import chat_model_name
from rag.settings import Settings
from serving.body_limit import BodyLimitMiddleware
from serving.errors import install_error_handlers
from serving.routers import chat, documents, health, models, retrieve
from serving.state import AppState

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, chat_model: BaseChatModel | None = None) -> FastAPI:
    """The app. Settings are read when it is created; models and the store are loaded when it starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        components = await run_in_threadpool(build_components, settings)
        try:
            pipeline = await run_in_threadpool(build_pipeline, components, chat_model)
            app.state.rag = AppState(
                settings=settings,
                components=components,
                pipeline=pipeline,
                llm_name=chat_model_name(settings),
                started=int(time.time()),
            )
            log.info("ready: store %s, LLM %s", components.store.location, app.state.rag.llm_name)
            yield
        finally:
            app.state.rag = None
            components.close()

    app = FastAPI(
        title="RAG platform",
        version="0.1.0",
        summary="OpenAI-compatible, grounded and cited chat over your documents.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    for router in (chat.router, models.router, retrieve.router, documents.router, health.router):
        app.include_router(router)
    return app
