"""The load benchmarks' statistics, in milliseconds: percentiles of samples, a scenario's summary row, and the
median of paired differences with a distribution-free 95% interval."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.api_clients import Samples


def percentile_ms(values: list[float], q: int) -> float | None:
    """The `q`th percentile of `values` (seconds) in ms, rounded to 0.1; None without values."""
    if not values:
        return None
    if len(values) == 1:
        return round(values[0] * 1000, 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000, 1)


def summary(name: str, samples: Samples, seconds: float) -> dict[str, Any]:
    """One scenario's row: requests, errors, requests/s, latency p50/p95/p99 and, for streamed requests, time to
    first token p50/p95/p99, and the first errors."""
    done = len(samples.latency)
    row: dict[str, Any] = {
        "scenario": name,
        "requests": done,
        "errors": len(samples.errors),
        "rps": round(done / seconds, 2),
        **{f"latency_ms_p{q}": percentile_ms(samples.latency, q) for q in (50, 95, 99)},
    }
    if samples.ttft:
        row |= {f"ttft_ms_p{q}": percentile_ms(samples.ttft, q) for q in (50, 95, 99)}
    if samples.errors:
        row["first_errors"] = samples.errors[:3]
    return row


def median_with_ci(seconds: list[float], name: str) -> dict[str, Any]:
    """The median of paired differences, in ms, with a distribution-free 95% interval (order statistics of the
    binomial): `{pairs, <name>_p50, <name>_ci95}`."""
    diffs, n = sorted(seconds), len(seconds)
    k = max(int((n - 1.96 * n**0.5) / 2), 0)
    ms = [round(1000 * d, 2) for d in diffs]
    return {
        "pairs": n,
        f"{name}_p50": round(1000 * statistics.median(diffs), 2),
        f"{name}_ci95": [ms[k], ms[n - 1 - k]],
    }
