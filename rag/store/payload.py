"""The payload of a chunk's point, identical in every engine: `tenant`, `doc_id`, `doc_hash`, `chunk_index`,
`text`, `source`, `title`, `metadata`, `change_token` (its document's token at its source: ingest/sources/), who may
see it: `access`, a list of tokens (rag/access/document_access.py), and
what ingestion noticed: `flags` (`injection`: it reads as instructions to a model, rag/evidence/injection.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from rag.access.document_access import ACCESS_FIELD, DocumentAccess, access_of_payload, access_payload
from rag.domain import Chunk, SparseVector
from rag.store.base import PointBatch, StoredDocument

DENSE = "dense"  # named dense vector (cosine)
SPARSE = "bm25"  # named sparse vector (IDF modifier)
FLAGS_FIELD = "flags"
TOKEN_FIELD = "change_token"
INDEXED_FIELDS = ("tenant", "doc_id", "doc_hash", ACCESS_FIELD, FLAGS_FIELD)


def indexed_fields(metadata_keys: Sequence[str] = ()) -> tuple[str, ...]:
    """Keyword-indexed payload fields: ours, plus the metadata keys filters use (`metadata.KEY`). Without an index a
    selective metadata filter makes Qdrant walk the HNSW graph past rejected points (benchmarks/store.py)."""
    return INDEXED_FIELDS + tuple(f"metadata.{k}" for k in metadata_keys if k)


def payload_of(chunk: Chunk) -> dict[str, Any]:
    return {
        "tenant": chunk.tenant,
        "doc_id": chunk.doc_id,
        "doc_hash": chunk.doc_hash,
        "chunk_index": chunk.chunk_index,
        "text": chunk.text,
        "source": chunk.source,
        "title": chunk.title,
        "metadata": chunk.metadata,
        **access_payload(chunk.access),
        FLAGS_FIELD: list(chunk.flags),
        TOKEN_FIELD: chunk.change_token,
    }


def chunk_of(payload: dict[str, Any]) -> Chunk:
    return Chunk(
        tenant=payload["tenant"],
        doc_id=payload["doc_id"],
        doc_hash=payload["doc_hash"],
        chunk_index=int(payload["chunk_index"]),
        text=payload["text"],
        source=payload.get("source", ""),
        title=payload.get("title", ""),
        metadata=payload.get("metadata") or {},
        access=access_of_payload(payload),
        flags=tuple(payload.get(FLAGS_FIELD) or ()),
        change_token=str(payload.get(TOKEN_FIELD) or ""),
    )


class StoredRecord(Protocol):
    """A point read back with payload and vectors (qdrant-client's and Edge's `Record` both fit)."""

    @property
    def payload(self) -> dict[str, Any] | None: ...

    @property
    def vector(self) -> Any: ...


def point_batch(records: Sequence[StoredRecord]) -> PointBatch:
    """Records (named vectors `dense` and `bm25`) back into the chunks and vectors they were upserted from."""
    vectors: list[dict[str, Any]] = [r.vector for r in records]
    return PointBatch(
        chunks=[chunk_of(r.payload or {}) for r in records],
        dense=[list(v[DENSE]) for v in vectors],
        sparse=[SparseVector(list(v[SPARSE].indices), list(v[SPARSE].values)) for v in vectors],
    )


DOCUMENT_FIELDS = [
    "tenant",
    "doc_id",
    "doc_hash",
    "source",
    "title",
    ACCESS_FIELD,
    TOKEN_FIELD,
]  # what `documents` reads


def add_document(found: dict[tuple[str, str], StoredDocument], payload: dict[str, Any] | None) -> None:
    """Fold one chunk's payload (DOCUMENT_FIELDS) into the documents found so far."""
    p = payload or {}
    key = (str(p["tenant"]), str(p["doc_id"]))
    doc = found.get(key)
    access: DocumentAccess | None = access_of_payload(p)
    token = str(p.get(TOKEN_FIELD) or "")
    if doc is None:
        found[key] = StoredDocument(
            key[0], key[1], str(p.get("source", "")), {str(p["doc_hash"])}, {access}, str(p.get("title", "")), {token}
        )
    else:
        doc.hashes.add(str(p["doc_hash"]))
        doc.access.add(access)
        doc.tokens.add(token)
