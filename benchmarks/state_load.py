"""What the shared state costs (benchmarks/load.py runs these in its run): the time to first token with the Redis
limiter and meter against the in-process ones, paired, and limit checks per second against one local Redis.

Pairs: two `rag serve` over copies of the same store and the same instant upstream, each with an API key (so the
rate check runs) and a limits file with a token quota (so the quota check and the usage record run), one with
in-process state, one with RAG_STATE_URL on a local Redis. Each question goes once through each, back to back,
alternating which goes first; per pair, the Redis API's time to first token minus the in-process API's, each less
its own retrieval time on the server (the step of rag_retrieval_duration_seconds_sum in its /metrics).

Checks: `--state-concurrency` tasks in this process call `Limiter.admit_request` (and, for the second figure, also
`admit_tokens` and `record`, what a chat does) against the Redis for `--state-seconds`, over 1,000 callers.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.eval_index import TENANT
from rag.limits.guarded import GuardedState
from rag.limits.limiter import Limiter
from rag.limits.limits_file import Limits, TenantLimits
from rag.limits.redis_backend import RedisState
from rag.limits.usage import UsageCounts, UsageRecord

KEY = "bench-key-0123456789"
LIMITS_YAML = "default:\n  requests_per_minute: 1000000\n  burst: 1000000\n  tokens_per_day: 1000000000000\n"


def state_env(folder: Path) -> dict[str, str]:
    """What both APIs of the pairs get: a key and a limits file that never refuse, but are checked every request."""
    limits = folder / "limits.yaml"
    limits.write_text(LIMITS_YAML)
    return {"RAG_API_KEYS": f"{KEY}={TENANT}", "RAG_LIMITS_FILE": str(limits)}  # the tenant the eval index is in


async def check_rate(url: str, *, concurrency: int, seconds: float, whole_chat: bool) -> dict[str, Any]:
    """Limit checks per second from this process against the Redis at `url` (with `whole_chat`: the rate check,
    the quota check and the usage record of a chat)."""
    limits = Limits(TenantLimits(requests_per_minute=1_000_000, burst=1_000_000, tokens_per_day=10**12))
    backend = RedisState(url, timeout_s=1.0)
    limiter = Limiter(GuardedState(backend, policy="closed"), limits)
    counts, errors = [0] * concurrency, [0] * concurrency
    deadline = time.monotonic() + seconds
    record = UsageRecord("bench", datetime.now(UTC).date(), "bench", None, UsageCounts(1, 1, 1, 1))

    async def worker(w: int) -> None:
        i = w
        while time.monotonic() < deadline:
            try:
                await limiter.admit_request("bench", f"key:{i % 1000}")
                if whole_chat:
                    await limiter.admit_tokens("bench")
                    await limiter.record(record)
                counts[w] += 1
            except Exception:  # counted: the target is none
                errors[w] += 1
            i += concurrency

    started = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.monotonic() - started
    await backend.aclose()
    return {"concurrency": concurrency, "seconds": round(elapsed, 2), "checks": sum(counts),
            "per_second": round(sum(counts) / elapsed, 1), "errors": sum(errors)}  # fmt: skip
