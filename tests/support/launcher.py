"""Start a `rag serve` (or any HTTP server: vLLM, a scripted upstream; or a Redis) as a subprocess on loopback and
wait until it is ready. The test suite and the benchmarks (`benchmarks/load.py`, `uploads.py`, `header_flood.py`)
start their servers with these helpers; they live with the tests because neither ships in the image."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

RAG_BIN = str(Path(sys.executable).parent / "rag")  # the `rag` command of the running interpreter's environment


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rag_env(qdrant_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `rag` subprocess: this store, nothing from the developer's `RAG_*` (but the model
    cache), offline, and no shutdown drain (a server stops at once on SIGTERM unless `extra` asks for the drain)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_CACHE_DIR"}
    env.update({"RAG_QDRANT_PATH": str(qdrant_path), "HF_HUB_OFFLINE": "1", "RAG_SHUTDOWN_DRAIN_S": "0", **extra})
    return env


def run_rag(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """One `rag` command to its end, its output captured."""
    return subprocess.run([RAG_BIN, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


@dataclass
class Server:
    """A server process on loopback: its base URL, the process, and the file its stdout and stderr go to."""

    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def wait_ready(self, ready_path: str, timeout: float) -> Server:
        """Wait until `ready_path` answers 200; raise with the end of the log if the process exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self._command()} exited with {self.process.returncode}:\n{self._log_tail()}")
            try:
                if httpx.get(self.base_url + ready_path, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.process.kill()
        self.process.wait()
        raise RuntimeError(f"{self._command()} not ready after {timeout} s:\n{self._log_tail()}")

    def _command(self) -> str:
        args = self.process.args
        return os.fsdecode(args if isinstance(args, str | bytes | os.PathLike) else args[0])

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s; returns once the process has exited."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def launch_server(cmd: list[str], env: dict[str, str], port: int, log: Path) -> Server:
    """Start a server process without waiting for it (see `Server.wait_ready`): another can start meanwhile."""
    handle = log.open("wb")
    process = subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT)
    handle.close()  # the child holds its own descriptor
    return Server(f"http://127.0.0.1:{port}", process, log)


def start_server(cmd: list[str], env: dict[str, str], port: int, log: Path, ready_path: str, timeout: float) -> Server:
    """Start a server process and wait until `ready_path` answers 200 (or raise with the end of its log)."""
    return launch_server(cmd, env, port, log).wait_ready(ready_path, timeout)


def launch_rag_serve(env: dict[str, str], log: Path) -> Server:
    """`rag serve` on a free loopback port in the environment `env` (see `rag_env`), not waited for: several start
    side by side (each loads its models for seconds)."""
    port = free_port()
    return launch_server([RAG_BIN, "serve", "--port", str(port)], env, port, log)


def start_rag_serve(env: dict[str, str], log: Path, ready_path: str = "/healthz", timeout: float = 240) -> Server:
    """`rag serve` on a free loopback port in the environment `env` (see `rag_env`), once `ready_path` answers."""
    return launch_rag_serve(env, log).wait_ready(ready_path, timeout)


def launch_api(qdrant_path: Path, log: Path, **env: str) -> Server:
    """`rag serve` over the store at `qdrant_path`, `env` added to `rag_env`'s, not waited for (`wait_ready`)."""
    return launch_rag_serve(rag_env(qdrant_path, **env), log)


def start_api(qdrant_path: Path, log: Path, **env: str) -> Server:
    """`rag serve` over the store at `qdrant_path`, `env` added to `rag_env`'s; ready once `/healthz` answers."""
    return launch_api(qdrant_path, log, **env).wait_ready("/healthz", 240)


class RedisServer:
    """Debian's `redis-server` (scripts/redis-server.sh installs it) on a free loopback port, in `folder`; stopped
    and started again on the same port (and, `persistent`, with what it held) for outage tests."""

    def __init__(self, folder: Path, *, password: str | None = None, persistent: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run ./scripts/redis-server.sh")
        self.binary, self.folder, self.password, self.persistent = binary, folder, password, persistent
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        # persistent: every write in the append-only file, so a restart keeps what was written before the stop
        durable = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        args += ["--save", "", *durable, "--protected-mode", "yes"]
        if self.password:
            args += ["--requirepass", self.password]
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError as exc:
                if self.process.poll() is not None:
                    tail = (self.folder / "redis.log").read_text()[-500:]
                    raise RuntimeError(f"redis-server exited: {tail}") from exc
                time.sleep(0.02)
        raise RuntimeError("redis-server did not listen within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
