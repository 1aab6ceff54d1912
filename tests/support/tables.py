"""Tables with known cells, written as real files, and their Markdown read back (issue 30's table tests and the
table cell accuracy benchmark, for every format).

`KnownTable` is the truth: `grid` holds every slot's value as a reader must give it (row 0 is the header; a merged
cell's value in every slot it spans), `merges` the merged regions. A writer walks `table.cells()`: each cell to write
once, with its top-left slot and spans (the slots a merge covers are not in it), e.g. for XLSX
`ws.merge_cells(start_row=c.row + 1, start_column=c.col + 1, end_row=c.row + c.rows, end_column=c.col + c.cols)`.

    known_table(rows, cols, caption=..., merges=(Merge(...),), tricky=False) -> KnownTable
    merged_table() -> KnownTable          a 7 x 5 table: a spanned header, a rowspan, a 2 x 2 block, a full-width row
    long_table(body_rows=200) -> KnownTable
    write_docx(path, tables, caption="before" | "after" | "heading") -> Path
    html_page(tables, caption="caption" | "heading", thead=True, title=...) -> str;  write_html(path, tables, ...)
    write_pdf(path, tables) -> Path;  pdf_caption(n, table) -> str   the caption line above table n in the PDF
    markdown_tables(text) -> list[ParsedTable]     every Markdown table in a text, cells unescaped
    cell_accuracy(known, parsed) -> float          the share of known slots found in the same row and column

Every cell's text names its row and column ("amber 12.3" is row 12, column 3), so a misplaced cell shows where it
went. Texts are normalised as Markdown writes them (one line, runs of spaces folded); `tricky=True` adds a cell with a
pipe and one with HTML's special characters.
"""

from __future__ import annotations

import html
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import docx
from fpdf import FPDF

from ingest.formats.tables import CAPTION_PREFIX

_WORDS = (
    "amber basalt cedar delta ember fjord garnet harbor indigo juniper kelp lumen maple nickel onyx pewter quartz "
    "russet sable topaz umber vellum willow xenon yarrow zephyr"
).split()
PIPE_TEXT = "in | out"  # a cell holding a pipe (tricky=True), escaped in Markdown as `in \| out`
SPECIAL_TEXT = "<5 & >2"  # a cell holding HTML's special characters (tricky=True)


@dataclass(frozen=True, slots=True)
class Merge:
    """A merged region: its top-left slot (0-based, row 0 is the header) and how many rows and columns it spans."""

    row: int
    col: int
    rows: int = 1
    cols: int = 1

    def covers(self, row: int, col: int) -> bool:
        return self.row <= row < self.row + self.rows and self.col <= col < self.col + self.cols


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell as a writer writes it: its top-left slot, its spans (1 where not merged) and its text."""

    row: int
    col: int
    rows: int
    cols: int
    text: str


@dataclass(frozen=True, slots=True)
class KnownTable:
    """A table whose every slot's value is known: `grid` (row 0 the header, merged values filled), `merges`, and the
    caption a reader must put on its `Table:` line."""

    caption: str
    grid: tuple[tuple[str, ...], ...]
    merges: tuple[Merge, ...] = ()

    @property
    def header(self) -> tuple[str, ...]:
        return self.grid[0]

    @property
    def body(self) -> tuple[tuple[str, ...], ...]:
        return self.grid[1:]

    @property
    def width(self) -> int:
        return len(self.grid[0])

    def merge_at(self, row: int, col: int) -> Merge | None:
        """The merged region holding this slot, if any."""
        return next((m for m in self.merges if m.covers(row, col)), None)

    def cells(self) -> Iterator[Cell]:
        """The cells to write, row by row, left to right: each merged region once (at its top-left slot), every
        other slot as a 1 x 1 cell; the slots a region covers past its top-left are left out."""
        for r, row in enumerate(self.grid):
            for c, text in enumerate(row):
                merge = self.merge_at(r, c)
                if merge is None:
                    yield Cell(r, c, 1, 1, text)
                elif (merge.row, merge.col) == (r, c):
                    yield Cell(r, c, merge.rows, merge.cols, text)


def known_table(
    rows: int, cols: int, *, caption: str, merges: Sequence[Merge] = (), seed: int = 0, tricky: bool = False
) -> KnownTable:
    """`rows` rows (the first is the header) of `cols` columns, every value unique and naming its slot: header
    "Col3 garnet", body "amber 12.3"; a merged region holds "merged 4.2" (its top-left) in every slot. Merges must not
    overlap. `tricky` puts PIPE_TEXT and SPECIAL_TEXT into the first two body slots not merged."""
    pick = random.Random(seed).choice
    grid = [[f"Col{c} {pick(_WORDS)}" for c in range(cols)]]
    grid += [[f"{pick(_WORDS)} {r}.{c}" for c in range(cols)] for r in range(1, rows)]
    for merge in merges:
        if merge.row + merge.rows > rows or merge.col + merge.cols > cols:
            raise ValueError(f"{merge} is outside a {rows} x {cols} table")
        for r in range(merge.row, merge.row + merge.rows):
            grid[r][merge.col : merge.col + merge.cols] = [f"merged {merge.row}.{merge.col}"] * merge.cols
    if tricky:
        free = [(r, c) for r in range(1, rows) for c in range(cols) if not any(m.covers(r, c) for m in merges)]
        for (r, c), text in zip(free, (PIPE_TEXT, SPECIAL_TEXT), strict=False):
            grid[r][c] = text
    return KnownTable(caption, tuple(tuple(row) for row in grid), tuple(merges))


def merged_table(*, caption: str = "Regional results", tricky: bool = True) -> KnownTable:
    """7 x 5, with a header cell spanning two columns, a body cell spanning three rows, a 2 x 2 block and a row
    merged across the whole width."""
    merges = (Merge(0, 1, cols=2), Merge(1, 0, rows=3), Merge(3, 2, rows=2, cols=2), Merge(6, 0, cols=5))
    return known_table(7, 5, caption=caption, merges=merges, seed=7, tricky=tricky)


def long_table(body_rows: int = 200, *, caption: str = "Parts inventory") -> KnownTable:
    """A header and `body_rows` rows of 4 columns: longer than a chunk, so the chunker splits it between rows."""
    return known_table(body_rows + 1, 4, caption=caption, seed=200)


# -- writers -----------------------------------------------------------------------------------------------------


def write_docx(
    path: Path, tables: Sequence[KnownTable], *, caption: Literal["before", "after", "heading"] = "before"
) -> Path:
    """A DOCX with, per table: a heading ("Section n", or the caption itself when caption="heading"), a paragraph of
    prose, and the table with merged cells merged as Word merges them (gridSpan, vMerge); with "before" or "after" a
    paragraph styled "Caption" holds the caption on that side of the table."""
    document = docx.Document()
    for n, table in enumerate(tables, 1):
        document.add_heading(table.caption if caption == "heading" else f"Section {n}", level=2)
        document.add_paragraph(f"The table below lists {table.caption.lower()} for section {n}.")
        if caption == "before":
            document.add_paragraph(table.caption, style="Caption")
        written = document.add_table(rows=len(table.grid), cols=table.width)
        for r, (row, values) in enumerate(zip(written.rows, table.grid, strict=True)):
            for c, cell in enumerate(row.cells):
                if table.merge_at(r, c) is None:
                    cell.text = values[c]
        for cell in table.cells():
            if (cell.rows, cell.cols) != (1, 1):
                corner = written.cell(cell.row, cell.col)
                merged = corner.merge(written.cell(cell.row + cell.rows - 1, cell.col + cell.cols - 1))
                merged.text = cell.text
        if caption == "after":
            document.add_paragraph(table.caption, style="Caption")
    document.save(str(path))
    return path


def html_page(
    tables: Sequence[KnownTable],
    *,
    caption: Literal["caption", "heading"] = "caption",
    thead: bool = True,
    title: str = "Quarterly report",
) -> str:
    """A realistic page (navigation and footer boilerplate, a `<main>` of headings, prose and tables): per table an
    `<h2>` ("Section n", or the caption when caption="heading"), a paragraph, and the table with rowspan/colspan,
    its header row in `<thead>` as `<th>` (or as the first `<tr>` of the body when `thead` is False), its caption
    in `<caption>` when caption="caption"."""
    e = html.escape
    sections = []
    for n, table in enumerate(tables, 1):
        rows: list[list[str]] = [[] for _ in table.grid]
        for cell in table.cells():
            tag = "th" if cell.row == 0 else "td"
            spans = (f' rowspan="{cell.rows}"' if cell.rows > 1 else "") + (
                f' colspan="{cell.cols}"' if cell.cols > 1 else ""
            )
            rows[cell.row].append(f"<{tag}{spans}>{e(cell.text)}</{tag}>")
        lines = [f"<tr>{''.join(row)}</tr>" for row in rows]
        head = f"<thead>{lines[0]}</thead><tbody>" if thead else f"<tbody>{lines[0]}"
        cap = f"<caption>{e(table.caption)}</caption>" if caption == "caption" else ""
        heading = table.caption if caption == "heading" else f"Section {n}"
        sections.append(
            f"<section><h2>{e(heading)}</h2>\n<p>The table below lists {e(table.caption.lower())} for section {n}, "
            f"as reported by the regional offices at the end of the quarter.</p>\n"
            f"<table>{cap}{head}\n" + "\n".join(lines[1:]) + "\n</tbody></table></section>"
        )
    body = "\n".join(sections)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title></head>
<body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/reports">All reports</a></li></ul></nav></header>
<main><h1>{e(title)}</h1>
<p>This report gathers the figures every office sent in this quarter, with the notes that explain them.</p>
{body}
<p>Figures are provisional until the annual accounts are approved.</p>
</main>
<footer><p>Copyright 2026 Example Corp. All rights reserved.</p></footer>
</body></html>
"""


def write_html(
    path: Path,
    tables: Sequence[KnownTable],
    *,
    caption: Literal["caption", "heading"] = "caption",
    thead: bool = True,
    title: str = "Quarterly report",
) -> Path:
    """`html_page(...)` written to `path` (UTF-8)."""
    path.write_text(html_page(tables, caption=caption, thead=thead, title=title), encoding="utf-8")
    return path


def pdf_caption(n: int, table: KnownTable) -> str:
    """The caption line `write_pdf` prints above its `n`th table (from 1), as a PDF's author writes one: `Table 2:
    Contacts`. A PDF has no caption element: the reader takes this line as the caption."""
    return f"Table {n}: {table.caption}"


def write_pdf(path: Path, tables: Sequence[KnownTable], *, font_size: float = 9) -> Path:
    """A US Letter PDF drawn by fpdf2 with, per table: a paragraph of prose, the caption line (`pdf_caption`), the
    table with every cell ruled and merged cells drawn merged (colspan, rowspan), and a paragraph after it. A table
    longer than a page runs on over the next pages, its header row repeated at the top of each (fpdf2's default)."""
    pdf = FPDF(format="letter")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("helvetica", size=font_size)
    line = font_size * 0.55  # mm
    for n, table in enumerate(tables, 1):
        pdf.multi_cell(0, line, f"The table below lists {table.caption.lower()} for section {n}.", new_x="LMARGIN")
        pdf.ln(line / 2)
        pdf.cell(0, line, pdf_caption(n, table), new_x="LMARGIN", new_y="NEXT")
        with pdf.table(text_align="LEFT", line_height=line) as drawn:
            rows = [drawn.row() for _ in table.grid]
            for cell in table.cells():
                rows[cell.row].cell(cell.text, colspan=cell.cols, rowspan=cell.rows)
        pdf.ln(line / 2)
        pdf.multi_cell(0, line, f"Figures in table {n} are provisional until the accounts close.", new_x="LMARGIN")
        pdf.ln(line * 2)
    pdf.output(str(path))
    return path


# -- reading Markdown back ---------------------------------------------------------------------------------------

_RULE = re.compile(r"\|(\s*:?-+:?\s*\|)+")


@dataclass(frozen=True, slots=True)
class ParsedTable:
    """A Markdown table read back: its `Table:` caption (None without one) and rows, the header first."""

    caption: str | None
    rows: list[list[str]]


def split_row(line: str) -> list[str]:
    """A Markdown row's cells, `\\|` read back as `|`."""
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def markdown_tables(text: str) -> list[ParsedTable]:
    """Every Markdown table in `text` (a header row followed by a `| --- |` rule), with the `Table:` line just
    before it as its caption."""
    lines = [line.strip() for line in text.splitlines()]
    found: list[ParsedTable] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and _RULE.fullmatch(lines[i + 1]):
            before = lines[i - 1] if i else ""
            caption = before[len(CAPTION_PREFIX) :] if before.startswith(CAPTION_PREFIX) else None
            rows = [split_row(lines[i])]
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(split_row(lines[i]))
                i += 1
            found.append(ParsedTable(caption, rows))
        else:
            i += 1
    return found


def normalised(text: str) -> str:
    """A cell's text as Markdown holds it: one line, runs of spaces folded."""
    return " ".join(text.split())


def cell_accuracy(known: KnownTable, parsed: ParsedTable) -> float:
    """The share of the known table's slots whose value the parsed table holds in the same row and column."""
    slots = [(r, c) for r in range(len(known.grid)) for c in range(known.width)]
    right = sum(
        1
        for r, c in slots
        if r < len(parsed.rows) and c < len(parsed.rows[r]) and parsed.rows[r][c] == normalised(known.grid[r][c])
    )
    return right / len(slots)
