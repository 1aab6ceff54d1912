"""Per-key rate limiting: a token bucket per caller, refilled at `per_minute / 60` tokens a second."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from rag.errors import RateLimited


class RateLimiter:
    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(max(burst, 1))
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def take(self, key: str) -> None:
        """Spends one request of `key`'s budget, or raises RateLimited with the seconds until one is available."""
        if not self.enabled:
            return
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self._rate
                raise RateLimited(f"rate limit exceeded: retry after {math.ceil(wait)} s", retry_after_s=wait)
            self._buckets[key] = (tokens - 1.0, now)
