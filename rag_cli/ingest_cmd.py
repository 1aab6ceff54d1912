"""`rag ingest PATH... [--collection NAME] [--tenant T] [--shard I/N] [--prune] [--include GLOB] [--access-* ...]
[--json]`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.formats.base import LoadFailure
    from ingest.partition import Shard
    from ingest.sync import IngestSummary
    from rag.access.document_access import DocumentAccess
    from rag.store.base import StoredDocument


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ingest", help="load, chunk, embed and store documents (unchanged ones are skipped)")
    p.add_argument("paths", nargs="+", type=Path, help="files and directories (searched recursively)")
    p.add_argument("--collection", help="target collection (default: RAG_COLLECTION)")
    p.add_argument("--tenant", help="tenant to tag the chunks with (default: RAG_TENANT)")
    p.add_argument("--include", action="append", default=[], metavar="GLOB", help="only matching files (repeatable)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip matching files (repeatable)")
    p.add_argument(
        "--follow-links",
        action="store_true",
        help="ingest symbolic links to files inside the given paths (links leading outside are always refused)",
    )
    p.add_argument(
        "--shard",
        help="I/N: only this hash partition of the documents (default: JOB_COMPLETION_INDEX/JOB_COMPLETIONS if set)",
    )
    p.add_argument("--prune", action="store_true", help="delete stored documents that left these paths")
    p.add_argument("--text-field", help="record files: field holding the text (default: RAG_INGEST_TEXT_FIELD)")
    p.add_argument("--title-field", help="record files: field holding the title (default: RAG_INGEST_TITLE_FIELD)")
    p.add_argument("--id-field", help="record files: field holding the id (default: RAG_INGEST_ID_FIELD)")
    p.add_argument(
        "--access-manifest",
        type=Path,
        metavar="FILE",
        help="YAML rules: the first whose glob matches a document's path gives who may see it (docs/access.md)",
    )
    p.add_argument("--access-groups", metavar="G1,G2", help="groups that may see the documents no rule or record sets")
    p.add_argument("--access-users", metavar="U1,U2", help="users that may see the documents no rule or record sets")
    p.add_argument(
        "--access-services", metavar="S1,S2", help="services (API keys' subjects) that may see those documents"
    )
    p.add_argument(
        "--access-tenant-wide", action="store_true", help="everyone in the tenant may see the documents no rule sets"
    )
    p.add_argument("--json", action="store_true", help="print one JSON summary object on stdout")
    p.set_defaults(run=run)


def _usage(message: str) -> int:
    print(f"rag ingest: {message}", file=sys.stderr)
    return 2


def _print_summary(summary: IngestSummary, shard: Shard, as_json: bool) -> None:
    if as_json:
        print(json.dumps({**summary.to_json(), "shard": str(shard)}))
        return
    print(
        f"{summary.documents_seen} documents in '{summary.collection}' ({summary.store}), shard {shard}: "
        f"{summary.documents_added} added, {summary.documents_updated} updated, "
        f"{summary.documents_unchanged} unchanged, {summary.documents_access_updated} access changed, "
        f"{summary.documents_pruned} pruned; "
        f"{summary.chunks_upserted} chunks written; {len(summary.failed)} failed; {summary.seconds:.1f} s"
    )


def _run_access(args: argparse.Namespace) -> DocumentAccess | None:
    """The access the flags give (None: none given)."""
    from rag.access.document_access import DocumentAccess, split_names

    users, groups = split_names(args.access_users or ""), split_names(args.access_groups or "")
    services = split_names(args.access_services or "")
    if not (users or groups or services or args.access_tenant_wide):
        return None
    return DocumentAccess.of(users=users, groups=groups, services=services, tenant_wide=args.access_tenant_wide)


def run(args: argparse.Namespace) -> int:
    # the loaders (PDF, DOCX, HTML) and the store stack load for this command only: other commands start without them
    from ingest.access_rules import AccessManifestError, AccessRules, read_manifest
    from ingest.formats.base import LoadOptions
    from ingest.loaders import SUFFIXES, estimated_documents, load
    from ingest.partition import parse_shard, shard_from_env
    from ingest.sources import SourceScope, UsageError, discover
    from ingest.sync import Ingestor
    from rag.components import build_components
    from rag.limits.factory import record_ingest_usage
    from rag.limits.usage import UsageCounts
    from rag.settings import Settings
    from rag_cli.progress import Progress

    settings = Settings()
    try:
        shard = parse_shard(args.shard) if args.shard else shard_from_env(os.environ)
        sources = discover(
            args.paths, SUFFIXES, include=args.include, exclude=args.exclude, follow_links=args.follow_links
        )
        rules = AccessRules(
            read_manifest(args.access_manifest) if args.access_manifest else (),
            _run_access(args),
        )
    except (UsageError, AccessManifestError, ValueError) as exc:
        return _usage(str(exc))
    options = LoadOptions.from_settings(
        settings.ingest, text_field=args.text_field, title_field=args.title_field, id_field=args.id_field
    )
    scope = SourceScope.of(args.paths)

    def in_this_run(doc: StoredDocument) -> bool:
        return scope.covers(doc.source) and shard.owns(doc.doc_id)

    components = build_components(settings, lazy_embedder=True)  # an unchanged corpus never loads the model
    try:
        total = sum(estimated_documents(s) for s in sources)
        with Progress(total, f"ingest {shard}", every_s=settings.ingest.progress_every_s) as progress:

            def report(failure: LoadFailure) -> None:
                progress.write(f"rag ingest: failed: {failure.path}: {failure.error}")

            target = components.requests.target(tenant=args.tenant, collection=args.collection)
            ingestor = Ingestor.for_components(
                components,
                collection=target.collection,
                tenant=target.tenant,
                on_document=progress.advance,
                on_failure=report,
            )
            documents = rules.apply(load(sources, options, wanted=shard.owns))
            summary = ingestor.run(documents, prune=in_this_run if args.prune else None)
    finally:
        components.close()
    embedded = UsageCounts(chunks_embedded=summary.chunks_upserted, embedding_tokens=summary.embedding_tokens)
    record_ingest_usage(settings.limits, target.tenant, embedded)
    _print_summary(summary, shard, args.json)
    return 1 if summary.failed else 0
