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

This module holds the run and its command line; the clients and their timings are in benchmarks/api_clients.py, the
statistics in benchmarks/latency_statistics.py, the pairs in benchmarks/paired.py, the servers in
benchmarks/load_servers.py, and the table and the JSON in benchmarks/load_report.py.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import httpx

from benchmarks.api_clients import closed_loop, grounded_prompts, stream_chat
from benchmarks.corpus_vectors import ROOT, dataset
from benchmarks.latency_statistics import summary
from benchmarks.load_report import print_report, write_results
from benchmarks.load_servers import INSTANT_MODEL, MAX_TOKENS, SERVED, serve, start_instant_llm, start_vllm
from benchmarks.paired import paired_ttft, paired_ttft_over_upstream
from benchmarks.state_load import KEY, check_rate, state_env
from evals.beir import load_qrels, load_queries
from evals.eval_index import eval_settings, open_eval_index
from rag.settings import Settings
from rag.store.edge_layout import EdgeLayout
from tests.support.launcher import RedisServer, Server


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every scenario in turn, each server stopped before the next starts; returns what load.json holds."""
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
    EdgeLayout.under(eval_settings(settings).store.path).copy(collection, EdgeLayout.under(store))
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
            instant_pairs = await paired_ttft_over_upstream(
                http, api.base_url, instant.base_url, INSTANT_MODEL, questions[:50], prompts, args.instant_pairs
            )
            rows.append(summary("chat instant-llm c=1", instant_pairs.through, sum(instant_pairs.through.latency)))
            rows.append(summary("instant-llm direct c=1", instant_pairs.straight, sum(instant_pairs.straight.latency)))
            results["ttft_added_instant_llm"] = instant_pairs.added()
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
            vllm_pairs = await paired_ttft_over_upstream(
                http, api.base_url, vllm.base_url, SERVED, questions[:50], prompts, args.pairs
            )
            rows.append(summary("chat vllm c=1", vllm_pairs.through, sum(vllm_pairs.through.latency)))
            rows.append(summary("vllm direct c=1", vllm_pairs.straight, sum(vllm_pairs.straight.latency)))
            results["ttft_added"] = vllm_pairs.added()
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
    print_report(results)
    write_results(results, args.out)


if __name__ == "__main__":
    main()
