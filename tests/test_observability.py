"""Observability of `rag serve`: Prometheus /metrics, OpenTelemetry spans (console exporter via OTEL_*), JSON logs
with request ids, and neither keys nor content in the logs. The session's `served` process (tests/conftest.py), which
other tests call too: metrics are compared before and after, the log is read as it is written."""

from __future__ import annotations

import json
import time

import httpx
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from tests.support.docs_store import SERVED_KEY
from tests.support.headers import bearer
from tests.support.launcher import Server

KEY = SERVED_KEY
QUESTION = "How do I deploy the platform on Kubernetes?"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(server: Server) -> Samples:
    text = httpx.get(server.base_url + "/metrics").text  # open, like the health checks
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _log_when(server: Server, *needles: str, timeout_s: float = 30) -> str:
    """The server's log once it holds every needle (lines and spans are flushed as they are written)."""
    deadline = time.monotonic() + timeout_s
    while True:
        log = server.log.read_text(errors="replace")
        if all(n in log for n in needles) or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def test_metrics_traces_and_json_logs(served: Server) -> None:
    before = _samples(served)
    client = OpenAI(base_url=served.base_url + "/v1", api_key=KEY, max_retries=0)
    short = {"max_tokens": 2, "extra_body": {"top_k": 1}}  # one source: a short prompt for the CPU engine
    reply = client.chat.completions.with_raw_response.create(
        model="rag",
        messages=[{"role": "user", "content": QUESTION}],
        extra_headers={"X-Request-ID": "req-obs-1"},
        **short,
    )
    assert reply.headers["x-request-id"] == "req-obs-1"
    list(
        client.chat.completions.create(
            model="rag", messages=[{"role": "user", "content": QUESTION}], stream=True, **short
        )
    )
    r = httpx.post(served.base_url + "/v1/retrieve", json={"query": "helm"}, headers=bearer(KEY))
    assert r.status_code == 200 and len(r.headers["x-request-id"]) == 32
    assert httpx.get(served.base_url + "/v1/models").status_code == 401

    after = _samples(served)

    def grew(name: str, *labels: tuple[str, str]) -> float:
        key = (name, tuple(sorted(labels)))
        return after[key] - before.get(key, 0.0)

    chat = ("route", "/v1/chat/completions")
    assert grew("rag_requests_total", ("method", "POST"), chat, ("status", "200")) == 2
    assert grew("rag_requests_total", ("method", "GET"), ("route", "/v1/models"), ("status", "401")) == 1
    assert grew("rag_request_duration_seconds_count", ("method", "POST"), chat) == 2
    assert grew("rag_time_to_first_token_seconds_count") == 2
    assert grew("rag_llm_duration_seconds_count") == 2
    assert grew("rag_retrieval_duration_seconds_count") == 3
    assert grew("rag_generated_tokens_total") > 0
    assert after[("rag_requests_in_flight", ())] == 1  # this /metrics request

    spans = [f'"name": "{span}"' for span in ("rag.retrieve", "rag.generate", "POST /v1/chat/completions")]
    log = _log_when(served, '"request_id": "req-obs-1"', *spans)
    assert KEY not in log and QUESTION not in log  # no key and no content, by default
    lines = [json.loads(line) for line in log.splitlines() if line.startswith('{"time"')]
    access = [e for e in lines if e["logger"] == "rag.access"]
    first = next(e for e in access if e.get("request_id") == "req-obs-1")
    assert first["route"] == "/v1/chat/completions" and first["status"] == 200 and first["tenant"] == "default"
    assert len(first["key_id"]) == 12 and first["duration_ms"] > 0
    assert any(e["logger"] == "rag.serve" and "console exporter" in e["message"] for e in lines)
    for span in spans:
        assert span in log, span
    assert '"service.name": "rag-api-test"' in log
