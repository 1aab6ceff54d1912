"""A PDF page as an image for OCR, rendered by PDFium (`pypdfium2`) in grayscale at the OCR resolution; a page whose
rendering would exceed RAG_INGEST_MAX_IMAGE_PIXELS (a page declared hundreds of inches wide) is refused from its
declared size, before a pixel is allocated. PDFium is not thread-safe: render one page at a time per process."""

from __future__ import annotations

import math

import pypdfium2 as pdfium
from PIL import Image

from ingest.formats.base import BadDocument


def page_pixels(pdf: pdfium.PdfDocument, page_number: int, dpi: int) -> tuple[int, int]:
    """The width and height in pixels of page `page_number` (from 1) rendered at `dpi`."""
    width, height = pdf.get_page_size(page_number - 1)  # points, 1/72 inch
    return max(1, math.ceil(width * dpi / 72)), max(1, math.ceil(height * dpi / 72))


def render_pdf_page(pdf: pdfium.PdfDocument, page_number: int, *, dpi: int, max_pixels: int) -> Image.Image:
    """Page `page_number` (from 1) of `pdf` as a grayscale image at `dpi` (recorded in its `info["dpi"]`), or
    BadDocument (one line naming the page) when it would hold more than `max_pixels` pixels or PDFium cannot
    render it."""
    width, height = page_pixels(pdf, page_number, dpi)
    if width * height > max_pixels:
        raise BadDocument(
            f"page {page_number}: {width:,} x {height:,} pixels at {dpi} dpi, more than {max_pixels:,}"
            " (RAG_INGEST_MAX_IMAGE_PIXELS)"
        )
    page = pdf[page_number - 1]
    try:
        bitmap = page.render(scale=dpi / 72, grayscale=True)
        image: Image.Image = bitmap.to_pil()
    except pdfium.PdfiumError as exc:
        raise BadDocument(f"page {page_number}: PDFium cannot render it ({exc})") from exc
    finally:
        page.close()
    image.info["dpi"] = (dpi, dpi)
    return image
