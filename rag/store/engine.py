"""The engine-neutral half of every store: `VectorStore` written once over a few primitives each engine provides.

What every engine shares lives here: the collection-name check (before any engine call, so a bad name is
`InvalidInput` everywhere), `NotFound` for a missing collection (one message), the alignment of chunks and vectors,
the payload indexes to create, pagination, folding payloads into documents and hits, the query plan and the filter
conditions. An engine (rag/store/edge.py, rag/store/qdrant.py) implements the `_primitives` in its own types, raising
`MissingCollection` where its database says a collection does not exist, and serializes calls in `_guard` if it
needs to.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypedDict
from uuid import UUID

from rag.access.document_access import DocumentAccess, Reader, access_payload
from rag.access.namespace import check_store_name
from rag.domain import Chunk, Hit, SparseVector
from rag.errors import InvalidInput, NotFound
from rag.settings import RetrievalMode
from rag.store.base import PayloadFilter, PointBatch, StoredDocument
from rag.store.filters import Conditions, conditions
from rag.store.fusion import Fusion
from rag.store.index import HnswParams
from rag.store.payload import (
    DENSE,
    DOCUMENT_FIELDS,
    FLAGS_FIELD,
    TOKEN_FIELD,
    StoredRecord,
    add_document,
    chunk_of,
    indexed_fields,
    point_batch,
)
from rag.store.query_plan import QueryPlan, plan_query

log = logging.getLogger(__name__)

Offset = int | str | UUID  # where a scroll goes on: a point id


class MissingCollection(Exception):
    """An engine's primitive found no such collection; the store answers `NotFound`."""


class IndexInfo(TypedDict):
    """How much of a collection its indexes cover: segments, points, dense vectors in an HNSW index (the rest are
    searched exactly) and the keyword-indexed payload fields."""

    segments: int
    points: int
    indexed_vectors: int
    payload_indexes: list[str]


class ScoredRecord(Protocol):
    """A point a query found (qdrant-client's and Edge's `ScoredPoint` both fit)."""

    @property
    def payload(self) -> dict[str, Any] | None: ...

    @property
    def score(self) -> float: ...

    @property
    def vector(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Search:
    """A query as an engine runs it: the plan, the reader's conditions, how many, and whether to skip the index."""

    plan: QueryPlan
    conditions: Conditions
    limit: int
    prefetch_limit: int
    exact: bool
    with_dense: bool = False  # return each point's dense vector (the answer's attribution compares with it)


@dataclass(frozen=True, slots=True)
class Scroll:
    """One page of points: which (None: all), how many, from where, and what of each."""

    conditions: Conditions | None
    limit: int
    offset: Offset | None
    payload: Sequence[str] | bool
    vectors: bool


class StoreEngine(ABC):
    """A `VectorStore` (rag/store/base.py documents its methods) over one engine's primitives. Names are checked
    before any primitive runs; a primitive on a collection that does not exist raises `MissingCollection`."""

    def __init__(self, *, hnsw: HnswParams | None = None, indexed_metadata: Sequence[str] = ()) -> None:
        self._hnsw = hnsw or HnswParams()
        self._indexed = indexed_fields(indexed_metadata)
        if indexed_metadata and not self.indexes_payload:
            log.warning(
                "%s cannot index payload fields: metadata filters on %s are answered by a full scan",
                self.location,
                ", ".join(indexed_metadata),
            )

    @property
    @abstractmethod
    def location(self) -> str: ...

    @property
    def indexes_payload(self) -> bool:
        """Whether the engine builds keyword indexes on payload fields (qdrant-client's local mode does not)."""
        return True

    @contextmanager
    def _on(self, collection: str) -> Iterator[None]:
        try:
            with self._guard():
                yield
        except MissingCollection:
            raise NotFound(f"collection '{collection}' does not exist", param="collection") from None

    # The VectorStore methods.

    def list_collections(self) -> list[str]:
        with self._guard():
            return sorted(self._list())

    def collection_exists(self, collection: str) -> bool:
        name = check_store_name(collection)
        with self._guard():
            return self._exists(name)

    def ensure_collection(self, collection: str, dense_dim: int) -> None:
        name = check_store_name(collection)
        with self._on(name):
            size = self._dimension(name)
            if size is None:
                self._create(name, dense_dim)
            elif size != dense_dim:
                self._abandon(name)
                raise InvalidInput(
                    f"collection '{name}' holds {size}-dimensional vectors; the embedder gives {dense_dim}",
                    param="collection",
                )
            if self.indexes_payload:  # a collection made before a setting added metadata keys gains their indexes
                existing = set(self._info(name)["payload_indexes"]) if size is not None else set()
                for field in self._indexed:
                    if field not in existing:
                        self._create_index(name, field)

    def drop_collection(self, collection: str) -> None:
        name = check_store_name(collection)
        with self._on(name):
            self._require(name)
            self._drop(name)

    def upsert(
        self,
        collection: str,
        chunks: Sequence[Chunk],
        dense: Sequence[Sequence[float]],
        sparse: Sequence[SparseVector],
    ) -> None:
        name = check_store_name(collection)
        if not (len(chunks) == len(dense) == len(sparse)):
            raise ValueError("chunks, dense and sparse vectors must be aligned")
        if chunks:
            with self._on(name):
                self._upsert(name, PointBatch(list(chunks), [list(d) for d in dense], list(sparse)))

    def delete_stale(self, collection: str, tenant: str, doc_id: str, keep_hash: str) -> None:
        document = conditions(Reader.whole_tenant(tenant), doc_id=doc_id)
        self._delete_where(collection, Conditions(document.must, must_not=(("doc_hash", keep_hash),)))

    def delete_document(self, collection: str, tenant: str, doc_id: str) -> None:
        self._delete_where(collection, conditions(Reader.whole_tenant(tenant), doc_id=doc_id))

    def set_access(self, collection: str, tenant: str, doc_id: str, access: DocumentAccess | None) -> None:
        name = check_store_name(collection)
        with self._on(name):
            document = conditions(Reader.whole_tenant(tenant), doc_id=doc_id)
            self._set_payload(name, document, access_payload(access))

    def set_change_token(self, collection: str, tenant: str, doc_id: str, token: str) -> None:
        name = check_store_name(collection)
        with self._on(name):
            self._set_payload(name, conditions(Reader.whole_tenant(tenant), doc_id=doc_id), {TOKEN_FIELD: token})

    def _delete_where(self, collection: str, conds: Conditions) -> None:
        name = check_store_name(collection)
        with self._on(name):
            self._delete(name, conds)

    def documents(self, collection: str, reader: Reader | None = None) -> list[StoredDocument]:
        if not self.collection_exists(collection):
            return []
        found: dict[tuple[str, str], StoredDocument] = {}
        which = conditions(reader) if reader is not None else None
        for page in self._pages(collection, which, 2048, DOCUMENT_FIELDS, vectors=False):
            for record in page:
                add_document(found, record.payload)
        return list(found.values())

    def count(
        self, collection: str, reader: Reader | None = None, doc_id: str | None = None, flag: str | None = None
    ) -> int:
        name = check_store_name(collection)
        which = conditions(reader, doc_id=doc_id) if reader is not None else None
        if flag is not None:
            flagged = (FLAGS_FIELD, flag)
            which = replace(which, must=(*which.must, flagged)) if which else Conditions(must=(flagged,))
        with self._on(name):
            return self._count(name, which)

    def scroll_points(self, collection: str, batch: int = 512) -> Iterator[PointBatch]:
        for page in self._pages(collection, None, batch, True, vectors=True):
            yield point_batch(page)

    def _pages(
        self, collection: str, which: Conditions | None, limit: int, payload: Sequence[str] | bool, *, vectors: bool
    ) -> Iterator[Sequence[StoredRecord]]:
        name = check_store_name(collection)
        offset: Offset | None = None
        while True:
            with self._on(name):
                page, offset = self._scroll(name, Scroll(which, limit, offset, payload, vectors))
            yield page
            if offset is None:
                return

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
        name = check_store_name(collection)
        plan = plan_query(mode, dense, sparse, fusion)
        with self._on(name):
            if plan is None:  # matches nothing, in a collection that must still exist
                self._require(name)
                return []
            search = Search(plan, conditions(reader, filters), limit, prefetch_limit, exact, with_dense)
            points = self._query(name, search)
        return [Hit(chunk_of(p.payload or {}), float(p.score), _dense_of(p) if with_dense else None) for p in points]

    def optimize(self, collection: str) -> None:
        name = check_store_name(collection)
        with self._on(name):
            self._require(name)
            self._optimize(name)

    def index_info(self, collection: str) -> IndexInfo:
        """What the collection's indexes cover (`indexed_vectors` is 0 and `payload_indexes` empty on an engine
        without indexes)."""
        name = check_store_name(collection)
        with self._on(name):
            return self._info(name)

    def close(self) -> None:
        with self._guard():
            self._close()

    def _require(self, name: str) -> None:
        """`MissingCollection` now, for work that would not ask the engine about the collection."""
        if not self._exists(name):
            raise MissingCollection

    # The primitives each engine provides; a collection name reaching them is valid.

    @abstractmethod
    def _guard(self) -> AbstractContextManager[object]:
        """Around every primitive call: the engine's own serialization and error translation."""

    def _abandon(self, name: str) -> None:
        """Let go of what `_dimension` took, for a collection that will not be used after all (nothing, unless the
        engine says otherwise)."""
        return None

    @abstractmethod
    def _list(self) -> list[str]: ...

    @abstractmethod
    def _exists(self, name: str) -> bool: ...

    @abstractmethod
    def _dimension(self, name: str) -> int | None:
        """The dense dimension of the collection; None when there is no such collection."""

    @abstractmethod
    def _create(self, name: str, dense_dim: int) -> None: ...

    @abstractmethod
    def _create_index(self, name: str, field: str) -> None:
        """A keyword index on a payload field (called only where `indexes_payload`)."""

    @abstractmethod
    def _info(self, name: str) -> IndexInfo: ...

    @abstractmethod
    def _drop(self, name: str) -> None: ...

    @abstractmethod
    def _upsert(self, name: str, points: PointBatch) -> None: ...

    @abstractmethod
    def _delete(self, name: str, conds: Conditions) -> None: ...

    @abstractmethod
    def _set_payload(self, name: str, conds: Conditions, payload: dict[str, object]) -> None:
        """Set these payload fields on every point the conditions match, in one update."""

    @abstractmethod
    def _scroll(self, name: str, scroll: Scroll) -> tuple[Sequence[StoredRecord], Offset | None]: ...

    @abstractmethod
    def _count(self, name: str, conds: Conditions | None) -> int: ...

    @abstractmethod
    def _query(self, name: str, search: Search) -> Sequence[ScoredRecord]: ...

    @abstractmethod
    def _optimize(self, name: str) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...


def _dense_of(point: ScoredRecord) -> tuple[float, ...] | None:
    vectors = point.vector
    return tuple(vectors[DENSE]) if isinstance(vectors, dict) and DENSE in vectors else None
