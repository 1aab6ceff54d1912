"""PPTX with python-pptx: one part per slide, `{"page": slide number}`, so citations show the slide as they show a PDF
page. A slide's text is its title as a Markdown heading (`# Title`, so chunks keep it as their heading path), then its
text frames in reading order (top to bottom, then left to right, by shape position; a group's shapes in their own
order within it), its tables as Markdown tables (ingest/formats/tables.py; merged cells filled with the merge
origin's text, the slide title as caption), then its speaker notes under a line `Notes:`.

Pictures are not OCR'd, and charts, SmartArt and embedded objects are not read: their text is not in the slide's own
shapes. Bounds: the package's declared expansion (RAG_INGEST_MAX_EXPANDED_MB) is checked before python-pptx opens it,
the slide count against RAG_INGEST_MAX_PAGES, and the text against RAG_INGEST_MAX_DOCUMENT_CHARS as it is extracted.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator

import pptx
from pptx.exc import PythonPptxError
from pptx.shapes.autoshape import Shape
from pptx.shapes.base import BaseShape
from pptx.shapes.graphfrm import GraphicFrame
from pptx.shapes.group import GroupShape
from pptx.slide import Slide
from pptx.table import Table

from ingest.formats.base import BadDocument, Loaded, LoadOptions, title_from_name
from ingest.formats.containers import check_container
from ingest.formats.tables import markdown_table
from ingest.formats.text import require_text
from ingest.sources.base import SourceFile
from rag.domain import Document, DocumentPart

NOTES_LINE = "Notes:"
# The title PowerPoint (and python-pptx's template) gives every new file: no title at all.
_DEFAULT_TITLES = frozenset({"PowerPoint Presentation"})
_SLIDE_PART = re.compile(r"ppt/slides/slide[^/]*\.xml")


def _clean(text: str) -> str:
    """A text frame's text: line breaks (vertical tabs in python-pptx) as newlines, blank lines dropped."""
    lines = (line.strip() for line in text.replace("\v", "\n").splitlines())
    return "\n".join(line for line in lines if line)


def _reading_order(shapes: Iterable[BaseShape]) -> list[BaseShape]:
    """Top to bottom, then left to right (a shape without a position of its own, a placeholder that inherits none,
    sorts first)."""
    return sorted(shapes, key=lambda s: (s.top or 0, s.left or 0))


def _table_rows(table: Table) -> list[list[str]]:
    """The table's grid, each merged cell's text in every grid cell it spans."""
    grid = [[_clean(cell.text) for cell in row.cells] for row in table.rows]
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row.cells):
            if not cell.is_merge_origin:
                continue
            for rr in range(r, min(r + cell.span_height, len(grid))):
                for cc in range(c, min(c + cell.span_width, len(grid[rr]))):
                    grid[rr][cc] = grid[r][c]
    return grid


def _blocks(shapes: Iterable[BaseShape], skip_id: int | None, caption: str | None) -> Iterator[str]:
    """The shapes' text blocks in reading order, groups recursed; the shape `skip_id` (the title) left out."""
    for shape in _reading_order(shapes):
        if shape.shape_id == skip_id:
            continue
        if isinstance(shape, GroupShape):
            yield from _blocks(shape.shapes, skip_id, caption)
        elif isinstance(shape, GraphicFrame) and shape.has_table:
            table = markdown_table(_table_rows(shape.table), caption)
            if table:
                yield table
        elif isinstance(shape, Shape) and shape.has_text_frame:
            text = _clean(shape.text_frame.text)
            if text:
                yield text


def _slide_title(slide: Slide) -> tuple[str, int | None]:
    """The slide's title text (one line) and its shape's id; ("", None) when it has none."""
    title = slide.shapes.title
    if title is None:
        return "", None
    return " ".join(_clean(title.text_frame.text).split()), title.shape_id


def _slide_text(slide: Slide) -> tuple[str, str]:
    """(the slide's title, its text: title heading, blocks, notes)."""
    title, title_id = _slide_title(slide)
    blocks = [f"# {title}"] if title else []
    blocks += _blocks(slide.shapes, title_id, title or None)
    if slide.has_notes_slide:
        frame = slide.notes_slide.notes_text_frame
        notes = _clean(frame.text) if frame is not None else ""
        if notes:
            blocks.append(f"{NOTES_LINE}\n{notes}")
    return title, "\n\n".join(blocks)


def _slide_parts(slides: Iterable[Slide], options: LoadOptions) -> tuple[list[str], list[DocumentPart]]:
    """Every slide's title, and a part per slide with text, stopping as soon as the text is over the document
    limit."""
    titles: list[str] = []
    parts: list[DocumentPart] = []
    size = 0
    for number, slide in enumerate(slides, start=1):
        title, text = _slide_text(slide)
        titles.append(title)
        if text:
            parts.append(DocumentPart(text, {"page": number}))
            size += len(text) + 2
            if size > options.max_document_chars:
                options.check_text("\n\n".join(p.text for p in parts))
    return titles, parts


def load_pptx(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    entries = check_container(source, options, "PPTX")
    if sum(1 for e in entries if _SLIDE_PART.fullmatch(e.filename)) > options.max_pages:
        raise BadDocument(f"more than {options.max_pages:,} slides (RAG_INGEST_MAX_PAGES)")
    try:
        presentation = pptx.Presentation(str(source.path))
        slides = presentation.slides
        if len(slides) > options.max_pages:  # the slide list itself, whatever the parts are named
            raise BadDocument(f"more than {options.max_pages:,} slides (RAG_INGEST_MAX_PAGES)")
        titles, parts = _slide_parts(slides, options)
        core_title = (presentation.core_properties.title or "").strip()
    except BadDocument:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, PythonPptxError, SyntaxError) as exc:  # lxml's XMLSyntaxError
        raise BadDocument(f"corrupt PPTX: {' '.join(str(exc).split()) or type(exc).__name__}") from exc
    text = require_text("\n\n".join(p.text for p in parts))
    if core_title in _DEFAULT_TITLES:
        core_title = ""
    title = core_title or next((t for t in titles if t), "") or title_from_name(source)
    metadata = {"format": "pptx", "pages": len(titles)}
    yield Document(source.doc_id, text, title, source.location, metadata, tuple(parts))
