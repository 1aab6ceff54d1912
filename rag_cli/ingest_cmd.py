"""`rag ingest PATH... [--collection NAME] [--json]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from ingest.chunking import Chunker
from ingest.loaders import LoadFailure, UsageError, discover, load
from ingest.sync import Ingestor
from rag.components import build_components
from rag.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ingest", help="load, chunk, embed and store documents (unchanged ones are skipped)")
    p.add_argument("paths", nargs="+", type=Path, help=".txt/.md/.html files, directories, BEIR corpus.jsonl")
    p.add_argument("--collection", help="target collection (default: RAG_COLLECTION)")
    p.add_argument("--tenant", help="tenant to tag the chunks with (default: RAG_TENANT)")
    p.add_argument("--json", action="store_true", help="print one JSON summary object on stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        sources = discover(args.paths)
    except UsageError as exc:
        print(f"rag ingest: {exc}", file=sys.stderr)
        return 2
    collection = args.collection or settings.collection
    tenant = args.tenant or settings.tenant
    components = build_components(settings)
    try:
        chunker = Chunker(
            components.embedder.tokenizer,
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
        )
        total = sum(s.estimated_documents() for s in sources)
        with tqdm(total=total, unit="doc", desc="ingest", disable=not sys.stderr.isatty()) as bar:

            def advance() -> None:
                bar.update(1)

            def report(failure: LoadFailure) -> None:
                bar.write(f"failed: {failure.path}: {failure.error}", file=sys.stderr)

            ingestor = Ingestor(
                components.store,
                components.embedder,
                components.sparse,
                chunker,
                collection=collection,
                tenant=tenant,
                on_document=advance,
                on_failure=report,
            )
            summary = ingestor.run(load(sources))
    finally:
        components.close()
    if args.json:
        print(json.dumps(summary.to_json()))
    else:
        print(
            f"{summary.documents_seen} documents in '{collection}' ({summary.store}): "
            f"{summary.documents_added} added, {summary.documents_updated} updated, "
            f"{summary.documents_unchanged} unchanged; {summary.chunks_upserted} chunks written; "
            f"{len(summary.failed)} failed; {summary.seconds:.1f} s"
        )
    return 1 if summary.failed else 0
