"""Query parameters outside what the storage below them holds (issue 27): a page cursor past the records database's
64-bit ids, a Unix time past the year 9999, a usage day past `date`'s range. Each was a 500 (SQLite's
OverflowError, datetime's ValueError, date arithmetic's OverflowError); each is a 400 in OpenAI's error shape naming
the parameter, and the bounds themselves are served. In process (tests/support/app.py), with the real records database
(SQLite) and the in-process state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.support.app import empty_store_api

LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z

# (path, the largest or smallest value served, the first value past it, other parameters, the parameter named)
BOUNDS = [
    ("/v1/audit", {"before": str(2**63 - 1)}, {"before": str(2**63)}, "query.before"),
    ("/v1/audit", {"before": str(2**63 - 1)}, {"before": "9" * 30}, "query.before"),
    ("/v1/traces", {"since": str(LAST_SECOND)}, {"since": str(LAST_SECOND + 1)}, "query.since"),
    ("/v1/traces", {"until": str(LAST_SECOND)}, {"until": str(2**40)}, "query.until"),  # 2**40 was the bound: 36812
    # `to` alone: its default `from`, six days before, stops at the first day (it was out of range)
    ("/v1/usage", {"to": "1970-01-03"}, {"to": "0001-01-01"}, "query.to"),
    ("/v1/usage", {"from": "1970-01-01", "to": "1970-01-01"}, {"from": "1969-12-31", "to": "1970-01-01"}, "query.from"),
    # the walk over the days went to the day after `to`
    ("/v1/usage", {"from": "9999-12-30", "to": "9999-12-30"}, {"from": "9999-12-31", "to": "9999-12-31"}, "query.from"),
    ("/v1/usage", {"to": "9999-12-30"}, {"to": "9999-12-31"}, "query.to"),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with empty_store_api(tmp_path_factory, "query-bounds", trace_tenants={"*": 1}) as client:
        yield client


@pytest.mark.parametrize(("path", "served", "refused", "param"), BOUNDS)
def test_a_query_parameter_past_its_bound_is_a_400_in_openai_shape(
    api: TestClient, path: str, served: dict[str, str], refused: dict[str, str], param: str
) -> None:
    r = api.get(path, params=served)
    assert r.status_code == 200, r.text
    r = api.get(path, params=refused)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_request"
    assert error["param"] == param, error
