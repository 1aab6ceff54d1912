"""Who may read traces and give feedback, over many generated cases: through the API in process, callers of three
tenants (two traced, one not) with every role ask questions, then each generated caller reads every answer's trace
and rates every answer. A trace is readable exactly by an admin of its tenant when that tenant keeps traces; a
rating is taken exactly from the answer's reader or an admin of its tenant, and another tenant never learns that
the answer exists."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from starlette.testclient import TestClient

from tests.support.app import empty_store_api
from tests.support.headers import bearer

TENANTS = ("north", "south", "east")
TRACED = {"north", "south"}
CALLERS = {f"{t}-{role}-{n}": (t, role, f"{role}-{n}") for t in TENANTS for role in ("admin", "reader", "writer")
           for n in (1, 2)}  # fmt: skip
ANSWERS: dict[str, tuple[str, str]] = {}  # completion id -> (tenant, subject), across examples


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    lines = "\n".join(f"{key.ljust(16, '0')}={t} roles={role} subject={subject}"
                      for key, (t, role, subject) in CALLERS.items())  # fmt: skip
    traced = ",".join(f"{t}=30" for t in TRACED)
    with empty_store_api(tmp_path_factory, "records-props", api_keys=SecretStr(lines), rate_limit_per_minute=0,
                         max_tokens=4, trace_tenants=traced) as client:  # fmt: skip
        for tenant in TENANTS:
            r = client.post("/v1/documents", json={"id": "a.md", "text": f"The {tenant} office opens at nine."},
                            headers=_h(f"{tenant}-writer-1"))  # fmt: skip
            assert r.status_code == 200, r.text
        yield client


def _h(caller: str) -> dict[str, str]:
    """The caller's header: its name padded to a key's 16 characters is its key."""
    return bearer(caller.ljust(16, "0"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    askers=st.lists(st.sampled_from(sorted(CALLERS)), min_size=1, max_size=3),
    readers=st.lists(st.sampled_from(sorted(CALLERS)), min_size=1, max_size=3),
    rating=st.sampled_from(["up", "down"]),
)
def test_traces_and_feedback_reach_exactly_whom_they_may(
    api: TestClient, askers: list[str], readers: list[str], rating: str
) -> None:
    for asker in askers:
        r = api.post(
            "/v1/chat/completions",
            headers=_h(asker),
            json={"model": "rag", "messages": [{"role": "user", "content": "when does the office open?"}]},
        )
        assert r.status_code == 200, r.text  # fmt: skip
        tenant, _, subject = CALLERS[asker]
        ANSWERS[r.json()["id"]] = (tenant, subject)
    asked = list(ANSWERS)[-len(askers) :]
    for caller in readers:
        tenant, role, subject = CALLERS[caller]
        listed = api.get("/v1/traces", params={"limit": 100}, headers=_h(caller))
        if role != "admin":
            assert listed.status_code == 403
        else:
            assert all(ANSWERS[t["id"]][0] == tenant for t in listed.json()["data"])  # its tenant's only
        for cid in asked:
            owner_tenant, owner = ANSWERS[cid]
            read = api.get(f"/v1/traces/{cid}", headers=_h(caller))
            if role != "admin":
                assert read.status_code == 403
            elif owner_tenant == tenant and tenant in TRACED:
                assert read.status_code == 200 and read.json()["subject"] == owner
            else:
                assert read.status_code == 404
            rated = api.post("/v1/feedback", json={"completion_id": cid, "rating": rating}, headers=_h(caller))
            if owner_tenant != tenant:
                assert rated.status_code == 404, rated.text
            elif owner == subject or role == "admin":
                assert rated.status_code == 200, rated.text
                assert rated.json()["trace"] is (tenant in TRACED) and rated.json()["rating"] == rating
            else:
                assert rated.status_code == 403, rated.text
