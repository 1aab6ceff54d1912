"""Images (PNG, JPEG, TIFF with its pages): read by OCR (ingest/ocr/), one part per page with its page number,
`ocr: true` and the engine's confidence. A decompression bomb (over RAG_INGEST_MAX_IMAGE_PIXELS) or a TIFF of more
than RAG_INGEST_MAX_PAGES pages is refused before it is decoded; a page OCR cannot read in time is reported with its
number and the others go on. With RAG_OCR=off, or no engine installed, an image is refused with the reason."""

from __future__ import annotations

from collections.abc import Iterator

from ingest.formats.base import BadDocument, Loaded, LoadFailure, LoadOptions, title_from_name
from ingest.sources.base import SourceFile
from rag.domain import Document, DocumentPart


def load_image(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    from ingest.ocr.engine import OcrTimeout, OcrUnavailable
    from ingest.ocr.factory import ocr_engine
    from ingest.ocr.images import open_image_pages

    if options.ocr == "off":
        raise BadDocument("an image is read only by OCR, which is off (RAG_OCR=off)")
    try:
        engine = ocr_engine(options.ocr_languages)
    except OcrUnavailable as exc:
        raise BadDocument(f"an image needs OCR: {exc}") from None
    parts: list[DocumentPart] = []
    failures: list[LoadFailure] = []
    pages = 0
    for number, image in open_image_pages(source.path, options.max_image_pixels, options.max_pages):
        pages += 1
        try:
            read = engine.read(image, timeout_s=options.ocr_page_timeout_s)
        except OcrTimeout:
            message = f"OCR took longer than {options.ocr_page_timeout_s:g} s (RAG_OCR_PAGE_TIMEOUT_S)"
            failures.append(LoadFailure(f"{source.location} page {number}", message, file=source.location))
            continue
        if read.text.strip():
            metadata = {
                "page": number,
                "ocr": True,
                "ocr_confidence": round(read.confidence, 3),
                "ocr_engine": engine.name,
            }
            parts.append(DocumentPart(read.text.strip(), metadata))
    if not parts:
        raise BadDocument(failures[0].error if failures else "no text found by OCR")
    text = options.check_text("\n\n".join(p.text for p in parts))
    kind = source.suffix.lstrip(".").replace("jpeg", "jpg").replace("tiff", "tif")
    metadata = {"format": kind, "pages": pages}
    yield Document(source.doc_id, text, title_from_name(source), source.location, metadata, tuple(parts))
    yield from failures
