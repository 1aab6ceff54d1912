"""Per-request bookkeeping as one ASGI middleware (streams included): a request id (the caller's `X-Request-ID`
when it is sane, else a new one, echoed in the response), a server span, Prometheus request metrics, OpenAI's
`x-ratelimit-*` headers (serving/rate_headers.py), and one structured access log line."""

from __future__ import annotations

import logging
import re
import time
import uuid

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.logs import caller_key_id, caller_tenant, request_id
from serving.metrics import ApiMetrics
from serving.rate_headers import headers as rate_limit_headers
from serving.tracing import tracer

log = logging.getLogger("rag.access")
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # fullmatch: `$` would pass a final newline


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _route(scope: Scope) -> str:
    """The route's template (`/v1/documents/{doc_id:path}`), never the raw path: bounded label values."""
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})  # shared with the app below: the rate-limit windows come back in it
        given = _header(scope, b"x-request-id")
        rid = given if given and _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        tokens = (request_id.set(rid), caller_key_id.set(None), caller_tenant.set(None))
        method, status = scope["method"], 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                extra = [(b"x-request-id", rid.encode()), *rate_limit_headers(scope)]
                message["headers"] = [*message["headers"], *extra]
            await send(message)

        self.metrics.in_flight.inc()
        with tracer.start_as_current_span(f"{method} {scope['path']}", kind=trace.SpanKind.SERVER) as span:
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                route, seconds = _route(scope), time.perf_counter() - started
                span.update_name(f"{method} {route}")
                span.set_attributes(
                    {"http.request.method": method, "http.route": route, "http.response.status_code": status}
                )
                self.metrics.in_flight.dec()
                self.metrics.requests.labels(method, route, str(status)).inc()
                self.metrics.latency.labels(method, route).observe(seconds)
                log.info(
                    "%s %s %d", method, route, status,
                    extra={"route": route, "status": status, "duration_ms": round(seconds * 1000, 1)},
                )  # fmt: skip
                for var, token in zip((request_id, caller_key_id, caller_tenant), tokens, strict=True):
                    var.reset(token)
