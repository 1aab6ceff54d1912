"""One process at a time per embedded store, and a clear error naming the holder when another has it.

Qdrant Edge locks a shard's write-ahead log and qdrant-client's local mode locks its folder, but neither says who
holds them. Before either opens, the store takes an advisory lock of its own (`flock`, exclusive, non-blocking) on a
lock file and writes the holder into it: pid, host, command line and since when. The lock belongs to the open file,
so it ends when the store closes it or the process exits, however it exits; a second open conflicts even inside the
same process. A store that finds the lock taken raises `StoreBusy` at once, never waits.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rag.errors import BackendUnavailable, StoreBusy

_COMMAND_CHARS = 200
ADVICE = (
    "Stop that process, or use a Qdrant server (RAG_QDRANT_URL), which many processes share; or ingest into another "
    "RAG_QDRANT_PATH and, once this store is free, `rag copy --to-path` the collection into it (docs/storage.md)."
)


def _command() -> str:
    """`rag serve --port 8000`: the basename of argv[0] and the arguments, truncated (`python -c ...` for code)."""
    argv = sys.argv or [""]
    program = os.path.basename(argv[0])
    if not program or program.startswith("-"):  # `python -c CODE` or a script on stdin
        program = f"python {program}".rstrip()
    text = " ".join([program, *argv[1:]])
    return text if len(text) <= _COMMAND_CHARS else text[: _COMMAND_CHARS - 3] + "..."


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    command: str
    since: float

    @classmethod
    def me(cls) -> Holder:
        return cls(pid=os.getpid(), host=socket.gethostname(), command=_command(), since=time.time())

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            data = json.loads(text)
            return cls(
                pid=int(data["pid"]), host=str(data["host"]), command=str(data["command"]), since=float(data["since"])
            )
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        """`pid 4242: rag serve --port 8000, since 09:15:02 UTC` (the date too when not today, the host when not
        this one)."""
        since = time.gmtime(self.since)
        when = time.strftime("%H:%M:%S" if since[:3] == time.gmtime()[:3] else "%Y-%m-%d %H:%M:%S", since)
        where = "" if self.host == socket.gethostname() else f" on host {self.host}"
        return f"pid {self.pid}{where}: {self.command}, since {when} UTC"


def busy(what: str, holder: Holder | None, *, how: str = "") -> StoreBusy:
    who = f"({holder.describe()})" if holder else how or "(it does not say which)"
    return StoreBusy(f"{what} is in use by another process {who}. {ADVICE}")


def _read_holder(path: Path) -> Holder | None:
    """The holder writes itself just after it takes the lock: give it a moment."""
    for _ in range(10):
        with contextlib.suppress(OSError):
            holder = Holder.parse(path.read_text())
            if holder is not None:
                return holder
        time.sleep(0.02)
    return None


class StoreLock:
    """An exclusive `flock` on `path`, held until `release` (or the process's end)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    @classmethod
    def acquire(cls, path: Path, what: str) -> StoreLock:
        """Take the lock or raise `StoreBusy` naming `what` (e.g. "collection 'docs' in /data/edge") and the
        holder."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise BackendUnavailable(f"cannot open the lock file {path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise busy(what, _read_holder(path)) from None
        except BaseException:
            os.close(fd)
            raise
        lock = cls(path, fd)
        with contextlib.suppress(OSError):  # who holds it is information, not a condition of holding it
            data = json.dumps(Holder.me().__dict__).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        return lock

    def release(self) -> None:
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the last descriptor of the open file drops the flock
        self._fd = -1
