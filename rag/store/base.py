"""The store seam: everything the platform asks of its vector database, and nothing more."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rag.access.document_access import DocumentAccess, Reader
from rag.domain import Chunk, Hit, SparseVector
from rag.settings import RetrievalMode
from rag.store.fusion import Fusion

# A user filter: payload field -> a value, or a list of values (any of them matches).
FilterValue = str | int | float | bool | list[str] | list[int]
PayloadFilter = Mapping[str, FilterValue]

# Fields a chunk carries at the top level of its payload; any other filter key is looked up in `metadata`.
TOP_LEVEL_FIELDS = frozenset({"doc_id", "doc_hash", "chunk_index", "source", "title"})


@dataclass(frozen=True, slots=True)
class PointBatch:
    """Stored points as they were upserted: chunks with their aligned dense and sparse vectors."""

    chunks: list[Chunk]
    dense: list[list[float]]
    sparse: list[SparseVector]


@dataclass(slots=True)
class StoredDocument:
    """A document as the store holds it: its chunks' `doc_hash` values, access and change tokens (more than one of
    any after an interrupted update), the `source` they came from and the title."""

    tenant: str
    doc_id: str
    source: str
    hashes: set[str]
    access: set[DocumentAccess | None] = field(default_factory=set)
    title: str = ""
    tokens: set[str] = field(default_factory=set)


class VectorStore(Protocol):
    @property
    def location(self) -> str:
        """Where the data lives, for status output (a path or a URL, never a secret)."""
        ...

    def list_collections(self) -> list[str]: ...

    def collection_exists(self, collection: str) -> bool: ...

    def ensure_collection(self, collection: str, dense_dim: int) -> None: ...

    def drop_collection(self, collection: str) -> None:
        """Remove the collection and everything in it; `NotFound` if it does not exist."""
        ...

    def upsert(
        self,
        collection: str,
        chunks: Sequence[Chunk],
        dense: Sequence[Sequence[float]],
        sparse: Sequence[SparseVector],
    ) -> None: ...

    def delete_stale(self, collection: str, tenant: str, doc_id: str, keep_hash: str) -> None:
        """Delete the document's points whose `doc_hash` is not `keep_hash`."""
        ...

    def delete_document(self, collection: str, tenant: str, doc_id: str) -> None: ...

    def set_access(self, collection: str, tenant: str, doc_id: str, access: DocumentAccess | None) -> None:
        """Who may see the document (None: the deployment's default), set on all its chunks in one payload update:
        nothing is re-embedded, and the next query sees it."""
        ...

    def set_change_token(self, collection: str, tenant: str, doc_id: str, token: str) -> None:
        """The change token its source now gives the document (same content, new token), set on all its chunks in one
        payload update: the next sync compares against it."""
        ...

    def documents(self, collection: str, reader: Reader | None = None) -> list[StoredDocument]:
        """The documents a reader may see (None: of every tenant), from their chunks' payload; none if the
        collection is absent."""
        ...

    def count(
        self, collection: str, reader: Reader | None = None, doc_id: str | None = None, flag: str | None = None
    ) -> int:
        """Chunks in the collection; that a reader may see; of one of those documents (`doc_id` needs `reader`);
        carrying a flag (`flags`: rag/evidence/injection.py)."""
        ...

    def scroll_points(self, collection: str, batch: int = 512) -> Iterator[PointBatch]:
        """Every point of the collection (all tenants), vectors included, in batches: for moving a collection."""
        ...

    def query(
        self,
        collection: str,
        *,
        reader: Reader,
        mode: RetrievalMode,
        dense: Sequence[float] | None,
        sparse: SparseVector | None,
        limit: int,
        prefetch_limit: int,
        filters: PayloadFilter | None = None,
        exact: bool = False,
        fusion: Fusion | None = None,
        with_dense: bool = False,
    ) -> list[Hit]:
        """Top `limit` chunks the reader may see; hybrid fuses by `fusion`; `exact` skips the vector index (brute force,
        for checks): an engine without one (qdrant-client's local mode) is always exact. `with_dense`: each hit
        carries its chunk's dense vector."""
        ...

    def optimize(self, collection: str) -> None:
        """Build the indexes for what was written, where the engine does not do it in the background."""
        ...

    def close(self) -> None: ...


def document_hashes(store: VectorStore, collection: str, tenant: str) -> dict[str, set[str]]:
    """doc_id -> the `doc_hash` values its chunks carry, for one tenant."""
    return {d.doc_id: d.hashes for d in store.documents(collection, Reader.whole_tenant(tenant))}
