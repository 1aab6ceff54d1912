"""What every format loader shares: the failure record, the options, the loader signature."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ingest.sources.base import SourceFile
from rag.domain import Document
from rag.settings import IngestSettings


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A file (or one record of it, `path:line`) that could not be loaded, and why, in one line. `file` is the
    file itself (the path when empty), so a failed record protects its file's stored documents from pruning."""

    path: str
    error: str
    file: str = ""

    def __post_init__(self) -> None:
        if not self.file:
            object.__setattr__(self, "file", self.path)


_MB = 1_000_000


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """Record files (JSONL, CSV): which fields hold the text, the title and the id; the rest become metadata. The
    limits a document must stay within (RAG_INGEST_MAX_*; over one, it is reported and skipped)."""

    text_field: str = "text"
    title_field: str = "title"
    id_field: str = "id"
    max_file_bytes: int = 50 * _MB  # a one-document file on disk
    max_record_bytes: int = 8 * _MB  # one line or row of a record file
    max_expanded_bytes: int = 100 * _MB  # what a compressed container (DOCX parts, a PDF stream) inflates to
    max_document_chars: int = 5_000_000  # text extracted from one document
    max_pages: int = 5_000  # pages of one PDF, TIFF or presentation
    max_image_pixels: int = 100_000_000  # pixels of one image or rendered page (a decompression bomb is refused)
    ocr: str = "auto"  # auto | off | force (RAG_OCR)
    ocr_languages: str = "eng"
    ocr_dpi: int = 300
    ocr_page_timeout_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: IngestSettings, **fields: str) -> LoadOptions:
        """The settings' limits and record fields; `fields` (text_field, title_field, id_field) override them."""
        return cls(
            text_field=fields.get("text_field") or settings.text_field,
            title_field=fields.get("title_field") or settings.title_field,
            id_field=fields.get("id_field") or settings.id_field,
            max_file_bytes=int(settings.max_file_mb * _MB),
            max_record_bytes=int(settings.max_record_mb * _MB),
            max_expanded_bytes=int(settings.max_expanded_mb * _MB),
            max_document_chars=settings.max_document_chars,
            max_pages=settings.max_pages,
            max_image_pixels=settings.max_image_pixels,
            ocr=settings.ocr,
            ocr_languages=settings.ocr_languages,
            ocr_dpi=settings.ocr_dpi,
            ocr_page_timeout_s=settings.ocr_page_timeout_s,
        )

    def check_text(self, text: str) -> str:
        """`text`, or BadDocument when it is longer than a document may be."""
        if len(text) > self.max_document_chars:
            raise BadDocument(
                f"more than {self.max_document_chars:,} characters of text (RAG_INGEST_MAX_DOCUMENT_CHARS)"
            )
        return text


class BadDocument(ValueError):
    """Raised by a loader for a file that is not a usable document (the message is the one line reported)."""


Loaded = Document | LoadFailure
Loader = Callable[[SourceFile, LoadOptions], Iterable[Loaded]]


def title_from_name(source: SourceFile) -> str:
    return source.path.stem.replace("_", " ").replace("-", " ")
