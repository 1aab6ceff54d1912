"""The audit trail: one event per retrieval and per document change, always as a JSON log line (logger `rag.audit`)
and as a row of the records database (rag/records/), written off the request path, for admins to read
(`GET /v1/audit`).

An event names who (tenant, subject, key id), what (endpoint, action, collection, the doc ids returned or changed)
and the request id; never content or a credential. The database keeps the newest `RAG_AUDIT_KEEP` events.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime

from rag.access.identity import Principal
from rag.records.rows import AuditAction, AuditEvent
from rag.records.writer import RecordWriter
from serving.logs import request_id

log = logging.getLogger("rag.audit")
MAX_DOC_IDS = 1_000  # an event lists at most this many (a listing page is at most 1,000)


class Audit:
    def __init__(self, writer: RecordWriter) -> None:
        self.writer = writer

    async def record(
        self, principal: Principal, endpoint: str, action: AuditAction, collection: str, doc_ids: list[str]
    ) -> None:
        event = AuditEvent(
            time=datetime.now(UTC),
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
        self.writer.submit(event)
