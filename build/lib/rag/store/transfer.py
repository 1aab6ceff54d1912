"""Moving a collection between stores (Edge to a Qdrant server, or back) by streaming its points.

Points keep their ids, vectors and payload, so the target answers every query as the source did. This is what
Qdrant calls the `stream_records` shard transfer. Qdrant Edge 0.9 can read a server's shard snapshot
(`EdgeShard.unpack_snapshot`) but does not write one, so streaming is the way up to a server; docs/storage.md has
both directions.
"""

from __future__ import annotations

from collections.abc import Callable

from rag.store.base import VectorStore


def copy_collection(
    source: VectorStore,
    target: VectorStore,
    collection: str,
    *,
    target_collection: str | None = None,
    batch: int = 512,
    on_batch: Callable[[int], None] = lambda n: None,
) -> int:
    """Upsert every point of `collection` in `source` into `target`; returns how many. Rerunnable: ids are stable."""
    name = target_collection or collection
    copied = 0
    for page in source.scroll_points(collection, batch):
        if not page.chunks:
            continue
        if copied == 0:
            target.ensure_collection(name, len(page.dense[0]))
        target.upsert(name, page.chunks, page.dense, page.sparse)
        copied += len(page.chunks)
        on_batch(len(page.chunks))
    if copied:  # an empty source makes no target collection
        target.optimize(name)
    return copied
