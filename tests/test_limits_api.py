"""Quotas and usage through the API in process (tests/support/app.py: real store and embedder, a scripted chat model
that reports usage as vLLM does) with the real `openai` client, on both state backends (in-process and a real
Redis): OpenAI's headers on every answer, 429 `insufficient_quota` once a tenant's tokens are spent, a stream that
crosses the quota finishing, usage sums equal to what the model reported, and who may read them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import openai
import pytest
from openai import OpenAI
from pydantic import SecretStr
from starlette.testclient import TestClient

from rag.limits.usage import today
from tests.support.app import BASE_URL, app_client, settings_for
from tests.support.docs_store import ANSWERED_QUESTION
from tests.support.headers import bearer
from tests.support.launcher import RedisServer
from tests.support.scripted_chat import ScriptedChatModel

MODEL = ScriptedChatModel(answer="Deploy it with the Helm chart, as the docs describe.")
QUOTA = 600  # the tenant's tokens a day; each chat here spends a few hundred (the prompt holds the sources)
STREAM_QUOTA = 50  # less than one chat: the first stream crosses it


@pytest.fixture(params=["memory", "redis"], scope="module")
def limited_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("limits")
    suffix = uuid.uuid4().hex[:6]  # tenants named afresh: the session's Redis outlives the module
    (folder / "limits.yaml").write_text(
        f"tenants:\n  metered:\n    tokens_per_day: {QUOTA}\n  streamer{suffix}:\n    tokens_per_day: {STREAM_QUOTA}\n"
    )
    keys = (
        f"admin-key=metered roles=admin subject=ops\nreader-key=metered subject=app\nother-key=other{suffix}\n"
        f"stream-key=streamer{suffix} roles=reader,writer,admin"
    )
    state: dict[str, object] = {}
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        state = {"state_url": server.url}
    settings = settings_for(
        folder / "qdrant",
        api_keys=SecretStr(keys),
        limits_file=folder / "limits.yaml",
        max_tokens=8,
        answerability_min=0.0,
        min_relevance=0.0,
        **state,
    )
    with app_client(settings, MODEL) as api:
        for key in ("admin-key", "other-key", "stream-key"):
            r = api.post(
                "/v1/documents",
                json={"id": "deploy.md", "text": "Deploy the platform on Kubernetes with the Helm chart."},
                headers=bearer(key),
            )
            assert r.status_code == 200, r.text
        yield api
        if request.param == "redis":  # the tenant's counters would carry over to the next parameter's run
            import redis

            redis.Redis.from_url(state["state_url"]).flushdb()  # type: ignore[arg-type]


def _client(api: TestClient, key: str) -> OpenAI:
    return OpenAI(base_url=BASE_URL + "/v1", api_key=key, max_retries=0, http_client=api)


def _usage(api: TestClient, key: str = "admin-key", **params: str) -> dict[str, object]:
    r = api.get("/v1/usage", params=params, headers=bearer(key))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_quota_headers_refusal_streams_and_usage_sums(limited_api: TestClient) -> None:
    reader = _client(limited_api, "reader-key")
    reported: list[tuple[int, int]] = []
    remaining: list[int] = []
    refused: openai.RateLimitError | None = None
    while refused is None:
        try:
            raw = reader.chat.completions.with_raw_response.create(
                model="rag", messages=[{"role": "user", "content": ANSWERED_QUESTION}]
            )
        except openai.RateLimitError as exc:
            refused = exc
            continue
        answer = raw.parse()
        assert answer.usage is not None
        reported.append((answer.usage.prompt_tokens, answer.usage.completion_tokens))
        assert raw.headers["x-ratelimit-limit-tokens"] == str(QUOTA)
        remaining.append(int(raw.headers["x-ratelimit-remaining-tokens"]))
        assert raw.headers["x-ratelimit-reset-tokens"].endswith("s")
        assert int(raw.headers["x-ratelimit-limit-requests"]) == 600
        assert len(reported) < 20
    # Each answer was admitted while the tenant was below its quota; the one that crossed it was served whole.
    spent = [sum(p + c for p, c in reported[:i]) for i in range(len(reported))]
    assert remaining == [QUOTA - s for s in spent] and spent[-1] < QUOTA <= spent[-1] + sum(reported[-1])
    assert refused.code == "insufficient_quota"
    assert 1 <= int(refused.response.headers["Retry-After"]) <= 86_400
    assert refused.response.headers["x-ratelimit-remaining-tokens"] == "0"
    assert refused.response.headers["x-ratelimit-limit-tokens"] == str(QUOTA)

    # Another tenant is not affected; retrieval is not a token request.
    _client(limited_api, "other-key").chat.completions.create(model="rag", messages=[{"role": "user", "content": "hi"}])
    r = limited_api.post("/v1/retrieve", json={"query": "helm"}, headers=bearer("reader-key"))
    assert r.status_code == 200

    page = _usage(limited_api, group_by="subject,api_key_id")
    (bucket,) = [b for b in page["data"] if b["date"] == today().isoformat()]  # type: ignore[attr-defined]
    by_subject = {r["subject"]: r for r in bucket["results"]}
    app = by_subject["app"]
    assert (app["input_tokens"], app["output_tokens"]) == tuple(map(sum, zip(*reported, strict=True)))
    assert app["num_model_requests"] == len(reported) and app["retrieval_calls"] == len(reported) + 1
    assert app["api_key_id"] and by_subject["ops"]["chunks_embedded"] == 1 and by_subject["ops"]["embedding_tokens"] > 0
    totals = _usage(limited_api)["data"][-1]["results"]  # type: ignore[index]
    assert len(totals) == 1 and totals[0]["subject"] is None and totals[0]["input_tokens"] == app["input_tokens"]


def test_a_stream_that_crosses_the_quota_finishes_and_the_next_request_is_refused(limited_api: TestClient) -> None:
    streamer = _client(limited_api, "stream-key")
    raw = streamer.chat.completions.with_raw_response.create(
        model="rag", messages=[{"role": "user", "content": ANSWERED_QUESTION}], stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    assert raw.headers["x-ratelimit-remaining-tokens"] == str(STREAM_QUOTA)
    chunks = list(raw.parse())
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens > 0 and usage.total_tokens > STREAM_QUOTA  # crossed it
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == " ".join(MODEL.answer.split()[:8])  # whole: all RAG_MAX_TOKENS (8) of it
    with pytest.raises(openai.RateLimitError) as refused:
        streamer.chat.completions.create(model="rag", messages=[{"role": "user", "content": "again?"}], stream=True)
    assert refused.value.code == "insufficient_quota"
    assert refused.value.response.headers["x-ratelimit-limit-tokens"] == str(STREAM_QUOTA)
    (result,) = _usage(limited_api, "stream-key")["data"][-1]["results"]  # type: ignore[index]
    assert (result["input_tokens"], result["output_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)


def test_usage_is_for_the_tenants_admins(limited_api: TestClient) -> None:
    r = limited_api.get("/v1/usage", headers=bearer("reader-key"))
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    for params, param in (({"from": "2026-02-01", "to": "2026-01-01"}, "from"), ({"group_by": "team"}, "group_by")):
        r = limited_api.get("/v1/usage", params=params, headers=bearer("admin-key"))
        assert r.status_code == 400 and r.json()["error"]["param"] == param
    week = _usage(limited_api)
    assert len(week["data"]) == 7 and week["object"] == "page"  # type: ignore[arg-type]


def test_metrics_label_usage_by_tenant(limited_api: TestClient) -> None:
    text = limited_api.get("/metrics").text
    assert 'rag_usage_tokens_total{kind="prompt",tenant="metered"}' in text
    assert 'rag_usage_tokens_total{kind="embedding",tenant="metered"}' in text


def test_the_tenant_label_is_capped() -> None:
    """Past RAG_METRICS_MAX_TENANTS tenants a process counts the rest under `other`; those it labelled keep theirs."""
    from serving.metrics import TenantLabels

    label = TenantLabels(max_tenants=2)
    assert [label(t) for t in ("a", "b", "c", "a", "d", "b")] == ["a", "b", "other", "a", "other", "b"]
    assert TenantLabels(max_tenants=0)("a") == "other"
