"""The per-key token bucket, on a clock the test moves."""

import pytest

from rag.errors import RateLimited
from serving.rate_limit import RateLimiter


def test_burst_then_refill_at_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    limiter.take("a")
    limiter.take("a")
    with pytest.raises(RateLimited) as limited:
        limiter.take("a")
    assert limited.value.retry_after_s == pytest.approx(1.0)
    limiter.take("b")  # each key has its own bucket
    now[0] = 0.5
    with pytest.raises(RateLimited) as again:
        limiter.take("a")
    assert again.value.retry_after_s == pytest.approx(0.5)
    now[0] = 1.0
    limiter.take("a")  # one token refilled after a second at 60 a minute
    now[0] = 100.0
    limiter.take("a")
    limiter.take("a")  # refills up to the burst only
    with pytest.raises(RateLimited):
        limiter.take("a")


def test_zero_rate_disables_the_limit() -> None:
    limiter = RateLimiter(per_minute=0, burst=1)
    assert not limiter.enabled
    for _ in range(100):
        limiter.take("a")  # never raises RateLimited, far past the burst of 1
    limited = RateLimiter(per_minute=1, burst=1)  # the same burst with a rate does refuse the second request
    assert limited.enabled
    limited.take("a")
    with pytest.raises(RateLimited):
        limited.take("a")
