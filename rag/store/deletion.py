"""Deleting one document: what `rag delete` and `DELETE /v1/documents/{doc_id}` share."""

from __future__ import annotations

from rag.access.document_access import Reader
from rag.access.namespace import CollectionNamespace
from rag.errors import NotFound
from rag.store.base import VectorStore
from rag.store.visibility import missing, told_of


def delete_document(
    store: VectorStore,
    namespace: CollectionNamespace,
    collection: str,
    reader: Reader,
    doc_id: str,
    *,
    listed: str | None = None,
) -> int:
    """Delete a document the reader may see from the collection of its tenant; returns how many chunks went.
    NotFound when absent, and alike when the reader may not see it (its existence is not told), and for the
    collection as for one that does not exist when the reader sees nothing in it (rag/store/visibility.py)."""
    name = namespace.store_name(collection, reader.tenant)
    if not store.collection_exists(name):
        raise missing(collection)
    chunks = store.count(name, reader, doc_id=doc_id)
    if chunks == 0 and not told_of(store, name, collection, reader, listed=listed):
        raise missing(collection)
    if chunks == 0:
        raise NotFound(f"document '{doc_id}' is not in collection '{collection}'", param="doc_id")
    store.delete_document(name, reader.tenant, doc_id)  # marked deleted at once; `rag ingest` vacuums later
    return chunks
