"""`rag serve [--host --port]`: the OpenAI-compatible API under uvicorn.

Without API keys the API has no authentication, so it listens only on loopback unless RAG_ALLOW_UNAUTHENTICATED
says otherwise."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys

from rag.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="serve the OpenAI-compatible chat API")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.set_defaults(run=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from rag.components import build_store, hold_default_collection
    from rag.limits.limits_file import LimitsFileError
    from serving.app import create_app  # FastAPI and the serving stack load only for this command
    from serving.auth import ApiKeyConfigError
    from serving.graceful import DrainingServer
    from serving.header_limit import bounded_httptools
    from serving.lifecycle import lifecycle_of
    from serving.logs import use_json_logs
    from serving.tracing import configure_tracing

    settings = Settings()
    try:
        app = create_app(settings)  # reads the API keys and the limits file: a bad one stops here
    except (ApiKeyConfigError, LimitsFileError) as exc:
        print(f"rag serve: {exc}", file=sys.stderr)
        return 2
    if not lifecycle_of(app).authenticated and not is_loopback(args.host) and not settings.access.allow_unauthenticated:
        print(
            f"rag serve: no API keys (RAG_API_KEYS or RAG_API_KEYS_FILE), so the API would be open to anyone "
            f"who reaches {args.host}; it listens only on loopback without keys. Configure keys, or set "
            "RAG_ALLOW_UNAUTHENTICATED=true to serve without authentication anyway.",
            file=sys.stderr,
        )
        return 2
    probe = build_store(
        settings.store
    )  # an embedded store another process holds stops here: StoreBusy names it, exit 3
    try:
        hold_default_collection(probe, settings.store)
    finally:
        probe.close()
    if settings.api.log_format == "json":
        use_json_logs()
    else:  # a server's log keeps uvicorn's lines (the other commands show libraries' warnings only)
        logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("rag.serve")
    exporter = configure_tracing()
    log.info("tracing: %s", f"OpenTelemetry, {exporter} exporter" if exporter else "off (no OTEL_* variables)")
    # uvicorn logs through the root logger (JSON lines); the access log is our own (serving/request_context.py).
    # httptools, bounded: a request head over RAG_MAX_HEADER_BYTES is refused as it arrives (serving/header_limit.py)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=settings.api.shutdown_timeout_s,
        http=bounded_httptools(settings.access.max_header_bytes),
        h11_max_incomplete_event_size=settings.access.max_header_bytes,
    )
    DrainingServer(config, app, settings.api.shutdown_drain_s).run()
    return 0
