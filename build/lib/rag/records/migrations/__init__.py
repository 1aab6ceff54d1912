"""Alembic's environment and revisions for the records schema (rag/records/migrate.py runs them)."""
