"""What an upload through `POST /v1/documents/files` costs the server when its client misbehaves:

- abandoned: a JSON Lines file of `--records` tiny records (the review's 60,000: more than RAG_UPLOAD_MAX_DOCUMENTS
  allows) is uploaded and the client leaves after `--abandon-after` seconds; how long the server stays busy after
  (its CPU time, sampled from /proc, until a `--quiet-window` passes with under 5% of one core), its RSS before, at
  its peak and at the end, and the status it logged for the request;
- abandoned-in-bounds: the same with `--records-in-bounds` records (within the bounds: the upload is under way when
  the client leaves);
- big: a `--big-mb` MB JSON Lines upload of larger records waited for to its end; the server's peak RSS (its
  VmHWM) and what it answered (the file stays under RAG_MAX_UPLOAD_MB with its multipart framing).

Each runs against its own `rag serve` (embedded defaults, a fresh store, no keys) on loopback:

    .venv/bin/python -m benchmarks.uploads [--records 60000] [--records-in-bounds 9000] [--abandon-after 3]
        [--big-mb 100] [--cases abandoned,abandoned-in-bounds,big]

Prints a table and writes benchmarks/results/uploads.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.launcher import Server, rag_env, start_rag_serve

RESULTS = Path(__file__).resolve().parent / "results" / "uploads.json"
BOUNDARY = "ragbenchboundary"


def tiny_records(path: Path, count: int) -> Path:
    with path.open("w") as out:
        for i in range(count):
            out.write(json.dumps({"id": f"r{i}", "text": f"record {i} about item {i % 97}"}) + "\n")
    return path


def big_records(path: Path, megabytes: float) -> Path:
    """Records of about 11 kB each (some ten chunks apiece, so that 100 MB stays under RAG_UPLOAD_MAX_DOCUMENTS and
    the chunks bound is what stops it), up to `megabytes` MB."""
    words = ("retrieval", "augmented", "generation", "qdrant", "vector", "chunk", "tenant", "answer", "source")
    target, i = int(megabytes * 1_000_000) - 50_000, 0  # room for one more record and the multipart framing
    with path.open("w") as out:
        while out.tell() < target:
            text = " ".join(words[(i * 7 + j) % len(words)] + str(j % 50) for j in range(1300))
            out.write(json.dumps({"id": f"b{i}", "text": text}) + "\n")
            i += 1
    return path


def _proc(pid: int) -> tuple[float, int, int]:
    """(CPU seconds, RSS bytes, peak RSS bytes) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) * 1024  # type: ignore[union-attr]
    peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) * 1024  # type: ignore[union-attr]
    return cpu, rss, peak


def _multipart_head(name: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def abandon(server: Server, path: Path, after_s: float, quiet_window_s: float) -> dict[str, Any]:
    """Send the whole upload over a raw socket, leave `after_s` seconds after starting, then watch the server."""
    pid = server.process.pid
    _, rss_before, _ = _proc(pid)
    body = _multipart_head(path.name) + path.read_bytes() + f"\r\n--{BOUNDARY}--\r\n".encode()
    port = int(server.base_url.rsplit(":", 1)[1])
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = (
            f"POST /v1/documents/files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        time.sleep(max(0.0, after_s - (time.monotonic() - started)))
    left = time.monotonic()
    samples: list[tuple[float, float]] = []  # (seconds since leaving, CPU seconds)
    peak_rss, idle_at = rss_before, None
    while time.monotonic() - left < 300:
        cpu, rss, _ = _proc(pid)
        now = time.monotonic() - left
        samples.append((now, cpu))
        peak_rss = max(peak_rss, rss)
        window = [s for s in samples if s[0] >= now - quiet_window_s]
        if now >= quiet_window_s and window[-1][1] - window[0][1] < 0.05 * quiet_window_s:
            idle_at = window[0][0]  # busy until the start of the first quiet window
            break
        time.sleep(0.1)
    _, rss_end, _ = _proc(pid)
    logged = re.findall(r"POST /v1/documents/files (\d{3})", server.log.read_text(errors="replace"))
    return {
        "file_bytes": path.stat().st_size,
        "left_after_s": round(left - started, 2),
        "busy_after_leaving_s": None if idle_at is None else round(idle_at, 2),
        "rss_before_mb": round(rss_before / 2**20),
        "rss_peak_mb": round(peak_rss / 2**20),
        "rss_end_mb": round(rss_end / 2**20),
        "logged_status": logged[-1] if logged else None,
    }


def big(server: Server, path: Path, timeout_s: float) -> dict[str, Any]:
    """The upload waited for, up to `timeout_s` (then the peak so far, and status `timeout`)."""
    pid = server.process.pid
    _, rss_before, _ = _proc(pid)
    started = time.monotonic()
    try:
        with path.open("rb") as f:
            response = httpx.post(
                server.base_url + "/v1/documents/files", files={"files": (path.name, f)}, timeout=timeout_s
            )
        status, answer = str(response.status_code), response.json()
    except httpx.TimeoutException:
        status, answer = f"timeout after {timeout_s:.0f} s", {}
    _, _, peak = _proc(pid)
    return {
        "file_bytes": path.stat().st_size,
        "status": status,
        "seconds": round(time.monotonic() - started, 1),
        "documents_stored": len(answer.get("documents", [])),
        "failed": answer.get("failed", [])[:3] or answer.get("error", {}).get("message", "")[:300],
        "rss_before_mb": round(rss_before / 2**20),
        "rss_peak_mb": round(peak / 2**20),
    }


def _settings_seen() -> dict[str, Any]:
    """The upload bounds the servers run with (their defaults: `rag_env` passes no RAG_* of the caller's)."""
    from rag.settings import Settings

    settings = Settings(_env_file=None)
    names = (
        "max_upload_mb",
        "upload_max_documents",
        "upload_max_chunks",
        "upload_max_concurrent",
        "ingest_batch_chunks",
    )
    return {n: settings.value(n) for n in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=60_000, help="tiny records in the abandoned upload")
    parser.add_argument("--records-in-bounds", type=int, default=9_000)
    parser.add_argument("--abandon-after", type=float, default=3.0)
    parser.add_argument("--quiet-window", type=float, default=1.0)
    parser.add_argument("--big-mb", type=float, default=100.0)
    parser.add_argument("--cases", default="abandoned,abandoned-in-bounds,big", type=lambda s: s.split(","))
    parser.add_argument("--big-timeout", type=float, default=900.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "env": _settings_seen()}
    with tempfile.TemporaryDirectory(prefix="rag-bench-uploads-") as folder:
        root = Path(folder)
        cases = []
        if "abandoned" in args.cases:
            cases.append(("abandoned", tiny_records(root / "tiny.jsonl", args.records)))
        if "abandoned-in-bounds" in args.cases:
            cases.append(("abandoned-in-bounds", tiny_records(root / "fewer.jsonl", args.records_in_bounds)))
        if "big" in args.cases:
            cases.append(("big", big_records(root / "big.jsonl", args.big_mb)))
        for name, path in cases:
            server = start_rag_serve(rag_env(root / f"qdrant-{name}"), root / f"{name}.log")
            try:
                results[name] = (
                    big(server, path, args.big_timeout)
                    if name == "big"
                    else abandon(server, path, args.abandon_after, args.quiet_window)
                )
            finally:
                server.stop()
    print(f"{'case':<20} {'measure':<22} value")
    for name in ("abandoned", "abandoned-in-bounds", "big"):
        for key, value in results.get(name, {}).items():
            print(f"{name:<20} {key:<22} {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
