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
