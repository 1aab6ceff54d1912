"""Whether a caller is told a collection exists: a collection that holds nothing the caller may see reads as one
that does not exist (the same 404, the same message), except the deployment's default collection, which every
caller is told of (`GET /v1/collections` always lists it). So a collection's name tells a caller nothing it could
not read in the collection itself."""

from __future__ import annotations

from rag.access.document_access import Reader
from rag.errors import NotFound
from rag.store.base import VectorStore


def missing(collection: str) -> NotFound:
    """What every path answers for a collection the caller is not told of."""
    return NotFound(f"collection '{collection}' does not exist", param="collection")


def told_of(store: VectorStore, store_name: str, collection: str, reader: Reader, *, listed: str | None) -> bool:
    """Whether `reader` is told that `collection` (held as `store_name`, which exists) exists; `listed`: the
    collection every caller is told of."""
    return reader.everything or collection == listed or store.count(store_name, reader) > 0
