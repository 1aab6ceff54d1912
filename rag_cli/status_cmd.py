"""`rag status [--collection NAME] [--json]`: per collection, its documents and chunks (and how many were flagged at
ingest as reading like instructions to a model), and the store it lives in."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rag.components import build_store
from rag.errors import NotFound
from rag.evidence.injection import INJECTION
from rag.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status", help="documents and chunks per collection, and where the store is")
    p.add_argument("--collection", help="only this collection")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    store = build_store(Settings().store)
    try:
        names = [args.collection] if args.collection else store.list_collections()
        collections: list[dict[str, Any]] = []
        for name in names:
            if not store.collection_exists(name):
                raise NotFound(f"collection '{name}' does not exist in {store.location}")
            docs = store.documents(name)
            collections.append(
                {
                    "name": name,
                    "documents": len(docs),
                    "chunks": store.count(name),
                    "flagged_chunks": store.count(name, flag=INJECTION),
                    "tenants": len({d.tenant for d in docs}),
                }
            )
        report = {"store": store.location, "collections": collections}
    finally:
        store.close()
    if args.json:
        print(json.dumps(report))
    else:
        print(f"store: {report['store']}")
        for c in collections:
            print(
                f"  {c['name']}: {c['documents']} documents, {c['chunks']} chunks ({c['flagged_chunks']} flagged as "
                f"injected instructions), {c['tenants']} tenants"
            )
    return 0
