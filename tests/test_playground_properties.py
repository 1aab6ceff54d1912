"""Who may see which collections and use which of the playground's endpoints, over many generated cases: through the
API in process, writers of three tenants store documents in generated collections (strict isolation, so a tenant's
collections are store collections of its own, and the shared kind), then every caller lists its collections, asks
for the evaluation reports and tries an upload. A caller sees exactly its own tenant's collections with what it may
see in them; reports are for admins only; uploads for writers and admins only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from starlette.testclient import TestClient

from tests.support.app import empty_store_api
from tests.support.headers import bearer

TENANTS = ("north", "south", "default")  # `default` is the deployment's own tenant: plain store names
ROLES = ("reader", "writer", "admin")
CALLERS = {f"{t}-{r}": (t, r) for t in TENANTS for r in ROLES}
STORED: dict[str, set[str]] = {t: set() for t in TENANTS}  # collections each tenant holds, across examples
UPLOADED: set[str] = set()  # tenants that uploaded into the default collection


def _h(caller: str) -> dict[str, str]:
    """The caller's header: its name padded to a key's 16 characters is its key."""
    return bearer(caller.ljust(16, "0"))


@pytest.fixture(scope="module", params=["strict", "shared"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    lines = "\n".join(f"{c.ljust(16, '0')}={t} roles={r}" for c, (t, r) in CALLERS.items())
    for held in STORED.values():
        held.clear()
    UPLOADED.clear()
    with empty_store_api(tmp_path_factory, f"playground-props-{request.param}", api_keys=SecretStr(lines),
                         rate_limit_per_minute=0, tenant_isolation=request.param) as client:  # fmt: skip
        yield client


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    writes=st.lists(st.tuples(st.sampled_from(TENANTS), st.sampled_from(["alpha", "beta", "gamma"])), max_size=3),
    caller=st.sampled_from(sorted(CALLERS)),
)
def test_collections_reports_and_uploads_reach_exactly_whom_they_may(
    api: TestClient, writes: list[tuple[str, str]], caller: str
) -> None:
    for tenant, collection in writes:
        body = {"id": f"{collection}.md", "text": f"{tenant} keeps notes about {collection} here.",
                "collection": collection}  # fmt: skip
        assert api.post("/v1/documents", json=body, headers=_h(f"{tenant}-writer")).status_code == 200
        STORED[tenant].add(collection)
    tenant, role = CALLERS[caller]
    listed = api.get("/v1/collections", headers=_h(caller))
    assert listed.status_code == 200
    seen = {c["id"]: c["chunks"] for c in listed.json()["data"]}
    assert set(seen) - {"docs"} == STORED[tenant]  # its own tenant's, whoever else wrote what (docs: the default)
    assert all(seen[name] >= 1 for name in STORED[tenant])  # default access: everyone in the tenant sees them
    assert (seen.get("docs", 0) >= 1) == (tenant in UPLOADED)  # no other tenant's chunks counted
    reports = api.get("/v1/eval/reports", headers=_h(caller))
    assert reports.status_code == (200 if role == "admin" else 403)
    upload = api.post("/v1/documents/files", headers=_h(caller), files=[("files", ("up.md", b"# Up\n\nuploaded"))])
    assert upload.status_code == (403 if role == "reader" else 200), upload.text
    if upload.status_code == 200:
        UPLOADED.add(tenant)
