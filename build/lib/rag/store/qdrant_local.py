"""qdrant-client's local mode: a pure-Python Qdrant in a folder, for small stores without a server.

What it is not, said rather than hidden: it has no vector index (every search is exact, which satisfies a query's
`exact=True`, so it takes no search parameters) and no payload indexes (`indexes_payload` is False: the store logs
a warning when metadata keys to index are configured, and `index_info` lists none). It is one object in this
process, not safe across threads: calls are serialized. The folder is this process's while the store is open: the
store takes its lock file (rag/store/lock.py) before the client locks the folder.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qdrant_client import QdrantClient

from rag.errors import BackendUnavailable, InvalidInput
from rag.store.engine import MissingCollection
from rag.store.index import HnswParams
from rag.store.lock import StoreLock, busy

LOCK_FILE = "rag.lock"


class LocalEngine:
    indexes_payload = False

    def __init__(self, path: Path | None) -> None:
        if path is None:
            raise InvalidInput("a local Qdrant store needs a path")
        path.mkdir(parents=True, exist_ok=True)
        what = f"the embedded store {path.resolve()}"
        self.location = f"qdrant-local:{path.resolve()}"
        self._lock = threading.RLock()
        self._held = StoreLock.acquire(path / LOCK_FILE, what)  # naming this process, until `close`
        try:
            self.client = QdrantClient(path=str(path))
        except RuntimeError as exc:  # local mode refuses a folder another process holds
            self._held.release()
            if "already accessed by another instance" in str(exc):  # one that does not take our lock
                raise busy(what, None) from exc
            raise BackendUnavailable(f"cannot open the local Qdrant store at {path}: {exc}") from exc
        except BaseException:
            self._held.release()
            raise

    @contextmanager
    def guard(self) -> Iterator[None]:
        with self._lock:
            try:
                yield
            except ValueError as exc:  # how local mode says a collection does not exist
                if str(exc).startswith("Collection ") and str(exc).endswith(" not found"):
                    raise MissingCollection from exc
                raise

    def search_params(self, hnsw: HnswParams, exact: bool) -> None:
        """Always exact: no HNSW beam to set, and `exact=False` is answered exactly too."""
        return None

    def close(self) -> None:
        try:
            self.client.close()
        finally:  # after the client: the next holder finds the folder unlocked
            self._held.release()
