"""`VectorStore` on Qdrant Edge (`qdrant-edge-py`): the Qdrant engine inside this process, the embedded default.

A collection is an Edge shard in a folder of its own (rag/store/edge_layout.py), beside a marker with its dense
dimension and a `lock` file that the process with the shard open holds and is named in (rag/store/lock.py). Same
schema, payload and point ids as the server; updates go through Edge's write-ahead log, and `close` flushes.
Only Edge's primitives are here (rag/store/engine.py has the rest); qdrant-edge's types stay in here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from rag.domain import SparseVector
from rag.errors import BackendUnavailable, StoreBusy
from rag.store.base import PointBatch
from rag.store.edge_layout import EdgeLayout
from rag.store.engine import IndexInfo, MissingCollection, Offset, Scroll, Search, StoreEngine
from rag.store.filters import Conditions, qdrant_filter
from rag.store.index import HnswParams
from rag.store.lock import StoreLock, busy
from rag.store.payload import DENSE, SPARSE, StoredRecord, payload_of
from rag.store.query_plan import Nearest, QueryPlan


def _sparse(vector: SparseVector) -> qe.SparseVector:
    return qe.SparseVector(indices=list(vector.indices), values=list(vector.values))


def _nearest(side: Nearest) -> Any:
    vector = _sparse(side.vector) if isinstance(side.vector, SparseVector) else side.vector
    return qe.Query.Nearest(vector, using=side.using)


def _fusion(plan: QueryPlan) -> Any:
    if plan.fused_by.method == "dbsf":
        return qe.Fusion.Dbsf()
    return qe.Fusion.Rrf(k=plan.fused_by.rrf_k, weights=plan.rrf_weights)


class EdgeStore(StoreEngine):
    """`VectorStore` over Qdrant Edge shards, one per collection, under one root folder."""

    def __init__(self, root: Path, *, hnsw: HnswParams | None = None, indexed_metadata: Sequence[str] = ()) -> None:
        self._layout = EdgeLayout(root)
        self._shards: dict[str, qe.EdgeShard] = {}
        self._held: dict[str, StoreLock] = {}  # per collection, from before its shard opens until `close`
        self._lock = threading.RLock()
        root.mkdir(parents=True, exist_ok=True)
        super().__init__(hnsw=hnsw, indexed_metadata=indexed_metadata)

    @classmethod
    def under(
        cls, qdrant_path: Path, *, hnsw: HnswParams | None = None, indexed_metadata: Sequence[str] = ()
    ) -> EdgeStore:
        """The Edge store of a store path (`RAG_QDRANT_PATH`)."""
        return cls(EdgeLayout.under(qdrant_path).root, hnsw=hnsw, indexed_metadata=indexed_metadata)

    @property
    def location(self) -> str:
        return f"qdrant-edge:{self._layout.root.resolve()}"

    def _guard(self) -> threading.RLock:
        return self._lock

    def _what(self, name: str) -> str:
        return f"collection '{name}' of the embedded store {self._layout.root.resolve()}"

    def _hold(self, name: str) -> None:
        """Take this store's lock on the collection before its shard is created or loaded; `StoreBusy` names the
        process that has it."""
        if name not in self._held:
            self._layout.collection(name).mkdir(parents=True, exist_ok=True)
            self._held[name] = StoreLock.acquire(self._layout.lock(name), self._what(name))

    def _abandon(self, name: str) -> None:
        """Let go of the lock of a collection whose shard did not open."""
        if name not in self._shards and (held := self._held.pop(name, None)) is not None:
            held.release()

    def _load(self, name: str) -> qe.EdgeShard:
        try:
            return qe.EdgeShard.load(str(self._layout.shard(name)))
        except Exception as exc:
            if "WouldBlock" in str(exc):  # a process that does not take our lock has the write-ahead log open
                how = "(one that holds its write-ahead log but not its lock file)"
                raise busy(self._what(name), None, how=how) from exc
            raise

    def _shard(self, name: str) -> qe.EdgeShard:
        shard = self._shards.get(name)
        if shard is None:
            if not self._exists(name):
                raise MissingCollection
            self._hold(name)
            try:
                shard = self._load(name)
            except StoreBusy:
                self._abandon(name)
                raise
            except Exception as exc:
                self._abandon(name)
                raise BackendUnavailable(f"cannot open collection '{name}'") from exc
            self._shards[name] = shard
        return shard

    def _list(self) -> list[str]:
        return self._layout.collections()

    def _exists(self, name: str) -> bool:
        return self._layout.marker(name).is_file()

    def _dimension(self, name: str) -> int | None:
        self._hold(name)  # before reading the marker: another process may be creating the collection
        marker = self._layout.marker(name)
        return int(json.loads(marker.read_text())["dense_dim"]) if marker.is_file() else None

    def _create(self, name: str, dense_dim: int) -> None:
        config = qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=dense_dim, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            hnsw_config=self._hnsw.config(qe.HnswIndexConfig),
        )
        shard_dir = self._layout.shard(name)
        # A crash after creating the shard but before writing the marker leaves a shard to reuse.
        shard = self._load(name) if shard_dir.exists() else qe.EdgeShard.create(str(shard_dir), config)
        self._shards[name] = shard
        shard.flush()
        marker = self._layout.marker(name)
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({"dense_dim": dense_dim, "dense": DENSE, "sparse": SPARSE}))
        tmp.replace(marker)

    def _create_index(self, name: str, field: str) -> None:
        shard = self._shard(name)
        shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
        shard.flush()

    def _info(self, name: str) -> IndexInfo:
        info = self._shard(name).info()
        return IndexInfo(
            segments=info.segments_count,
            points=info.points_count,
            indexed_vectors=info.indexed_vectors_count,
            payload_indexes=sorted(info.payload_schema),
        )

    def _drop(self, name: str) -> None:
        self._hold(name)  # not while another process has it open
        if (shard := self._shards.pop(name, None)) is not None:
            shard.close()
        self._layout.clear(name)
        self._held.pop(name).release()

    def _upsert(self, name: str, points: PointBatch) -> None:
        converted = [
            qe.Point(id=chunk.point_id, vector={DENSE: d, SPARSE: _sparse(s)}, payload=payload_of(chunk))
            for chunk, d, s in zip(points.chunks, points.dense, points.sparse, strict=True)
        ]
        self._shard(name).update(qe.UpdateOperation.upsert_points(converted))

    def _delete(self, name: str, conds: Conditions) -> None:
        self._shard(name).update(qe.UpdateOperation.delete_points_by_filter(qdrant_filter(qe, conds)))

    def _set_payload(self, name: str, conds: Conditions, payload: dict[str, object]) -> None:
        self._shard(name).update(qe.UpdateOperation.set_payload_by_filter(qdrant_filter(qe, conds), payload))

    def _scroll(self, name: str, scroll: Scroll) -> tuple[Sequence[StoredRecord], Offset | None]:
        request = qe.ScrollRequest(
            offset=scroll.offset,
            limit=scroll.limit,
            filter=qdrant_filter(qe, scroll.conditions) if scroll.conditions else None,
            with_payload=scroll.payload if isinstance(scroll.payload, bool) else list(scroll.payload),
            with_vector=scroll.vectors,
        )
        return self._shard(name).scroll(request)

    def _count(self, name: str, conds: Conditions | None) -> int:
        flt = qdrant_filter(qe, conds) if conds else None
        return int(self._shard(name).count(qe.CountRequest(exact=True, filter=flt)))

    def _query(self, name: str, search: Search) -> Sequence[qe.ScoredPoint]:
        flt = qdrant_filter(qe, search.conditions)
        params = qe.SearchParams(hnsw_ef=self._hnsw.ef, exact=search.exact)
        plan = search.plan
        query = _nearest(plan.nearest) if plan.nearest else _fusion(plan)
        prefetches = [
            qe.Prefetch(limit=search.prefetch_limit, query=_nearest(p), filter=flt, params=params)
            for p in plan.prefetch
        ]
        request = qe.QueryRequest(
            limit=search.limit,
            query=query,
            prefetches=prefetches or None,
            filter=flt,
            params=params,
            with_payload=True,
            with_vector=[DENSE] if search.with_dense else None,
        )
        return self._shard(name).query(request)

    def _optimize(self, name: str) -> None:
        """Edge has no background optimizer: merge segments and build the HNSW and sparse indexes now, then flush."""
        shard = self._shard(name)
        shard.optimize()
        shard.flush()

    def _close(self) -> None:
        try:
            for shard in self._shards.values():
                shard.flush()
                shard.close()
            self._shards.clear()
        finally:
            for held in self._held.values():  # after the shards: the next holder finds them closed
                held.release()
            self._held.clear()
