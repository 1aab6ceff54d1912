"""Domain types shared by ingestion, retrieval, generation and the API."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.access.document_access import DocumentAccess

JsonDict = dict[str, Any]

# Namespace of chunk point ids: uuid5(namespace, "tenant/doc_id/chunk_index/chunk_hash").
POINT_NAMESPACE = uuid.UUID("6f1c3f0e-8a57-4c0b-9d1e-2f6a3b7c9e10")


def content_hash(text: str) -> str:
    """Hash of normalized content: line endings unified, trailing whitespace per line and at the ends dropped."""
    normalized = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SparseVector:
    """A sparse vector (BM25 term ids and weights), as the store holds it."""

    indices: list[int]
    values: list[float]


@dataclass(frozen=True, slots=True)
class DocumentPart:
    """A part of a document with metadata of its own, such as a PDF page (`{"page": 3}`)."""

    text: str
    metadata: JsonDict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Document:
    """One source document, identified by a stable id (path relative to the source root, or given).

    `parts`, when given, split the text into pieces chunked separately, each chunk carrying its part's metadata;
    `text` is then the parts joined by blank lines. `access`: who may see it (rag/access/document_access.py; None: the
    deployment's default); it is not part of `doc_hash`, so a change of access alone never re-embeds the document.
    """

    doc_id: str
    text: str
    title: str
    source: str
    metadata: JsonDict = field(default_factory=dict)
    parts: tuple[DocumentPart, ...] = ()
    access: DocumentAccess | None = None
    # The source's cheap change token it was fetched under (ingest/sources/base.py: an ETag, a file's size and mtime;
    # "" when none): stored with its chunks so the next sync fetches it only when the token changed. Not hashed.
    change_token: str = ""
    # Changes when what is stored would change: title, text, metadata, or part metadata (pages). Computed once.
    doc_hash: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        meta = json.dumps([self.metadata, [p.metadata for p in self.parts]], sort_keys=True, default=str)
        object.__setattr__(self, "doc_hash", content_hash(f"{self.title}\n{self.text}\n{meta}"))


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document, the unit that is embedded, stored and retrieved."""

    tenant: str
    doc_id: str
    doc_hash: str
    chunk_index: int
    text: str
    title: str
    source: str
    metadata: JsonDict = field(default_factory=dict)
    access: DocumentAccess | None = None  # its document's (not part of the point id: access changes in place)
    flags: tuple[
        str, ...
    ] = ()  # what ingestion noticed (`injection`: rag/evidence/injection.py); not part of the point id
    change_token: str = ""  # its document's change token at its source (not part of the point id)

    @property
    def point_id(self) -> str:
        chunk_hash = hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]
        key = f"{self.tenant}/{self.doc_id}/{self.chunk_index}/{chunk_hash}"
        return str(uuid.uuid5(POINT_NAMESPACE, key))

    @property
    def embed_text(self) -> str:
        """What the embedders see: the title gives a chunk its context."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved chunk with its score."""

    chunk: Chunk
    score: float
    dense: tuple[float, ...] | None = None  # the chunk's dense vector, where the query asked for it


@dataclass(frozen=True, slots=True)
class Citation:
    """A numbered source given to the LLM; `index` is the number the answer cites as [index]."""

    index: int
    doc_id: str
    title: str
    source: str
    excerpt: str
    score: float
    cited: bool = False  # whether the answer cites it with a `[index]` marker
    note: str | None = None  # what a reader should know of it (flagged as reading like instructions to a model)
    page: int | None = None  # the page of its document it comes from (PDF)
