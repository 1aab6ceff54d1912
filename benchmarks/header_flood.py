"""What oversized `Authorization` headers cost a running API: a real `rag serve` on loopback (an API key and an OIDC
issuer configured, so a JWT-shaped credential takes the token path), flooded with `--concurrency` requests at once,
each carrying a `--mb` megabyte JWT-shaped bearer token, while this process times `GET /healthz`.

    .venv/bin/python -m benchmarks.header_flood [--mb 32] [--concurrency 8] [--seconds 5] [--out PATH]

The issuer is a small discovery document and JWKS served from this process (one RSA key, id `bench`); each flood
token names that key, with a payload of `--mb` MB of base64url JSON and a signature that does not verify, so a server
that reads it whole decodes it, fetches the key and hashes it all before refusing it. The flood requests are sent
over raw sockets, headers in 1 MB writes: a server that refuses an oversized head closes the connection early
(recorded as `reset` when the refusal is not read back). Each of the `--concurrency` senders sends such requests
one after another until `--seconds` have passed (at least one each). `/healthz` is timed every 50 ms from a thread
of its own, before (a baseline of 20 calls), during and for a second after the flood; the server's RSS is read
from /proc/PID/status (VmRSS before, every 20 ms during and after the flood). Prints a table; writes
benchmarks/results/header_flood.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.launcher import free_port, start_api

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-flood-key-0001"
KID = "bench"
MB = 1_000_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@contextmanager
def issuer() -> Iterator[str]:
    """A loopback OIDC issuer: its discovery document and a JWKS of one RSA key; yields its URL."""
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public)), "kid": KID, "use": "sig", "alg": "RS256"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    documents = {
        "/.well-known/openid-configuration": {"issuer": url, "jwks_uri": f"{url}/jwks.json"},
        "/jwks.json": {"keys": [jwk]},
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(documents.get(self.path, {})).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def flood_token(megabytes: float) -> bytes:
    """A JWT-shaped bearer token of about `megabytes` MB: a valid header naming the issuer's key, a payload of that
    much base64url JSON, a signature that does not verify."""
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": KID}).encode())
    raw = int(megabytes * MB * 3 / 4)
    payload = _b64(json.dumps({"sub": "flood", "pad": "x" * raw}).encode())
    return f"{header}.{payload}.{_b64(os.urandom(256))}".encode()


def _rss(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (the peak) of a process, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def flood(port: int, token: bytes, until: float, results: list[dict[str, Any]]) -> None:
    """Flood requests one after another until `until` (time.perf_counter), at least one."""
    while True:
        results.append(flood_one(port, token))
        if time.perf_counter() >= until:
            return


def flood_one(port: int, token: bytes) -> dict[str, Any]:
    """One request with the token in its Authorization header, over a raw socket; the status it got, or how the
    connection ended."""
    started = time.perf_counter()
    head = b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
    outcome: str
    with socket.create_connection(("127.0.0.1", port), timeout=120) as conn:
        try:
            conn.sendall(head)
            for start in range(0, len(token), MB):
                conn.sendall(token[start : start + MB])
            conn.sendall(b"\r\nConnection: close\r\n\r\n")
        except OSError as exc:  # the server closed early: its refusal may still be readable
            outcome = f"reset ({type(exc).__name__})"
        else:
            outcome = "no answer"
        try:
            first = conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
            if first.startswith("HTTP/1.1 "):
                outcome = first.split()[1]
        except OSError as exc:
            outcome = f"reset ({type(exc).__name__})" if outcome == "no answer" else outcome
    return {"outcome": outcome, "seconds": round(time.perf_counter() - started, 3)}


def sample_rss(pid: int, stop: threading.Event, samples: list[float]) -> None:
    """The server's VmRSS every 20 ms until `stop`."""
    while not stop.is_set():
        samples.append(_rss(pid)["VmRSS"])
        stop.wait(0.02)


def probe(base_url: str, stop: threading.Event, samples: list[tuple[float, float]]) -> None:
    """`GET /healthz` every 50 ms until `stop`: (time sent, latency) pairs."""
    with httpx.Client(base_url=base_url, timeout=120) as client:
        while not stop.is_set():
            sent = time.perf_counter()
            client.get("/healthz").raise_for_status()
            samples.append((sent, time.perf_counter() - sent))
            stop.wait(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=32.0, help="megabytes of each flood request's token")
    parser.add_argument("--concurrency", type=int, default=8, help="flood requests sent at once")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each sender goes on sending")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "header_flood.json")
    args = parser.parse_args()
    token = flood_token(args.mb)
    with tempfile.TemporaryDirectory() as tmp, issuer() as issuer_url:
        env = {
            "RAG_API_KEYS": f"{KEY}=bench",
            "RAG_OIDC_ISSUER": issuer_url,
            "RAG_OIDC_AUDIENCE": "bench-api",
            "RAG_OIDC_ALLOW_HTTP": "true",
            "RAG_LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",  # no LLM: the flood never reaches one
            "RAG_LOG_FORMAT": "text",
        }
        server = start_api(Path(tmp) / "qdrant", Path(tmp) / "serve.log", **env)
        pid, port = server.process.pid, int(server.base_url.rsplit(":", 1)[1])
        try:
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                assert client.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
                baseline = []
                for _ in range(20):
                    sent = time.perf_counter()
                    client.get("/healthz").raise_for_status()
                    baseline.append(time.perf_counter() - sent)
            rss_before = _rss(pid)["VmRSS"]
            samples: list[tuple[float, float]] = []
            stop = threading.Event()
            rss_samples: list[float] = []
            prober = threading.Thread(target=probe, args=(server.base_url, stop, samples))
            sampler = threading.Thread(target=sample_rss, args=(pid, stop, rss_samples))
            prober.start()
            sampler.start()
            time.sleep(0.5)
            flood_started = time.perf_counter()
            per_sender: list[list[dict[str, Any]]] = [[] for _ in range(args.concurrency)]
            until = flood_started + args.seconds
            senders = [threading.Thread(target=flood, args=(port, token, until, out)) for out in per_sender]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
            flood_s = time.perf_counter() - flood_started
            time.sleep(1.0)
            stop.set()
            prober.join()
            sampler.join()
            rss = _rss(pid)
            log_tail = (Path(tmp) / "serve.log").read_text(errors="replace")
        finally:
            server.stop()
    during = [latency for sent, latency in samples if flood_started <= sent <= flood_started + flood_s]
    during = during or [latency for _, latency in samples]
    results = [r for out in per_sender for r in out]
    outcomes: dict[str, int] = {}
    for r in results:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    result = {
        "token_mb": args.mb,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "flood_s": round(flood_s, 2),
        "flood_requests": len(results),
        "flood_outcomes": outcomes,
        "flood_request_s_p50": round(statistics.median(r["seconds"] for r in results), 3),
        "flood_request_s_max": round(max(r["seconds"] for r in results), 3),
        "healthz_baseline_ms_p50": round(statistics.median(baseline) * 1000, 1),
        "healthz_during_ms_p50": round(statistics.median(during) * 1000, 1),
        "healthz_during_ms_max": round(max(during) * 1000, 1),
        "healthz_calls_during": len(during),
        "rss_mib_before": round(rss_before, 1),
        "rss_mib_max_during": round(max(rss_samples), 1),
        "rss_mib_peak_since_start": round(rss["VmHWM"], 1),
        "rss_mib_after": round(rss["VmRSS"], 1),
        "server_tracebacks": log_tail.count("Traceback"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    print(f"\n{args.concurrency} senders at once for {args.seconds:g} s (at least one request each), each request with "
          f"a {args.mb:g} MB JWT-shaped Authorization header:\n")  # fmt: skip
    print("| measure | value |\n|---|---|")
    print(f"| flood requests answered | {', '.join(f'{n} x {o}' for o, n in sorted(outcomes.items()))} |")
    print(f"| flood wall time | {result['flood_s']} s |")
    print(f"| one flood request, p50 / max | {result['flood_request_s_p50']} / {result['flood_request_s_max']} s |")
    print(f"| /healthz p50 before the flood | {result['healthz_baseline_ms_p50']} ms |")
    print(f"| /healthz p50 during the flood | {result['healthz_during_ms_p50']} ms ({len(during)} calls) |")
    print(f"| /healthz max during the flood | {result['healthz_during_ms_max']} ms |")
    print(f"| server RSS before / highest during / after | {result['rss_mib_before']} / "
          f"{result['rss_mib_max_during']} / {result['rss_mib_after']} MiB |")  # fmt: skip
    print(f"| tracebacks in the server log | {result['server_tracebacks']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
