"""`RecordWriter`: the API's records written by one background thread, in batches, so that no request waits on the
database. A request hands its records over (`submit`, never blocking) and goes on; a read that must see them calls
`flush` first. Past `max_pending` waiting records, new ones are dropped and counted (a database that cannot keep up
must not grow the API's memory). A batch the database refuses is written again one record at a time, so that a record
it cannot take loses no other; those it still refuses are logged (their kind and the error's, never a value) and
counted, as is a batch while the database cannot be reached (not retried). Once an hour (and at start) it purges
expired traces and answers' owners and the audit events beyond the newest `audit_keep`."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import cast

from sqlalchemy.exc import StatementError

from rag.errors import BackendUnavailable
from rag.records.rows import Record
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
        self.failed = 0  # records the database refused, or could not be reached to take
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
                    self._write(batch)
            finally:
                for _ in taken:
                    self._queue.task_done()

    def _write(self, batch: list[Record]) -> None:
        """The batch in one transaction; if the database refuses it, each record in one of its own."""
        try:
            self.store.add(batch)
        except BackendUnavailable as exc:  # no record would get through: the batch fails at once
            self._lost(batch, _why(exc))
            return
        except Exception as exc:
            if len(batch) == 1:
                self._lost(batch, _why(exc))
                return
            log.warning("writing %d records failed (%s); writing them one at a time", len(batch), _why(exc))
            self._write_each(batch)
            return
        self._wrote(len(batch))

    def _write_each(self, batch: list[Record]) -> None:
        """Each record alone; those refused are logged once per kind of error (a database refusing every one of
        them, read-only say, logs a line, not one a record)."""
        written, lost = 0, defaultdict[str, list[Record]](list)
        for n, record in enumerate(batch):
            try:
                self.store.add([record])
            except BackendUnavailable as exc:
                lost[_why(exc)].extend(batch[n:])
                break
            except Exception as exc:
                lost[_why(exc)].append(record)
            else:
                written += 1
        if written:
            self._wrote(written)
        for why, records in lost.items():
            self._lost(records, why)

    def _wrote(self, n: int) -> None:
        self.written += n
        self._on_outcome("written", n)

    def _lost(self, records: Sequence[Record], why: str) -> None:
        self.failed += len(records)
        self._on_outcome("failed", len(records))
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(Counter(type(r).__name__ for r in records).items()))
        s = "" if len(records) == 1 else "s"
        log.error("writing %d record%s (%s) failed (%s); lost", len(records), s, kinds, why)


def _why(exc: BaseException) -> str:
    """The kind of a write's failure, never its message: a database's message may quote the values (a duplicate key,
    a failing row) and SQLAlchemy's the statement."""
    if isinstance(exc, BackendUnavailable) and exc.__cause__ is not None:
        exc = exc.__cause__
    cause = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    code = getattr(cause, "sqlstate", None) or getattr(cause, "sqlite_errorname", None)
    names = list(dict.fromkeys((type(exc).__name__, type(cause).__name__)))  # one name when they agree
    return " ".join([*names, str(code)] if code else names)
