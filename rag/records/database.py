"""The records database's engine: SQLite (a file, by default under the data folder) or PostgreSQL (psycopg 3), from
RAG_DATABASE_URL and RAG_DATABASE_PASSWORD."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from rag.errors import InvalidInput

if TYPE_CHECKING:
    from rag.settings import Settings

SCHEMES = ("sqlite", "postgresql", "postgres")


def database_url(url: str, password: SecretStr | None = None) -> URL:
    """`sqlite:///PATH` or `postgresql://USER@HOST:PORT/DB` (psycopg 3 drives it), with `password` set apart.
    `InvalidInput` for anything else."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidInput(f"RAG_DATABASE_URL is not a database URL: {exc}") from None
    scheme, _, driver = parsed.drivername.partition("+")
    if scheme not in SCHEMES or (scheme != "sqlite" and driver not in ("", "psycopg")):
        raise InvalidInput("RAG_DATABASE_URL must be sqlite:///PATH or postgresql://USER@HOST/DB (psycopg 3)")
    if scheme == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise InvalidInput("RAG_DATABASE_URL: a SQLite database needs a file path (sqlite:///PATH)")
        return parsed.set(drivername="sqlite")
    parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.set(password=password.get_secret_value()) if password is not None else parsed


def records_url(settings: Settings) -> URL:
    """The settings' records database: RAG_DATABASE_URL, or records.db beside the embedded store."""
    url = settings.records.database_url or f"sqlite:///{settings.store.path.expanduser().parent / 'records.db'}"
    return database_url(url, settings.records.database_password)


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def shown(url: URL) -> str:
    """The URL for logs: its password masked."""
    return url.render_as_string(hide_password=True)


def make_engine(url: URL, *, timeout_s: float = 10.0) -> Engine:
    """An engine with its pool; a SQLite file's folder is made, the file is in WAL mode (readers do not wait on
    the writer) and waits up to `timeout_s` for a lock; a PostgreSQL connection attempt gives up after it. Its errors
    never show the statement's parameters (questions, answers, sources' texts): they are logged."""
    if is_sqlite(url):
        assert url.database is not None
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, hide_parameters=True, connect_args={"timeout": timeout_s, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _pragmas(connection: sqlite3.Connection, _record: Any) -> None:
            connection.isolation_level = None  # the driver's own transaction handling off: `_begin` below instead
            cursor = connection.cursor()
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":  # set once, kept in the file
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # WAL keeps it consistent; a power loss may lose the last
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            """Every transaction begun by SQLite itself, so that DDL is transactional too (a migration that fails
            leaves nothing behind); `sqlite_immediate` takes the write lock at once (migrations take turns)."""
            immediate = connection.get_execution_options().get("sqlite_immediate", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(
        url, hide_parameters=True, pool_pre_ping=True, connect_args={"connect_timeout": max(1, round(timeout_s))}
    )
