"""PNG, JPEG and TIFF files opened for OCR one page at a time, with their size checked before anything is decoded:
an image claiming more than RAG_INGEST_MAX_IMAGE_PIXELS pixels (a decompression bomb: a few hundred bytes of PNG can
claim 30,000 x 30,000) and a TIFF with more than RAG_INGEST_MAX_PAGES pages are refused from their headers."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ingest.formats.base import BadDocument

FORMATS = ("PNG", "JPEG", "TIFF")  # a camera's JPEG with preview frames opens as MPO: its first frame is the photo
_UNREADABLE = (OSError, SyntaxError, ValueError, EOFError)  # what Pillow raises for a damaged file


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _check_pixels(image: Image.Image, max_pixels: int, where: str) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise BadDocument(
            f"{where}an image of {width:,} x {height:,} pixels, more than {max_pixels:,} (RAG_INGEST_MAX_IMAGE_PIXELS)"
        )


def _open(path: Path, max_pixels: int) -> Image.Image:
    """The image at `path`, its header read and nothing decoded."""
    try:
        with warnings.catch_warnings():  # Pillow's own bomb warning: the limit that counts is ours, checked next
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path, formats=FORMATS)
    except Image.DecompressionBombError as exc:  # over twice Pillow's MAX_IMAGE_PIXELS, checked before ours
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(claimed.group(1)) if claimed else 0
        limit = f"{max_pixels:,}" if pixels > max_pixels else f"{2 * (Image.MAX_IMAGE_PIXELS or 0):,}, Pillow's bound"
        raise BadDocument(f"an image of {pixels:,} pixels, more than {limit} (RAG_INGEST_MAX_IMAGE_PIXELS)") from exc
    except UnidentifiedImageError as exc:
        raise BadDocument("not a PNG, JPEG or TIFF image") from exc
    except _UNREADABLE as exc:
        raise BadDocument(f"unreadable image ({_one_line(exc)})") from exc


def _has_frame(image: Image.Image, index: int) -> bool:
    """Whether a TIFF has frame `index` (from 0), found by reading the frame headers up to it, none decoded; the
    current frame is left at 0."""
    try:
        image.seek(index)
    except EOFError:
        return False
    except _UNREADABLE as exc:
        raise BadDocument(f"unreadable TIFF ({_one_line(exc)})") from exc
    finally:
        image.seek(0)
    return True


def open_image_pages(path: Path, max_pixels: int, max_pages: int) -> Iterator[tuple[int, Image.Image]]:
    """(page number from 1, decoded page) for each page of the image at `path`: one for PNG and JPEG, each frame
    of a TIFF in order, decoded only when its turn comes. A page is turned upright by its EXIF orientation and
    keeps its `info["dpi"]`. Raises BadDocument (one line) for a file that is not one of these images or is
    damaged, a page that claims more than `max_pixels` pixels (checked before it is decoded) and a TIFF of more
    than `max_pages` pages (checked before the first page is yielded)."""
    with _open(path, max_pixels) as image:
        if image.format != "TIFF":
            _check_pixels(image, max_pixels, "")
            try:
                image.load()
                page = ImageOps.exif_transpose(image)  # a copy that outlives the file
            except _UNREADABLE as exc:
                raise BadDocument(f"unreadable image ({_one_line(exc)})") from exc
            yield 1, page
            return
        if _has_frame(image, max_pages):
            raise BadDocument(f"more than {max_pages:,} pages (RAG_INGEST_MAX_PAGES)")
        for index in range(max_pages):
            try:
                image.seek(index)
            except EOFError:
                return
            except _UNREADABLE as exc:
                raise BadDocument(f"page {index + 1}: unreadable TIFF ({_one_line(exc)})") from exc
            _check_pixels(image, max_pixels, f"page {index + 1}: ")
            try:
                page = image.copy()  # decodes this frame only
            except _UNREADABLE as exc:
                raise BadDocument(f"page {index + 1}: unreadable image ({_one_line(exc)})") from exc
            yield index + 1, page
