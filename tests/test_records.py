"""The records database (rag/records/), one suite on both backends: SQLite in a temporary folder and a real
PostgreSQL (tests/support/postgres.py). Migrations run up from empty and from the previous revision and agree with
the tables; audit events, answers' owners, traces and feedback read back as written, by tenant only; expired
records are purged; the background writer writes everything it accepts and drops past its bound, and writes the rest
of a batch holding a record the database refuses, logging no value; a NUL, which PostgreSQL's text cannot hold, is
stored and looked up as U+FFFD on both."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from rag.errors import InvalidInput
from rag.records import tables as t
from rag.records.database import database_url, make_engine
from rag.records.migrate import current_revision, head_revision, upgrade
from rag.records.rows import AnswerOwner, AuditEvent, Feedback, Trace, TraceContent, TraceHit
from rag.records.store import RecordStore
from rag.records.writer import RecordWriter
from tests.support.cli import run_cli
from tests.support.launcher import rag_env
from tests.support.postgres import PostgresServer

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of the parameter's kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'records.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def record_store(url: str) -> Iterator[RecordStore]:
    opened = RecordStore.open(database_url(url))
    yield opened
    opened.close()


def _event(tenant: str, n: int) -> AuditEvent:
    return AuditEvent(NOW + timedelta(seconds=n), tenant, f"user-{n}", "k1", "POST /v1/retrieve", "retrieve", "docs",
                      [f"doc-{n}", "shared"], f"req-{n}")  # fmt: skip


def _trace(trace_id: str, tenant: str = "acme", *, created: datetime = NOW, keep_days: int = 30,
           content: bool = True) -> Trace:  # fmt: skip
    hits = []
    for i in range(3):
        shown = (f"Title {i}", f"s3://b/{i}.md", f"text of chunk {i}") if content else (None, None, None)
        hits.append(TraceHit(f"chunk-{i}", f"doc-{i}", f"hash-{i}", i, 0.9 - i / 10, i + 1, i == 0, *shown))
    return Trace(
        id=trace_id, tenant=tenant, subject="alice", key_id=None, created_at=created,
        expires_at=created + timedelta(days=keep_days), collection="docs", model="rag",
        settings_fingerprint="f" * 16, finish_reason="stop", abstention=None, prompt_tokens=120,
        completion_tokens=30, timings={"retrieval_ms": 12.5, "first_token_ms": 40.0, "total_ms": 300.0}, hits=hits,
        attributions=[{"start": 0, "end": 20, "sources": [1], "score": 0.7, "supported": True}], removed_markers=0,
        content=TraceContent("what is X?", "what is X?", "X is Y [1].") if content else None,
    )  # fmt: skip


SECRETS = ("secret question", "secret retrieval query", "secret answer", "secret source text", "Secret Title")


def _secret_trace(trace_id: str) -> Trace:
    """A trace whose content and source texts a log must never show."""
    hit = TraceHit("chunk-0", "doc-0", "hash-0", 0, 0.9, 1, True, "Secret Title", "s3://b/0.md", "secret source text")
    return replace(_trace(trace_id), hits=[hit],
                   content=TraceContent("secret question", "secret retrieval query", "secret answer"))  # fmt: skip


def _feedback(completion_id: str, rating: str = "down", subject: str = "alice", tenant: str = "acme",
              at: datetime = NOW, corrected: str | None = "X is Z.") -> Feedback:  # fmt: skip
    return Feedback(f"fb-{tenant}-{completion_id}-{subject}-{rating}", tenant, completion_id, subject, None, at,
                    rating, "wrong" if rating == "down" else None, corrected)  # type: ignore[arg-type]  # fmt: skip


# -- migrations -------------------------------------------------------------------------------------------------------


def test_migrations_from_empty_reach_the_head_and_agree_with_the_tables(url: str) -> None:
    engine = make_engine(database_url(url))
    assert current_revision(engine) is None
    assert upgrade(engine) == head_revision()
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), t.metadata)
    assert differences == [], differences  # the revisions build exactly what tables.py declares
    assert upgrade(engine) == head_revision()  # again: nothing to do
    engine.dispose()


def test_migrations_from_the_previous_revision_keep_its_rows(url: str) -> None:
    engine = make_engine(database_url(url))
    assert upgrade(engine, "0001") == "0001"
    assert set(inspect(engine).get_table_names()) == {"alembic_version", "audit_events"}
    with engine.begin() as connection:
        connection.execute(insert(t.audit_events), [{
            "tenant": "acme", "time": NOW, "subject": "alice", "key_id": None, "endpoint": "POST /v1/retrieve",
            "action": "retrieve", "collection": "docs", "doc_ids": ["a", "b"], "request_id": "r1",
        }])  # fmt: skip
    assert upgrade(engine) == head_revision()
    store = RecordStore(engine)
    [(_, event)] = store.audit_events("acme", before=None, limit=10)
    assert (event.subject, event.doc_ids, event.time) == ("alice", ["a", "b"], NOW)
    assert {"answers", "traces", "feedback"} <= set(inspect(engine).get_table_names())
    store.close()


def test_replicas_migrating_at_once_all_succeed(url: str) -> None:
    """Replicas starting together: each upgrades (PostgreSQL: one at a time under the advisory lock)."""
    engines = [make_engine(database_url(url)) for _ in range(3)]
    results: list[str | None] = []
    errors: list[BaseException] = []

    def run(engine: object) -> None:
        try:
            results.append(upgrade(engine))  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [head_revision()] * 3
    for engine in engines:
        engine.dispose()


def test_a_bad_database_url_is_refused_with_what_is_accepted() -> None:
    for bad in ("mysql://u@h/db", "sqlite://", "sqlite:///:memory:", "postgresql+asyncpg://u@h/db", "not a url"):
        with pytest.raises(InvalidInput, match="RAG_DATABASE_URL"):
            database_url(bad)
    assert database_url("postgres://u@h/db").drivername == "postgresql+psycopg"


# -- audit, answers, traces, feedback ----------------------------------------------------------------------------------


def test_audit_events_read_newest_first_a_page_at_a_time_and_by_tenant(record_store: RecordStore) -> None:
    record_store.add([_event("acme", n) for n in range(5)] + [_event("globex", 9)])
    first = record_store.audit_events("acme", before=None, limit=3)
    assert [e.subject for _, e in first] == ["user-4", "user-3", "user-2"]
    rest = record_store.audit_events("acme", before=first[-1][0], limit=3)
    assert [e.subject for _, e in rest] == ["user-1", "user-0"]
    assert rest[0][1] == _event("acme", 1)  # every field as written
    assert [e.tenant for _, e in record_store.audit_events("globex", before=None, limit=10)] == ["globex"]


def test_an_answers_owner_is_found_in_its_tenant_only(record_store: RecordStore) -> None:
    owner = AnswerOwner("chatcmpl-1", "acme", "alice", "k9", NOW, NOW + timedelta(days=30))
    record_store.add([owner])
    assert record_store.answer_owner("acme", "chatcmpl-1") == owner
    assert record_store.answer_owner("globex", "chatcmpl-1") is None
    assert record_store.answer_owner("acme", "chatcmpl-2") is None


def test_traces_read_back_as_written_with_or_without_content(record_store: RecordStore) -> None:
    with_content, without = _trace("c-1"), _trace("c-2", content=False, created=NOW + timedelta(seconds=1))
    record_store.add([with_content, without])
    assert record_store.trace("acme", "c-1") == with_content
    read = record_store.trace("acme", "c-2")
    assert read == without and read is not None
    assert read.content is None and all(h.text is None and h.title is None for h in read.hits)
    assert record_store.trace("globex", "c-1") is None


def test_traces_list_newest_first_within_the_window_a_page_at_a_time(record_store: RecordStore) -> None:
    record_store.add([_trace(f"c-{i}", created=NOW + timedelta(minutes=i)) for i in range(5)] + [_trace("g", "globex")])
    assert [x.id for x in record_store.traces("acme", limit=2)] == ["c-4", "c-3"]
    assert [x.id for x in record_store.traces("acme", after="c-3", limit=2)] == ["c-2", "c-1"]
    assert [x.id for x in record_store.traces("acme", after="c-1", limit=2)] == ["c-0"]
    window = record_store.traces("acme", since=NOW + timedelta(minutes=1), until=NOW + timedelta(minutes=3))
    assert [x.id for x in window] == ["c-2", "c-1"]
    assert record_store.traces("acme", after="g") == []  # another tenant's id is no cursor


def test_feedback_replaces_the_same_readers_earlier_rating_and_joins_its_trace(record_store: RecordStore) -> None:
    record_store.add([_trace("c-1")])
    first = record_store.save_feedback(_feedback("c-1", "up", corrected=None))
    second = record_store.save_feedback(_feedback("c-1", "down", at=NOW + timedelta(minutes=1)))
    assert second.id == first.id  # the same reader's one rating of that answer, changed
    record_store.save_feedback(_feedback("c-1", "up", subject="bob", corrected=None))
    record_store.save_feedback(_feedback("c-missing", "down", corrected=None))  # no trace was kept for this one
    record_store.save_feedback(_feedback("c-1", "up", tenant="globex", corrected=None))
    cases = record_store.feedback_cases(tenant="acme")  # oldest first
    assert [(c.feedback.subject, c.feedback.completion_id, c.feedback.rating) for c in cases] == [
        ("bob", "c-1", "up"), ("alice", "c-missing", "down"), ("alice", "c-1", "down")
    ]  # fmt: skip
    assert [c.trace.id if c.trace else None for c in cases] == ["c-1", None, "c-1"]
    assert cases[2].feedback == second and second.corrected_answer == "X is Z." and second.comment == "wrong"
    assert cases[2].trace is not None and cases[2].trace.content == _trace("c-1").content
    assert len(record_store.feedback_cases()) == 4  # every tenant's
    assert len(record_store.feedback_cases(since=NOW + timedelta(seconds=30))) == 1
    traced = record_store.trace("acme", "c-1")
    assert traced is not None and sorted(f.subject for f in traced.feedback) == ["alice", "bob"]


def test_purge_deletes_expired_traces_and_owners_and_keeps_the_newest_audit(record_store: RecordStore) -> None:
    record_store.add([
        _trace("old", keep_days=1, created=NOW - timedelta(days=3)), _trace("new", keep_days=7),
        AnswerOwner("old", "acme", "alice", None, NOW - timedelta(days=40), NOW - timedelta(days=10)),
        AnswerOwner("new", "acme", "alice", None, NOW, NOW + timedelta(days=30)),
        *[_event("acme", n) for n in range(10)],
    ])  # fmt: skip
    purged = record_store.purge(NOW, audit_keep=4)
    assert (purged.traces, purged.answers, purged.audit_events) == (1, 1, 6)
    assert [x.id for x in record_store.traces("acme")] == ["new"]
    assert record_store.answer_owner("acme", "old") is None and record_store.answer_owner("acme", "new") is not None
    assert [e.subject for _, e in record_store.audit_events("acme", before=None, limit=100)] == [
        f"user-{n}" for n in (9, 8, 7, 6)
    ]
    assert record_store.purge(NOW, audit_keep=4) == type(purged)(0, 0, 0)


def test_the_writer_writes_every_record_it_accepts(record_store: RecordStore) -> None:
    writer = RecordWriter(record_store, audit_keep=100_000)
    for n in range(1200):  # more than one batch
        writer.submit(_event("acme", n))
    writer.flush()
    assert (writer.written, writer.dropped, writer.failed) == (1200, 0, 0)
    assert len(record_store.audit_events("acme", before=None, limit=2000)) == 1200
    writer.close()


def test_the_writer_drops_past_its_bound_and_counts_a_failed_batch(record_store: RecordStore) -> None:
    gate = threading.Event()
    real_add: Callable[..., None] = record_store.add

    def slow_add(records: object) -> None:
        gate.wait(10)
        real_add(records)

    record_store.add = slow_add  # type: ignore[method-assign]  # the database stalls while requests keep coming
    writer = RecordWriter(record_store, audit_keep=100_000, max_pending=5)
    for n in range(20):
        writer.submit(_event("acme", n))
    assert writer.dropped >= 14  # at most 5 waiting and one batch in flight
    gate.set()
    writer.flush()
    assert writer.written + writer.dropped == 20
    record_store.add = real_add  # type: ignore[method-assign]
    writer.submit(_trace("dup"))
    writer.submit(_trace("dup"))  # the same id twice: the database refuses the second
    writer.flush()
    assert writer.failed == 1
    writer.close()
    with record_store.engine.connect() as connection:
        assert connection.execute(select(t.traces.c.id)).all() == [("dup",)]


def test_a_batch_with_one_unwritable_record_writes_the_others_and_logs_no_text(
    record_store: RecordStore, caplog: pytest.LogCaptureFixture
) -> None:
    record_store.add([_trace("dup")])
    gate = threading.Event()
    real_add: Callable[..., None] = record_store.add

    def first_waits(records: object) -> None:
        gate.wait(10)
        real_add(records)

    record_store.add = first_waits  # type: ignore[method-assign]  # the first batch waits: the rest gather into one
    outcomes: list[tuple[str, int]] = []
    writer = RecordWriter(record_store, audit_keep=100_000, on_outcome=lambda outcome, n: outcomes.append((outcome, n)))
    writer.submit(_event("acme", 0))
    time.sleep(0.2)  # taken alone, waiting at the gate
    record_store.add = real_add  # type: ignore[method-assign]
    secret = _secret_trace("dup")  # its id is taken: the database refuses it, and its batch with it
    owners = [AnswerOwner(f"o-{n}", "acme", "alice", None, NOW, NOW + timedelta(days=30)) for n in range(2)]
    with caplog.at_level("DEBUG", logger="rag.records"):
        for record in (owners[0], secret, _event("acme", 1), owners[1]):
            writer.submit(record)
        gate.set()
        writer.flush()
    writer.close()
    assert (writer.written, writer.failed, writer.dropped) == (4, 1, 0)
    assert sum(n for o, n in outcomes if o == "written") == 4 and outcomes.count(("failed", 1)) == 1
    assert all(record_store.answer_owner("acme", o.completion_id) == o for o in owners)
    assert [e.subject for _, e in record_store.audit_events("acme", before=None, limit=10)] == ["user-1", "user-0"]
    assert record_store.trace("acme", "dup") == _trace("dup")  # the one kept before, untouched
    logged = caplog.text
    assert "1 record" in logged and "Trace" in logged
    for secret in (*SECRETS, "parameters", "INSERT"):
        assert secret not in logged, secret


def test_a_database_error_carries_no_parameters(record_store: RecordStore) -> None:
    record_store.add([_secret_trace("dup")])
    with pytest.raises(IntegrityError) as refused:
        record_store.add([_secret_trace("dup")])
    for secret in SECRETS:
        assert secret not in str(refused.value), secret


# -- NUL: PostgreSQL's text cannot hold it, SQLite's can; both store U+FFFD in its place -------------------------------


def test_nul_in_a_traces_content_and_sources_is_stored_as_a_replacement_character(record_store: RecordStore) -> None:
    hits = [TraceHit("chunk\x00", "doc\x00", "hash", 0, 0.5, 1, True, "Ti\x00tle", "s3://b/\x00", "te\x00xt")]
    traced = replace(_trace("c-1"), hits=hits, content=TraceContent("what\x00?", "\x00what", "X\x00 [1]."),
                     attributions=[{"start": 0, "end": 3, "sources": [1], "note\x00": "a\x00"}])  # fmt: skip
    record_store.add([traced, _event("acme", 0), replace(_event("acme", 1), doc_ids=["a\x00", "b"], subject="u\x00")])
    read = record_store.trace("acme", "c-1")
    assert read is not None and read.content == TraceContent("what\ufffd?", "\ufffdwhat", "X\ufffd [1].")
    assert read.hits == [TraceHit("chunk\ufffd", "doc\ufffd", "hash", 0, 0.5, 1, True, "Ti\ufffdtle", "s3://b/\ufffd",
                                  "te\ufffdxt")]  # fmt: skip
    assert read.attributions == [{"start": 0, "end": 3, "sources": [1], "note\ufffd": "a\ufffd"}]
    [(_, newest), (_, oldest)] = record_store.audit_events("acme", before=None, limit=10)
    assert (newest.doc_ids, newest.subject) == (["a\ufffd", "b"], "u\ufffd") and oldest == _event("acme", 0)
    saved = record_store.save_feedback(replace(_feedback("c-1"), comment="no\x00", corrected_answer="X\x00 is Z."))
    [case] = record_store.feedback_cases(tenant="acme")
    assert (case.feedback.comment, case.feedback.corrected_answer) == ("no\ufffd", "X\ufffd is Z.")
    assert case.feedback.id == saved.id and case.trace is not None and case.trace.content == read.content


def test_nul_in_ids_is_stored_and_looked_up_alike_and_never_matches_the_id_without_it(
    record_store: RecordStore,
) -> None:
    owner = AnswerOwner("chatcmpl-1", "acme", "alice", None, NOW, NOW + timedelta(days=30))
    record_store.add([owner, _trace("c-1"), _trace("c-\x00", created=NOW + timedelta(seconds=1)),
               AnswerOwner("o-\x00", "acme", "al\x00ice", None, NOW, NOW + timedelta(days=30))])  # fmt: skip
    assert record_store.answer_owner("acme", "chatcmpl-1\x00") is None  # not the answer "chatcmpl-1"
    assert (
        record_store.answer_owner("acme", "x\x00") is None
        and record_store.answer_owner("ac\x00me", "chatcmpl-1") is None
    )
    found = record_store.answer_owner("acme", "o-\x00")
    assert found is not None and (found.completion_id, found.subject) == ("o-\ufffd", "al\ufffdice")
    assert record_store.trace("acme", "a\x00b") is None and not record_store.has_trace("acme", "c-1\x00")
    nul = record_store.trace("acme", "c-\x00")
    assert nul is not None and nul.id == "c-\ufffd" and record_store.has_trace("acme", "c-\x00")
    assert record_store.traces("acme", after="\x00") == [] and record_store.traces("acme", after="c-1\x00") == []
    assert [x.id for x in record_store.traces("acme", after="c-\x00")] == ["c-1"]
    record_store.save_feedback(_feedback("c-\x00", "up", subject="b\x00b", corrected=None))
    record_store.save_feedback(
        _feedback("c-\x00", "down", subject="b\x00b", corrected=None)
    )  # replaces it: found by its keys
    [case] = record_store.feedback_cases(tenant="acme")
    given = case.feedback
    assert (given.completion_id, given.subject, given.rating) == ("c-\ufffd", "b\ufffdb", "down")
    assert case.trace is not None and case.trace.id == "c-\ufffd"


def test_rag_db_migrates_and_says_where_the_database_is(url: str, tmp_path: Path) -> None:
    env = rag_env(tmp_path / "qdrant", RAG_DATABASE_URL=url)
    head = head_revision()
    assert run_cli(["db", "current"], env).stdout.endswith(f": at empty, newest {head}\n")
    assert run_cli(["db", "upgrade", "--revision", "0001"], env).stdout.endswith(": empty -> 0001\n")
    upgraded = run_cli(["db", "upgrade"], env)
    assert upgraded.returncode == 0 and upgraded.stdout.endswith(f": 0001 -> {head}\n")
    unreachable = run_cli(["db", "current"], rag_env(tmp_path / "q", RAG_DATABASE_URL="postgresql://x@127.0.0.1:1/d"))
    assert unreachable.returncode == 1 and "rag db current: postgresql+psycopg://x@127.0.0.1:1/d:" in unreachable.stderr


def test_ddl_in_a_failed_transaction_leaves_nothing_behind(url: str) -> None:
    """What makes a failed migration harmless: on both databases a table created in a transaction that fails is
    gone (SQLite's driver would otherwise commit DDL on its own)."""
    engine = make_engine(database_url(url))
    with pytest.raises(RuntimeError), engine.connect() as connection, connection.begin():
        connection.execute(text("CREATE TABLE half_done (x INTEGER)"))
        raise RuntimeError("the revision failed here")
    assert "half_done" not in inspect(engine).get_table_names()
    engine.dispose()
