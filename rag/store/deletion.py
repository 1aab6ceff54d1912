"""Deleting one document: what `rag delete` and `DELETE /v1/documents/{doc_id}` share."""

from __future__ import annotations

from rag.errors import NotFound
from rag.store.base import VectorStore
from rag.store.namespace import CollectionNamespace


def delete_document(
    store: VectorStore, namespace: CollectionNamespace, collection: str, tenant: str, doc_id: str
) -> int:
    """Delete the tenant's document from the collection; returns how many chunks went. NotFound when absent."""
    name = namespace.store_name(collection, tenant)
    if not store.collection_exists(name):
        raise NotFound(f"collection '{collection}' does not exist", param="collection")
    chunks = store.count(name, tenant, doc_id=doc_id)
    if chunks == 0:
        raise NotFound(f"document '{doc_id}' is not in collection '{collection}'", param="doc_id")
    store.delete_document(name, tenant, doc_id)  # marked deleted at once; `rag ingest` vacuums later
    return chunks
