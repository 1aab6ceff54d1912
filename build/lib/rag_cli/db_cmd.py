"""`rag db upgrade [--revision R]`: brings the records database (RAG_DATABASE_URL, else SQLite beside the embedded
store) to the newest schema, or to revision R; the Helm chart runs it as a pre-upgrade hook Job before new API pods
start. `rag db current`: the revision it is at and the newest. Exit codes: 0 done, 1 the database is unreachable."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="the records database's schema (migrations)")
    actions = p.add_subparsers(dest="action", required=True)
    up = actions.add_parser("upgrade", help="migrate the schema up to the newest revision (or --revision)")
    up.add_argument("--revision", default="head", help="the revision to reach (default: head)")
    up.set_defaults(run=run_upgrade)
    current = actions.add_parser("current", help="the schema's revision and the newest one")
    current.set_defaults(run=run_current)


def _on_database(action: str, work: Callable[[Engine], str]) -> int:
    """`work` on an engine of the configured records database; prints what it returns, or the failure (exit 1)."""
    from sqlalchemy.exc import SQLAlchemyError

    from rag.records.database import make_engine, records_url, shown
    from rag.settings import Settings

    url = records_url(Settings())
    engine = make_engine(url)
    try:
        said = work(engine)
    except SQLAlchemyError as exc:
        print(f"rag db {action}: {shown(url)}: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"{shown(url)}: {said}")
    return 0


def run_upgrade(args: argparse.Namespace) -> int:
    from rag.records.migrate import current_revision, upgrade

    def migrate(engine: Engine) -> str:
        before = current_revision(engine)
        return f"{before or 'empty'} -> {upgrade(engine, args.revision)}"

    return _on_database("upgrade", migrate)


def run_current(args: argparse.Namespace) -> int:
    from rag.records.migrate import current_revision, head_revision

    return _on_database("current", lambda engine: f"at {current_revision(engine) or 'empty'}, newest {head_revision()}")
