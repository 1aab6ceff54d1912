"""The payload of a chunk's point, identical in every engine: `tenant`, `doc_id`, `doc_hash`, `chunk_index`,
`text`, `source`, `title`, `metadata`."""

from __future__ import annotations

from typing import Any

from rag.domain import Chunk

DENSE = "dense"  # named dense vector (cosine)
SPARSE = "bm25"  # named sparse vector (IDF modifier)
INDEXED_FIELDS = ("tenant", "doc_id", "doc_hash")


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
    )
