"""`rag ingest SOURCE... [--collection NAME] [--tenant T] [--shard I/N] [--prune] [--include GLOB] [--access-* ...]
[--json]`: a SOURCE is a path, `s3://BUCKET/PREFIX`, or `http(s)://...` (a sitemap, or a start URL to crawl)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.formats.base import LoadFailure, LoadOptions
    from ingest.partition import Shard
    from ingest.sources.base import Source
    from ingest.sync import IngestSummary
    from rag.access.document_access import DocumentAccess
    from rag.settings import Settings
    from rag.store.base import StoredDocument


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ingest", help="load, chunk, embed and store documents (unchanged ones are skipped)")
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="files and directories (searched recursively), s3://BUCKET/PREFIX, or http(s)://... (a sitemap.xml, or a "
        "start URL whose same-site links are crawled): docs/sources.md",
    )
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
    p.add_argument(
        "--prune",
        action="store_true",
        help="delete stored documents that left these sources (only after a complete listing: an error prunes nothing)",
    )
    p.add_argument("--max-depth", type=int, help="a web crawl's link depth from its start URL (RAG_WEB_MAX_DEPTH)")
    p.add_argument("--max-pages", type=int, help="pages a web crawl lists at most (RAG_WEB_MAX_PAGES)")
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
        f"{summary.chunks_upserted} chunks written; {len(summary.failed)} failed; {summary.seconds:.1f} s\n"
        f"sources: {summary.documents_listed} listed, {summary.documents_fetched} fetched "
        f"({summary.bytes_downloaded:,} bytes), {summary.documents_not_modified} not modified, "
        f"{summary.documents_gone} gone"
        + (f"; listing incomplete, nothing pruned under: {', '.join(summary.incomplete)}" if summary.incomplete else "")
    )


def _run_access(args: argparse.Namespace) -> DocumentAccess | None:
    """The access the flags give (None: none given)."""
    from rag.access.document_access import DocumentAccess, split_names

    users, groups = split_names(args.access_users or ""), split_names(args.access_groups or "")
    services = split_names(args.access_services or "")
    if not (users or groups or services or args.access_tenant_wide):
        return None
    return DocumentAccess.of(users=users, groups=groups, services=services, tenant_wide=args.access_tenant_wide)


def _open_sources(args: argparse.Namespace, settings: Settings, options: LoadOptions) -> list[Source]:
    """A source per argument: `s3://` an object store prefix, `http(s)://` a web site, anything else a path.
    UsageError or ValueError when one cannot be used."""
    from ingest.loaders import SUFFIXES, estimated_documents, holds_many, holds_many_named
    from ingest.sources.local import LocalSource
    from ingest.sources.s3 import S3Source
    from ingest.sources.web import WebOptions, WebSource

    web = settings.ingest
    paths = [Path(a) for a in args.sources if not a.startswith(("s3://", "http://", "https://"))]
    sources: list[Source] = []
    for given in args.sources:
        if given.startswith("s3://"):
            sources.append(
                S3Source(
                    given,
                    SUFFIXES,
                    include=args.include,
                    exclude=args.exclude,
                    max_object_bytes=options.max_file_bytes,
                    holds_many=holds_many_named,
                    fetch_workers=settings.ingest.fetch_workers,
                )
            )
        elif given.startswith(("http://", "https://")):
            authorization = web.web_authorization.get_secret_value() if web.web_authorization else None
            web_options = WebOptions(
                requests_per_second=web.web_requests_per_second,
                max_pages=args.max_pages or web.web_max_pages,
                max_depth=web.web_max_depth if args.max_depth is None else args.max_depth,
                timeout_s=web.web_timeout_s,
                user_agent=web.web_user_agent,
                authorization=authorization,
                max_page_bytes=options.max_file_bytes,
            )
            sources.append(WebSource(given, include=args.include, exclude=args.exclude, options=web_options))
        else:
            sources.append(
                LocalSource(
                    Path(given),
                    SUFFIXES,
                    include=args.include,
                    exclude=args.exclude,
                    follow_links=args.follow_links,
                    link_roots=paths,
                    holds_many=holds_many,
                    estimate=estimated_documents,
                )
            )
    return sources


def run(args: argparse.Namespace) -> int:
    # the loaders (PDF, DOCX, HTML) and the store stack load for this command only: other commands start without them
    from ingest.access_rules import AccessManifestError, AccessRules, read_manifest
    from ingest.formats.base import LoadOptions
    from ingest.partition import parse_shard, shard_from_env
    from ingest.source_documents import SourceDocuments
    from ingest.sources.base import UsageError
    from ingest.sync import Ingestor
    from rag.components import build_components
    from rag.limits.factory import record_ingest_usage
    from rag.limits.usage import UsageCounts
    from rag.settings import Settings
    from rag_cli.progress import Progress

    settings = Settings()
    options = LoadOptions.from_settings(
        settings.ingest, text_field=args.text_field, title_field=args.title_field, id_field=args.id_field
    )
    sources: list[Source] = []
    try:
        shard = parse_shard(args.shard) if args.shard else shard_from_env(os.environ)
        if (args.max_depth is not None and args.max_depth < 0) or (args.max_pages is not None and args.max_pages < 1):
            raise ValueError("--max-depth must be 0 or more, --max-pages 1 or more")
        sources = _open_sources(args, settings, options)
        crawls = [s.uri for s in sources if s.follows_links]
        if crawls and shard.count > 1:
            raise UsageError(
                f"a link crawl cannot be sharded ({crawls[0]}, shard {shard}): every shard would read every page to "
                "find the links; give a sitemap.xml instead, or one shard"
            )
        rules = AccessRules(
            read_manifest(args.access_manifest) if args.access_manifest else (),
            _run_access(args),
        )
    except (UsageError, AccessManifestError, ValueError) as exc:
        for source in sources:
            source.close()
        return _usage(str(exc))

    components = build_components(settings, lazy_embedder=True)  # an unchanged corpus never loads the model
    try:
        with Progress(0, f"ingest {shard}", every_s=settings.ingest.progress_every_s) as progress:

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
            stored = ingestor.stored_documents()
            documents = SourceDocuments(
                sources,
                stored,
                options,
                wanted=shard.owns,
                access_rules=rules.fingerprint(),
                on_listed=progress.add_total,
                on_note=lambda line: progress.write(f"rag ingest: note: {line}"),
            )
            progress.show(documents.counts)

            def in_this_run(doc: StoredDocument) -> bool:
                return shard.owns(doc.doc_id) and documents.prunable(doc)

            summary = ingestor.run(rules.apply(documents), prune=in_this_run if args.prune else None, stored=stored)
            summary.add_source_counts(documents.counts)
    finally:
        for source in sources:
            source.close()
        components.close()
    counts = documents.counts
    usage = UsageCounts(
        chunks_embedded=summary.chunks_upserted,
        embedding_tokens=summary.embedding_tokens,
        documents_listed=counts.documents_listed,
        documents_fetched=counts.documents_fetched,
        bytes_downloaded=counts.bytes_downloaded,
        documents_not_modified=counts.documents_not_modified,
    )
    record_ingest_usage(settings.limits, target.tenant, usage)
    _print_summary(summary, shard, args.json)
    return 1 if summary.failed else 0
