"""The source interface: a source lists documents before it fetches any body, and fetches a body only when the
document's cheap change token says it may have changed (docs/sources.md).

- `Listed`: a document a listing found: its stable id, its URI (what chunks store as `source`), its change token
  (an object's ETag, a file's size and mtime; "" when the listing has none, as for web pages, whose validators go in
  a conditional request instead) and its size when known.
- `Source.fetch` turns a listed document into `Fetched` (its bytes in a local file, handed to the format loaders),
  `NotModified` (the server said so: a 304), `Gone` (deleted since it was listed: a 404 or 410) or a `LoadFailure`.
- A listing that cannot finish raises `ListingFailed`: the sync then reports it and prunes nothing under that source.
"""

from __future__ import annotations

import fnmatch
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rag.access.document_access import DocumentAccess

BEIR_CORPUS_NAME = "corpus.jsonl"


class UsageError(Exception):
    """A source that does not exist or cannot be ingested at all: the command line is wrong."""


class ListingIncomplete(Exception):
    """The listing is not the whole source (a crawl stopped at its page bound, pages whose links are unknown): nothing
    is pruned under that source. Reported as a note; the message is one line and never holds a credential."""


class ListingFailed(ListingIncomplete):
    """The listing stopped before it was complete (a network error, a timeout, a 5xx): reported as a failure, and
    nothing is pruned under that source."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A document's bytes at hand, for its format's loader. `doc_id` is its id (its path relative to the root it was
    found under, an object's key under the prefix, a page's path under the site prefix); `uri` is what its chunks
    store as `source` (default: the path). A `refused` file is not read: the reason is reported as its failure."""

    path: Path
    doc_id: str
    refused: str = ""
    uri: str = ""

    @property
    def location(self) -> str:
        """Where the document comes from, as stored and reported: its URI, else its path."""
        return self.uri or str(self.path)

    @property
    def is_beir_corpus(self) -> bool:
        return self.path.name == BEIR_CORPUS_NAME

    @property
    def suffix(self) -> str:
        return self.path.suffix.lower()


@dataclass(frozen=True, slots=True)
class Listed:
    """A document a listing found, before its body is fetched."""

    doc_id: str
    uri: str
    token: str = ""  # the cheap change token ("": none, fetch it)
    size: int | None = None  # bytes, when the listing says
    documents: int = 1  # documents it holds, as estimated for progress (a file of records: many)
    many: bool = False  # a file of records (JSONL, CSV, a BEIR corpus): its records are stored as documents


@dataclass(slots=True)
class Fetched:
    """A document's body, fetched: `file` is handed to the loaders; `scratch` (a folder of the fetched bytes, when
    they were downloaded) is removed once they are loaded. `token` is the change token it was fetched under."""

    file: SourceFile
    token: str
    downloaded: int = 0  # body bytes transferred
    scratch: Path | None = None

    def discard(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class NotModified:
    """The server said the document did not change since `token` (a 304): nothing to fetch, nothing to store."""

    doc_id: str
    uri: str


@dataclass(frozen=True, slots=True)
class Gone:
    """The document went away after it was listed (404, 410, a deleted object), or redirects out of the source."""

    doc_id: str
    uri: str
    reason: str


@dataclass(frozen=True, slots=True)
class Unfetched:
    """A listed document the source could not fetch (a timeout, a 5xx, refused by a limit): reported as failed; its
    stored version stays. `transient`: the source or the network failed (a timeout, a 5xx, a refused connection), not
    the document: the run then prunes nothing under that source."""

    doc_id: str
    uri: str
    error: str
    transient: bool = False


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A listed document its change token (or the server) says is as stored: the sync keeps it without fetching it.
    `access`: what the run's access rules give it, applied as to a loaded document (a change is set in place)."""

    doc_id: str
    source: str
    access: DocumentAccess | None = None


FetchResult = Fetched | NotModified | Gone | Unfetched
# The change token the store holds for a document id ("" when it holds none or the document is absent).
KnownTokens = Callable[[str], str]


class Source(Protocol):
    """A place documents come from. `uri` names it (credentials removed); `covers` says whether a stored document's
    `source` came from it, so that `--prune` removes only documents this source no longer lists."""

    @property
    def uri(self) -> str: ...

    @property
    def fetch_workers(self) -> int:
        """Bodies fetched at once (an object store: several; a web site: one, at its polite rate)."""
        ...

    @property
    def follows_links(self) -> bool:
        """Whether the listing grows as bodies are fetched (a link crawl): then the sync fetches each document as it
        is listed, in order, instead of listing everything first."""
        ...

    def covers(self, stored_source: str) -> bool: ...

    def listing(self, wanted: Callable[[str], bool]) -> Iterator[Listed]:
        """The documents under the source whose id is `wanted`, each once; `ListingFailed` when it cannot finish.
        A source that lists without fetching gives every wanted document before any is fetched."""
        ...

    def fetch(self, listed: Listed, known: KnownTokens) -> FetchResult: ...

    def close(self) -> None: ...


def glob_matches(rel: str, pattern: str) -> bool:
    """A glob matches the id (a path relative to the root, a key under the prefix, a page's path: `docs/*.md`,
    `**/*.pdf`; `*` crosses folders) or its last segment alone (`*.pdf`)."""
    name = rel.rsplit("/", 1)[-1]
    return fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(name, pattern)


def selected(rel: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whether `--include`/`--exclude` take the document with this id."""
    if include and not any(glob_matches(rel, p) for p in include):
        return False
    return not any(glob_matches(rel, p) for p in exclude)


@dataclass
class SourceCounts:
    """What a sync did at its sources: documents listed (this shard's), bodies fetched and their bytes, documents
    a token or the server said were unchanged (no body fetched), documents gone since listed."""

    documents_listed: int = 0
    documents_fetched: int = 0
    bytes_downloaded: int = 0
    documents_not_modified: int = 0
    documents_gone: int = 0
    incomplete: list[str] = field(default_factory=list)  # sources whose listing did not finish: nothing pruned there
