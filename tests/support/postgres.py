"""A real PostgreSQL for the records suite: Debian's server (scripts/postgresql.sh installs it), a fresh cluster in
a temporary folder on a free loopback port, trust authentication, fsync off (a test database, thrown away). As root
(here and in CI) the server runs as the `postgres` user, which PostgreSQL requires."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from tests.support.launcher import free_port


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run ./scripts/postgresql.sh")
    return Path(found[-1])


class PostgresServer:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="rag-pg-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres"
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://rag@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresServer:
        data = self.folder / "data"
        subprocess.run(
            [str(self.bin / "initdb"), "-D", str(data), "-U", "rag", "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, user=self._user,
        )  # fmt: skip
        log = (self.folder / "postgres.log").open("ab")
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port),
             "-k", str(self.folder), "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            stdout=log, stderr=subprocess.STDOUT, user=self._user,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                with psycopg.connect(self.url(), connect_timeout=2):
                    return self
            except (OSError, psycopg.OperationalError) as exc:
                if self.process.poll() is not None:
                    tail = (self.folder / "postgres.log").read_text()[-800:]
                    raise RuntimeError(f"postgres exited: {tail}") from exc
                time.sleep(0.05)
        raise RuntimeError("postgres did not accept connections within 30 s")

    def new_database(self) -> str:
        """A fresh empty database's URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # a generated name: nothing from outside
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # a fast shutdown: SIGTERM's smart one waits for every client
            self.process.wait(timeout=20)
        self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)
