"""The load benchmark's output: the table of scenarios and the sentences of its paired figures on stdout, and the
results as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def print_report(results: dict[str, Any]) -> None:
    """One line per scenario, then the added time to first token over each upstream, for traces, and for the
    shared state, where the run measured them."""
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


def write_results(results: dict[str, Any], out: Path) -> None:
    """`results` as indented JSON at `out`, its folder made if missing."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
