"""`RecordWriter`: the API's records written by one background thread, in batches, so that no request waits on the
database. A request hands its records over (`submit`, never blocking) and goes on; a read that must see them calls
`flush` first. Past `max_pending` waiting records, new ones are dropped and counted (a database that cannot keep up
must not grow the API's memory); a failed batch is logged and counted, not retried. Once an hour (and at start) it
purges expired traces and answers' owners and the audit events beyond the newest `audit_keep`."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

from rag.records.records import Record
from rag.records.store import RecordStore

log = logging.getLogger(__name__)
_BATCH = 500
_STOP = object()


class RecordWriter:
    def __init__(
        self,
        store: RecordStore,
        *,
        audit_keep: int,
        max_pending: int = 10_000,
        purge_every_s: float = 3600.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_outcome: Callable[[str, int], None] = lambda outcome, n: None,
    ) -> None:
        """`on_outcome(outcome, n)`: n records were `written`, `dropped` or `failed` (the API's metrics)."""
        self.store, self._audit_keep, self._purge_every_s, self._now = store, audit_keep, purge_every_s, now
        self._on_outcome = on_outcome
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self.dropped = 0  # records refused because too many were waiting
        self.failed = 0  # records of batches the database refused
        self.written = 0
        self._next_purge = 0.0
        self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
        self._thread.start()

    def submit(self, record: Record) -> None:
        """Queues a record for the writer; never waits."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            self._on_outcome("dropped", 1)
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("records dropped: %d were waiting for the database (%d dropped)", self._queue.maxsize,
                            self.dropped)  # fmt: skip

    def flush(self) -> None:
        """Returns once every record submitted before the call is written (or failed)."""
        self._queue.join()

    def purge(self) -> None:
        try:
            purged = self.store.purge(self._now(), audit_keep=self._audit_keep)
        except Exception:
            log.exception("purging expired records failed")
            return
        if purged.traces or purged.answers or purged.audit_events:
            log.info(
                "purged %d expired traces, %d answers' owners, %d old audit events",
                purged.traces, purged.answers, purged.audit_events,
            )  # fmt: skip

    def close(self, timeout_s: float = 10.0) -> None:
        """Writes what is waiting (up to `timeout_s`) and stops the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            if time.monotonic() >= self._next_purge:
                self._next_purge = time.monotonic() + self._purge_every_s
                self.purge()
            try:
                first = self._queue.get(timeout=min(self._purge_every_s, 60.0))
            except queue.Empty:
                continue
            taken = [first]
            while len(taken) < _BATCH:
                try:
                    taken.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = any(item is _STOP for item in taken)
            batch = cast(list[Record], [item for item in taken if item is not _STOP])
            try:
                if batch:
                    self.store.add(batch)
                    self.written += len(batch)
                    self._on_outcome("written", len(batch))
            except Exception:
                self.failed += len(batch)
                self._on_outcome("failed", len(batch))
                log.exception("writing %d records failed; they are lost", len(batch))
            finally:
                for _ in taken:
                    self._queue.task_done()
