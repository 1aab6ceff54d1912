"""The records schema brought to a revision by Alembic, on an engine this process made: the API at startup,
`rag db upgrade` (the Helm chart's pre-upgrade hook Job). On PostgreSQL an advisory lock makes replicas that start
together take turns, as they do on SQLite by taking its write lock first."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x7261675F72656373  # pg_advisory_xact_lock's key for "rag_recs"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: empty)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """A SQLite file's migrations take turns through a lock file beside it (SQLite's own lock can refuse a second
    writer at once while the file is being set up)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database:
        yield
        return
    with Path(f"{database}.migrate.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Brings the schema up to `revision`; returns the revision it is at."""
    with _file_lock(engine):
        with engine.connect().execution_options(sqlite_immediate=True) as connection, connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            command.upgrade(_config(connection), revision)
        return current_revision(engine)
