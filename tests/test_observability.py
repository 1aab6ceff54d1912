"""Observability of `rag serve`: Prometheus /metrics, OpenTelemetry spans (console exporter via OTEL_*), JSON logs
with request ids, and neither keys nor content in the logs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, serve_docs_copy

KEY = "secret-key-for-observability"
QUESTION = "How do I deploy the platform on Kubernetes?"


@pytest.fixture(scope="module")
def observed(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = serve_docs_copy(
        docs_store,
        tmp_path_factory,
        "api-observed",
        RAG_API_KEYS=f"{KEY}=default",  # the tenant the docs store was ingested in
        RAG_MAX_TOKENS="8",
        OTEL_TRACES_EXPORTER="console",
        OTEL_SERVICE_NAME="rag-api-test",
    )
    yield server
    server.stop()


def _samples(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(server.base_url + "/metrics").text  # open, like the health checks
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_traces_and_json_logs(observed: Server) -> None:
    client = OpenAI(base_url=observed.base_url + "/v1", api_key=KEY, max_retries=0)
    reply = client.chat.completions.with_raw_response.create(
        model="rag", messages=[{"role": "user", "content": QUESTION}], extra_headers={"X-Request-ID": "req-obs-1"}
    )
    assert reply.headers["x-request-id"] == "req-obs-1"
    list(client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}], stream=True))
    r = httpx.post(
        observed.base_url + "/v1/retrieve", json={"query": "helm"}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert r.status_code == 200 and len(r.headers["x-request-id"]) == 32
    assert httpx.get(observed.base_url + "/v1/models").status_code == 401

    samples = _samples(observed)
    chat = ("route", "/v1/chat/completions")
    assert samples[("rag_requests_total", (("method", "POST"), chat, ("status", "200")))] == 2
    assert samples[("rag_requests_total", (("method", "GET"), ("route", "/v1/models"), ("status", "401")))] == 1
    assert samples[("rag_request_duration_seconds_count", (("method", "POST"), chat))] == 2
    assert samples[("rag_time_to_first_token_seconds_count", ())] == 2
    assert samples[("rag_llm_duration_seconds_count", ())] == 2
    assert samples[("rag_retrieval_duration_seconds_count", ())] == 3
    assert samples[("rag_generated_tokens_total", ())] > 0
    assert samples[("rag_requests_in_flight", ())] == 1  # this /metrics request

    observed.stop()  # flush: the console exporter and the logs are complete once the process has exited
    log = observed.log.read_text()
    assert KEY not in log and QUESTION not in log  # no key and no content, by default
    lines = [json.loads(line) for line in log.splitlines() if line.startswith('{"time"')]
    access = [e for e in lines if e["logger"] == "rag.access"]
    first = next(e for e in access if e.get("request_id") == "req-obs-1")
    assert first["route"] == "/v1/chat/completions" and first["status"] == 200 and first["tenant"] == "default"
    assert len(first["key_id"]) == 12 and first["duration_ms"] > 0
    assert any(e["logger"] == "rag.serve" and "console exporter" in e["message"] for e in lines)
    for span in ("rag.retrieve", "rag.generate", "POST /v1/chat/completions"):
        assert f'"name": "{span}"' in log, span
    assert '"service.name": "rag-api-test"' in log
