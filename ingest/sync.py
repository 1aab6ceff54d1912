"""The diffing sync: documents in, only changed ones embedded, new chunks upserted before stale ones are swept.

Identity (docs/architecture.md#ingestion-identity): `doc_hash` says if a document changed; point ids are fixed, so a
rerun rewrites the same points. A changed document's new chunks are written first and its old-hash points deleted
after, so a crash leaves the old or the new version searchable (briefly both), and a rerun converges.

Sources (ingest/sources/) send `Unchanged` for a document whose change token (or the server) says it is as stored: it
counts as seen, so neither fetched nor pruned. A document fetched under a new token whose content is unchanged gets
the new token set on its chunks in place, nothing re-embedded.

Access (rag/access/document_access.py) is diffed apart from content: a document whose content is unchanged but whose
access is not gets its chunks' access fields set in one store update (`VectorStore.set_access`), never re-embedded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ingest.chunking import Chunker
from ingest.formats.base import LoadFailure
from ingest.prefetch import prefetch
from ingest.sources.base import SourceCounts, Unchanged
from rag.access.document_access import DocumentAccess, Reader
from rag.access.namespace import CollectionNamespace
from rag.access.write_scope import WriteScope
from rag.domain import Chunk, Document, SparseVector
from rag.embedding.base import DenseEmbedder, SparseEncoder
from rag.errors import Conflict
from rag.evidence.injection import INJECTION, InjectionDetector
from rag.settings import IngestSettings
from rag.store.base import StoredDocument, VectorStore

if TYPE_CHECKING:
    from rag.components import Components


@dataclass
class IngestSummary:
    collection: str
    store: str
    documents_seen: int = 0
    documents_added: int = 0
    documents_updated: int = 0
    documents_unchanged: int = 0
    documents_access_updated: int = 0  # content unchanged, access changed: set in place, nothing re-embedded
    documents_pruned: int = 0
    documents_conflicted: int = 0  # ids in a writer's own namespace held by a document it may not see (refused)
    stopped: str | None = None  # why the run stopped before its end (`stop` said so); what was written stays
    chunks_upserted: int = 0
    chunks_flagged: int = 0  # of those, chunks that read as instructions to a model (rag/evidence/injection.py)
    embedding_tokens: int = 0  # the embedder's tokens in the chunks embedded (usage metering)
    # At the sources (ingest/sources/base.py SourceCounts): documents listed, bodies fetched and their bytes,
    # documents not fetched because their token or the server said they had not changed, documents gone since listed.
    documents_listed: int = 0
    documents_fetched: int = 0
    bytes_downloaded: int = 0
    documents_not_modified: int = 0
    documents_gone: int = 0
    incomplete: list[str] = field(default_factory=list)  # sources whose listing was not whole: nothing pruned there
    failed: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def add_source_counts(self, counts: SourceCounts) -> None:
        self.documents_listed, self.documents_fetched = counts.documents_listed, counts.documents_fetched
        self.bytes_downloaded, self.documents_gone = counts.bytes_downloaded, counts.documents_gone
        self.documents_not_modified, self.incomplete = counts.documents_not_modified, list(counts.incomplete)


def _access(document: StoredDocument | None) -> set[DocumentAccess | None] | None:
    return None if document is None else document.access


def _from_any(source: str, files: set[str]) -> bool:
    """Whether a stored document's source (`file`, or `file#record` for records) comes from one of `files`."""
    return source in files or any(source.startswith(f"{f}#") for f in files)


@dataclass
class _Pending:
    document: Document
    chunks: list[Chunk]
    replaces: bool  # the store holds another version of this document


@dataclass
class _Batch:
    pending: list[_Pending]
    chunks: list[Chunk]
    texts: list[str]
    sparse: list[SparseVector]


class Ingestor:
    def __init__(
        self,
        store: VectorStore,
        embedder: DenseEmbedder,
        sparse: SparseEncoder,
        chunker: Chunker,
        *,
        collection: str,
        tenant: str,
        namespace: CollectionNamespace,
        bounds: IngestSettings,
        on_document: Callable[[], None] = lambda: None,
        on_failure: Callable[[LoadFailure], None] = lambda f: None,
        on_accepted: Callable[[Document], None] = lambda d: None,
        detector: InjectionDetector | None = None,
        scope: WriteScope | None = None,
    ) -> None:
        self._store, self._embedder, self._sparse, self._chunker = store, embedder, sparse, chunker
        self._scope = scope  # None: the whole tenant (the operator, admins)
        self._on_accepted = on_accepted
        self._detector = detector
        self._collection, self._tenant = collection, tenant
        # The store collection that holds the tenant's collection.
        self._name = namespace.store_name(collection, tenant)
        # chunks embedded per call (RAG_INGEST_BATCH_CHUNKS), chunks a document may have (RAG_INGEST_MAX_CHUNKS)
        self._batch_chunks, self._max_chunks = bounds.batch_chunks, bounds.max_chunks
        self._on_document, self._on_failure = on_document, on_failure
        self._collection_ready = False

    @classmethod
    def for_components(
        cls,
        components: Components,
        *,
        collection: str,
        tenant: str,
        on_document: Callable[[], None] = lambda: None,
        on_failure: Callable[[LoadFailure], None] = lambda f: None,
        on_accepted: Callable[[Document], None] = lambda d: None,
        scope: WriteScope | None = None,
    ) -> Ingestor:
        """The ingestor the components' settings describe (chunk size and overlap in the embedder's tokens, batch
        size): one recipe for `rag ingest`, `POST /v1/documents` and the evaluation index. `scope`: what the writer
        may change (rag/access/write_scope.py); `on_accepted`: each document synced, under the id it was stored as."""
        settings = components.settings
        chunker = Chunker(
            components.embedder.tokenizer,
            chunk_size=settings.ingest.chunk_size,
            chunk_overlap=settings.ingest.chunk_overlap,
        )
        return cls(
            components.store,
            components.embedder,
            components.sparse,
            chunker,
            collection=collection,
            tenant=tenant,
            namespace=components.namespace,
            bounds=settings.ingest,
            on_document=on_document,
            on_failure=on_failure,
            on_accepted=on_accepted,
            detector=components.injection,
            scope=scope,
        )

    def stored_documents(self) -> list[StoredDocument]:
        """The tenant's documents in the collection, as stored now (none if the collection is new): what a source
        compares its listing's change tokens with (pass them back to `run`)."""
        return self._store.documents(self._name, Reader.whole_tenant(self._tenant))

    def run(
        self,
        items: Iterable[Document | LoadFailure | Unchanged],
        *,
        prune: Callable[[StoredDocument], bool] | None = None,
        stop: Callable[[IngestSummary], str | None] | None = None,
        stored: list[StoredDocument] | None = None,
    ) -> IngestSummary:
        """Sync `items` into the collection. With `prune`, stored documents it selects (this run's source and shard)
        that the run did not see are deleted at the end, except those of files that failed to load this time. With
        `stop`, asked before each batch is embedded: a reason ends the run there (`summary.stopped`), keeping what
        was written. `stored`: `stored_documents()` read just before, when the items were built from it."""
        started = time.perf_counter()
        summary = IngestSummary(collection=self._collection, store=self._store.location)
        stored_docs = self.stored_documents() if stored is None else stored
        by_id = {d.doc_id: d for d in stored_docs}
        seen: set[str] = set()
        failed_files: set[str] = set()
        batches = self._batches(items, by_id, seen, failed_files, summary)
        for batch in prefetch(batches, depth=2):
            if stop is not None and (reason := stop(summary)) is not None:
                summary.stopped = reason
                break
            self._write(batch, summary)
        if prune is not None and summary.stopped is None:  # a stopped run did not see every document
            for doc in stored_docs:
                if doc.doc_id not in seen and prune(doc) and not _from_any(doc.source, failed_files):
                    self._store.delete_document(self._name, self._tenant, doc.doc_id)
                    summary.documents_pruned += 1
        # also finishes what a killed run left unindexed; a stopped run leaves that to the next (its caller is gone)
        if (self._collection_ready or stored_docs) and summary.stopped is None:
            self._store.optimize(self._name)
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary

    def _batches(
        self,
        items: Iterable[Document | LoadFailure | Unchanged],
        stored: dict[str, StoredDocument],
        seen: set[str],
        failed_files: set[str],
        summary: IngestSummary,
    ) -> Iterator[_Batch]:
        """Load, diff against the store, chunk and BM25-encode, in batches of about `batch_chunks` chunks (runs in
        the prefetch thread, ahead of the embedding)."""
        pending: list[_Pending] = []
        pending_chunks = 0

        def fail(failure: LoadFailure) -> None:
            summary.failed.append({"path": failure.path, "error": failure.error})
            failed_files.add(failure.file)
            self._on_failure(failure)

        for item in items:
            self._on_document()
            if isinstance(item, LoadFailure):
                fail(item)
                continue
            summary.documents_seen += 1
            if isinstance(item, Unchanged):
                self._keep(item, stored.get(item.doc_id), seen, summary, fail)
                continue
            if self._scope is not None:
                try:
                    item = replace(item, doc_id=self._scope.target(item.doc_id, lambda i: _access(stored.get(i))))
                except Conflict as exc:
                    fail(LoadFailure(item.source, exc.message))
                    summary.documents_conflicted += 1
                    continue
            if item.doc_id in seen:
                fail(LoadFailure(item.source, f"duplicate document id '{item.doc_id}' in this run"))
                continue
            seen.add(item.doc_id)
            previous = stored.get(item.doc_id)
            if previous is not None and previous.hashes == {item.doc_hash}:
                self._update_in_place(previous, item.access, summary)
                if previous.tokens != {item.change_token}:  # fetched under a new token: same content, nothing stored
                    self._store.set_change_token(self._name, self._tenant, item.doc_id, item.change_token)
                self._on_accepted(item)
                continue
            chunks = self._chunker.chunk(item, self._tenant)
            if not chunks:
                fail(LoadFailure(item.source, "no text to index"))
                continue
            if len(chunks) > self._max_chunks:
                fail(LoadFailure(item.source, f"more than {self._max_chunks:,} chunks (RAG_INGEST_MAX_CHUNKS)"))
                continue
            pending.append(_Pending(item, chunks, replaces=previous is not None))
            pending_chunks += len(chunks)
            if pending_chunks >= self._batch_chunks:
                yield self._encoded(pending)
                pending, pending_chunks = [], 0
        if pending:
            yield self._encoded(pending)

    def _update_in_place(self, previous: StoredDocument, access: DocumentAccess | None, summary: IngestSummary) -> None:
        """A document whose content is as stored: unchanged, or its access set on its chunks when that changed (one
        payload update, which the store serializes with the writer's calls)."""
        if previous.access == {access}:
            summary.documents_unchanged += 1
        else:
            self._store.set_access(self._name, self._tenant, previous.doc_id, access)
            summary.documents_access_updated += 1

    def _keep(
        self,
        item: Unchanged,
        previous: StoredDocument | None,
        seen: set[str],
        summary: IngestSummary,
        fail: Callable[[LoadFailure], None],
    ) -> None:
        """A document its source says is as stored (ingest/sources/): seen, not fetched; its access still applies.
        Sources run under the whole tenant's write scope (the CLI), so its id is the stored one."""
        if item.doc_id in seen:
            fail(LoadFailure(item.source, f"duplicate document id '{item.doc_id}' in this run"))
            return
        seen.add(item.doc_id)
        if previous is None:  # a source only says so of a document the store holds
            fail(LoadFailure(item.source, "not stored, yet reported unchanged: fetched again next run"))
            return
        self._update_in_place(previous, item.access, summary)

    def _encoded(self, pending: list[_Pending]) -> _Batch:
        chunks = [c for p in pending for c in p.chunks]
        texts = [c.embed_text for c in chunks]
        return _Batch(pending, chunks, texts, self._sparse.encode_documents(texts))

    def _write(self, batch: _Batch, summary: IngestSummary) -> None:
        """Embed, upsert the new chunks, then sweep the replaced versions' old chunks."""
        dense = self._embedder.embed_documents(batch.texts)
        if not self._collection_ready:  # created (or checked) at the first write, when the model is loaded anyway
            self._store.ensure_collection(self._name, self._embedder.dimension)
            self._collection_ready = True
        chunks = batch.chunks
        if self._detector is not None:
            flagged = self._detector.flagged([c.text for c in chunks])
            chunks = [replace(c, flags=(INJECTION,)) if f else c for c, f in zip(chunks, flagged, strict=True)]
            summary.chunks_flagged += sum(flagged)
        self._store.upsert(self._name, chunks, dense, batch.sparse)
        summary.chunks_upserted += len(chunks)
        summary.embedding_tokens += sum(self._chunker.count_tokens(t) for t in batch.texts)
        for p in batch.pending:
            self._on_accepted(p.document)
            if p.replaces:
                self._store.delete_stale(self._name, self._tenant, p.document.doc_id, p.document.doc_hash)
                summary.documents_updated += 1
            else:
                summary.documents_added += 1
