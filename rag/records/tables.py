"""The records schema, one SQLAlchemy `MetaData` for SQLite and PostgreSQL. Alembic's revisions
(rag/records/migrations/versions/) create it; a test checks that they and this file agree. Text and JSON columns are
VARCHAR, TEXT and JSON that hold no NUL (storable.py: what PostgreSQL cannot store is replaced on both databases)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData, Table

from rag.records.storable import StorableJSON, StorableString, StorableText

metadata = MetaData()

# BIGINT ids on PostgreSQL; SQLite's autoincrementing rowid needs INTEGER PRIMARY KEY
_BigId = BigInteger().with_variant(Integer(), "sqlite")

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("tenant", StorableString(200), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("subject", StorableString(400), nullable=False),
    Column("key_id", StorableString(64)),
    Column("endpoint", StorableString(200), nullable=False),
    Column("action", StorableString(20), nullable=False),
    Column("collection", StorableString(200), nullable=False),
    Column("doc_ids", StorableJSON, nullable=False),
    Column("request_id", StorableString(100)),
    Index("audit_events_tenant_id", "tenant", "id"),
)

# Who received each answer, so that feedback comes from its reader; ids and time only, kept for the feedback window.
answers = Table(
    "answers",
    metadata,
    Column("id", StorableString(100), primary_key=True),  # the completion id (chatcmpl-...)
    Column("tenant", StorableString(200), nullable=False),
    Column("subject", StorableString(400), nullable=False),
    Column("key_id", StorableString(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("answers_expires_at", "expires_at"),
)

traces = Table(
    "traces",
    metadata,
    Column("id", StorableString(100), primary_key=True),  # the completion id
    Column("tenant", StorableString(200), nullable=False),
    Column("subject", StorableString(400), nullable=False),
    Column("key_id", StorableString(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("collection", StorableString(200), nullable=False),
    Column("model", StorableString(200), nullable=False),
    Column("settings_fingerprint", StorableString(64), nullable=False),
    Column("finish_reason", StorableString(40), nullable=False),
    Column("abstention", StorableString(40)),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("timings", StorableJSON, nullable=False),  # milliseconds per stage
    Column("hits", StorableJSON, nullable=False),  # chunk ids, doc ids and hashes, scores, citation numbers (and texts)
    Column("attributions", StorableJSON, nullable=False),
    Column("removed_markers", Integer, nullable=False),
    Column("has_content", Boolean, nullable=False),
    Column("question", StorableText),  # the content, only where RAG_TRACE_CONTENT allows it
    Column("retrieval_query", StorableText),
    Column("answer", StorableText),
    Index("traces_tenant_created", "tenant", "created_at"),
    Index("traces_expires_at", "expires_at"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", StorableString(100), primary_key=True),
    Column("tenant", StorableString(200), nullable=False),
    Column("completion_id", StorableString(100), nullable=False),
    Column("subject", StorableString(400), nullable=False),
    Column("key_id", StorableString(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rating", StorableString(10), nullable=False),  # up or down
    Column("comment", StorableText),
    Column("corrected_answer", StorableText),
    Index("feedback_answer_subject", "tenant", "completion_id", "subject", unique=True),
    Index("feedback_tenant_created", "tenant", "created_at"),
)
