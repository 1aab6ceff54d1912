"""Prometheus metrics of the API, in a registry of the app's own (served at `GET /metrics`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from opentelemetry.trace import Span
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response

from rag.limits.usage import UsageCounts
from serving.tracing import tracer

# Seconds: from a cached retrieval (milliseconds) to a CPU generation (a minute).
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class TenantLabels:
    """The `tenant` label's value: the tenant itself for the first `max_tenants` seen by this process, `other` for
    the rest, so a deployment with many tenants keeps a bounded number of series."""

    def __init__(self, max_tenants: int) -> None:
        self._max, self._seen = max_tenants, set[str]()

    def __call__(self, tenant: str) -> str:
        if tenant in self._seen:
            return tenant
        if len(self._seen) < self._max:
            self._seen.add(tenant)
            return tenant
        return "other"


@dataclass
class ApiMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    max_tenants: int = 100  # RAG_METRICS_MAX_TENANTS

    def __post_init__(self) -> None:
        r = self.registry
        self.tenant = TenantLabels(self.max_tenants)
        self.usage_tokens = Counter(
            "rag_usage_tokens", "tokens metered, by tenant and kind (prompt, completion, embedding)",
            ["tenant", "kind"], registry=r,
        )  # fmt: skip
        self.usage_requests = Counter("rag_usage_requests", "chat requests metered, by tenant", ["tenant"], registry=r)
        self.state_skipped = Counter(
            "rag_state_checks_skipped", "checks skipped, the shared state unreachable (RAG_STATE_FAILURE=open)",
            ["check"], registry=r,
        )  # fmt: skip
        self.records = Counter(
            "rag_records", "records (audit events, answers' owners, traces) by what became of them: written, "
            "dropped (too many waiting) or failed (the database refused the batch)", ["outcome"], registry=r,
        )  # fmt: skip
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

    def metered(self, tenant: str, counts: UsageCounts) -> None:
        """What a usage record adds, on the tenant's series (or `other`)."""
        label = self.tenant(tenant)
        for kind, value in (
            ("prompt", counts.prompt_tokens), ("completion", counts.completion_tokens),
            ("embedding", counts.embedding_tokens),
        ):  # fmt: skip
            if value:
                self.usage_tokens.labels(label, kind).inc(value)
        if counts.requests:
            self.usage_requests.labels(label).inc(counts.requests)

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
