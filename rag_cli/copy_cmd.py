"""`rag copy --to-url URL | --to-path DIR [--collection NAME]`: move a collection from the configured store to another.

The usual move is from the embedded Edge store to a Qdrant server: points keep their ids, vectors and payload, so
the server answers as Edge did. The target's API key is read from the environment variable `--to-api-key-env`
names, never from the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pydantic import SecretStr

from rag.answering.requests import RequestBuilder
from rag.components import build_store
from rag.settings import Settings
from rag.store.transfer import copy_collection


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("copy", help="copy a collection to a Qdrant server or another embedded store")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-url", help="Qdrant server URL, e.g. http://qdrant:6333")
    target.add_argument("--to-path", help="an embedded store folder (like RAG_QDRANT_PATH)")
    p.add_argument("--to-engine", choices=["edge", "qdrant-local"], default="edge", help="engine for --to-path")
    p.add_argument("--to-api-key-env", metavar="VAR", help="environment variable holding the target's API key")
    p.add_argument("--collection", help="collection to copy (default: RAG_COLLECTION)")
    p.add_argument("--to-collection", help="name in the target (default: the same)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    collection = RequestBuilder(settings).target(collection=args.collection).collection
    api_key = os.environ.get(args.to_api_key_env) if args.to_api_key_env else None
    if args.to_api_key_env and api_key is None:
        print(f"rag copy: environment variable {args.to_api_key_env} is not set", file=sys.stderr)
        return 2
    if args.to_url:
        key = SecretStr(api_key) if api_key else None
        target_settings = settings.updated(qdrant_url=args.to_url, qdrant_api_key=key)
    else:
        update = {"qdrant_url": None, "qdrant_path": Path(args.to_path), "embedded_store": args.to_engine}
        target_settings = settings.updated(**update)
    source, target = build_store(settings.store), build_store(target_settings.store)
    try:
        if not source.collection_exists(collection):
            print(f"rag copy: collection '{collection}' does not exist in {source.location}", file=sys.stderr)
            return 1
        copied = copy_collection(source, target, collection, target_collection=args.to_collection)
        summary = {"collection": collection, "from": source.location, "to": target.location, "points": copied}
        print(json.dumps(summary))
    finally:
        source.close()
        target.close()
    return 0
