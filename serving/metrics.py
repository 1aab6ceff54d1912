"""Prometheus metrics of the API, in a registry of the app's own (served at `GET /metrics`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from opentelemetry.trace import Span
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response

from serving.tracing import tracer

# Seconds: from a cached retrieval (milliseconds) to a CPU generation (a minute).
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass
class ApiMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "rag_requests", "HTTP requests by route and status", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "rag_request_duration_seconds", "HTTP request latency (streams: until the last byte)", ["method", "route"],
            buckets=_LATENCY, registry=r,
        )  # fmt: skip
        self.in_flight = Gauge("rag_requests_in_flight", "HTTP requests being served", registry=r)
        self.first_token = Histogram(
            "rag_time_to_first_token_seconds", "chat: from the request to the first generated token",
            buckets=_LATENCY, registry=r,
        )  # fmt: skip
        self.tokens = Counter("rag_generated_tokens", "completion tokens generated", registry=r)
        self.retrieval = Histogram(
            "rag_retrieval_duration_seconds", "retrieval (embedding the query and the Qdrant query)",
            buckets=_LATENCY, registry=r,
        )  # fmt: skip
        self.llm = Histogram(
            "rag_llm_duration_seconds", "generation, from the prompt to the last token", buckets=_LATENCY, registry=r
        )

    @contextmanager
    def retrieving(self, collection: str, top_k: int, mode: str) -> Iterator[Span]:
        """One retrieval, timed (rag_retrieval_duration_seconds) and traced (`rag.retrieve`), for the chat and
        `/v1/retrieve` alike."""
        attributes: dict[str, str | int] = {"rag.collection": collection, "rag.top_k": top_k, "rag.mode": mode}
        with tracer.start_as_current_span("rag.retrieve", attributes=attributes) as span, self.retrieval.time():
            yield span


def metrics_endpoint(metrics: ApiMetrics) -> Callable[[], Awaitable[Response]]:
    """`GET /metrics` in Prometheus' text format; open like the health checks (scrapers carry no API key)."""

    async def serve_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return serve_metrics
