"""`VectorStore` on qdrant-client: a Qdrant server when a URL is given, otherwise its local mode at a path.

As `QdrantClient` picks its remote or local engine once in its constructor, `QdrantStore` picks a `QdrantEngine`
once (rag/store/qdrant_server.py or rag/store/qdrant_local.py): how the client is opened and closed, how calls are
guarded, and what the engine can do (search parameters, payload indexes). The calls themselves are the same
qdrant-client API in both and are made here; the rest of the store is rag/store/engine.py. qdrant-client's types
stay in these modules.

Schema: named dense vector `dense` (cosine) and sparse vector `bm25` (IDF modifier); payload per chunk: `tenant`,
`doc_id`, `doc_hash`, `chunk_index`, `text`, `source`, `title`, `metadata` (rag/store/payload.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from qdrant_client import QdrantClient, models

from rag.domain import SparseVector
from rag.errors import InvalidInput
from rag.settings import StoreSettings, default_of
from rag.store.base import PointBatch
from rag.store.engine import IndexInfo, Offset, Scroll, Search, StoreEngine
from rag.store.filters import Conditions, qdrant_filter
from rag.store.index import HnswParams
from rag.store.payload import DENSE, SPARSE, StoredRecord, payload_of
from rag.store.qdrant_local import LocalEngine
from rag.store.qdrant_server import ServerEngine
from rag.store.query_plan import Nearest, QueryPlan


class QdrantEngine(Protocol):
    """One of qdrant-client's two engines, as the store uses it."""

    client: QdrantClient
    location: str
    indexes_payload: bool

    def guard(self) -> AbstractContextManager[object]:
        """Around every call: serialization where the engine needs it; its errors as the platform's, a missing
        collection as `MissingCollection`."""
        ...

    def search_params(self, hnsw: HnswParams, exact: bool) -> models.SearchParams | None: ...

    def close(self) -> None: ...


def _vector(side: Nearest) -> list[float] | models.SparseVector:
    v = side.vector
    return models.SparseVector(indices=v.indices, values=v.values) if isinstance(v, SparseVector) else v


def _fusion(plan: QueryPlan) -> models.Query:
    if plan.fused_by.method == "dbsf":
        return models.FusionQuery(fusion=models.Fusion.DBSF)
    return models.RrfQuery(rrf=models.Rrf(k=plan.fused_by.rrf_k, weights=plan.rrf_weights))


def _engine(url: str | None, api_key: str | None, path: Path | None, timeout_s: float) -> QdrantEngine:
    return ServerEngine(url, api_key=api_key, timeout_s=timeout_s) if url is not None else LocalEngine(path)


class QdrantStore(StoreEngine):
    """`VectorStore` over qdrant-client: a server at `url`, or local mode at `path` (always exact, no payload
    indexes)."""

    def __init__(
        self,
        *,
        url: str | None = None,
        api_key: str | None = None,
        path: Path | None = None,
        timeout_s: float = default_of(StoreSettings, "timeout_s"),
        hnsw: HnswParams | None = None,
        indexed_metadata: Sequence[str] = (),
        shard_number: int | None = None,
        replication_factor: int | None = None,
    ) -> None:
        self._engine = _engine(url, api_key, path, timeout_s)
        self._client = self._engine.client
        self._sharding = (shard_number, replication_factor)  # a cluster's shards and copies (None: its defaults)
        super().__init__(hnsw=hnsw, indexed_metadata=indexed_metadata)

    @property
    def location(self) -> str:
        return self._engine.location

    @property
    def indexes_payload(self) -> bool:
        return self._engine.indexes_payload

    def _guard(self) -> AbstractContextManager[object]:
        return self._engine.guard()

    def _list(self) -> list[str]:
        return [c.name for c in self._client.get_collections().collections]

    def _exists(self, name: str) -> bool:
        return self._client.collection_exists(name)

    def _dimension(self, name: str) -> int | None:
        if not self._client.collection_exists(name):
            return None
        vectors = self._client.get_collection(name).config.params.vectors
        if not isinstance(vectors, dict) or DENSE not in vectors:
            raise InvalidInput(f"collection '{name}' has no '{DENSE}' vector: not one of this platform's")
        return vectors[DENSE].size

    def _create(self, name: str, dense_dim: int) -> None:
        shard_number, replication_factor = self._sharding
        self._client.create_collection(
            name,
            vectors_config={DENSE: models.VectorParams(size=dense_dim, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            hnsw_config=self._hnsw.config(models.HnswConfigDiff),
            shard_number=shard_number,
            replication_factor=replication_factor,
        )

    def _create_index(self, name: str, field: str) -> None:
        self._client.create_payload_index(name, field, models.PayloadSchemaType.KEYWORD)

    def _info(self, name: str) -> IndexInfo:
        info = self._client.get_collection(name)
        return IndexInfo(
            segments=info.segments_count,
            points=info.points_count or 0,
            indexed_vectors=info.indexed_vectors_count or 0,
            payload_indexes=sorted(info.payload_schema or {}),
        )

    def _drop(self, name: str) -> None:
        self._client.delete_collection(name)

    def _upsert(self, name: str, points: PointBatch) -> None:
        converted = [
            models.PointStruct(
                id=chunk.point_id,
                vector={DENSE: d, SPARSE: models.SparseVector(indices=s.indices, values=s.values)},
                payload=payload_of(chunk),
            )
            for chunk, d, s in zip(points.chunks, points.dense, points.sparse, strict=True)
        ]
        self._client.upsert(name, points=converted, wait=True)

    def _delete(self, name: str, conds: Conditions) -> None:
        selector = models.FilterSelector(filter=qdrant_filter(models, conds))
        self._client.delete(name, points_selector=selector, wait=True)

    def _set_payload(self, name: str, conds: Conditions, payload: dict[str, object]) -> None:
        selector = models.FilterSelector(filter=qdrant_filter(models, conds))
        self._client.set_payload(name, payload=payload, points=selector, wait=True)

    def _scroll(self, name: str, scroll: Scroll) -> tuple[Sequence[StoredRecord], Offset | None]:
        return self._client.scroll(
            name,
            scroll_filter=qdrant_filter(models, scroll.conditions) if scroll.conditions else None,
            limit=scroll.limit,
            offset=scroll.offset,
            with_payload=scroll.payload if isinstance(scroll.payload, bool) else list(scroll.payload),
            with_vectors=scroll.vectors,
        )

    def _count(self, name: str, conds: Conditions | None) -> int:
        flt = qdrant_filter(models, conds) if conds else None
        return self._client.count(name, count_filter=flt, exact=True).count

    def _query(self, name: str, search: Search) -> Sequence[models.ScoredPoint]:
        flt = qdrant_filter(models, search.conditions)
        params = self._engine.search_params(self._hnsw, search.exact)
        plan = search.plan
        prefetch = [
            models.Prefetch(query=_vector(p), using=p.using, limit=search.prefetch_limit, filter=flt, params=params)
            for p in plan.prefetch
        ]
        return self._client.query_points(
            name,
            query=_vector(plan.nearest) if plan.nearest else _fusion(plan),
            using=plan.nearest.using if plan.nearest else None,
            prefetch=prefetch or None,
            query_filter=flt,
            search_params=params,
            limit=search.limit,
            with_payload=True,
            with_vectors=[DENSE] if search.with_dense else False,
        ).points

    def _optimize(self, name: str) -> None:
        """A server optimizes in the background and local mode has no index: nothing to do."""

    def _close(self) -> None:
        self._engine.close()
