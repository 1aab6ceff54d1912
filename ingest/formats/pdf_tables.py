"""Tables of a PDF page, with pdfplumber: each found table as Markdown (ingest/formats/tables.py) in its place
among the page's text, so that a row read alone still says which column a value belongs to.

Only pages that draw lines or rectangles are searched (pdfplumber finds a table by its ruling lines; searching a
text-only page costs 30-80 ms for nothing, and born-digital PDFs must not slow down): ingest/formats/pdf_pages.py
asks pdfium which pages do, in about a millisecond a page. Merged cells are filled from their bounding boxes: a
cell spanning columns or rows puts its text in every grid position it covers. The text above, between and below
the tables is read by pdfplumber within those bands; the last line above a table is its caption when it names one
(`Table 2: ...`).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.formats.tables import markdown_table

_CAPTION = re.compile(r"^\s*(table|tab\.)\s*[\dIVXivx]*\s*[:.\-]", re.IGNORECASE)


def _grid(table: Any) -> list[list[str]]:
    """The table's cells on a full grid, merged cells filled from their bounding boxes."""
    cells: list[tuple[float, float, float, float]] = list(table.cells)
    xs = sorted({round(c[0], 1) for c in cells})
    tops = sorted({round(c[1], 1) for c in cells})
    grid: list[list[str]] = [["" for _ in xs] for _ in tops]
    texts: list[list[str | None]] = table.extract()
    for row, values in zip(table.rows, texts, strict=False):
        for bbox, value in zip(row.cells, values, strict=False):
            if bbox is None:
                continue
            x0, top, x1, bottom = bbox
            columns = range(bisect_left(xs, round(x0, 1)), bisect_left(xs, round(x1, 1) - 0.05))
            rows = range(bisect_left(tops, round(top, 1)), bisect_left(tops, round(bottom, 1) - 0.05))
            for r in rows or [bisect_left(tops, round(top, 1))]:
                for c in columns or [bisect_left(xs, round(x0, 1))]:
                    if r < len(grid) and c < len(xs):
                        grid[r][c] = " ".join((value or "").split())
    return grid


def _band_text(page: Any, top: float, bottom: float) -> str:
    if bottom - top < 1:
        return ""
    band = page.crop((0, max(0.0, top), page.width, min(float(page.height), bottom)))
    return str(band.extract_text() or "").strip()


def _split_caption(text: str) -> tuple[str, str | None]:
    """The text above a table without its last line when that line is a caption, and the caption."""
    lines = text.rstrip().split("\n")
    if lines and _CAPTION.match(lines[-1]):
        return "\n".join(lines[:-1]).rstrip(), lines[-1].strip()
    return text, None


@dataclass(frozen=True, slots=True)
class TablesOnPage:
    """A page's text with its tables in place; `last` is its last table's header row and caption, which a table
    running on at the top of the next page (same header, nothing above it) takes as its own caption."""

    text: str
    tables: int
    last: tuple[tuple[str, ...], str | None]


def page_with_tables(
    path: Path, page_number: int, carried: tuple[tuple[str, ...], str | None] | None = None
) -> TablesOnPage | None:
    """The page's text with its tables as Markdown in their places; None when it has none. `carried`: the previous
    page's last table (header row, caption)."""
    import pdfplumber

    with pdfplumber.open(str(path), pages=[page_number]) as pdf:
        page = pdf.pages[0]
        tables = sorted(page.find_tables(), key=lambda t: t.bbox[1])
        if not tables:
            return None
        blocks: list[str] = []
        above = 0.0
        last: tuple[tuple[str, ...], str | None] = ((), None)
        for table in tables:
            _, top, _, bottom = table.bbox
            text, caption = _split_caption(_band_text(page, above, top))
            grid = _grid(table)
            header = tuple(grid[0]) if grid else ()
            if caption is None and not text.strip() and not blocks and carried and carried[0] == header:
                caption = carried[1]  # the table runs on from the page before
            blocks.append(text)
            blocks.append(markdown_table(grid, caption))
            last = (header, caption)
            above = bottom
        blocks.append(_band_text(page, above, float(page.height)))
        return TablesOnPage("\n\n".join(b for b in blocks if b.strip()), len(tables), last)
