"""XLSX with openpyxl, read-only and values only (a formula cell reads as the value Excel cached for it, never the
formula; a file no spreadsheet application has calculated, as openpyxl writes them, has no cached values): one part
per sheet, `{"sheet": name}`, holding the sheet's used range as a Markdown table (ingest/formats/tables.py) captioned
with the sheet's name, its first non-empty row the header.

- Rows and columns with no value are dropped; a merged cell's value fills every cell it spans.
- Values read as people see them: numbers to Excel's 15 significant digits (3.0 as `3`, 0.1 + 0.2 as `0.3`), dates
  as ISO dates (`2024-03-01`, `2024-03-01 14:30:00` with a time), booleans as TRUE and FALSE. Number formats
  (percentages, currencies) are not applied.

Each sheet is read in one streaming pass of openpyxl's own sheet parser, which also collects the sheet's merged
ranges (stored after its cells, and absent from openpyxl's read-only worksheets). Measured on a 50,000-row,
10-column sheet: the pass takes 4.2 s and 5 MB, against 6.9 s and 205 MB to open the workbook whole (which has the
merges), so the streaming pass is used whatever the file's size; the whole loader, keeping only cells with a value
and building the table (4.6 million characters), takes 5.0 s and 85 MB.

Bounds: the package's declared expansion (RAG_INGEST_MAX_EXPANDED_MB) is checked before openpyxl opens it; reading
stops and the file is refused as soon as the text is certain to pass RAG_INGEST_MAX_DOCUMENT_CHARS (every cell adds
at least its value and ` | ` to a Markdown table), or once more cells were read, empty ones included, than the
document may hold characters.
"""

from __future__ import annotations

import datetime
import math
import warnings
import zipfile
from collections.abc import Iterator
from typing import Any

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet._reader import WorkSheetParser

from ingest.formats.base import BadDocument, Loaded, LoadOptions, title_from_name
from ingest.formats.containers import check_container
from ingest.formats.tables import markdown_table
from ingest.formats.text import require_text
from ingest.sources.base import SourceFile
from rag.domain import Document, DocumentPart

# openpyxl warns per quirk of a file (an unsupported extension, no default style); failures are reported by us.
warnings.filterwarnings("ignore", module=r"openpyxl(\.|$)")

_CELL_CHARS = 3  # what a cell adds to a Markdown table row besides its text: " | "

Rows = dict[int, dict[int, str]]  # row number -> column number -> text, non-empty cells only


def _text(value: object) -> str:
    """A cell's value as its natural string ("" for none)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return format(value, ".15g") if math.isfinite(value) else str(value)
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="milliseconds" if value.microsecond else "seconds")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value).strip()


class _Budget:
    """What the document has used so far of its limits, across its sheets."""

    def __init__(self, options: LoadOptions) -> None:
        self.max_chars = options.max_document_chars
        self.chars = 0  # the least the Markdown will hold
        self.cells_read = 0

    def over(self) -> BadDocument:
        return BadDocument(f"more than {self.max_chars:,} characters of text (RAG_INGEST_MAX_DOCUMENT_CHARS)")

    def read(self, cells: int) -> None:
        self.cells_read += cells
        if self.cells_read > self.max_chars:
            raise BadDocument(f"more than {self.max_chars:,} cells (RAG_INGEST_MAX_DOCUMENT_CHARS)")

    def add(self, text: str) -> None:
        self.chars += len(text) + _CELL_CHARS
        if self.chars > self.max_chars:
            raise self.over()


def _read_sheet(workbook: Any, sheet: Any, budget: _Budget) -> tuple[Rows, list[tuple[int, int, int, int]]]:
    """The sheet's non-empty cells and its merged ranges (min row, min col, max row, max col), in one pass of
    openpyxl's sheet parser over the sheet's XML (the one its read-only worksheets use, which drop the merges).
    It reaches into openpyxl 3.1's internals (the parser, the sheet's source and shared strings, the workbook's date
    formats): tests/test_office_formats.py fails if they change."""
    rows: Rows = {}
    with sheet._get_source() as xml:
        parser = WorkSheetParser(
            xml,
            sheet._shared_strings,
            data_only=True,
            epoch=workbook.epoch,
            date_formats=workbook._date_formats,
            timedelta_formats=workbook._timedelta_formats,
        )
        for number, cells in parser.parse():
            budget.read(len(cells) or 1)
            for cell in cells:
                text = _text(cell["value"])
                if text:
                    budget.add(text)
                    rows.setdefault(number, {})[cell["column"]] = text
    merged = parser.merged_cells.mergeCell if parser.merged_cells is not None else ()
    return rows, [(m.min_row, m.min_col, m.max_row, m.max_col) for m in merged]


def _fill_merges(rows: Rows, merges: list[tuple[int, int, int, int]], budget: _Budget) -> None:
    """Each merged range's value (its top-left cell's) in every cell of it, the range clipped to the cells with
    values (a merge may span whole columns)."""
    if not rows:
        return
    last_row = max(rows)
    last_col = max(c for cols in rows.values() for c in cols)
    for min_row, min_col, max_row, max_col in merges:
        text = rows.get(min_row, {}).get(min_col, "")
        if not text:
            continue
        for r in range(min_row, min(max_row, last_row) + 1):
            for c in range(min_col, min(max_col, last_col) + 1):
                if (r, c) != (min_row, min_col):
                    budget.add(text)
                    rows.setdefault(r, {})[c] = text


def _sheet_table(rows: Rows, name: str, budget: _Budget) -> str:
    """The non-empty rows and columns as a Markdown table, the first row its header, captioned with the sheet's
    name; refused before the grid is built when its cells alone would pass the document limit."""
    row_numbers = sorted(rows)
    col_numbers = sorted({c for cols in rows.values() for c in cols})
    if len(row_numbers) * len(col_numbers) * _CELL_CHARS > budget.max_chars:
        raise budget.over()
    grid = [[rows[r].get(c, "") for c in col_numbers] for r in row_numbers]
    return markdown_table(grid, name)


def _sheet_parts(workbook: Any, options: LoadOptions) -> list[DocumentPart]:
    budget = _Budget(options)
    parts: list[DocumentPart] = []
    for sheet in workbook.worksheets:
        rows, merges = _read_sheet(workbook, sheet, budget)
        _fill_merges(rows, merges, budget)
        table = _sheet_table(rows, sheet.title, budget)
        if table:
            parts.append(DocumentPart(table, {"sheet": sheet.title}))
    return parts


def load_xlsx(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    check_container(source, options, "XLSX")
    with source.path.open("rb") as file:  # a file object: openpyxl would refuse a path not named .xlsx
        try:
            workbook = openpyxl.load_workbook(file, read_only=True, data_only=True)
            try:
                sheets = len(workbook.worksheets)
                parts = _sheet_parts(workbook, options)
                core_title = (workbook.properties.title or "").strip()
            finally:
                workbook.close()
        except BadDocument:
            raise
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError, InvalidFileException, SyntaxError) as exc:
            # SyntaxError: the XML parsers' ParseError; TypeError: an element openpyxl cannot bind
            raise BadDocument(f"corrupt XLSX: {' '.join(str(exc).split()) or type(exc).__name__}") from exc
    text = options.check_text(require_text("\n\n".join(p.text for p in parts)))
    title = core_title or title_from_name(source)
    yield Document(source.doc_id, text, title, source.location, {"format": "xlsx", "sheets": sheets}, tuple(parts))
