"""PDF: text per page, each page a part with its page number; encrypted, truncated and corrupt PDFs are refused
with the reason.

- The text layer is read with pypdf, in the order the page draws it (a two-column page column by column).
- A page that draws ruling lines is searched for tables (ingest/formats/pdf_tables.py): found ones come out as
  Markdown tables in their place.
- A page with no text layer but an image (a scan) is read by OCR (ingest/ocr/) when RAG_OCR is `auto`; `force`
  reads every page from its image; a born-digital page is never OCR'd in `auto`. OCR'd parts carry `ocr: true` and
  the engine's confidence. A page OCR cannot read (too slow, too many pixels) is reported with its page number and
  the rest of the document goes on; a scan with no OCR engine installed is reported with the command that
  installs one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pypdf import PdfReader, apply_configuration
from pypdf.errors import LimitReachedError, PdfReadError
from pypdf.generic import ArrayObject, DictionaryObject

from ingest.formats.base import BadDocument, Loaded, LoadFailure, LoadOptions, title_from_name
from ingest.formats.pdf_pages import PageDrawing
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


_MIN_TEXT_LAYER = 16  # characters: a page with fewer and an image is a scan
# ... and so is a page mostly covered by one image whose text layer is short: a stamp, a Bates number, a fax header
_SCAN_COVER, _STAMP_TEXT = 0.5, 200


def _is_scan(text: str, drawing: PageDrawing | None) -> bool:
    if drawing is None or not drawing.images:
        return False
    return len(text) < _MIN_TEXT_LAYER or (drawing.image_cover >= _SCAN_COVER and len(text) < _STAMP_TEXT)


class _PageReader:
    """Pages read by OCR, the PDF opened in PDFium once, at the first page that needs it."""

    def __init__(self, source: SourceFile, options: LoadOptions) -> None:
        self._source, self._options = source, options
        self._pdf: Any = None

    def read(self, page_number: int, scan_dpi: float | None) -> tuple[DocumentPart | None, LoadFailure | None]:
        """The page's part, or the failure naming the page (no engine, too slow, too many pixels). A scan is rendered
        at its own resolution (`scan_dpi`, within 100-600), any other page at RAG_OCR_DPI."""
        import pypdfium2 as pdfium

        from ingest.formats.pdf_pages import PDFIUM
        from ingest.ocr.engine import OcrTimeout, OcrUnavailable
        from ingest.ocr.factory import ocr_engine
        from ingest.ocr.render import render_pdf_page

        source, options = self._source, self._options
        where = f"{source.location} page {page_number}"
        try:
            engine = ocr_engine(options.ocr_languages)
            with PDFIUM:  # PDFium is not thread-safe (uploads load in worker threads)
                if self._pdf is None:
                    self._pdf = pdfium.PdfDocument(str(source.path))
                dpi = round(min(600.0, max(100.0, scan_dpi))) if scan_dpi else options.ocr_dpi
                image = render_pdf_page(self._pdf, page_number, dpi=dpi, max_pixels=options.max_image_pixels)
            read = engine.read(image, timeout_s=options.ocr_page_timeout_s)
        except OcrUnavailable as exc:
            return None, LoadFailure(where, f"no text layer (a scan) and no OCR: {exc}", file=source.location)
        except OcrTimeout:
            message = f"OCR took longer than {options.ocr_page_timeout_s:g} s (RAG_OCR_PAGE_TIMEOUT_S)"
            return None, LoadFailure(where, message, file=source.location)
        except BadDocument as exc:  # the failure's path names the page: not its message again
            return None, LoadFailure(where, str(exc).removeprefix(f"page {page_number}: "), file=source.location)
        if not read.text.strip():
            return None, None
        confidence = round(read.confidence, 3)
        metadata = {"page": page_number, "ocr": True, "ocr_confidence": confidence, "ocr_engine": engine.name}
        return DocumentPart(read.text.strip(), metadata), None

    def close(self) -> None:
        if self._pdf is not None:
            from ingest.formats.pdf_pages import PDFIUM

            with PDFIUM:
                self._pdf.close()


def _parts(
    source: SourceFile, pages: list[tuple[int, str]], options: LoadOptions
) -> tuple[list[DocumentPart], list[LoadFailure]]:
    """Each page's part: its text layer, its tables in place, or its OCR; and the pages that failed."""
    from ingest.formats.pdf_pages import page_drawings
    from ingest.formats.pdf_tables import page_with_tables

    drawings = page_drawings(source.path)
    parts: list[DocumentPart] = []
    failures: list[LoadFailure] = []
    ocr = _PageReader(source, options)
    carried: tuple[tuple[str, ...], str | None] | None = None  # the last table, for one running onto the next page
    try:
        for n, text in pages:
            drawing = drawings[n - 1] if n - 1 < len(drawings) else None
            scan = _is_scan(text, drawing)
            if options.ocr == "force" or (options.ocr == "auto" and scan):
                part, failure = ocr.read(n, drawing.scan_dpi if drawing is not None else None)
                parts.extend([part] if part else [])
                failures.extend([failure] if failure else [])
                continue
            if scan:  # OCR is off: reported, not stored as its stamp alone
                where = f"{source.location} page {n}"
                failures.append(LoadFailure(where, "a scan, not read: OCR is off (RAG_OCR=off)", file=source.location))
                continue
            found = page_with_tables(source.path, n, carried) if drawing is not None and drawing.lines else None
            if found is not None:
                parts.append(DocumentPart(found.text, {"page": n, "tables": found.tables}))
                carried = found.last
            elif text:
                parts.append(DocumentPart(text, {"page": n}))
                carried = None
    finally:
        ocr.close()
    return parts, failures


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
    parts, failures = _parts(source, pages, options)
    if not parts:
        if failures and all("RAG_OCR=off" in f.error for f in failures):
            raise BadDocument("no extractable text: OCR is off (RAG_OCR=off)")
        if failures:
            first = failures[0]
            page = first.path.removeprefix(source.location).strip()
            more = f" (and {len(failures) - 1} more pages)" if len(failures) > 1 else ""
            raise BadDocument(f"no text: {page + ': ' if page else ''}{first.error}{more}")
        reason = "OCR is off (RAG_OCR=off)" if options.ocr == "off" else "no page has a text layer or an image"
        raise BadDocument(f"no extractable text: {reason}")
    text = options.check_text("\n\n".join(p.text for p in parts))
    title = str(info_title).strip() if info_title and str(info_title).strip() else title_from_name(source)
    metadata = {"format": "pdf", "pages": len(pages)}
    yield Document(source.doc_id, text, title, source.location, metadata, tuple(parts))
    yield from failures
