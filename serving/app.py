"""The FastAPI application: components built once in the lifespan, routers, error mapping, body limit."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from langchain_core.language_models import BaseChatModel

from rag.access.oidc import OidcVerifier
from rag.components import build_components, build_pipeline, hold_default_collection
from rag.embedding.base import DenseEmbedder
from rag.limits.chat_slots import ChatSlots
from rag.limits.factory import build_limiter, limits_of
from rag.llm.factory import chat_model_name
from rag.records.capture import RecordPolicy
from rag.records.database import records_url
from rag.records.store import RecordStore
from rag.records.writer import RecordWriter
from rag.settings import Settings
from serving.audit import Audit
from serving.auth import ApiKeys
from serving.body_limit import BodyLimitMiddleware
from serving.deps import get_principal
from serving.errors import install_error_handlers
from serving.lifecycle import Lifecycle
from serving.metrics import ApiMetrics, metrics_endpoint
from serving.request_context import RequestContextMiddleware
from serving.routers import audit as audit_router
from serving.routers import (
    chat,
    collections,
    document_files,
    documents,
    eval_reports,
    feedback,
    health,
    me,
    models,
    retrieve,
    traces,
    usage,
)
from serving.routers.playground import playground_router
from serving.state import AppState
from serving.upload_slots import UploadSlots

log = logging.getLogger(__name__)
RECORDS_WAIT_S = 60.0  # at startup, how long the records database may be unreachable before the API gives up


def create_app(
    settings: Settings | None = None, *, chat_model: BaseChatModel | None = None, embedder: DenseEmbedder | None = None
) -> FastAPI:
    """The app. Settings are read when it is created; models and the store are loaded when it starts. `chat_model`
    and `embedder`, when given, are used instead of the ones the settings configure (prepared components: the tests
    pass a scripted chat model, and one embedder for every app they start)."""
    settings = settings or Settings()
    api_keys = ApiKeys.from_settings(settings.access)  # a bad key file stops the server here, before it listens
    limits = limits_of(settings.limits)  # a bad limits file stops the server here too
    records_at = records_url(settings)
    metrics = ApiMetrics(max_tenants=settings.limits.metrics_max_tenants)
    oidc = OidcVerifier(settings.oidc) if settings.oidc.issuer else None
    lifecycle = Lifecycle(authenticated=api_keys is not None or oidc is not None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # migrated to the newest schema; a PostgreSQL starting beside the API (a first install) is waited for
        records = await run_in_threadpool(lambda: RecordStore.open(records_at, wait_s=RECORDS_WAIT_S))
        components = await run_in_threadpool(lambda: build_components(settings, embedder=embedder))
        limiter = build_limiter(
            settings.limits, limits, on_skip=lambda check: metrics.state_skipped.labels(check).inc()
        )
        chat_slots = ChatSlots.over(limiter.state, limiter.limits)
        writer = RecordWriter(
            records, audit_keep=settings.records.audit_keep, on_outcome=lambda o, n: metrics.records.labels(o).inc(n)
        )
        try:
            # the default collection opens now: an embedded store is this server's from the start
            await run_in_threadpool(hold_default_collection, components.store, settings.store)
            pipeline = await run_in_threadpool(build_pipeline, components, chat_model)
            app.state.rag = AppState(
                settings=settings,
                components=components,
                pipeline=pipeline,
                llm_name=chat_model_name(settings.llm),
                started=int(time.time()),
                api_keys=api_keys,
                oidc=oidc,
                audit=Audit(writer),
                records=records,
                record_writer=writer,
                record_policy=RecordPolicy.of(settings),
                limiter=limiter,
                chat_slots=chat_slots,
                metrics=metrics,
                lifecycle=lifecycle,
                uploads=UploadSlots(settings.uploads.max_concurrent),
            )
            log.info(
                "ready: store %s, LLM %s, state %s, records %s", components.store.location, app.state.rag.llm_name,
                limiter.state.backend.name, records.location,
            )  # fmt: skip
            if api_keys is None and oidc is None:
                log.warning(
                    "no API keys or OIDC issuer configured: every caller is an admin of tenant '%s', unauthenticated",
                    settings.access.tenant,
                )
            if api_keys is not None:
                log.info("%d API keys configured; every endpoint but the health checks needs one", len(api_keys))
            if oidc is not None:
                log.info("OIDC tokens from %s accepted (audience %s)", settings.oidc.issuer, settings.oidc.audience)
            yield
        finally:
            app.state.rag = None
            components.close()
            await run_in_threadpool(writer.close)  # what is waiting is written
            records.close()
            await chat_slots.aclose()
            await limiter.state.backend.aclose()
            if oidc is not None:
                await oidc.aclose()

    app = FastAPI(
        title="RAG platform",
        version="0.1.0",
        summary="OpenAI-compatible, grounded and cited chat over your documents.",
        lifespan=lifespan,
    )
    app.state.lifecycle = lifecycle
    upload_bytes = int(settings.uploads.max_upload_mb * 1_000_000)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.api.max_body_bytes, larger={document_files.UPLOAD_PATH: upload_bytes}
    )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)  # outermost: sees every response, 413s too
    install_error_handlers(app)
    app.include_router(health.router)  # open: probes carry no key
    app.add_api_route("/metrics", metrics_endpoint(metrics), methods=["GET"], include_in_schema=False)
    routers = (chat, models, retrieve, document_files, documents, collections, audit_router, usage, traces, feedback,
               me, eval_reports)  # fmt: skip
    for module in routers:
        app.include_router(module.router, dependencies=[Depends(get_principal)])
    if settings.ui.enabled:  # the playground's files are open, as a sign-in page is; everything it calls is not
        app.include_router(playground_router(settings, authenticated=lifecycle.authenticated))
    return app
