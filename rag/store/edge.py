"""`VectorStore` on Qdrant Edge (`qdrant-edge-py`): the Qdrant engine inside this process, the embedded default.

A collection is an Edge shard directory, `<root>/<collection>/shard`, beside a small `collection.json` (dense
dimension) and a `lock` file that the process with the shard open holds and is named in (rag/store/lock.py).
Same schema, payload and point ids as the server; updates go through Edge's write-ahead log, and `close` flushes.
qdrant-edge's types stay in here.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from rag.domain import Chunk, Hit, RetrievalMode, SparseVector
from rag.errors import BackendUnavailable, InvalidInput, NotFound, StoreBusy
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

# A store collection: a caller's name (rag/store/namespace.py), `@tenant` appended in strict tenant isolation.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}(@~?[A-Za-z0-9_.-]{1,64})?")
_META = "collection.json"
_LOCK = "lock"


def _match(key: str, value: object) -> qe.FieldCondition:
    if isinstance(value, list):
        return qe.FieldCondition(key=key, match=qe.MatchAny(any=value))
    return qe.FieldCondition(key=key, match=qe.MatchValue(value=value))  # type: ignore[arg-type]


def to_filter(conds: Conditions) -> qe.Filter:
    return qe.Filter(
        must=[_match(k, v) for k, v in conds.must],
        must_not=[_match(k, v) for k, v in conds.must_not] or None,
    )


def _sparse(vector: SparseVector) -> qe.SparseVector:
    return qe.SparseVector(indices=list(vector.indices), values=list(vector.values))


def _fusion(plan: QueryPlan) -> Any:
    if plan.fusion.method == "dbsf":
        return qe.Fusion.Dbsf()
    return qe.Fusion.Rrf(k=plan.fusion.rrf_k, weights=plan.rrf_weights)


class EdgeStore:
    """`VectorStore` over Qdrant Edge shards under one root directory."""

    def __init__(self, root: Path, *, hnsw: HnswParams | None = None, indexed_metadata: Sequence[str] = ()) -> None:
        self._root = root
        self._indexed = indexed_fields(indexed_metadata)
        self._hnsw = hnsw or HnswParams()
        self._shards: dict[str, qe.EdgeShard] = {}
        self._held: dict[str, StoreLock] = {}  # per collection, from before its shard opens until `close`
        self._lock = threading.RLock()
        root.mkdir(parents=True, exist_ok=True)

    @property
    def location(self) -> str:
        return f"qdrant-edge:{self._root.resolve()}"

    def _dir(self, collection: str) -> Path:
        if not _NAME.fullmatch(collection):
            raise InvalidInput(f"invalid collection name '{collection}'", param="collection")
        return self._root / collection

    def list_collections(self) -> list[str]:
        return sorted(p.parent.name for p in self._root.glob(f"*/{_META}"))

    def collection_exists(self, collection: str) -> bool:
        return (self._dir(collection) / _META).is_file()

    def _what(self, collection: str) -> str:
        return f"collection '{collection}' of the embedded store {self._root.resolve()}"

    def _hold(self, collection: str) -> None:
        """Take this store's lock on the collection before its shard is created or loaded; `StoreBusy` names the
        process that has it."""
        if collection not in self._held:
            directory = self._dir(collection)
            directory.mkdir(parents=True, exist_ok=True)
            self._held[collection] = StoreLock.acquire(directory / _LOCK, self._what(collection))

    def _unhold(self, collection: str) -> None:
        """Let go of the lock of a collection whose shard did not open."""
        if collection not in self._shards and (held := self._held.pop(collection, None)) is not None:
            held.release()

    def _load(self, collection: str, shard_dir: Path) -> qe.EdgeShard:
        try:
            return qe.EdgeShard.load(str(shard_dir))
        except Exception as exc:
            if "WouldBlock" in str(exc):  # a process that does not take our lock has the write-ahead log open
                how = "(one that holds its write-ahead log but not its lock file)"
                raise busy(self._what(collection), None, how=how) from exc
            raise

    def _shard(self, collection: str) -> qe.EdgeShard:
        with self._lock:
            shard = self._shards.get(collection)
            if shard is None:
                if not self.collection_exists(collection):
                    raise NotFound(f"collection '{collection}' does not exist", param="collection")
                self._hold(collection)
                try:
                    shard = self._load(collection, self._dir(collection) / "shard")
                except StoreBusy:
                    self._unhold(collection)
                    raise
                except Exception as exc:
                    self._unhold(collection)
                    raise BackendUnavailable(f"cannot open collection '{collection}'") from exc
                self._shards[collection] = shard
            return shard

    def ensure_collection(self, collection: str, dense_dim: int) -> None:
        directory = self._dir(collection)
        meta = directory / _META
        with self._lock:
            self._hold(collection)  # before reading the marker: another process may be creating the collection
            if meta.is_file():
                size = json.loads(meta.read_text())["dense_dim"]
                if size != dense_dim:
                    self._unhold(collection)
                    raise InvalidInput(
                        f"collection '{collection}' holds {size}-dimensional vectors; the embedder gives {dense_dim}",
                        param="collection",
                    )
                self._index_payload(self._shard(collection))
                return
            config = qe.EdgeConfig(
                vectors={DENSE: qe.EdgeVectorParams(size=dense_dim, distance=qe.Distance.Cosine)},
                sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
                hnsw_config=qe.HnswIndexConfig(
                    m=self._hnsw.m,
                    ef_construct=self._hnsw.ef_construct,
                    full_scan_threshold=self._hnsw.full_scan_threshold_kb,
                ),
            )
            shard_dir = directory / "shard"
            # A crash after creating the shard but before writing the marker leaves a shard to reuse.
            shard = (
                self._load(collection, shard_dir) if shard_dir.exists() else qe.EdgeShard.create(str(shard_dir), config)
            )
            self._index_payload(shard)
            self._shards[collection] = shard
            tmp = meta.with_suffix(".tmp")
            tmp.write_text(json.dumps({"dense_dim": dense_dim, "dense": DENSE, "sparse": SPARSE}))
            tmp.replace(meta)

    def drop_collection(self, collection: str) -> None:
        directory = self._dir(collection)
        with self._lock:
            if not self.collection_exists(collection):
                raise NotFound(f"collection '{collection}' does not exist", param="collection")
            self._hold(collection)  # not while another process has it open
            if (shard := self._shards.pop(collection, None)) is not None:
                shard.close()
            (directory / _META).unlink()  # first: a half-removed folder is no longer a collection
            for child in directory.iterdir():
                if child.name != _LOCK:
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
            self._held.pop(collection).release()

    def _index_payload(self, shard: qe.EdgeShard) -> None:
        """Create the keyword indexes the shard lacks (a setting may have added metadata keys since)."""
        existing = set(shard.info().payload_schema)
        for field in self._indexed:
            if field not in existing:
                shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
        shard.flush()

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
            qe.Point(id=chunk.point_id, vector={DENSE: list(d), SPARSE: _sparse(s)}, payload=payload_of(chunk))
            for chunk, d, s in zip(chunks, dense, sparse, strict=True)
        ]
        if points:
            shard = self._shard(collection)
            with self._lock:
                shard.update(qe.UpdateOperation.upsert_points(points))

    def _delete(self, collection: str, conds: Conditions) -> None:
        shard = self._shard(collection)
        with self._lock:
            shard.update(qe.UpdateOperation.delete_points_by_filter(to_filter(conds)))

    def delete_stale(self, collection: str, tenant: str, doc_id: str, keep_hash: str) -> None:
        base = conditions(tenant, doc_id=doc_id)
        self._delete(collection, Conditions(base.must, must_not=(("doc_hash", keep_hash),)))

    def delete_document(self, collection: str, tenant: str, doc_id: str) -> None:
        self._delete(collection, conditions(tenant, doc_id=doc_id))

    def documents(self, collection: str, tenant: str | None = None) -> list[StoredDocument]:
        found: dict[tuple[str, str], StoredDocument] = {}
        if not self.collection_exists(collection):
            return []
        shard = self._shard(collection)
        flt = to_filter(conditions(tenant)) if tenant is not None else None
        offset: Any = None
        while True:
            with self._lock:
                request = qe.ScrollRequest(
                    offset=offset, limit=2048, filter=flt, with_payload=DOCUMENT_FIELDS, with_vector=False
                )
                page, offset = shard.scroll(request)
            for record in page:
                add_document(found, record.payload)
            if offset is None:
                return list(found.values())

    def scroll_points(self, collection: str, batch: int = 512) -> Iterator[PointBatch]:
        shard = self._shard(collection)
        offset: Any = None
        while True:
            with self._lock:
                request = qe.ScrollRequest(offset=offset, limit=batch, with_payload=True, with_vector=True)
                page, offset = shard.scroll(request)
            yield point_batch(page)
            if offset is None:
                return

    def count(self, collection: str, tenant: str | None = None, doc_id: str | None = None) -> int:
        shard = self._shard(collection)
        flt = to_filter(conditions(tenant, doc_id=doc_id)) if tenant is not None else None
        with self._lock:
            return int(shard.count(qe.CountRequest(exact=True, filter=flt)))

    def optimize(self, collection: str) -> None:
        """Edge has no background optimizer: merge segments and build the HNSW and sparse indexes now, then flush."""
        shard = self._shard(collection)
        with self._lock:
            shard.optimize()
            shard.flush()

    def index_info(self, collection: str) -> dict[str, int]:
        """Segments, points and how many dense vectors sit in an HNSW index (the rest are searched exactly)."""
        shard = self._shard(collection)
        with self._lock:
            info = shard.info()
        return {
            "segments": info.segments_count,
            "points": info.points_count,
            "indexed_vectors": info.indexed_vectors_count,
        }

    def _nearest(self, side: Nearest) -> Any:
        vector = _sparse(side.vector) if isinstance(side.vector, SparseVector) else side.vector
        return qe.Query.Nearest(vector, using=side.using)

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
        shard = self._shard(collection)
        plan = plan_query(mode, dense, sparse, fusion)
        if plan is None:
            return []
        flt = to_filter(conditions(tenant, filters))
        params = qe.SearchParams(hnsw_ef=self._hnsw.ef, exact=exact)
        if plan.nearest is not None:
            query: Any = self._nearest(plan.nearest)
            prefetches = None
        else:
            query = _fusion(plan)
            prefetches = [
                qe.Prefetch(limit=prefetch_limit, query=self._nearest(p), filter=flt, params=params)
                for p in plan.prefetch
            ]
        request = qe.QueryRequest(
            limit=limit, query=query, prefetches=prefetches, filter=flt, params=params, with_payload=True
        )
        with self._lock:
            points = shard.query(request)
        return [Hit(chunk=chunk_of(p.payload or {}), score=float(p.score)) for p in points]

    def close(self) -> None:
        with self._lock:
            try:
                for shard in self._shards.values():
                    shard.flush()
                    shard.close()
                self._shards.clear()
            finally:
                for held in self._held.values():  # after the shards: the next holder finds them closed
                    held.release()
                self._held.clear()
