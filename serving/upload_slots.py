"""How many file uploads one API process works on at once (RAG_UPLOAD_MAX_CONCURRENT): each holds a worker thread
and the embedder for as long as it runs, so a few clients could otherwise tie up the thread pool. Beyond the cap an
upload is refused at once (429, Retry-After) before its files are read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rag.errors import RateLimited

RETRY_AFTER_S = 5.0


class UploadSlots:
    def __init__(self, limit: int) -> None:
        self._limit, self._taken = limit, 0

    @property
    def in_progress(self) -> int:
        return self._taken

    @contextmanager
    def hold(self) -> Iterator[None]:
        """One slot for the block (taken and given back on the event loop: no lock needed)."""
        if self._taken >= self._limit:
            raise RateLimited(
                f"{self._limit} uploads are already in progress on this server (RAG_UPLOAD_MAX_CONCURRENT); retry "
                "shortly, or load large sets of files with `rag ingest`",
                retry_after_s=RETRY_AFTER_S,
                limit=self._limit,
            )
        self._taken += 1
        try:
            yield
        finally:
            self._taken -= 1
