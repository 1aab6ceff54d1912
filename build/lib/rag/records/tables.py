"""The records schema, one SQLAlchemy `MetaData` for SQLite and PostgreSQL. Alembic's revisions
(rag/records/migrations/versions/) create it; a test checks that they and this file agree."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

# BIGINT ids on PostgreSQL; SQLite's autoincrementing rowid needs INTEGER PRIMARY KEY
_BigId = BigInteger().with_variant(Integer(), "sqlite")

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("tenant", String(200), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("subject", String(400), nullable=False),
    Column("key_id", String(64)),
    Column("endpoint", String(200), nullable=False),
    Column("action", String(20), nullable=False),
    Column("collection", String(200), nullable=False),
    Column("doc_ids", JSON, nullable=False),
    Column("request_id", String(100)),
    Index("audit_events_tenant_id", "tenant", "id"),
)

# Who received each answer, so that feedback comes from its reader; ids and time only, kept for the feedback window.
answers = Table(
    "answers",
    metadata,
    Column("id", String(100), primary_key=True),  # the completion id (chatcmpl-...)
    Column("tenant", String(200), nullable=False),
    Column("subject", String(400), nullable=False),
    Column("key_id", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("answers_expires_at", "expires_at"),
)

traces = Table(
    "traces",
    metadata,
    Column("id", String(100), primary_key=True),  # the completion id
    Column("tenant", String(200), nullable=False),
    Column("subject", String(400), nullable=False),
    Column("key_id", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("collection", String(200), nullable=False),
    Column("model", String(200), nullable=False),
    Column("settings_fingerprint", String(64), nullable=False),
    Column("finish_reason", String(40), nullable=False),
    Column("abstention", String(40)),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("timings", JSON, nullable=False),  # milliseconds per stage
    Column("hits", JSON, nullable=False),  # chunk ids, doc ids and hashes, scores, citation numbers (and texts)
    Column("attributions", JSON, nullable=False),
    Column("removed_markers", Integer, nullable=False),
    Column("has_content", Boolean, nullable=False),
    Column("question", Text),  # the content, only where RAG_TRACE_CONTENT allows it
    Column("retrieval_query", Text),
    Column("answer", Text),
    Index("traces_tenant_created", "tenant", "created_at"),
    Index("traces_expires_at", "expires_at"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("tenant", String(200), nullable=False),
    Column("completion_id", String(100), nullable=False),
    Column("subject", String(400), nullable=False),
    Column("key_id", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rating", String(10), nullable=False),  # up or down
    Column("comment", Text),
    Column("corrected_answer", Text),
    Index("feedback_answer_subject", "tenant", "completion_id", "subject", unique=True),
    Index("feedback_tenant_created", "tenant", "created_at"),
)
