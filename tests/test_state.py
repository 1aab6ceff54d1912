"""The shared state (rag/limits/), one suite on both backends: in-process and a real Redis (tests/support/launcher.py).
Rate windows and quotas refuse past their limits with the time to wait; usage sums are exact, by tenant, day,
subject and key; the limits file resolves overrides and refuses bad entries."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.errors import QuotaExceeded, RateLimited
from rag.limits.backend import StateBackend
from rag.limits.guarded import GuardedState
from rag.limits.limiter import Limiter
from rag.limits.limits_file import Limits, LimitsFile, TenantLimits
from rag.limits.memory_backend import MemoryState
from rag.limits.redis_backend import RedisState
from rag.limits.usage import UsageCounts, UsageRecord
from tests.support.launcher import RedisServer

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
Scenario = Callable[[StateBackend], Awaitable[None]]


@pytest.fixture(params=["memory", "redis"])
def run_on(request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    """Runs a scenario on a fresh backend of the parameter's kind, in its own event loop."""

    def run(scenario: Scenario) -> None:
        async def main() -> None:
            if request.param == "memory":
                backend: StateBackend = MemoryState()
            else:
                server: RedisServer = request.getfixturevalue("redis_server")
                backend = RedisState(server.url, timeout_s=2.0)
            try:
                await scenario(backend)
            finally:
                await backend.aclose()

        asyncio.run(main())

    return run


def _limiter(backend: StateBackend, limits: TenantLimits, now: datetime = NOON) -> Limiter:
    return Limiter(GuardedState(backend), Limits(limits), now=lambda: now)


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"  # the Redis is shared by the session: each test its own names


def test_a_callers_minute_is_refused_past_its_limit_with_the_wait(run_on: Callable[[Scenario], None]) -> None:
    async def scenario(backend: StateBackend) -> None:
        limiter = Limiter(GuardedState(backend), Limits(TenantLimits(requests_per_minute=5, burst=5)))
        tenant, caller, other = _tenant(), f"key:{uuid.uuid4().hex}", f"key:{uuid.uuid4().hex}"
        windows = [await limiter.admit_request(tenant, caller) for _ in range(5)]
        assert [w.remaining for w in windows if w] == [4, 3, 2, 1, 0] and all(w and w.limit == 5 for w in windows)
        with pytest.raises(RateLimited) as refused:
            await limiter.admit_request(tenant, caller)
        assert 0 < refused.value.retry_after_s <= 60 and refused.value.limit == 5
        assert await limiter.admit_request(tenant, other) is not None  # another caller has its own window

    run_on(scenario)


def test_a_burst_is_held_to_its_slice_of_the_minute(run_on: Callable[[Scenario], None]) -> None:
    async def scenario(backend: StateBackend) -> None:
        limiter = Limiter(GuardedState(backend), Limits(TenantLimits(requests_per_minute=60, burst=3)))
        tenant, caller = _tenant(), f"user:{uuid.uuid4().hex}"
        for _ in range(3):
            await limiter.admit_request(tenant, caller)
        with pytest.raises(RateLimited) as refused:
            await limiter.admit_request(tenant, caller)
        assert 0 < refused.value.retry_after_s <= 3  # 3 in any 3 s: a slot frees within 3 s, not a minute

    run_on(scenario)


def test_no_rate_means_no_window(run_on: Callable[[Scenario], None]) -> None:
    async def scenario(backend: StateBackend) -> None:
        limiter = _limiter(backend, TenantLimits(requests_per_minute=0))
        assert await limiter.admit_request(_tenant(), "key:x") is None

    run_on(scenario)


def test_a_quota_admits_below_it_and_refuses_once_spent(run_on: Callable[[Scenario], None]) -> None:
    async def scenario(backend: StateBackend) -> None:
        limiter = _limiter(backend, TenantLimits(tokens_per_day=100, tokens_per_month=1000))
        tenant, day = _tenant(), NOON.date()
        # below the quota the check admits with the whole day left, and checking spends nothing
        unspent = await limiter.admit_tokens(tenant)
        assert unspent is not None and (unspent.limit, unspent.remaining) == (100, 100)
        assert await limiter.admit_tokens(tenant) == unspent
        await limiter.record(UsageRecord(tenant, day, "u", None, UsageCounts(prompt_tokens=60, completion_tokens=39)))
        window = await limiter.admit_tokens(tenant)
        assert window is not None and (window.limit, window.remaining) == (100, 1)
        assert window.reset_s == 12 * 3600  # noon to midnight UTC
        # A stream that crosses the quota is recorded whole; the next request is refused until midnight.
        await limiter.record(UsageRecord(tenant, day, "u", None, UsageCounts(prompt_tokens=10, completion_tokens=40)))
        with pytest.raises(QuotaExceeded) as refused:
            await limiter.admit_tokens(tenant)
        assert refused.value.retry_after_s == 12 * 3600 and "daily" in refused.value.message
        assert refused.value.limit == 100
        spent = await backend.spent(tenant, day)
        assert (spent.day, spent.month) == (149, 149)
        assert await _limiter(backend, TenantLimits()).admit_tokens(tenant) is None  # no quota: no check

    run_on(scenario)


def test_the_month_quota_counts_every_day_of_the_month(run_on: Callable[[Scenario], None]) -> None:
    async def scenario(backend: StateBackend) -> None:
        limiter = _limiter(backend, TenantLimits(tokens_per_day=1000, tokens_per_month=300))
        tenant = _tenant()
        for day in (date(2026, 11, 1), date(2026, 11, 15), date(2026, 10, 31)):
            await limiter.record(UsageRecord(tenant, day, "u", None, UsageCounts(completion_tokens=100)))
        window = await limiter.admit_tokens(tenant)  # November: 200 of 300 (October's 100 not counted)
        assert window is not None and (window.limit, window.remaining) == (300, 100)
        await limiter.record(UsageRecord(tenant, date(2026, 11, 2), "u", None, UsageCounts(prompt_tokens=100)))
        with pytest.raises(QuotaExceeded) as refused:
            await limiter.admit_tokens(tenant)
        assert "monthly" in refused.value.message and refused.value.retry_after_s == 12 * 3600  # to December 1st
        assert refused.value.limit == 300  # the month's quota, not the (larger, unspent) day's

    run_on(scenario)


_RECORDS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),  # tenant
        st.integers(1, 3),  # day of December
        st.sampled_from(["alice", "svc"]),  # subject
        st.sampled_from([None, "k1", "k2"]),  # key
        st.builds(UsageCounts, *(st.integers(0, 1000) for _ in range(6))),
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=_RECORDS)
def test_usage_sums_are_exact_by_tenant_day_subject_and_key(
    run_on: Callable[[Scenario], None], records: list[tuple[str, int, str, str | None, UsageCounts]]
) -> None:
    async def scenario(backend: StateBackend) -> None:
        names = {"a": _tenant(), "b": _tenant()}
        for tenant, day, subject, key, counts in records:
            await backend.add_usage([UsageRecord(names[tenant], date(2026, 12, day), subject, key, counts)])
        for tenant, name in names.items():
            expected: dict[tuple[date, str, str | None], UsageCounts] = {}
            for t, day, subject, key, counts in records:
                if t == tenant and counts.items():
                    at = (date(2026, 12, day), subject, key)
                    expected[at] = expected.get(at, UsageCounts()) + counts
            rows = await backend.usage(name, date(2026, 12, 1), date(2026, 12, 3))
            assert {(r.day, r.subject, r.key_id): r.counts for r in rows} == expected
            assert len(rows) == len(expected)
            for day in (1, 2, 3):
                spent = await backend.spent(name, date(2026, 12, day))
                assert spent.day == sum(c.tokens for t, d, _, _, c in records if t == tenant and d == day)
                assert spent.month == sum(c.tokens for t, _, _, _, c in records if t == tenant)

    run_on(scenario)


def test_the_limits_file_layers_settings_default_and_tenant(tmp_path: Path) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text(
        "default:\n  tokens_per_day: 1000\n  burst: 10\n"
        "tenants:\n  acme:\n    tokens_per_day: 5000\n    requests_per_minute: 30\n"
        "  free:\n    tokens_per_month: null\n"
    )
    limits = Limits.of(path, requests_per_minute=600, burst=60)
    assert limits.for_tenant("other") == TenantLimits(requests_per_minute=600, burst=10, tokens_per_day=1000)
    assert limits.for_tenant("acme") == TenantLimits(requests_per_minute=30, burst=10, tokens_per_day=5000)
    assert limits.for_tenant("free").tokens_per_day == 1000
    assert Limits.of(None, requests_per_minute=7, burst=2).for_tenant("x") == TenantLimits(
        requests_per_minute=7, burst=2
    )


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("default:\n  tokens_per_day: -1\n", "default.tokens_per_day"),
        ("tenants:\n  acme:\n    token_per_day: 5\n", "tenants.acme.token_per_day"),
        ("default: [1, 2\n", "not YAML"),
        ("default:\n  burst: 0\n", "default.burst"),
    ],
)
def test_a_bad_limits_file_is_refused_naming_the_entry(tmp_path: Path, text: str, names: str) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=str(path)) as bad:
        LimitsFile.load(path)
    assert names in str(bad.value)


def test_redis_stopped_mid_run_fails_open_or_closed_and_recovers_without_losing_usage(tmp_path: Path) -> None:
    """Open: checks skipped and counted, usage kept in memory; closed: 503 (BackendUnavailable). Both recover by
    themselves when Redis is back, and the usage recorded during the outage is written then."""
    from rag.errors import BackendUnavailable

    server = RedisServer(tmp_path, persistent=True).start()
    skipped: list[str] = []

    async def scenario() -> None:
        backend = RedisState(server.url, timeout_s=0.2)
        fail_open = GuardedState(backend, policy="open", retry_s=0.05, on_skip=skipped.append)
        fail_closed = GuardedState(backend, policy="closed", retry_s=0.05)
        limits = Limits(TenantLimits(requests_per_minute=100, tokens_per_day=10_000))
        opened, closed = Limiter(fail_open, limits), Limiter(fail_closed, limits)
        tenant, day = _tenant(), datetime.now(UTC).date()
        before = UsageRecord(tenant, day, "u", "k", UsageCounts(prompt_tokens=5, completion_tokens=7, requests=1))
        during = UsageRecord(tenant, day, "u", "k", UsageCounts(prompt_tokens=3, completion_tokens=4, requests=1))
        assert await opened.admit_request(tenant, "key:k") is not None
        await opened.record(before)

        server.stop()
        assert await opened.admit_request(tenant, "key:k") is None  # served without the check
        assert await opened.admit_tokens(tenant) is None
        assert skipped == ["rate", "quota"] and not fail_open.up
        await opened.record(during)
        assert fail_open.pending == 1
        with pytest.raises(BackendUnavailable):
            await closed.admit_request(tenant, "key:k")
        with pytest.raises(BackendUnavailable):
            await closed.admit_tokens(tenant)
        with pytest.raises(BackendUnavailable):
            await opened.usage(tenant, day, day)  # a read has no fallback

        server.start()
        await asyncio.sleep(0.06)  # past the retry interval
        assert await closed.admit_request(tenant, "key:k") is not None
        window = await opened.admit_tokens(tenant)
        assert fail_open.up and fail_open.pending == 0 and len(skipped) == 2
        assert window is not None and window.remaining == 10_000 - 19  # both records counted, none twice
        (row,) = await opened.usage(tenant, day, day)
        assert row.counts == before.counts + during.counts
        await backend.aclose()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_a_redis_with_a_password_needs_it(tmp_path: Path) -> None:
    """RAG_STATE_PASSWORD reaches Redis's AUTH; without it (or with a wrong one) the backend is unavailable, which
    the failure policy then handles like any outage."""
    from rag.limits.backend import StateUnavailable

    server = RedisServer(tmp_path, password="correct-horse-battery").start()

    async def scenario() -> None:
        right = RedisState(server.url, password="correct-horse-battery", timeout_s=1.0)
        await right.ping()
        await right.add_usage([UsageRecord("t", NOON.date(), "u", None, UsageCounts(requests=1))])
        assert (await right.usage("t", NOON.date(), NOON.date()))[0].counts.requests == 1
        await right.aclose()
        for password in (None, "wrong"):
            denied = RedisState(server.url, password=password, timeout_s=1.0)
            with pytest.raises(StateUnavailable):
                await denied.ping()
            with pytest.raises(StateUnavailable):
                await denied.usage("t", NOON.date(), NOON.date())
            await denied.aclose()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
