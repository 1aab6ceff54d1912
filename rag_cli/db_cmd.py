"""`rag db upgrade [--revision R]`: brings the records database (RAG_DATABASE_URL, else SQLite beside the embedded
store) to the newest schema, or to revision R; the Helm chart runs it as a pre-upgrade hook Job before new API pods
start. `rag db current`: the revision it is at and the newest. Exit codes: 0 done, 1 the database is unreachable."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="the records database's schema (migrations)")
    actions = p.add_subparsers(dest="action", required=True)
    up = actions.add_parser("upgrade", help="migrate the schema up to the newest revision (or --revision)")
    up.add_argument("--revision", default="head", help="the revision to reach (default: head)")
    up.set_defaults(run=run_upgrade)
    current = actions.add_parser("current", help="the schema's revision and the newest one")
    current.set_defaults(run=run_current)


def run_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from rag.records.database import make_engine, records_url, shown
    from rag.records.migrate import current_revision, upgrade
    from rag.settings import Settings

    url = records_url(Settings())
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        after = upgrade(engine, args.revision)
    except SQLAlchemyError as exc:
        print(f"rag db upgrade: {shown(url)}: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"{shown(url)}: {before or 'empty'} -> {after}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from rag.records.database import make_engine, records_url, shown
    from rag.records.migrate import current_revision, head_revision
    from rag.settings import Settings

    url = records_url(Settings())
    engine = make_engine(url)
    try:
        at = current_revision(engine)
    except SQLAlchemyError as exc:
        print(f"rag db current: {shown(url)}: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"{shown(url)}: at {at or 'empty'}, newest {head_revision()}")
    return 0
