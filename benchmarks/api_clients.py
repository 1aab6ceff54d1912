"""The client side of the load benchmarks: closed-loop clients and the samples they collect, a streamed chat and
its time to first token, the server's retrieval totals from /metrics, and the grounded prompts the API would send
its LLM (to send the very same prompts straight to the LLM)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from langchain_core.messages import BaseMessage

from evals.eval_index import TENANT
from rag.answering.prompts import Turn, grounded_messages
from rag.domain import Chunk, Hit


@dataclass
class Samples:
    """What clients measured, in seconds: each finished request's latency, each streamed one's time to first
    token, and each failure's message."""

    latency: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def closed_loop(concurrency: int, seconds: float, one: Callable[[int], Awaitable[float | None]]) -> Samples:
    """`concurrency` clients, each sending requests back to back for `seconds`; `one(i)` returns the request's
    time to first token (None for non-streamed requests) or raises."""
    samples, deadline = Samples(), time.monotonic() + seconds

    async def client(c: int) -> None:
        i = c
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                ttft = await one(i)
            except Exception as exc:  # counted, the run goes on
                samples.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            else:
                samples.latency.append(time.perf_counter() - started)
                if ttft is not None:
                    samples.ttft.append(ttft)
            i += concurrency

    await asyncio.gather(*(client(c) for c in range(concurrency)))
    return samples


async def stream_chat(http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]) -> float:
    """Streams one chat completion; returns the time to the first content token; raises on any error."""
    started, first = time.perf_counter(), None
    async with http.stream("POST", url, json=body, headers=headers) as r:
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {(await r.aread())[:200]!r}")
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                break
            chunk = json.loads(line[6:])
            if "error" in chunk:
                raise RuntimeError(f"in-stream error: {chunk['error']['message']}")
            if first is None and any(c.get("delta", {}).get("content") for c in chunk.get("choices", [])):
                first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("the stream had no content")
    return first


async def retrieval_totals(api: str) -> tuple[float, float]:
    """The server's retrieval histogram from /metrics: (seconds in all, retrievals)."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(api + "/metrics")).text
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("rag_retrieval")}
    return values["rag_retrieval_duration_seconds_sum"], values["rag_retrieval_duration_seconds_count"]


def _openai_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    return [{"role": roles[m.type], "content": m.text} for m in messages]


async def grounded_prompts(api: str, questions: list[str]) -> list[list[dict[str, str]]]:
    """The prompts our API sends to the LLM for `questions`: its retrieval, our prompt builder."""
    prompts = []
    async with httpx.AsyncClient(timeout=60) as http:
        for q in questions:
            data = (await http.post(api + "/v1/retrieve", json={"query": q})).json()["data"]
            hits = [
                Hit(Chunk(TENANT, d["doc_id"], "", d["chunk_index"], d["text"], d["title"], d["source"]), d["score"])
                for d in data
            ]
            prompts.append(_openai_messages(grounded_messages([Turn("user", q)], hits)))
    return prompts
