"""Tables that keep their columns (issue 30): generated tables with known cells (tests/support/tables.py), merged
cells included, written as DOCX and HTML, read by the real loaders and split by the real Chunker; every cell must come
back in its row and column, and every piece of a long table must start with its caption and header row."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import docx
import pytest

from ingest.chunking import Chunker
from ingest.formats.base import BadDocument, LoadFailure, LoadOptions
from ingest.formats.tables import markdown_table, spanned_grid
from ingest.loaders import SUFFIXES, load
from ingest.sources.local import discover
from rag.domain import Chunk, Document
from rag.embedding.dense import SentenceTransformerEmbedder
from tests.support.tables import (
    KnownTable,
    cell_accuracy,
    html_page,
    known_table,
    long_table,
    markdown_tables,
    merged_table,
    normalised,
    split_row,
    write_docx,
    write_html,
)

CHUNK_SIZE = 200


def _document(path: Path) -> Document:
    (loaded,) = load(discover([path], SUFFIXES), LoadOptions())
    assert isinstance(loaded, Document), loaded
    return loaded


def _expected(table: KnownTable) -> list[list[str]]:
    return [[normalised(v) for v in row] for row in table.grid]


def _assert_tables(text: str, tables: list[KnownTable]) -> None:
    """The text holds exactly these tables, in order, each cell in its row and column, under its caption."""
    parsed = markdown_tables(text)
    assert [p.caption for p in parsed] == [t.caption for t in tables]
    for known, got in zip(tables, parsed, strict=True):
        assert got.rows == _expected(known)
        assert cell_accuracy(known, got) == 1.0


@pytest.fixture(scope="module")
def chunker(embedder: SentenceTransformerEmbedder) -> Chunker:
    return Chunker(embedder.tokenizer, chunk_size=CHUNK_SIZE, chunk_overlap=30)


def _assert_split(chunks: list[Chunk], chunker: Chunker, table: KnownTable, section: str, pieces: int) -> None:
    """The table's pieces (at least `pieces`): each at most a chunk, each starting with its caption, header row and
    rule, each under the table's heading path; their rows, in order, are the table's body exactly (none cut, lost
    or twice)."""
    head = f"Table: {table.caption}\n{markdown_table([table.header])}"
    found = [c for c in chunks if head in c.text]
    assert len(found) >= pieces
    rows: list[list[str]] = []
    for piece in found:
        assert piece.text.startswith(head + "\n"), piece.text[:200]
        assert chunker.count_tokens(piece.text) <= CHUNK_SIZE
        assert piece.metadata["headings"].endswith(section)
        rows += [split_row(line) for line in piece.text[len(head) + 1 :].splitlines()]
    assert rows == _expected(table)[1:]


# -- Markdown tables and spans ----------------------------------------------------------------------------------


def test_markdown_table_escapes_pipes_pads_short_rows_and_puts_the_caption_first() -> None:
    rows: list[list[str | None]] = [["Name", "Value", "Note"], ["a|b", "1"], [None, "  two\nlines  ", "x"], ["", None]]
    assert markdown_table(rows, "Fees | 2026") == (
        "Table: Fees \\| 2026\n| Name | Value | Note |\n| --- | --- | --- |\n| a\\|b | 1 |  |\n|  | two lines | x |"
    )
    assert markdown_table([["only"]]) == "| only |\n| --- |"
    assert markdown_table([[None, ""], []], "Empty") == ""
    assert split_row("| a\\|b | 1 |  |") == ["a|b", "1", ""]


def test_spans_fill_a_full_grid_and_a_span_bomb_is_refused_before_it_is_built() -> None:
    rows = [[("R", 2, 1), ("S", 1, 2)], [("a", 1, 1), ("b", 1, 1)], [("x", 0, 3)], [("y", 1, 1)]]
    assert spanned_grid(rows, 100) == [["R", "S", "S"], ["R", "a", "b"], ["x", "x", "x"], ["x", "x", "x", "y"]]
    assert spanned_grid([[("wide", 1, 10**9)]], 1000) == [["wide"] * 1000]  # a colspan stops at 1000 columns
    with pytest.raises(BadDocument, match="more than 5,000 cells"):
        spanned_grid([[("a", 0, 1000)]] + [[]] * 10, 5_000)


# -- DOCX -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("caption", ["before", "after", "heading"])
def test_docx_tables_keep_every_cell_in_its_row_and_column(
    tmp_path: Path, caption: Literal["before", "after", "heading"]
) -> None:
    tables = [merged_table(), long_table(40)]
    document = _document(write_docx(tmp_path / "report.docx", tables, caption=caption))
    _assert_tables(document.text, tables)
    assert document.text.count("Regional results") == (2 if caption == "heading" else 1)  # a caption is not repeated


def test_docx_nested_tables_are_flattened_into_their_cell(tmp_path: Path) -> None:
    document = docx.Document()
    outer = document.add_table(rows=2, cols=2)
    for cell, text in zip(outer._cells, ["Item", "Parts", "Pump", "Seal"], strict=True):
        cell.text = text
    nested = outer.cell(1, 1).add_table(rows=2, cols=2)
    for cell, text in zip(nested._cells, ["ring", "2", "bolt", "8"], strict=True):
        cell.text = text
    nested.cell(1, 0).merge(nested.cell(1, 1)).text = "gasket"
    document.save(str(tmp_path / "nested.docx"))
    (parsed,) = markdown_tables(_document(tmp_path / "nested.docx").text)
    assert parsed.rows == [["Item", "Parts"], ["Pump", "Seal ring; 2 / gasket"]]


def _small_table() -> KnownTable:
    return known_table(3, 3, caption="Contacts", seed=3)


def test_docx_long_table_is_split_between_rows_under_its_header(tmp_path: Path, chunker: Chunker) -> None:
    tables = [_small_table(), merged_table(), long_table(200)]
    chunks = chunker.chunk(_document(write_docx(tmp_path / "inventory.docx", tables)), "t")
    (small,) = [c for c in chunks if "Table: Contacts" in c.text]  # a small table stays whole
    assert markdown_tables(small.text)[0].rows == _expected(tables[0])
    _assert_split(chunks, chunker, tables[1], "Section 2", pieces=2)
    _assert_split(chunks, chunker, tables[2], "Section 3", pieces=10)


# -- HTML -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("caption", "thead"), [("caption", True), ("heading", False)])
def test_html_tables_keep_every_cell_in_its_row_and_column(
    tmp_path: Path, caption: Literal["caption", "heading"], thead: bool
) -> None:
    tables = [merged_table(), long_table(40)]
    document = _document(write_html(tmp_path / "report.html", tables, caption=caption, thead=thead))
    _assert_tables(document.text, tables)
    assert "## Section 2" in document.text or caption == "heading"
    assert "All reports" not in document.text and "Copyright" not in document.text  # still only the main content


def test_html_long_table_is_split_between_rows_under_its_header(tmp_path: Path, chunker: Chunker) -> None:
    tables = [_small_table(), merged_table(), long_table(200)]
    chunks = chunker.chunk(_document(write_html(tmp_path / "inventory.html", tables)), "t")
    (small,) = [c for c in chunks if "Table: Contacts" in c.text]
    assert markdown_tables(small.text)[0].rows == _expected(tables[0])
    _assert_split(chunks, chunker, tables[1], "Section 2", pieces=2)
    _assert_split(chunks, chunker, tables[2], "Section 3", pieces=10)
    assert all(c.metadata["headings"].startswith("Quarterly report") for c in chunks)


def test_html_layout_tables_become_blocks_and_a_table_in_the_navigation_stays_out(tmp_path: Path) -> None:
    first, second = merged_table(), _small_table()

    def main(table: KnownTable) -> str:
        return html_page([table], title=table.caption).split("<main>")[1].split("</main>")[0]

    page = (
        "<html><head><title>Old site</title></head><body>"
        '<nav><table><tr><td><a href="/">Home</a></td><td><a href="/x">Links</a></td></tr></table></nav>'
        f'<table role="presentation"><tr><td>{main(first)}</td></tr></table>'
        f"<table><tr><td>{main(second)}</td><td><p>A side column of notes.</p></td></tr></table></body></html>"
    )
    (tmp_path / "old.html").write_text(page)
    text = _document(tmp_path / "old.html").text
    _assert_tables(text, [first, second])
    assert "A side column of notes." in text and "Home" not in text


def test_a_page_of_span_bombs_is_one_failure(tmp_path: Path) -> None:
    rows = '<tr><td rowspan="0" colspan="1000">x</td></tr>' + "<tr></tr>" * 2_000
    (tmp_path / "bomb.html").write_text(f"<html><body><main><p>Numbers.</p><table>{rows}</table></main></body></html>")
    (failure,) = load(discover([tmp_path / "bomb.html"], SUFFIXES), LoadOptions(max_document_chars=1_000_000))
    assert isinstance(failure, LoadFailure) and "RAG_INGEST_MAX_DOCUMENT_CHARS" in failure.error


# -- the chunker on its own --------------------------------------------------------------------------------------


def test_a_row_longer_than_a_chunk_is_cut_as_prose_and_the_other_rows_stay_whole(chunker: Chunker) -> None:
    body = [[f"row {i}", " ".join(["word"] * (400 if i == 3 else 20))] for i in range(1, 9)]
    table = markdown_table([["Key", "Text"], *body], "Notes")
    text = f"Intro paragraph.\n\n{table}\n\nClosing paragraph."
    chunks = chunker.chunk(Document("n.txt", text, "N", "s", {"format": "txt"}), "t")
    head = "Table: Notes\n| Key | Text |\n| --- | --- |"
    assert all(chunker.count_tokens(c.text) <= CHUNK_SIZE for c in chunks)
    whole = [line for c in chunks for line in c.text.splitlines() if line.startswith("| row ") and line.endswith(" |")]
    assert [split_row(line)[0] for line in whole] == [f"row {i}" for i in (1, 2, 4, 5, 6, 7, 8)]  # row 3 is cut
    cut = [c.text for c in chunks if c.text.startswith(head) and "| row " not in c.text.replace("| row 3 |", "")]
    assert len(cut) >= 3 and all(piece.startswith(head + "\n") for piece in cut)  # each piece of row 3 under the head
    assert sum(piece.count("word") for piece in cut) >= 400
    assert chunks[0].text.startswith("Intro paragraph.") and chunks[-1].text.endswith("Closing paragraph.")
