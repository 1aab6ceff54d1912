"""The records database: what the platform keeps of its use, as rows an admin or a job reads later. Audit events
(who retrieved or changed which documents), the answers' owners (who may give feedback on which answer), traces
(how an answer came about, per tenant when turned on) and feedback (thumbs, comments, corrections).

SQLite under the data folder by default, PostgreSQL when RAG_DATABASE_URL names one: one schema (tables.py),
migrated by Alembic (migrations/), read and written through SQLAlchemy Core (store.py). Writes from the API go
through a background writer (writer.py): nothing on the token path waits on a record.
"""
