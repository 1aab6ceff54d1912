"""Redis stopped under a running API (in process, a real Redis): failing open the API keeps serving, without the
checks, and counts what it skipped; failing closed it answers 503 in OpenAI's shape; /readyz says which. Both come
back by themselves when Redis does."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.support.app import app_client, settings_for
from tests.support.headers import bearer
from tests.support.launcher import RedisServer
from tests.support.scripted_chat import ScriptedChatModel

AUTH = bearer("outage-key")


@pytest.mark.parametrize("policy", ["open", "closed"])
def test_redis_stopped_under_the_api(policy: str, tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    redis = RedisServer(tmp_path / "redis").start()
    settings = settings_for(
        tmp_path / "qdrant", api_keys=SecretStr("outage-key=outage"), state_url=redis.url, state_failure=policy,
        state_timeout_s=0.2, state_retry_s=0.1,
    )  # fmt: skip
    try:
        with app_client(settings, ScriptedChatModel()) as api:
            up = api.get("/v1/models", headers=AUTH)
            assert up.status_code == 200 and up.headers["x-ratelimit-limit-requests"] == "600"

            redis.stop()
            during = api.get("/v1/models", headers=AUTH)
            ready = api.get("/readyz")
            state = ready.json()["checks"]["state"]
            assert state["backend"] == "redis" and state["reachable"] is False and state["failure"] == policy
            if policy == "open":
                assert during.status_code == 200 and "x-ratelimit-limit-requests" not in during.headers
                assert ready.status_code == 200
                assert 'rag_state_checks_skipped_total{check="rate"}' in api.get("/metrics").text
            else:
                assert during.status_code == 503 and during.json()["error"]["type"] == "service_unavailable_error"
                assert ready.status_code == 503 and "state" in ready.json()["down"]

            redis.start()
            time.sleep(0.15)  # past RAG_STATE_RETRY_S
            back = api.get("/v1/models", headers=AUTH)
            assert back.status_code == 200 and back.headers["x-ratelimit-limit-requests"] == "600"
            assert api.get("/readyz").json()["checks"]["state"]["reachable"] is True
    finally:
        redis.stop()
