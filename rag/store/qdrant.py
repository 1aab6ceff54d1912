"""`VectorStore` on qdrant-client: a Qdrant server when a URL is given, otherwise local mode at a path.

Schema: named dense vector `dense` (cosine) and sparse vector `bm25` (IDF modifier); payload per chunk: `tenant`,
`doc_id`, `doc_hash`, `chunk_index`, `text`, `source`, `title`, `metadata`. qdrant-client's types stay in here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from rag.domain import Chunk, Hit, RetrievalMode, SparseVector
from rag.errors import BackendUnavailable, InvalidInput, NotFound
from rag.store.base import PayloadFilter, PointBatch, StoredDocument
from rag.store.filters import Conditions, conditions
from rag.store.fusion import DEFAULT_FUSION, Fusion
from rag.store.index import HnswParams
from rag.store.lock import StoreLock, busy
from rag.store.payload import (
    DENSE,
    DOCUMENT_FIELDS,
    SPARSE,
    add_document,
    chunk_of,
    indexed_fields,
    payload_of,
    point_batch,
)
from rag.store.query_plan import Nearest, QueryPlan, plan_query

_T = TypeVar("_T")


def _match(key: str, value: object) -> models.FieldCondition:
    if isinstance(value, list):
        return models.FieldCondition(key=key, match=models.MatchAny(any=value))
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))  # type: ignore[arg-type]


def to_filter(conds: Conditions) -> models.Filter:
    return models.Filter(
        must=[_match(k, v) for k, v in conds.must],
        must_not=[_match(k, v) for k, v in conds.must_not] or None,
    )


def _fusion(plan: QueryPlan) -> models.Query:
    if plan.fusion.method == "dbsf":
        return models.FusionQuery(fusion=models.Fusion.DBSF)
    return models.RrfQuery(rrf=models.Rrf(k=plan.fusion.rrf_k, weights=plan.rrf_weights))


class QdrantStore:
    """`VectorStore` over qdrant-client (server or local mode)."""

    def __init__(
        self,
        *,
        url: str | None = None,
        api_key: str | None = None,
        path: Path | None = None,
        timeout_s: float = 10.0,
        hnsw: HnswParams | None = None,
        indexed_metadata: Sequence[str] = (),
        shard_number: int | None = None,
        replication_factor: int | None = None,
    ) -> None:
        self._local = url is None
        self._shard_number, self._replication_factor = shard_number, replication_factor
        self._indexed = indexed_fields(indexed_metadata)
        self._hnsw = hnsw or HnswParams()
        self._lock = threading.RLock()  # local mode is a single in-process object, not safe across threads
        self._held: StoreLock | None = None  # local mode: our lock on the folder, naming this process, until close
        try:
            if url is not None:
                self._location = url
                self._client = QdrantClient(url=url, api_key=api_key, timeout=int(timeout_s))
            else:
                if path is None:
                    raise InvalidInput("a local Qdrant store needs a path")
                path.mkdir(parents=True, exist_ok=True)
                self._location = str(path.resolve())
                self._held = StoreLock.acquire(path / "rag.lock", f"the embedded store {self._location}")
                try:
                    self._client = QdrantClient(path=str(path))
                except BaseException:
                    self._held.release()
                    raise
        except RuntimeError as exc:  # local mode refuses a path another process holds
            if "already accessed by another instance" in str(exc):  # one that does not take our lock
                raise busy(f"the embedded store {self._location}", None) from exc
            raise BackendUnavailable(f"cannot open the local Qdrant store at {path}: {exc}") from exc

    @property
    def location(self) -> str:
        return f"qdrant-local:{self._location}" if self._local else f"qdrant:{self._location}"

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            if self._local:
                with self._lock:
                    yield
            else:
                yield
        except (ResponseHandlingException, ConnectionError, TimeoutError) as exc:
            raise BackendUnavailable("the vector store is unreachable") from exc
        except UnexpectedResponse as exc:
            if exc.status_code == 404:
                raise NotFound("collection not found") from exc
            raise BackendUnavailable(f"the vector store answered {exc.status_code}") from exc

    def _call(self, fn: Callable[[], _T]) -> _T:
        with self._guard():
            return fn()

    def list_collections(self) -> list[str]:
        return sorted(c.name for c in self._call(self._client.get_collections).collections)

    def collection_exists(self, collection: str) -> bool:
        return self._call(lambda: self._client.collection_exists(collection))

    def _require(self, collection: str) -> None:
        if not self.collection_exists(collection):
            raise NotFound(f"collection '{collection}' does not exist", param="collection")

    def ensure_collection(self, collection: str, dense_dim: int) -> None:
        if self.collection_exists(collection):
            info = self._call(lambda: self._client.get_collection(collection))
            vectors = info.config.params.vectors
            size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
            if size != dense_dim:
                raise InvalidInput(
                    f"collection '{collection}' holds {size}-dimensional vectors; the embedder gives {dense_dim}",
                    param="collection",
                )
            self._index_payload(collection, set(info.payload_schema or {}))
            return
        with self._guard():
            self._client.create_collection(
                collection,
                vectors_config={DENSE: models.VectorParams(size=dense_dim, distance=models.Distance.COSINE)},
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                hnsw_config=models.HnswConfigDiff(
                    m=self._hnsw.m,
                    ef_construct=self._hnsw.ef_construct,
                    full_scan_threshold=self._hnsw.full_scan_threshold_kb,
                ),
                shard_number=self._shard_number,  # a cluster's shards and copies (None: the server's defaults)
                replication_factor=self._replication_factor,
            )
        self._index_payload(collection, set())

    def drop_collection(self, collection: str) -> None:
        self._require(collection)
        self._call(lambda: self._client.delete_collection(collection))

    def _index_payload(self, collection: str, existing: set[str]) -> None:
        """Create the keyword indexes the collection lacks; local mode has none (and warns about them)."""
        if self._local:
            return
        for field in self._indexed:
            if field not in existing:
                self._call(
                    lambda f=field: self._client.create_payload_index(  # type: ignore[misc]
                        collection, f, models.PayloadSchemaType.KEYWORD
                    )
                )

    def upsert(
        self,
        collection: str,
        chunks: Sequence[Chunk],
        dense: Sequence[Sequence[float]],
        sparse: Sequence[SparseVector],
    ) -> None:
        if not (len(chunks) == len(dense) == len(sparse)):
            raise ValueError("chunks, dense and sparse vectors must be aligned")
        points = [
            models.PointStruct(
                id=chunk.point_id,
                vector={
                    DENSE: list(d),
                    SPARSE: models.SparseVector(indices=s.indices, values=s.values),
                },
                payload=payload_of(chunk),
            )
            for chunk, d, s in zip(chunks, dense, sparse, strict=True)
        ]
        if points:
            self._call(lambda: self._client.upsert(collection, points=points, wait=True))

    def _delete(self, collection: str, flt: models.Filter) -> None:
        selector = models.FilterSelector(filter=flt)
        self._call(lambda: self._client.delete(collection, points_selector=selector, wait=True))

    def delete_stale(self, collection: str, tenant: str, doc_id: str, keep_hash: str) -> None:
        base = conditions(tenant, doc_id=doc_id)
        self._delete(collection, to_filter(Conditions(base.must, must_not=(("doc_hash", keep_hash),))))

    def delete_document(self, collection: str, tenant: str, doc_id: str) -> None:
        self._require(collection)
        self._delete(collection, to_filter(conditions(tenant, doc_id=doc_id)))

    def documents(self, collection: str, tenant: str | None = None) -> list[StoredDocument]:
        found: dict[tuple[str, str], StoredDocument] = {}
        if not self.collection_exists(collection):
            return []
        flt = to_filter(conditions(tenant)) if tenant is not None else None
        offset: models.ExtendedPointId | None = None
        while True:
            page, offset = self._call(
                lambda off=offset: self._client.scroll(  # type: ignore[misc]
                    collection,
                    scroll_filter=flt,
                    limit=2048,
                    offset=off,
                    with_payload=DOCUMENT_FIELDS,
                    with_vectors=False,
                )
            )
            for point in page:
                add_document(found, point.payload)
            if offset is None:
                return list(found.values())

    def scroll_points(self, collection: str, batch: int = 512) -> Iterator[PointBatch]:
        self._require(collection)
        offset: models.ExtendedPointId | None = None
        while True:
            page, offset = self._call(
                lambda off=offset: self._client.scroll(  # type: ignore[misc]
                    collection, limit=batch, offset=off, with_payload=True, with_vectors=True
                )
            )
            yield point_batch(page)
            if offset is None:
                return

    def count(self, collection: str, tenant: str | None = None, doc_id: str | None = None) -> int:
        self._require(collection)
        flt = to_filter(conditions(tenant, doc_id=doc_id)) if tenant is not None else None
        return self._call(lambda: self._client.count(collection, count_filter=flt, exact=True).count)

    def optimize(self, collection: str) -> None:
        """The server optimizes in the background and local mode has no index: nothing to do."""

    @staticmethod
    def _vector(side: Nearest) -> list[float] | models.SparseVector:
        v = side.vector
        return models.SparseVector(indices=v.indices, values=v.values) if isinstance(v, SparseVector) else v

    def query(
        self,
        collection: str,
        *,
        tenant: str,
        mode: RetrievalMode,
        dense: Sequence[float] | None,
        sparse: SparseVector | None,
        limit: int,
        prefetch_limit: int,
        filters: PayloadFilter | None = None,
        exact: bool = False,
        fusion: Fusion = DEFAULT_FUSION,
    ) -> list[Hit]:
        if self._local:  # local mode answers a missing collection with a bare ValueError; the server with a 404
            self._require(collection)
        plan = plan_query(mode, dense, sparse, fusion)
        if plan is None:
            return []
        flt = to_filter(conditions(tenant, filters))
        # Local mode always searches exactly (and warns about search parameters).
        params = None if self._local else models.SearchParams(hnsw_ef=self._hnsw.ef, exact=exact)
        query: Any
        if plan.nearest is not None:
            query, using, prefetch = self._vector(plan.nearest), plan.nearest.using, None
        else:
            query, using = _fusion(plan), None
            prefetch = [
                models.Prefetch(query=self._vector(p), using=p.using, limit=prefetch_limit, filter=flt, params=params)
                for p in plan.prefetch
            ]
        result = self._call(
            lambda: self._client.query_points(
                collection,
                query=query,
                using=using,
                prefetch=prefetch,
                query_filter=flt,
                search_params=params,
                limit=limit,
                with_payload=True,
            )
        )
        return [Hit(chunk=chunk_of(p.payload or {}), score=float(p.score)) for p in result.points]

    def close(self) -> None:
        try:
            self._call(self._client.close)
        finally:
            if self._held is not None:  # after the client: the next holder finds the folder unlocked
                self._held.release()
