"""PDF with pypdf: text per page, each page a part with its page number; encrypted, truncated, corrupt and
image-only PDFs are refused with the reason."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pypdf import PdfReader, apply_configuration
from pypdf.errors import LimitReachedError, PdfReadError
from pypdf.generic import ArrayObject, DictionaryObject

from ingest.formats.base import BadDocument, Loaded, LoadOptions, title_from_name
from ingest.sources.base import SourceFile
from rag.domain import Document, DocumentPart

logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns per quirk of a file; failures are reported by us

# pypdf's bounds on what one stream may decode to, each set to RAG_INGEST_MAX_EXPANDED_MB.
_INFLATE_LIMITS = (
    "zlib_maximum_output_length",
    "lzw_maximum_output_length",
    "run_length_maximum_output_length",
    "jbig2_maximum_output_length",
    "brotli_maximum_output_length",
    "array_based_stream_maximum_output_length",
    "maximum_declared_stream_length",
)


def _over_page_limit(reader: PdfReader, limit: int) -> bool:
    """Whether the page tree holds more than `limit` pages, found by a walk that stops early: pypdf would first
    flatten the whole tree, and a tree whose nodes share their kids turns a few bytes into any number of pages."""
    stack: list[Any] = [reader.root_object["/Pages"]]
    pages, budget = 0, 2 * limit + 64  # a tree's inner nodes are fewer than its leaves; the rest is a loop
    while stack:
        node = stack.pop().get_object()
        budget -= 1
        if budget < 0:
            return True
        kids = node.get("/Kids") if isinstance(node, DictionaryObject) else None
        if isinstance(kids, ArrayObject):
            stack.extend(kids)
        else:
            pages += 1
            if pages > limit:
                return True
    return False


def _page_texts(reader: PdfReader, options: LoadOptions) -> list[tuple[int, str]]:
    """(page number, text) per page, stopping as soon as the text is over the document limit."""
    texts: list[tuple[int, str]] = []
    size = 0
    for n, page in enumerate(reader.pages, start=1):
        text = (page.extract_text() or "").strip()
        texts.append((n, text))
        size += len(text) + 2
        if size > options.max_document_chars:
            options.check_text("\n\n".join(t for _, t in texts))
    return texts


def load_pdf(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    data = source.path.read_bytes()
    if not data.startswith(b"%PDF-"):
        raise BadDocument("not a PDF (no %PDF- header)")
    if b"%%EOF" not in data[-2048:]:
        raise BadDocument("truncated PDF (no end-of-file marker)")
    limit = options.max_expanded_bytes  # what one stream may inflate to, whatever its filter
    inflate_limits: dict[str, Any] = {name: limit for name in _INFLATE_LIMITS}
    try:
        with apply_configuration(None, **inflate_limits):
            reader = PdfReader(source.path)
            if reader.is_encrypted and not reader.decrypt(""):
                raise BadDocument("encrypted PDF (needs a password)")
            if _over_page_limit(reader, options.max_pages):
                raise BadDocument(f"more than {options.max_pages:,} pages (RAG_INGEST_MAX_PAGES)")
            pages = _page_texts(reader, options)
            info_title = reader.metadata.title if reader.metadata else None
    except LimitReachedError as exc:
        raise BadDocument(f"over a size limit while reading: {exc} (RAG_INGEST_MAX_EXPANDED_MB)") from exc
    except PdfReadError as exc:
        raise BadDocument(f"corrupt PDF: {exc}") from exc
    parts = tuple(DocumentPart(text, {"page": n}) for n, text in pages if text)
    if not parts:
        raise BadDocument("no extractable text (a scanned PDF needs OCR first)")
    text = "\n\n".join(p.text for p in parts)
    title = str(info_title).strip() if info_title and str(info_title).strip() else title_from_name(source)
    metadata = {"format": "pdf", "pages": len(pages)}
    yield Document(source.doc_id, text, title, source.location, metadata, parts)
