"""Paired time to first token between two `rag serve` that differ in one thing: each question goes once through
each, back to back, alternating which goes first; per pair, the second API's time to first token minus the first's,
each less its own retrieval time on the server (the step of rag_retrieval_duration_seconds_sum in its /metrics).
Reported: the median difference with its 95% interval (benchmarks/load.py `median_with_ci`)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.load import median_with_ci, retrieval_totals, stream_chat


@dataclass
class ApiPairs:
    base_name: str
    variant_name: str
    base: list[float] = field(default_factory=list)  # TTFT less retrieval, seconds
    variant: list[float] = field(default_factory=list)

    def added(self) -> dict[str, Any]:
        diffs = [v - b for v, b in zip(self.variant, self.base, strict=True)]
        return {
            **median_with_ci(diffs, "ttft_added_ms"),
            f"ttft_less_retrieval_ms_p50_{self.base_name}": round(1000 * statistics.median(self.base), 2),
            f"ttft_less_retrieval_ms_p50_{self.variant_name}": round(1000 * statistics.median(self.variant), 2),
        }


async def paired_ttft(
    http: httpx.AsyncClient,
    apis: tuple[str, str],
    names: tuple[str, str],
    questions: list[str],
    n: int,
    headers: dict[str, str],
) -> ApiPairs:
    """`n` pairs over `apis` (base, variant), one token asked of each answer."""
    pairs = ApiPairs(*names)
    base_api, variant_api = apis

    async def one(api: str, question: str) -> float:
        body = {"model": "rag", "stream": True, "max_tokens": 1, "messages": [{"role": "user", "content": question}]}
        before = await retrieval_totals(api)
        ttft = await stream_chat(http, api + "/v1/chat/completions", body, headers)
        return ttft - ((await retrieval_totals(api))[0] - before[0])

    for i in range(n):
        question = questions[i % len(questions)]
        if i % 2 == 0:
            pairs.base.append(await one(base_api, question))
            pairs.variant.append(await one(variant_api, question))
        else:
            pairs.variant.append(await one(variant_api, question))
            pairs.base.append(await one(base_api, question))
    return pairs
