"""`RecordStore`: the records database's reads and writes, in SQLAlchemy Core (one code path for SQLite and
PostgreSQL). Times are stored in UTC; SQLite hands them back without a zone, which `_utc` restores."""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, Row, and_, delete, func, insert, select, tuple_
from sqlalchemy.engine import URL
from sqlalchemy.exc import InterfaceError, OperationalError

from rag.errors import BackendUnavailable
from rag.records import tables as t
from rag.records.database import make_engine, shown
from rag.records.migrate import upgrade
from rag.records.records import AnswerOwner, AuditEvent, Feedback, Rating, Record, Trace, TraceContent, TraceHit

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


def _reachable(method: Callable[Concatenate[RecordStore, P], T]) -> Callable[Concatenate[RecordStore, P], T]:
    """The database's connection failures as the platform's `BackendUnavailable` (503 at the API), no internals."""

    @functools.wraps(method)
    def call(self: RecordStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(self, *args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            raise BackendUnavailable("the records database is unreachable") from exc

    return call


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_feedback_id() -> str:
    return f"fb-{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class Purged:
    """What one purge removed."""

    traces: int
    answers: int
    audit_events: int


@dataclass(frozen=True, slots=True)
class FeedbackCase:
    """A feedback with the trace of the answer it rates (None: no trace was kept)."""

    feedback: Feedback
    trace: Trace | None


class RecordStore:
    """The records of one database. Thread-safe (the engine's pool); every method is blocking."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: URL, *, migrate: bool = True, wait_s: float = 0.0) -> RecordStore:
        """The store at `url`, its schema brought to the newest revision unless `migrate` is False; a database that
        cannot be reached yet (a PostgreSQL starting beside the API) is tried again for up to `wait_s`."""
        store = cls(make_engine(url))
        if migrate:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    upgrade(store.engine)
                    break
                except (OperationalError, InterfaceError) as exc:
                    if time.monotonic() >= deadline:
                        store.close()
                        raise BackendUnavailable(f"the records database {store.location} is unreachable") from exc
                    log.warning("the records database %s is not reachable yet; trying again", store.location)
                    time.sleep(2.0)
        return store

    @property
    def location(self) -> str:
        return shown(self.engine.url)

    def close(self) -> None:
        self.engine.dispose()

    # writes -----------------------------------------------------------------------------------------------------

    @_reachable
    def add(self, records: Iterable[Record]) -> None:
        """Audit events, answers' owners and traces, in one transaction."""
        rows: dict[str, list[dict[str, Any]]] = {"audit": [], "answers": [], "traces": []}
        for record in records:
            if isinstance(record, AuditEvent):
                rows["audit"].append(_audit_row(record))
            elif isinstance(record, AnswerOwner):
                rows["answers"].append(_answer_row(record))
            else:
                rows["traces"].append(_trace_row(record))
        with self.engine.begin() as connection:
            for table, batch in ((t.audit_events, rows["audit"]), (t.answers, rows["answers"]),
                                 (t.traces, rows["traces"])):  # fmt: skip
                if batch:
                    connection.execute(insert(table), batch)

    @_reachable
    def save_feedback(self, feedback: Feedback) -> Feedback:
        """Stores the feedback, replacing the one the same subject gave on the same answer before (its id kept)."""
        key = and_(
            t.feedback.c.tenant == feedback.tenant,
            t.feedback.c.completion_id == feedback.completion_id,
            t.feedback.c.subject == feedback.subject,
        )
        with self.engine.begin() as connection:
            earlier = connection.execute(select(t.feedback.c.id).where(key)).scalar_one_or_none()
            if earlier is not None:
                connection.execute(delete(t.feedback).where(key))
                feedback = Feedback(**{**_feedback_fields(feedback), "id": earlier})
            connection.execute(insert(t.feedback), [_feedback_fields(feedback)])
        return feedback

    @_reachable
    def purge(self, now: datetime, *, audit_keep: int) -> Purged:
        """Deletes expired traces and answers' owners, and all but the newest `audit_keep` audit events."""
        with self.engine.begin() as connection:
            traces = connection.execute(delete(t.traces).where(t.traces.c.expires_at < now)).rowcount
            answers = connection.execute(delete(t.answers).where(t.answers.c.expires_at < now)).rowcount
            newest = connection.execute(select(func.max(t.audit_events.c.id))).scalar_one_or_none()
            audit = 0
            if newest is not None:
                audit = connection.execute(
                    delete(t.audit_events).where(t.audit_events.c.id <= newest - audit_keep)
                ).rowcount
        return Purged(traces=traces, answers=answers, audit_events=audit)

    # reads ------------------------------------------------------------------------------------------------------

    @_reachable
    def answer_owner(self, tenant: str, completion_id: str) -> AnswerOwner | None:
        query = select(t.answers).where(t.answers.c.tenant == tenant, t.answers.c.id == completion_id)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return _answer(row) if row is not None else None

    @_reachable
    def trace(self, tenant: str, trace_id: str) -> Trace | None:
        """One trace of the tenant with the feedback given on its answer."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(t.traces).where(t.traces.c.tenant == tenant, t.traces.c.id == trace_id)
            ).first()
            if row is None:
                return None
            given = connection.execute(
                select(t.feedback)
                .where(t.feedback.c.tenant == tenant, t.feedback.c.completion_id == trace_id)
                .order_by(t.feedback.c.created_at)
            ).all()
        return _trace(row, [_feedback(f) for f in given])

    @_reachable
    def traces(
        self,
        tenant: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Trace]:
        """The tenant's traces, newest first, created in [since, until); `after`: the last id of the page before."""
        c = t.traces.c
        query = select(t.traces).where(c.tenant == tenant)
        if since is not None:
            query = query.where(c.created_at >= since)
        if until is not None:
            query = query.where(c.created_at < until)
        with self.engine.connect() as connection:
            if after is not None:
                cursor = connection.execute(select(c.created_at, c.id).where(c.tenant == tenant, c.id == after)).first()
                if cursor is None:
                    return []
                query = query.where(tuple_(c.created_at, c.id) < tuple_(cursor.created_at, cursor.id))
            rows = connection.execute(query.order_by(c.created_at.desc(), c.id.desc()).limit(limit)).all()
        return [_trace(row, []) for row in rows]

    @_reachable
    def feedback_cases(self, *, tenant: str | None = None, since: datetime | None = None) -> list[FeedbackCase]:
        """Feedback given since `since` (every tenant's unless `tenant`), oldest first, each with its answer's trace."""
        f = t.feedback.c
        query = select(t.feedback, t.traces).outerjoin(
            t.traces, and_(t.traces.c.id == f.completion_id, t.traces.c.tenant == f.tenant)
        )
        if tenant is not None:
            query = query.where(f.tenant == tenant)
        if since is not None:
            query = query.where(f.created_at >= since)
        width = len(t.feedback.c)
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(f.created_at, f.id)).all()
        cases = []
        for row in rows:
            values = tuple(row)
            given = _feedback(dict(zip(t.feedback.c.keys(), values[:width], strict=True)))
            trace_values = dict(zip(t.traces.c.keys(), values[width:], strict=True))
            trace = _trace(trace_values, [given]) if trace_values["id"] is not None else None
            cases.append(FeedbackCase(given, trace))
        return cases

    @_reachable
    def audit_events(self, tenant: str, *, before: int | None, limit: int) -> list[tuple[int, AuditEvent]]:
        """Up to `limit` events of the tenant older than event `before` (None: the newest), newest first."""
        c = t.audit_events.c
        query = select(t.audit_events).where(c.tenant == tenant)
        if before is not None:
            query = query.where(c.id < before)
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(c.id.desc()).limit(limit)).all()
        return [(int(row.id), _audit(row)) for row in rows]


# rows <-> records ---------------------------------------------------------------------------------------------------

Mapping_ = Row[Any] | dict[str, Any]


def _get(row: Mapping_, name: str) -> Any:
    return row[name] if isinstance(row, dict) else getattr(row, name)


def _audit_row(event: AuditEvent) -> dict[str, Any]:
    return {
        "tenant": event.tenant,
        "time": event.time,
        "subject": event.subject,
        "key_id": event.key_id,
        "endpoint": event.endpoint,
        "action": event.action,
        "collection": event.collection,
        "doc_ids": list(event.doc_ids),
        "request_id": event.request_id,
    }


def _audit(row: Mapping_) -> AuditEvent:
    return AuditEvent(
        time=_utc(_get(row, "time")),
        tenant=_get(row, "tenant"),
        subject=_get(row, "subject"),
        key_id=_get(row, "key_id"),
        endpoint=_get(row, "endpoint"),
        action=_get(row, "action"),
        collection=_get(row, "collection"),
        doc_ids=list(_get(row, "doc_ids")),
        request_id=_get(row, "request_id"),
    )


def _answer_row(owner: AnswerOwner) -> dict[str, Any]:
    return {
        "id": owner.completion_id,
        "tenant": owner.tenant,
        "subject": owner.subject,
        "key_id": owner.key_id,
        "created_at": owner.created_at,
        "expires_at": owner.expires_at,
    }


def _answer(row: Mapping_) -> AnswerOwner:
    return AnswerOwner(
        completion_id=_get(row, "id"),
        tenant=_get(row, "tenant"),
        subject=_get(row, "subject"),
        key_id=_get(row, "key_id"),
        created_at=_utc(_get(row, "created_at")),
        expires_at=_utc(_get(row, "expires_at")),
    )


def _hit_fields(hit: TraceHit) -> dict[str, Any]:
    fields = {
        "chunk_id": hit.chunk_id,
        "doc_id": hit.doc_id,
        "doc_hash": hit.doc_hash,
        "chunk_index": hit.chunk_index,
        "score": hit.score,
        "index": hit.index,
        "cited": hit.cited,
    }
    if hit.text is not None:
        fields |= {"title": hit.title, "source": hit.source, "text": hit.text}
    return fields


def _trace_row(trace: Trace) -> dict[str, Any]:
    content = trace.content
    return {
        "id": trace.id,
        "tenant": trace.tenant,
        "subject": trace.subject,
        "key_id": trace.key_id,
        "created_at": trace.created_at,
        "expires_at": trace.expires_at,
        "collection": trace.collection,
        "model": trace.model,
        "settings_fingerprint": trace.settings_fingerprint,
        "finish_reason": trace.finish_reason,
        "abstention": trace.abstention,
        "prompt_tokens": trace.prompt_tokens,
        "completion_tokens": trace.completion_tokens,
        "timings": dict(trace.timings),
        "hits": [_hit_fields(h) for h in trace.hits],
        "attributions": list(trace.attributions),
        "removed_markers": trace.removed_markers,
        "has_content": content is not None,
        "question": content.question if content else None,
        "retrieval_query": content.retrieval_query if content else None,
        "answer": content.answer if content else None,
    }


def _trace(row: Mapping_, feedback: Sequence[Feedback]) -> Trace:
    content = None
    if _get(row, "has_content"):
        content = TraceContent(_get(row, "question"), _get(row, "retrieval_query"), _get(row, "answer"))
    return Trace(
        id=_get(row, "id"),
        tenant=_get(row, "tenant"),
        subject=_get(row, "subject"),
        key_id=_get(row, "key_id"),
        created_at=_utc(_get(row, "created_at")),
        expires_at=_utc(_get(row, "expires_at")),
        collection=_get(row, "collection"),
        model=_get(row, "model"),
        settings_fingerprint=_get(row, "settings_fingerprint"),
        finish_reason=_get(row, "finish_reason"),
        abstention=_get(row, "abstention"),
        prompt_tokens=int(_get(row, "prompt_tokens")),
        completion_tokens=int(_get(row, "completion_tokens")),
        timings={k: float(v) for k, v in dict(_get(row, "timings")).items()},
        hits=[TraceHit(**h) for h in _get(row, "hits")],
        attributions=list(_get(row, "attributions")),
        removed_markers=int(_get(row, "removed_markers")),
        content=content,
        feedback=list(feedback),
    )


def _feedback_fields(feedback: Feedback) -> dict[str, Any]:
    return {
        "id": feedback.id,
        "tenant": feedback.tenant,
        "completion_id": feedback.completion_id,
        "subject": feedback.subject,
        "key_id": feedback.key_id,
        "created_at": feedback.created_at,
        "rating": feedback.rating,
        "comment": feedback.comment,
        "corrected_answer": feedback.corrected_answer,
    }


def _feedback(row: Mapping_) -> Feedback:
    rating: Rating = _get(row, "rating")
    return Feedback(
        id=_get(row, "id"),
        tenant=_get(row, "tenant"),
        completion_id=_get(row, "completion_id"),
        subject=_get(row, "subject"),
        key_id=_get(row, "key_id"),
        created_at=_utc(_get(row, "created_at")),
        rating=rating,
        comment=_get(row, "comment"),
        corrected_answer=_get(row, "corrected_answer"),
    )
