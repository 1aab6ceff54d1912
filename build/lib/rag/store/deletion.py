"""Deleting one document: what `rag delete` and `DELETE /v1/documents/{doc_id}` share."""

from __future__ import annotations

from rag.access import Reader
from rag.errors import NotFound
from rag.store.base import VectorStore
from rag.store.namespace import CollectionNamespace


def delete_document(
    store: VectorStore, namespace: CollectionNamespace, collection: str, reader: Reader, doc_id: str
) -> int:
    """Delete a document the reader may see from the collection of its tenant; returns how many chunks went.
    NotFound when absent, and alike when the reader may not see it (its existence is not told)."""
    name = namespace.store_name(collection, reader.tenant)
    if not store.collection_exists(name):
        raise NotFound(f"collection '{collection}' does not exist", param="collection")
    chunks = store.count(name, reader, doc_id=doc_id)
    if chunks == 0:
        raise NotFound(f"document '{doc_id}' is not in collection '{collection}'", param="doc_id")
    store.delete_document(name, reader.tenant, doc_id)  # marked deleted at once; `rag ingest` vacuums later
    return chunks
