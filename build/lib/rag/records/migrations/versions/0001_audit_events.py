"""Audit events: one row per retrieval and document change (the identity issue's audit trail).

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.String(400), nullable=False),
        sa.Column("key_id", sa.String(64)),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("collection", sa.String(200), nullable=False),
        sa.Column("doc_ids", sa.JSON, nullable=False),
        sa.Column("request_id", sa.String(100)),
    )
    op.create_index("audit_events_tenant_id", "audit_events", ["tenant", "id"])


def downgrade() -> None:
    op.drop_index("audit_events_tenant_id", table_name="audit_events")
    op.drop_table("audit_events")
