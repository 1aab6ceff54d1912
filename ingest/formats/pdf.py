"""PDF with pypdf: text per page, each page a part with its page number; encrypted, truncated, corrupt and
image-only PDFs are refused with the reason."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from ingest.formats.base import BadDocument, Loaded, LoadOptions, title_from_name
from ingest.sources import SourceFile
from rag.domain import Document, DocumentPart

logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns per quirk of a file; failures are reported by us


def load_pdf(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    data = source.path.read_bytes()
    if not data.startswith(b"%PDF-"):
        raise BadDocument("not a PDF (no %PDF- header)")
    if b"%%EOF" not in data[-2048:]:
        raise BadDocument("truncated PDF (no end-of-file marker)")
    try:
        reader = PdfReader(source.path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise BadDocument("encrypted PDF (needs a password)")
        pages = [(n, (page.extract_text() or "").strip()) for n, page in enumerate(reader.pages, start=1)]
        info_title = reader.metadata.title if reader.metadata else None
    except PdfReadError as exc:
        raise BadDocument(f"corrupt PDF: {exc}") from exc
    parts = tuple(DocumentPart(text, {"page": n}) for n, text in pages if text)
    if not parts:
        raise BadDocument("no extractable text (a scanned PDF needs OCR first)")
    text = "\n\n".join(p.text for p in parts)
    title = str(info_title).strip() if info_title and str(info_title).strip() else title_from_name(source)
    metadata = {"format": "pdf", "pages": len(pages)}
    yield Document(source.doc_id, text, title, str(source.path), metadata, parts)
