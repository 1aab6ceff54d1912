"""Paired time to first token, one client, each question once on each side, back to back, alternating which goes
first; pairing cancels what drifts between windows. Two kinds of pairs:
- the API against its upstream LLM (`paired_ttft_over_upstream`): the API's time to first token minus the
  upstream's for the very same prompt, minus that request's retrieval time on the server;
- two `rag serve` that differ in one thing (`paired_ttft`): the second API's time to first token minus the first's,
  each less its own retrieval time on the server.
Retrieval time is the step of rag_retrieval_duration_seconds_sum in the server's /metrics around the request.
Reported: the median difference with its 95% interval (benchmarks/latency_statistics.py `median_with_ci`)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.api_clients import Samples, retrieval_totals, stream_chat
from benchmarks.latency_statistics import median_with_ci, percentile_ms


@dataclass
class UpstreamPairs:
    """One client: each question once through the API and once straight to its upstream LLM, back to back
    (alternating which goes first), with the server's retrieval time for the API's request."""

    through: Samples = field(default_factory=Samples)
    straight: Samples = field(default_factory=Samples)
    retrieval: list[float] = field(default_factory=list)

    def added(self) -> dict[str, Any]:
        """The API's time to first token minus the upstream's for the same prompt, minus that request's retrieval:
        the median over pairs with a distribution-free 95% interval (order statistics of the binomial)."""
        diffs = [a - d - r for a, d, r in zip(self.through.ttft, self.straight.ttft, self.retrieval, strict=True)]
        if len(diffs) < 6:
            return {"pairs": len(diffs)}
        return {
            **median_with_ci(diffs, "ttft_added_ms"),
            "retrieval_ms_p50": round(1000 * statistics.median(self.retrieval), 1),
            "ttft_api_ms_p50": percentile_ms(self.through.ttft, 50),
            "ttft_direct_ms_p50": percentile_ms(self.straight.ttft, 50),
        }


async def paired_ttft_over_upstream(
    http: httpx.AsyncClient,
    api: str,
    llm: str,
    model: str,
    questions: list[str],
    prompts: list[list[dict[str, str]]],
    n: int,
) -> UpstreamPairs:
    """The API's added time to first token without queueing noise: `n` pairs at one client. One token each (the
    first token's time does not depend on how many follow), so pairs are cheap."""
    pairs = UpstreamPairs()

    async def through(i: int) -> None:
        body = {
            "model": "rag",
            "stream": True,
            "max_tokens": 1,
            "messages": [{"role": "user", "content": questions[i]}],
        }
        before = await retrieval_totals(api)
        started = time.perf_counter()
        pairs.through.ttft.append(await stream_chat(http, api + "/v1/chat/completions", body, {}))
        pairs.through.latency.append(time.perf_counter() - started)
        pairs.retrieval.append((await retrieval_totals(api))[0] - before[0])

    async def straight(i: int) -> None:
        body = {"model": model, "stream": True, "max_tokens": 1, "temperature": 0.0, "messages": prompts[i]}
        started = time.perf_counter()
        pairs.straight.ttft.append(await stream_chat(http, llm + "/v1/chat/completions", body, {}))
        pairs.straight.latency.append(time.perf_counter() - started)

    for i in range(n):
        q = i % len(prompts)
        first, second = (through, straight) if i % 2 == 0 else (straight, through)
        await first(q)
        await second(q)
    return pairs


@dataclass
class ApiPairs:
    """Two APIs' times to first token, each less its retrieval, in seconds: the base's and the variant's."""

    base_name: str
    variant_name: str
    base: list[float] = field(default_factory=list)  # TTFT less retrieval, seconds
    variant: list[float] = field(default_factory=list)

    def added(self) -> dict[str, Any]:
        """What the variant adds over the base: the median difference with its 95% interval, and each side's
        median."""
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
