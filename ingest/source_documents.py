"""The documents of a run's sources, as the sync (ingest/sync.py) takes them: each source listed, each listed
document compared with the change token the store holds, only the changed or unknown ones fetched and loaded.

- A document whose listing token equals the stored one (same source) becomes `Unchanged`: no body is fetched.
- Otherwise the source fetches it (a web source with a conditional request: a 304 is `Unchanged` too). Its documents
  carry the token they were fetched under, stored with their chunks, so a crash mid-sync resumes without fetching
  again what was already stored.
- Tokens are stored with the loading recipe's fingerprint (the loaders' version and the load options): a change of
  recipe fetches everything once again; the content hash still decides what is embedded.
- A file of records (JSONL, CSV, a BEIR corpus) stores its token on every record it holds: when it is unchanged, its
  stored records are all `Unchanged`, keeping the access they have. Its recipe also holds the run's access rules
  (a record's access may come from its own fields, known only by reading it), so a change of rules reads it again.
- A listing that does not finish (`ListingIncomplete`), or a document that cannot be fetched because the source or
  the network failed (a timeout, a 5xx), is recorded in `counts.incomplete`: the run prunes nothing under that
  source. What was listed before is still synced; a failed document keeps its stored version.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

from ingest.formats.base import Loaded, LoadFailure, LoadOptions
from ingest.loaders import load
from ingest.sources.base import (
    Fetched,
    FetchResult,
    Gone,
    Listed,
    ListingFailed,
    ListingIncomplete,
    NotModified,
    Source,
    SourceCounts,
    Unchanged,
    Unfetched,
)
from rag.domain import Document
from rag.store.base import StoredDocument

# Bump when a loader's output changes for the same bytes (a better extractor): every document is fetched again once.
LOADERS_VERSION = "1"

T = TypeVar("T")
R = TypeVar("R")


def recipe_of(options: LoadOptions, access_rules: str = "") -> str:
    """A short fingerprint of how bytes become documents: stored tokens made under another recipe do not match."""
    return hashlib.blake2b(f"{LOADERS_VERSION}|{options!r}|{access_rules}".encode(), digest_size=4).hexdigest()


def _ordered(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """`map(fn, items)` in order, `workers` at a time, never more than a few ahead of the consumer."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest-fetch") as pool:
        running: deque[Future[R]] = deque()
        for item in items:
            running.append(pool.submit(fn, item))
            if len(running) >= 2 * workers:
                yield running.popleft().result()
        while running:
            yield running.popleft().result()


class SourceDocuments:
    """The items of one run over `sources`: documents, failures and `Unchanged`. Iterate once."""

    def __init__(
        self,
        sources: Iterable[Source],
        stored: Iterable[StoredDocument],
        options: LoadOptions,
        *,
        wanted: Callable[[str], bool] = lambda doc_id: True,
        access_rules: str = "",
        on_listed: Callable[[int], None] = lambda documents: None,
        on_note: Callable[[str], None] = lambda line: None,
    ) -> None:
        """`wanted`: this shard's document ids; `access_rules`: a fingerprint of the run's access rules (files of
        records are read again when it changes); `on_listed(n)`: a listed document holding about n documents (for a
        progress total); `on_note`: a line to show (a listing that stopped early without failing)."""
        self._sources = list(sources)
        stored = list(stored)
        self._stored: Mapping[str, StoredDocument] = {d.doc_id: d for d in stored}
        self._records: dict[str, list[StoredDocument]] = {}  # a record file's location -> its stored records
        for document in stored:
            if "#" in document.source:
                self._records.setdefault(document.source.split("#", 1)[0], []).append(document)
        self._options, self._recipe = options, f"{recipe_of(options)}/"
        self._records_recipe = f"{recipe_of(options, access_rules)}/"
        self._wanted, self._on_listed, self._on_note = wanted, on_listed, on_note
        self.counts = SourceCounts()

    def prunable(self, document: StoredDocument) -> bool:
        """Whether `--prune` may delete a stored document this run did not see: some source covers it, and every
        source that covers it listed completely."""
        covering = [s for s in self._sources if s.covers(document.source)]
        return bool(covering) and not any(s.uri in self.counts.incomplete for s in covering)

    def _incomplete(self, source: Source) -> None:
        if source.uri not in self.counts.incomplete:
            self.counts.incomplete.append(source.uri)

    def _known(self, source: Source) -> Callable[[str], str]:
        def known(doc_id: str) -> str:
            """The token the store holds for a document of this source under this recipe ("": none to compare)."""
            stored = self._stored.get(doc_id)
            if stored is None or len(stored.tokens) != 1 or len(stored.hashes) != 1 or not source.covers(stored.source):
                return ""
            (token,) = stored.tokens
            return token[len(self._recipe) :] if token.startswith(self._recipe) else ""

        return known

    def _unchanged_records(self, listed: Listed) -> list[Unchanged] | None:
        """A record file's stored records, when all of them carry its token under this recipe (None otherwise:
        fetch it). Each keeps the access it has: the rules that gave it are part of the recipe."""
        records = self._records.get(listed.uri, [])
        token = self._records_recipe + listed.token
        if not records or any(d.tokens != {token} or len(d.hashes) != 1 or len(d.access) != 1 for d in records):
            return None
        return [Unchanged(d.doc_id, d.source, next(iter(d.access))) for d in records if self._wanted(d.doc_id)]

    def __iter__(self) -> Iterator[Loaded | Unchanged]:
        for source in self._sources:
            yield from self._of(source)

    def _listed(self, source: Source) -> Iterator[Listed]:
        try:
            for listed in source.listing(self._wanted):
                self.counts.documents_listed += 1
                self._on_listed(listed.documents)
                yield listed
        except ListingIncomplete as exc:
            self._incomplete(source)
            if not isinstance(exc, ListingFailed):
                self._on_note(str(exc))
                return
            raise

    def _of(self, source: Source) -> Iterator[Loaded | Unchanged]:
        known = self._known(source)
        failure: ListingFailed | None = None
        if source.follows_links:  # each page fetched as it is listed: its links extend the listing
            listing: Iterable[Listed] = self._listed(source)
        else:  # the whole listing first: its total, and its failure before anything is fetched
            listed_so_far: list[Listed] = []
            try:
                listed_so_far.extend(self._listed(source))
            except ListingFailed as exc:
                failure = exc
            listing = listed_so_far
        try:

            def fetch(listed: Listed) -> tuple[Listed, FetchResult | Unchanged | list[Unchanged]]:
                if listed.token and listed.many and (records := self._unchanged_records(listed)) is not None:
                    return listed, records
                if listed.token and not listed.many and known(listed.doc_id) == listed.token:
                    return listed, Unchanged(listed.doc_id, listed.uri)
                return listed, source.fetch(listed, known)

            for listed, result in _ordered(fetch, listing, source.fetch_workers):
                yield from self._documents(source, listed, result)
        except ListingFailed as exc:  # a link crawl's listing failing part-way
            failure = exc
        if failure is not None:
            yield LoadFailure(source.uri, str(failure))

    def _documents(
        self, source: Source, listed: Listed, result: FetchResult | Unchanged | list[Unchanged]
    ) -> Iterator[Loaded | Unchanged]:
        counts = self.counts
        if isinstance(result, list):  # a file of records, unchanged
            counts.documents_not_modified += 1
            yield from result
        elif isinstance(result, Unchanged | NotModified):
            counts.documents_not_modified += 1
            yield result if isinstance(result, Unchanged) else Unchanged(result.doc_id, result.uri)
        elif isinstance(result, Gone):
            counts.documents_gone += 1  # absent from the listing: pruned with --prune
        elif isinstance(result, Unfetched):
            if result.transient:  # the source or the network failed, not the document: prune nothing there
                self._incomplete(source)
            yield LoadFailure(result.uri, result.error)
        else:
            yield from self._loaded(result, listed.many)

    def _loaded(self, fetched: Fetched, many: bool) -> Iterator[Loaded]:
        self.counts.documents_fetched += 1
        self.counts.bytes_downloaded += fetched.downloaded
        token = (self._records_recipe if many else self._recipe) + fetched.token if fetched.token else ""
        try:
            for item in load([fetched.file], self._options, wanted=self._wanted):
                yield replace(item, change_token=token) if isinstance(item, Document) and token else item
        finally:
            fetched.discard()
