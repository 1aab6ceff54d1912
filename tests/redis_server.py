"""A real Redis for the tests: Debian's `redis-server` (scripts/redis-server.sh installs it) on a free loopback
port, in a temporary folder; stopped and started again on the same port (and, `persistent`, with what it held) for
outage tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from serving.launcher import free_port


class RedisServer:
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
