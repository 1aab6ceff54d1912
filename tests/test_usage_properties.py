"""Who may read what usage, over many generated cases: through the API in process, usage records of three tenants
(written into the app's own limiter, in its event loop) and every caller asking for them. An admin reads exactly its
own tenant's sums, by subject and key; a reader or writer is refused; no tenant's counts ever show in another's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from starlette.testclient import TestClient

from rag.limits.usage import UsageCounts, UsageRecord
from tests.support.app import empty_store_api
from tests.support.headers import bearer

TENANTS = ("north", "south", "east")
KEYS = {f"{t}-{role}": (t, role) for t in TENANTS for role in ("admin", "reader", "writer")}
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 3)
Group = tuple[date, str, str | None]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    lines = "\n".join(f"{key}={tenant} roles={role}" for key, (tenant, role) in KEYS.items())
    with empty_store_api(tmp_path_factory, "usage-props", api_keys=SecretStr(lines), rate_limit_per_minute=0) as client:
        yield client


WRITTEN: list[UsageRecord] = []  # every record written into the module's app, across examples

_RECORDS = st.lists(
    st.builds(
        UsageRecord,
        tenant=st.sampled_from(TENANTS),
        day=st.sampled_from([FIRST, date(2026, 11, 2), LAST]),
        subject=st.sampled_from(["alice", "bob", "svc"]),
        key_id=st.sampled_from([None, "k1", "k2"]),
        counts=st.builds(UsageCounts, *(st.integers(0, 500) for _ in range(6))),
    ),
    max_size=12,
)


def _expected(tenant: str) -> dict[Group, UsageCounts]:
    sums: dict[Group, UsageCounts] = {}
    for r in WRITTEN:
        if r.tenant == tenant and r.counts.items():
            at = (r.day, r.subject, r.key_id)
            sums[at] = sums.get(at, UsageCounts()) + r.counts
    return sums


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=_RECORDS, caller=st.sampled_from(sorted(KEYS)))
def test_an_admin_reads_its_tenants_usage_and_nobody_reads_anothers(
    api: TestClient, records: list[UsageRecord], caller: str
) -> None:
    limiter = api.app.state.rag.limiter  # type: ignore[attr-defined]
    for record in records:
        api.portal.call(limiter.record, record)  # type: ignore[union-attr]
    WRITTEN.extend(records)
    tenant, role = KEYS[caller]
    r = api.get(
        "/v1/usage",
        params={"from": FIRST.isoformat(), "to": LAST.isoformat(), "group_by": "subject,api_key_id"},
        headers=bearer(caller),
    )
    if role != "admin":
        assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
        return
    assert r.status_code == 200 and r.json()["tenant"] == tenant
    seen: dict[Group, UsageCounts] = {}
    for bucket in r.json()["data"]:
        for res in bucket["results"]:
            seen[(date.fromisoformat(bucket["date"]), res["subject"], res["api_key_id"])] = UsageCounts(
                res["input_tokens"], res["output_tokens"], res["num_model_requests"], res["retrieval_calls"],
                res["chunks_embedded"], res["embedding_tokens"],
            )  # fmt: skip
    assert seen == _expected(tenant)
