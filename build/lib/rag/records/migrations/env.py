"""Alembic's environment: runs the revisions on the connection rag/records/migrate.py hands over (no alembic.ini,
no URL read here)."""

from __future__ import annotations

from alembic import context

from rag.records.tables import metadata

connection = context.config.attributes["connection"]
# batch mode: SQLite alters a table by copying it, which Alembic does when a revision asks for it
# our transaction holds the whole migration, DDL too (rag/records/database.py begins it on SQLite as well)
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
