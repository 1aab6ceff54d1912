"""Answers' owners, traces and feedback (the playground-and-feedback issue).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answers",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(400), nullable=False),
        sa.Column("key_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("answers_expires_at", "answers", ["expires_at"])
    op.create_table(
        "traces",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(400), nullable=False),
        sa.Column("key_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("collection", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("settings_fingerprint", sa.String(64), nullable=False),
        sa.Column("finish_reason", sa.String(40), nullable=False),
        sa.Column("abstention", sa.String(40)),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("timings", sa.JSON, nullable=False),
        sa.Column("hits", sa.JSON, nullable=False),
        sa.Column("attributions", sa.JSON, nullable=False),
        sa.Column("removed_markers", sa.Integer, nullable=False),
        sa.Column("has_content", sa.Boolean, nullable=False),
        sa.Column("question", sa.Text),
        sa.Column("retrieval_query", sa.Text),
        sa.Column("answer", sa.Text),
    )
    op.create_index("traces_tenant_created", "traces", ["tenant", "created_at"])
    op.create_index("traces_expires_at", "traces", ["expires_at"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("completion_id", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(400), nullable=False),
        sa.Column("key_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rating", sa.String(10), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("corrected_answer", sa.Text),
    )
    op.create_index("feedback_answer_subject", "feedback", ["tenant", "completion_id", "subject"], unique=True)
    op.create_index("feedback_tenant_created", "feedback", ["tenant", "created_at"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("traces")
    op.drop_table("answers")
