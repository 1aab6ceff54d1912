"""Tables as Markdown inside a chunk's text: every format's table (PDF, DOCX, HTML, XLSX, PPTX) comes out the same
way, so the chunker (ingest/chunking.py) can split a long one between rows with its header repeated on every piece.

    Table: Quarterly results
    | Region | Q1 | Q2 |
    | --- | --- | --- |
    | North | 10 | 12 |

A grid's merged cells arrive filled (the merged value in every cell it spans): the extractor fills them, so a row
read alone still says which column a value belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.formats.base import BadDocument

CAPTION_PREFIX = "Table: "


def _cell(value: object) -> str:
    """One cell on one line: pipes escaped, line breaks and runs of spaces folded."""
    text = "" if value is None else str(value)
    return " ".join(text.replace("|", "\\|").split())


def markdown_table(rows: Sequence[Sequence[object]], caption: str | None = None) -> str:
    """The rows (the first one is the header) as a Markdown table, short rows padded to the widest; the caption (or
    nearest heading) on the line before it, as `Table: ...`. "" when no row has a value."""
    grid = [[_cell(v) for v in row] for row in rows]
    grid = [row for row in grid if any(row)]
    if not grid:
        return ""
    width = max(len(row) for row in grid)
    grid = [row + [""] * (width - len(row)) for row in grid]
    lines = [f"| {' | '.join(grid[0])} |", f"|{' --- |' * width}"]
    lines += [f"| {' | '.join(row)} |" for row in grid[1:]]
    head = [f"{CAPTION_PREFIX}{_cell(caption)}"] if caption and _cell(caption) else []
    return "\n".join(head + lines)


MAX_SPAN = 1000  # the most columns one cell may span (HTML's own cap on colspan)


def spanned_grid(rows: Sequence[Sequence[tuple[str, int, int]]], max_cells: int) -> list[list[str]]:
    """Rows of (text, rowspan, colspan) cells, placed as HTML places them (each in the next free slot from the left,
    a rowspan holding the slots below it), as a full grid: a merged cell's text in every slot it spans. A rowspan of
    0 runs to the last row; spans are cut at the last row and at MAX_SPAN columns. Raises BadDocument past
    `max_cells` slots (before building them), so a few bytes of spans cannot fill the memory."""
    grid: list[list[str | None]] = [[] for _ in rows]
    filled = 0
    for r, row in enumerate(rows):
        col = 0
        for text, rowspan, colspan in row:
            while col < len(grid[r]) and grid[r][col] is not None:
                col += 1
            down = len(rows) - r if rowspan <= 0 else min(rowspan, len(rows) - r)
            across = max(1, min(colspan, MAX_SPAN))
            filled += down * across
            if filled > max_cells:
                raise BadDocument(f"a table of more than {max_cells:,} cells (RAG_INGEST_MAX_DOCUMENT_CHARS)")
            for below in grid[r : r + down]:
                if len(below) < col + across:
                    below.extend([None] * (col + across - len(below)))
                below[col : col + across] = [text] * across
            col += across
    return [["" if value is None else value for value in row] for row in grid]
