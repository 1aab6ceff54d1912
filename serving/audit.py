"""The audit trail: one event per retrieval and per document change, always as a JSON log line (logger
`rag.audit`), and, when `RAG_AUDIT_DB` names a SQLite file, kept there for admins to read (`GET /v1/audit`).

An event names who (tenant, subject, key id), what (endpoint, action, collection, the doc ids returned or changed)
and the request id; never content or a credential. The file keeps the newest `RAG_AUDIT_KEEP` events.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from fastapi.concurrency import run_in_threadpool

from rag.identity import Principal
from serving.logs import request_id

log = logging.getLogger("rag.audit")

Action = Literal["retrieve", "list", "store", "delete"]
MAX_DOC_IDS = 1_000  # an event lists at most this many (a listing page is at most 1,000)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    time: str
    tenant: str
    subject: str
    key_id: str | None
    endpoint: str
    action: Action
    collection: str
    doc_ids: list[str]
    request_id: str | None


class SqliteAuditStore:
    """Events in one SQLite table, newest kept; readable per tenant, newest first, a page at a time."""

    def __init__(self, path: Path, keep: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, "
            "event TEXT NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS audit_tenant ON audit (tenant, id)")
        self._keep, self._lock, self._since_trim = keep, threading.Lock(), 0

    def append(self, event: AuditEvent) -> None:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO audit (tenant, event) VALUES (?, ?)", (event.tenant, json.dumps(asdict(event)))
            )
            self._since_trim += 1
            if self._since_trim >= max(1, self._keep // 100):  # trimmed now and then, not at every insert
                self._db.execute("DELETE FROM audit WHERE id <= ?", (int(cursor.lastrowid or 0) - self._keep,))
                self._since_trim = 0

    def recent(self, tenant: str, *, before: int | None, limit: int) -> list[tuple[int, dict[str, object]]]:
        """Up to `limit` events of the tenant older than event `before` (None: the newest), newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, event FROM audit WHERE tenant = ? AND id < ? ORDER BY id DESC LIMIT ?",
                (tenant, before if before is not None else 2**63 - 1, limit),
            ).fetchall()
        return [(int(i), json.loads(e)) for i, e in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Audit:
    def __init__(self, store: SqliteAuditStore | None) -> None:
        self.store = store

    async def record(
        self, principal: Principal, endpoint: str, action: Action, collection: str, doc_ids: list[str]
    ) -> None:
        event = AuditEvent(
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            tenant=principal.tenant,
            subject=principal.subject,
            key_id=principal.key_id,
            endpoint=endpoint,
            action=action,
            collection=collection,
            doc_ids=doc_ids[:MAX_DOC_IDS],
            request_id=request_id.get(),
        )
        fields = {k: v for k, v in asdict(event).items() if k not in ("time", "tenant", "key_id", "request_id")}
        log.info("%s %s", action, endpoint, extra=fields)  # tenant, key id and request id come from the context
        if self.store is not None:
            await run_in_threadpool(self.store.append, event)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
