"""`rag eval cache list [--data DIR] [--json]`: the cached eval collections, one line each (name, points, current or
stale, the datasets and settings it was built for); `rag eval cache prune NAME... | --all | --stale [--dry-run]
[--data DIR] [--json]`: removes them (evals/eval_cache.py says what current and stale mean).

Exit codes: 0 done (nothing to remove included), 1 a named collection is not in the cache (nothing removed),
2 a usage error or a data folder that does not exist, 3 another process has the eval store open."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from evals.beir import DatasetError
from rag.settings import Settings

if TYPE_CHECKING:
    from evals.eval_cache import CacheEntry

DATA_HELP = "also count the datasets under this folder as current (default: RAG_EVAL_DATA_DIR, if set)"


def register(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = kinds.add_parser("cache", help="list or remove the cached eval collections")
    actions = c.add_subparsers(dest="action", required=True)
    ls = actions.add_parser("list", help="one line per cached eval collection")
    ls.add_argument("--data", type=Path, metavar="DIR", help=DATA_HELP)
    ls.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ls.set_defaults(run=run_list)
    pr = actions.add_parser("prune", help="remove cached eval collections: named ones, --all or --stale")
    pr.add_argument("names", nargs="*", metavar="NAME", help="eval collections to remove (eval-<hash>)")
    pr.add_argument("--all", action="store_true", help="remove every cached eval collection")
    pr.add_argument(
        "--stale", action="store_true", help="remove those no known dataset would use with the current settings"
    )
    pr.add_argument("--dry-run", action="store_true", help="remove nothing, print what would be removed")
    pr.add_argument("--data", type=Path, metavar="DIR", help=DATA_HELP)
    pr.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    pr.set_defaults(run=run_prune)


def _line(e: CacheEntry) -> str:
    datasets = ", ".join(Path(d).name for d in e.datasets) or "unknown dataset"
    made = e.record.index.describe() if e.record else "no record"
    used = f", used {e.record.used_at[:10]}" if e.record else ""
    return f"{e.name}  {e.points:>7,} points  {'current' if e.current else 'stale  '}  {datasets} ({made}{used})"


def run_list(args: argparse.Namespace) -> int:
    from evals.eval_cache import list_cache  # the store and ingestion stack: only for this command

    try:
        listing = list_cache(Settings(), data_dir=args.data)
    except DatasetError as exc:
        print(f"rag eval cache: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(listing.to_json()))
        return 0
    print(f"eval store: {listing.store}")
    for entry in listing.entries:
        print(_line(entry))
    count = len(listing.entries)
    print(f"{count} eval collection{'s' * (count != 1)}, {listing.points:,} points" if count else "no eval collections")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    if (bool(args.names), args.all, args.stale).count(True) != 1:
        print("rag eval cache prune: name the collections, or pass --all or --stale (one of them)", file=sys.stderr)
        return 2
    from evals.eval_cache import prune_cache

    try:
        result = prune_cache(
            Settings(),
            names=args.names,
            everything=args.all,
            stale=args.stale,
            dry_run=args.dry_run,
            data_dir=args.data,
        )
    except DatasetError as exc:
        print(f"rag eval cache: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    verb = "would remove" if result.dry_run else "removed"
    for entry in result.removed:
        print(f"{verb} {_line(entry)}")
    count = len(result.removed)
    summary = f"{count} eval collection{'s' * (count != 1)}, {result.points_removed:,} points"
    print(f"{verb} {summary}; {len(result.kept)} kept" if count else f"nothing to remove; {len(result.kept)} kept")
    return 0
