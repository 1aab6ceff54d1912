"""`rag delete --doc-id ID [--collection NAME] [--tenant T]`: remove one document's chunks."""

from __future__ import annotations

import argparse
import json

from rag.access.document_access import Reader
from rag.answering.requests import RequestBuilder
from rag.components import build_store, namespace
from rag.settings import Settings
from rag.store.deletion import delete_document


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("delete", help="delete one document (all its chunks)")
    p.add_argument("--doc-id", required=True, help="the document id (its path relative to the ingested folder)")
    p.add_argument("--collection", help="collection (default: RAG_COLLECTION)")
    p.add_argument("--tenant", help="tenant (default: RAG_TENANT)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    target = RequestBuilder(settings).target(tenant=args.tenant, collection=args.collection)
    store = build_store(settings.store)
    try:
        chunks = delete_document(
            store, namespace(settings.access), target.collection, Reader.whole_tenant(target.tenant), args.doc_id
        )
    finally:
        store.close()
    summary = {"collection": target.collection, "tenant": target.tenant, "doc_id": args.doc_id}
    print(json.dumps({**summary, "chunks_deleted": chunks}))
    return 0
