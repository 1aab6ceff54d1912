"""DOCX with python-docx: paragraphs and tables in order; Word headings become Markdown headings, so chunks keep
their heading path as Markdown's do. Tables become Markdown tables (ingest/formats/tables.py) with merged cells
filled: a horizontal span's text in every column it spans, a vertical merge's in every row. The caption is a
paragraph styled "Caption" just before or after the table (taken out of the text, as it heads the table), else the
nearest heading before it. A table nested in a cell is flattened into that cell's text."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator

import docx
from docx.document import Document as DocxDocument
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from ingest.formats.base import BadDocument, Loaded, LoadOptions, title_from_name
from ingest.formats.containers import check_container
from ingest.formats.tables import MAX_SPAN, markdown_table
from ingest.formats.text import require_text
from ingest.sources.base import SourceFile
from rag.domain import Document


def _style(p: Paragraph) -> str:
    return (p.style.name if p.style is not None else "") or ""


def _heading(p: Paragraph) -> str | None:
    """The paragraph as a Markdown heading (Word's "Heading n" and "Title" styles), or None."""
    text = p.text.strip()
    style = _style(p)
    if text and style.startswith("Heading ") and style[8:].isdigit():
        return "#" * min(int(style[8:]), 6) + " " + text
    if text and style == "Title":
        return "# " + text
    return None


def _caption(block: object) -> str | None:
    """A paragraph styled "Caption" (Word's Insert Caption) as a caption, else None."""
    if isinstance(block, Paragraph) and _style(block) == "Caption" and block.text.strip():
        return block.text.strip()
    return None


def _cell_text(cell: _Cell, budget: list[int]) -> str:
    """A cell's paragraphs, and any table nested in it flattened: its rows' distinct cells joined by "; ", rows by
    " / "."""
    texts: list[str] = []
    for block in cell.iter_inner_content():
        if isinstance(block, Paragraph):
            texts.append(block.text)
        else:
            rows = _grid(block, budget)
            texts.append(" / ".join("; ".join(dict.fromkeys(v for v in row if v)) for row in rows))
    return " ".join(" ".join(texts).split())


def _grid(table: Table, budget: list[int]) -> list[list[str]]:
    """The table's rows as a full grid, read from its XML: a cell spanning n grid columns (gridSpan) repeated n
    times; a cell continuing a vertical merge (vMerge) given the text of the cell above it; columns a row skips
    before its first cell (gridBefore) left empty. `budget` holds the cells still allowed (a few bytes of spans must
    not fill the memory): BadDocument when it runs out."""
    grid: list[list[str]] = []
    for tr in table._tbl.tr_lst:
        row = [""] * min(tr.grid_before, MAX_SPAN)
        for tc in tr.tc_lst:
            span = max(1, min(tc.grid_span, MAX_SPAN))
            budget[0] -= span
            if budget[0] < 0:
                raise BadDocument(
                    "a table with more cells than the document's text may hold (RAG_INGEST_MAX_DOCUMENT_CHARS)"
                )
            if tc.vMerge == "continue":
                above = grid[-1] if grid else []
                row += [above[i] if i < len(above) else "" for i in range(len(row), len(row) + span)]
            else:
                row += [_cell_text(_Cell(tc, table), budget)] * span
        grid.append(row)
    return grid


def _text(document: DocxDocument, options: LoadOptions) -> str:
    """Paragraphs and tables in order, stopping as soon as the text is over the document limit."""
    items = list(document.iter_inner_content())
    budget = [options.max_document_chars // 3]  # a Markdown cell takes at least 3 characters (` | `)
    blocks: list[str] = []
    size = 0
    heading: str | None = None
    taken: set[int] = set()  # caption paragraphs written as their table's `Table:` line
    for i, block in enumerate(items):
        if i in taken:
            continue
        if isinstance(block, Paragraph):
            marked = _heading(block)
            heading = block.text.strip() if marked else heading
            text = marked or block.text.strip()
            if _caption(block) and i + 1 < len(items) and isinstance(items[i + 1], Table):
                continue  # the next table's caption
        else:
            before = _caption(items[i - 1]) if i > 0 else None
            # A caption after the table, unless it leads straight into another table (then it is that one's).
            leads = i + 2 < len(items) and isinstance(items[i + 2], Table)
            after = None if before or leads or i + 1 >= len(items) else _caption(items[i + 1])
            if after:
                taken.add(i + 1)
            text = markdown_table(_grid(block, budget), before or after or heading)
        if text:
            blocks.append(text)
            size += len(text) + 2
            if size > options.max_document_chars:
                options.check_text("\n\n".join(blocks))
    return "\n\n".join(blocks)


def load_docx(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    check_container(source, options, "DOCX")
    try:
        document = docx.Document(str(source.path))
    except (zipfile.BadZipFile, KeyError, ValueError, PackageNotFoundError) as exc:
        raise BadDocument(f"corrupt DOCX: {exc}") from exc
    text = require_text(_text(document, options))
    core_title = (document.core_properties.title or "").strip()
    yield Document(source.doc_id, text, core_title or title_from_name(source), source.location, {"format": "docx"})
