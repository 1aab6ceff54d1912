"""`RecordStore`: the records database's reads and writes, in SQLAlchemy Core (one code path for SQLite and
PostgreSQL). Times are stored in UTC; SQLite hands them back without a zone, which `_utc` restores."""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, Row, and_, delete, func, insert, select, tuple_
from sqlalchemy.engine import URL
from sqlalchemy.exc import InterfaceError, OperationalError

from rag.errors import BackendUnavailable
from rag.records import tables as t
from rag.records.database import make_engine, shown
from rag.records.migrate import upgrade
from rag.records.rows import AnswerOwner, AuditEvent, Feedback, Record, Trace, TraceContent, TraceHit

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
                rows["audit"].append(asdict(record))
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
                feedback = replace(feedback, id=earlier)
            connection.execute(insert(t.feedback), [asdict(feedback)])
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
    def has_trace(self, tenant: str, trace_id: str) -> bool:
        query = select(t.traces.c.id).where(t.traces.c.tenant == tenant, t.traces.c.id == trace_id)
        with self.engine.connect() as connection:
            return connection.execute(query).first() is not None

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
# A row is read as a dict (`Row._mapping`, or the part of a joined row that is one table's); times come back in UTC.


def _fields(row: Row[Any] | dict[str, Any]) -> dict[str, Any]:
    return dict(row._mapping) if isinstance(row, Row) else row


def _audit(row: Row[Any] | dict[str, Any]) -> AuditEvent:
    fields = _fields(row)
    fields.pop("id")
    return AuditEvent(**{**fields, "time": _utc(fields["time"]), "doc_ids": list(fields["doc_ids"])})


def _answer_row(owner: AnswerOwner) -> dict[str, Any]:
    fields = asdict(owner)
    return {**fields, "id": fields.pop("completion_id")}


def _answer(row: Row[Any] | dict[str, Any]) -> AnswerOwner:
    fields = _fields(row)
    return AnswerOwner(completion_id=fields.pop("id"), **{**fields, "created_at": _utc(fields["created_at"]),
                                                           "expires_at": _utc(fields["expires_at"])})  # fmt: skip


def _hit_fields(hit: TraceHit) -> dict[str, Any]:
    """A retrieved chunk as the trace's `hits` hold it: title, source and text only when kept."""
    fields = asdict(hit)
    return fields if hit.text is not None else {k: v for k, v in fields.items() if k not in ("title", "source", "text")}


def _trace_row(trace: Trace) -> dict[str, Any]:
    fields = asdict(trace)
    for derived in ("content", "feedback"):
        fields.pop(derived)
    content = trace.content
    return {
        **fields,
        "hits": [_hit_fields(h) for h in trace.hits],
        "has_content": content is not None,
        "question": content.question if content else None,
        "retrieval_query": content.retrieval_query if content else None,
        "answer": content.answer if content else None,
    }


def _trace(row: Row[Any] | dict[str, Any], feedback: Sequence[Feedback]) -> Trace:
    fields = _fields(row)
    content = TraceContent(*(fields.pop(k) for k in ("question", "retrieval_query", "answer")))
    kept = fields.pop("has_content")
    return Trace(
        **{
            **fields,
            "created_at": _utc(fields["created_at"]),
            "expires_at": _utc(fields["expires_at"]),
            "timings": {k: float(v) for k, v in dict(fields["timings"]).items()},
            "hits": [TraceHit(**h) for h in fields["hits"]],
            "attributions": list(fields["attributions"]),
        },
        content=content if kept else None,
        feedback=list(feedback),
    )


def _feedback(row: Row[Any] | dict[str, Any]) -> Feedback:
    fields = _fields(row)
    return Feedback(**{**fields, "created_at": _utc(fields["created_at"])})
