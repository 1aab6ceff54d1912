"""OpenTelemetry traces, configured by the standard `OTEL_*` variables and off when none is set.

`OTEL_TRACES_EXPORTER=otlp` (or any `OTEL_EXPORTER_OTLP_ENDPOINT` / `..._TRACES_ENDPOINT`) exports over OTLP/HTTP,
the exporter reading its endpoint and headers from the environment; `console` prints spans to stdout;
`OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turns tracing off. `OTEL_SERVICE_NAME` names the service
(default `rag-api`). Without a configured provider the API's spans are OpenTelemetry's no-ops.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry import trace

log = logging.getLogger(__name__)
tracer = trace.get_tracer("rag.serving")


def exporter_name(env: Mapping[str, str]) -> str | None:
    """Which exporter the environment asks for, or None for no tracing."""
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    chosen = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if chosen:
        return None if chosen == "none" else chosen.split(",")[0].strip()
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return "otlp"
    return None


def configure_tracing(env: Mapping[str, str] | None = None) -> str | None:
    """Installs a tracer provider when the environment asks for one; returns the exporter's name."""
    env = os.environ if env is None else env
    name = exporter_name(env)
    if name is None:
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME", "rag-api")}))
    if name == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        log.warning("OTEL_TRACES_EXPORTER=%s is not supported (otlp, console, none): tracing stays off", name)
        return None
    trace.set_tracer_provider(provider)
    return name
