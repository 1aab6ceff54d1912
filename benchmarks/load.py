"""Load on the real API: N concurrent clients against `rag serve` on loopback, and the same chat requests sent
straight to the vLLM server, so the time to first token our API adds is a ratio from one run.

    .venv/bin/python -m benchmarks.load [--duration 60] [--chat-concurrency 32] [--skip-vllm]

The served collection is SciFact's eval collection (11,425 chunks; `rag eval retrieval`'s cache, copied into a
temporary store). Scenarios, each for `--duration` seconds with closed-loop clients (a client sends its next
request when the last one finished):
- `retrieve c=1`, `retrieve c=8`: `POST /v1/retrieve` (hybrid, top 3) with SciFact's test queries;
- `chat in-process c=4`: streamed chat with the in-process engine (one generation at a time on the CPU);
- `chat vllm c=N` and `vllm direct c=N`: streamed chat through our API backed by the vLLM CPU server, and the very
  same grounded prompts (fetched once through `/v1/retrieve` and built by rag.prompts) straight to vLLM.
Per scenario: requests, errors, requests/s, latency p50/p95/p99 and, for chat, time to first token p50/p95/p99.
The API's added time to first token is, at one client, `chat vllm` p50 minus `vllm direct` p50 minus the server's
own mean retrieval time in that window (rag_retrieval_duration_seconds, from /metrics), reported with the ratio of
the two TTFTs. vLLM runs without prefix caching, so neither path reuses the other's prefill.
Writes benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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

from benchmarks.corpus_vectors import ROOT, SCIFACT
from evals.beir import load_qrels, load_queries
from evals.eval_index import TENANT, open_eval_index
from rag.domain import Chunk, Hit
from rag.llm.cpu_dtype import cpu_llm_dtype
from rag.llm.model_files import dev_model_dir
from rag.prompts import Turn, grounded_messages
from rag.settings import Settings
from tests.conftest import free_port, start_server

SERVED = "smollm2-135m-instruct"
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


def serve(store: Path, collection: str, logs: Path, name: str, **env: str) -> Any:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_CACHE_DIR"}
    environ |= {
        "RAG_QDRANT_PATH": str(store), "RAG_COLLECTION": collection, "RAG_TENANT": TENANT, "HF_HUB_OFFLINE": "1",
        "RAG_MAX_TOKENS": str(MAX_TOKENS), "RAG_SHUTDOWN_DRAIN_S": "0", "RAG_LOG_FORMAT": "text",
        "RAG_LLM_TIMEOUT_S": "300", **env,
    }  # fmt: skip
    rag = str(Path(sys.executable).parent / "rag")
    return start_server([rag, "serve", "--port", str(port)], environ, port, logs / f"{name}.log", "/readyz", 300)


def start_vllm(logs: Path) -> Any:
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
    index = open_eval_index(SCIFACT, settings)  # ingests SciFact once if the eval cache lacks it
    collection = index.collection
    index.components.close()
    texts = load_queries(SCIFACT)
    questions = [texts[q] for q in load_qrels(SCIFACT)]
    rows: list[dict[str, Any]] = []
    results: dict[str, Any] = {"duration_s": args.duration, "max_tokens": MAX_TOKENS, "rows": rows}
    work = Path(tempfile.mkdtemp(prefix="rag-load-"))
    store = work / "qdrant"
    shutil.copytree(settings.cache_dir / "eval" / "qdrant" / "edge" / collection, store / "edge" / collection)
    servers: list[Any] = []
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
            # the same comparison without queueing: one client at a time; the server's retrieval time in this
            # window only (the difference of its histogram) is what the API's own work is measured against
            before = await retrieval_totals(api.base_url)
            one_through = await closed_loop(1, args.duration / 2, lambda i: chat_api(api.base_url, i))
            after = await retrieval_totals(api.base_url)
            one_straight = await closed_loop(1, args.duration / 2, direct)
            rows.append(summary("chat vllm c=1", one_through, args.duration / 2))
            rows.append(summary("vllm direct c=1", one_straight, args.duration / 2))
            retrieval_ms = 1000 * (after[0] - before[0]) / max(after[1] - before[1], 1)
            ours, theirs = _pct(one_through.ttft, 50), _pct(one_straight.ttft, 50)
            if ours is not None and theirs is not None:
                results["ttft_added_ms_p50_c1"] = round(ours - theirs - retrieval_ms, 1)
                results["ttft_ratio_c1"] = round(ours / theirs, 3)
                results["server_retrieval_ms_mean"] = round(retrieval_ms, 1)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per scenario")
    parser.add_argument("--chat-concurrency", type=int, default=32)
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
    if "ttft_added_ms_p50_c1" in results:
        print(
            f"time to first token added by the API (c=1, p50, minus its mean {results['server_retrieval_ms_mean']} ms "
            f"retrieval): {results['ttft_added_ms_p50_c1']} ms; TTFT ratio API/direct {results['ttft_ratio_c1']}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
