"""Load on the real API: N concurrent clients against `rag serve` on loopback, and the same chat requests sent
straight to the vLLM server, so the time to first token our API adds is a ratio from one run.

    .venv/bin/python -m benchmarks.load [--duration 60] [--chat-concurrency 32] [--skip-vllm] [--state-pairs 300]

The served collection is SciFact's eval collection (11,425 chunks: `points` in benchmarks/results/tenant_isolation.json;
`rag eval retrieval`'s cache, copied into a temporary store). Scenarios, each for `--duration` seconds with closed-loop
clients (a client sends its next request when the last one finished):
- `retrieve c=1`, `retrieve c=8`: `POST /v1/retrieve` (hybrid, top 3) with SciFact's test queries;
- `chat in-process c=4`: streamed chat with the in-process engine (one generation at a time on the CPU);
- `chat vllm c=N` and `vllm direct c=N`: streamed chat through our API backed by the vLLM CPU server, and the very
  same grounded prompts (fetched once through `/v1/retrieve` and built by rag.answering.prompts) straight to vLLM.
Per scenario: requests, errors, requests/s, latency p50/p95/p99 and, for chat, time to first token p50/p95/p99.
Then what keeping traces costs (`--trace-pairs` paired chats, benchmarks/paired.py: an API whose tenant keeps no
traces against one keeping them with their content, SQLite records, the instant upstream), and what the shared
state costs (benchmarks/state_load.py): `--state-pairs` paired chats through an API with
in-process state and one with a local Redis, over the instant upstream, and limit checks per second against that
Redis from this process (`--state-seconds`, `--state-concurrency`).
The API's added time to first token comes from `--pairs` pairs at one client (`chat vllm c=1`, `vllm direct c=1`):
each question once through the API and once straight to vLLM with the same prompt, back to back, alternating which
goes first; per pair, the API's TTFT minus vLLM's minus that request's retrieval time on the server (the step of
rag_retrieval_duration_seconds_sum in /metrics around it). Reported: the median and its 95% interval. Pairing
cancels what drifts between windows (vLLM's prefill time on a busy 2-core machine varies by tens of ms). vLLM runs
without prefix caching, so neither path reuses the other's prefill.
Writes benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from langchain_core.messages import BaseMessage

from benchmarks.corpus_vectors import ROOT, dataset
from evals.beir import load_qrels, load_queries
from evals.eval_index import TENANT, eval_settings, open_eval_index
from rag.answering.prompts import Turn, grounded_messages
from rag.domain import Chunk, Hit
from rag.llm.cpu_dtype import cpu_llm_dtype
from rag.llm.model_files import dev_model_dir
from rag.settings import Settings
from rag.store.edge_layout import EdgeLayout
from serving.launcher import RedisServer, Server, free_port, rag_env, start_rag_serve, start_server

SERVED = "smollm2-135m-instruct"
INSTANT_MODEL = "instant"
MAX_TOKENS = 16


@dataclass
class Samples:
    latency: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _pct(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0] * 1000, 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000, 1)


def summary(name: str, samples: Samples, seconds: float) -> dict[str, Any]:
    done = len(samples.latency)
    row: dict[str, Any] = {
        "scenario": name,
        "requests": done,
        "errors": len(samples.errors),
        "rps": round(done / seconds, 2),
        **{f"latency_ms_p{q}": _pct(samples.latency, q) for q in (50, 95, 99)},
    }
    if samples.ttft:
        row |= {f"ttft_ms_p{q}": _pct(samples.ttft, q) for q in (50, 95, 99)}
    if samples.errors:
        row["first_errors"] = samples.errors[:3]
    return row


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


async def retrieval_totals(api: str) -> tuple[float, float]:
    """The server's retrieval histogram from /metrics: (seconds in all, retrievals)."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(api + "/metrics")).text
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("rag_retrieval")}
    return values["rag_retrieval_duration_seconds_sum"], values["rag_retrieval_duration_seconds_count"]


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


@dataclass
class Pairs:
    """One client: each question once through the API and once straight to vLLM, back to back (alternating which
    goes first), with the server's retrieval time for the API's request."""

    through: Samples = field(default_factory=Samples)
    straight: Samples = field(default_factory=Samples)
    retrieval: list[float] = field(default_factory=list)

    def added(self) -> dict[str, Any]:
        """The API's time to first token minus vLLM's for the same prompt, minus that request's retrieval: the
        median over pairs with a distribution-free 95% interval (order statistics of the binomial)."""
        diffs = [a - d - r for a, d, r in zip(self.through.ttft, self.straight.ttft, self.retrieval, strict=True)]
        if len(diffs) < 6:
            return {"pairs": len(diffs)}
        return {
            **median_with_ci(diffs, "ttft_added_ms"),
            "retrieval_ms_p50": round(1000 * statistics.median(self.retrieval), 1),
            "ttft_api_ms_p50": _pct(self.through.ttft, 50),
            "ttft_direct_ms_p50": _pct(self.straight.ttft, 50),
        }


async def paired_ttft(
    http: httpx.AsyncClient,
    api: str,
    llm: str,
    model: str,
    questions: list[str],
    prompts: list[list[dict[str, str]]],
    n: int,
) -> Pairs:
    """The API's added time to first token without queueing noise: `n` pairs at one client. One token each (the
    first token's time does not depend on how many follow), so pairs are cheap."""
    pairs = Pairs()

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


def serve(store: Path, collection: str, logs: Path, name: str, **env: str) -> Server:
    environ = rag_env(
        store, RAG_COLLECTION=collection, RAG_TENANT=TENANT, RAG_MAX_TOKENS=str(MAX_TOKENS), RAG_LOG_FORMAT="text",
        RAG_LLM_TIMEOUT_S="300", **env,
    )  # fmt: skip
    return start_rag_serve(environ, logs / f"{name}.log", "/readyz", 300)


def start_instant_llm(logs: Path) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "benchmarks.instant_llm", "--port", str(port)]
    return start_server(cmd, dict(os.environ), port, logs / "instant-llm.log", "/v1/models", 60)


def start_vllm(logs: Path) -> Server:
    python = subprocess.run(
        [str(ROOT / "scripts" / "vllm-venv.sh")], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    port = free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "HF_HUB_OFFLINE": "1"}
    cmd = [
        python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(dev_model_dir(Settings().cache_dir)),
        "--served-model-name", SERVED, "--dtype", cpu_llm_dtype(), "--enforce-eager",
        "--no-enable-prefix-caching",  # both paths send the same prompts: a cache would favour whichever runs second
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    return start_server(cmd, env, port, logs / "vllm.log", "/v1/models", 600)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings()
    scifact = dataset("scifact")
    index = open_eval_index(scifact, settings)  # ingests SciFact once if the eval cache lacks it
    collection = index.collection
    index.components.close()
    texts = load_queries(scifact)
    questions = [texts[q] for q in load_qrels(scifact)]
    rows: list[dict[str, Any]] = []
    results: dict[str, Any] = {"duration_s": args.duration, "max_tokens": MAX_TOKENS, "rows": rows}
    work = Path(tempfile.mkdtemp(prefix="rag-load-"))
    store = work / "qdrant"
    EdgeLayout.under(eval_settings(settings).qdrant_path).copy(collection, EdgeLayout.under(store))
    servers: list[Server] = []
    try:
        api = serve(store, collection, work, "api-inprocess")
        servers.append(api)
        async with httpx.AsyncClient(timeout=httpx.Timeout(300, connect=10)) as http:

            async def retrieve(i: int) -> None:
                r = await http.post(api.base_url + "/v1/retrieve", json={"query": questions[i % len(questions)]})
                if r.status_code != 200:
                    raise RuntimeError(f"HTTP {r.status_code}")

            async def chat_api(base: str, i: int) -> float:
                body = {"model": "rag", "stream": True, "messages": [{"role": "user", "content": questions[i % 50]}]}
                return await stream_chat(http, base + "/v1/chat/completions", body, {})

            for c in (1, 8):
                samples = await closed_loop(c, args.duration, retrieve)
                rows.append(summary(f"retrieve c={c}", samples, args.duration))
                print(rows[-1], flush=True)
            samples = await closed_loop(4, args.duration, lambda i: chat_api(api.base_url, i))
            rows.append(summary("chat in-process c=4", samples, args.duration))
            print(rows[-1], flush=True)
            api.stop()
            servers.remove(api)
            # the API's own added time, resolved: an upstream that answers at once (its TTFT is the round trip)
            instant = start_instant_llm(work)
            servers.append(instant)
            api = serve(store, collection, work, "api-instant", RAG_LLM_BASE_URL=instant.base_url + "/v1",
                        RAG_LLM_MODEL=INSTANT_MODEL)  # fmt: skip
            servers.append(api)
            prompts = await grounded_prompts(api.base_url, questions[:50])
            pairs = await paired_ttft(
                http, api.base_url, instant.base_url, INSTANT_MODEL, questions[:50], prompts, args.instant_pairs
            )
            rows.append(summary("chat instant-llm c=1", pairs.through, sum(pairs.through.latency)))
            rows.append(summary("instant-llm direct c=1", pairs.straight, sum(pairs.straight.latency)))
            results["ttft_added_instant_llm"] = pairs.added()
            api.stop()
            servers.remove(api)
            results["state"] = await _state_costs(args, http, store, collection, work, instant, questions[:50], servers)
            if args.trace_pairs:
                results["traces"] = await _trace_costs(args, http, store, collection, work, instant, questions[:50],
                                                       servers)  # fmt: skip
            instant.stop()
            servers.remove(instant)
            if args.skip_vllm:
                return results
            vllm = start_vllm(work)
            servers.append(vllm)
            api = serve(
                store, collection, work, "api-vllm", RAG_LLM_BASE_URL=vllm.base_url + "/v1", RAG_LLM_MODEL=SERVED
            )
            servers.append(api)
            prompts = await grounded_prompts(api.base_url, questions[:50])
            c = args.chat_concurrency

            async def direct(i: int) -> float:
                body = {"model": SERVED, "stream": True, "max_tokens": MAX_TOKENS, "temperature": 0.0,
                        "messages": prompts[i % len(prompts)]}  # fmt: skip
                return await stream_chat(http, vllm.base_url + "/v1/chat/completions", body, {})

            through = await closed_loop(c, args.duration, lambda i: chat_api(api.base_url, i))
            rows.append(summary(f"chat vllm c={c}", through, args.duration))
            print(rows[-1], flush=True)
            straight = await closed_loop(c, args.duration, direct)
            rows.append(summary(f"vllm direct c={c}", straight, args.duration))
            print(rows[-1], flush=True)
            pairs = await paired_ttft(http, api.base_url, vllm.base_url, SERVED, questions[:50], prompts, args.pairs)
            rows.append(summary("chat vllm c=1", pairs.through, sum(pairs.through.latency)))
            rows.append(summary("vllm direct c=1", pairs.straight, sum(pairs.straight.latency)))
            results["ttft_added"] = pairs.added()
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return results


async def _state_costs(
    args: argparse.Namespace,
    http: httpx.AsyncClient,
    store: Path,
    collection: str,
    work: Path,
    instant: Server,
    questions: list[str],
    servers: list[Server],
) -> dict[str, Any]:
    """The shared state's cost (benchmarks/state_load.py): paired TTFT with Redis against in-process, over the
    instant upstream, and limit checks per second against the same local Redis."""
    from benchmarks.paired import paired_ttft
    from benchmarks.state_load import KEY, check_rate, state_env

    (work / "redis").mkdir()
    redis = RedisServer(work / "redis").start()
    second = work / "qdrant-redis"
    shutil.copytree(store, second)
    upstream = {"RAG_LLM_BASE_URL": instant.base_url + "/v1", "RAG_LLM_MODEL": INSTANT_MODEL, **state_env(work)}
    try:
        memory_api = serve(store, collection, work, "api-state-memory", **upstream)
        servers.append(memory_api)
        redis_api = serve(second, collection, work, "api-state-redis", RAG_STATE_URL=redis.url, **upstream)
        servers.append(redis_api)
        pairs = await paired_ttft(http, (memory_api.base_url, redis_api.base_url), ("memory", "redis"), questions,
                                  args.state_pairs, {"Authorization": f"Bearer {KEY}"})  # fmt: skip
        for server in (memory_api, redis_api):
            server.stop()
            servers.remove(server)
        rate = await check_rate(redis.url, concurrency=args.state_concurrency, seconds=args.state_seconds,
                                whole_chat=False)  # fmt: skip
        chat = await check_rate(redis.url, concurrency=args.state_concurrency, seconds=args.state_seconds,
                                whole_chat=True)  # fmt: skip
    finally:
        redis.stop()
    return {"ttft_added_redis_over_memory": pairs.added(), "rate_checks": rate, "chat_checks": chat}


async def _trace_costs(
    args: argparse.Namespace,
    http: httpx.AsyncClient,
    store: Path,
    collection: str,
    work: Path,
    instant: Server,
    questions: list[str],
    servers: list[Server],
) -> dict[str, Any]:
    """What writing traces costs the time to first token: paired, an API whose tenant keeps no traces (its
    answers' owners are still written) against one keeping traces with their content, both on SQLite records over
    the instant upstream."""
    from benchmarks.paired import paired_ttft

    second = work / "traced" / "qdrant"  # its records database beside it, apart from the untraced API's
    shutil.copytree(store, second)
    upstream = {"RAG_LLM_BASE_URL": instant.base_url + "/v1", "RAG_LLM_MODEL": INSTANT_MODEL}
    plain = serve(store, collection, work, "api-untraced", **upstream)
    servers.append(plain)
    traced = serve(second, collection, work, "api-traced", RAG_TRACE_TENANTS="*=30", RAG_TRACE_CONTENT="true",
                   **upstream)  # fmt: skip
    servers.append(traced)
    try:
        pairs = await paired_ttft(http, (plain.base_url, traced.base_url), ("untraced", "traced"), questions,
                                  args.trace_pairs, {})  # fmt: skip
    finally:
        for server in (plain, traced):
            server.stop()
            servers.remove(server)
    traces = sqlite3.connect(second.parent / "records.db").execute("SELECT count(*) FROM traces").fetchone()[0]
    return {"ttft_added_traced_over_untraced": pairs.added(), "traces_written": traces}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per scenario")
    parser.add_argument("--chat-concurrency", type=int, default=32)
    parser.add_argument("--pairs", type=int, default=60, help="one-client pairs for the API's added TTFT over vLLM")
    parser.add_argument("--instant-pairs", type=int, default=400, help="the same over an upstream that answers at once")
    parser.add_argument("--state-pairs", type=int, default=300, help="pairs for Redis against in-process state")
    parser.add_argument("--trace-pairs", type=int, default=300, help="pairs for traces kept against none")
    parser.add_argument("--state-seconds", type=float, default=10.0, help="seconds of limit checks against Redis")
    parser.add_argument("--state-concurrency", type=int, default=32, help="concurrent limit checks in one process")
    parser.add_argument("--skip-vllm", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load.json")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(f"\n{'scenario':24} {'reqs':>5} {'errs':>4} {'rps':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'TTFT p50':>9} {'TTFT p95':>9}")  # fmt: skip
    for r in results["rows"]:
        print(
            f"{r['scenario']:24} {r['requests']:>5} {r['errors']:>4} {r['rps']:>7} {r['latency_ms_p50']!s:>8} "
            f"{r['latency_ms_p95']!s:>8} {r['latency_ms_p99']!s:>8} {r.get('ttft_ms_p50', '')!s:>9} "
            f"{r.get('ttft_ms_p95', '')!s:>9}"
        )
    for key, upstream in (("ttft_added_instant_llm", "an upstream that answers at once"), ("ttft_added", "vLLM")):
        added = results.get(key, {})
        if "ttft_added_ms_p50" in added:
            print(
                f"time to first token the API adds over {upstream}, same prompt, one client, {added['pairs']} pairs, "
                f"retrieval (p50 {added['retrieval_ms_p50']} ms) excluded: p50 {added['ttft_added_ms_p50']} ms "
                f"(95% CI {added['ttft_added_ms_ci95'][0]}..{added['ttft_added_ms_ci95'][1]} ms); TTFT p50 through "
                f"the API {added['ttft_api_ms_p50']} ms, direct {added['ttft_direct_ms_p50']} ms"
            )
    traces = results.get("traces", {})
    if "ttft_added_traced_over_untraced" in traces:
        added = traces["ttft_added_traced_over_untraced"]
        print(
            f"time to first token keeping traces (with content) adds, {added['pairs']} pairs, retrieval excluded: "
            f"p50 {added['ttft_added_ms_p50']} ms (95% CI {added['ttft_added_ms_ci95'][0]}.."
            f"{added['ttft_added_ms_ci95'][1]} ms); {traces['traces_written']} traces written"
        )
    state = results.get("state", {})
    if "ttft_added_redis_over_memory" in state:
        added = state["ttft_added_redis_over_memory"]
        print(
            f"time to first token Redis state adds over in-process state, {added['pairs']} pairs, retrieval excluded: "
            f"p50 {added['ttft_added_ms_p50']} ms (95% CI {added['ttft_added_ms_ci95'][0]}.."
            f"{added['ttft_added_ms_ci95'][1]} ms)"
        )
        for key, what in (("rate_checks", "rate checks"), ("chat_checks", "rate + quota checks + usage record")):
            c = state[key]
            print(f"{what} against one local Redis from one process, {c['concurrency']} concurrent: "
                  f"{c['per_second']}/s, {c['errors']} errors")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
