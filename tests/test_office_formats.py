"""PPTX and XLSX loaders on files generated here with known content (python-pptx, openpyxl): slides and sheets as
parts with their page or sheet, every table cell in its row and column, merged cells filled, notes kept, and bad or
oversized files refused with one line."""

from __future__ import annotations

import datetime
import struct
import zipfile
from pathlib import Path

import openpyxl
import pytest
from pptx import Presentation
from pptx.util import Inches

from ingest.formats.base import BadDocument, LoadOptions
from ingest.formats.containers import check_container
from ingest.formats.pptx import load_pptx
from ingest.formats.tables import CAPTION_PREFIX
from ingest.formats.xlsx import load_xlsx
from ingest.sources.base import SourceFile
from rag.domain import Document

SLIDE_TABLE = [["Region", "Sales", "Sales"], ["All", "10", "12"], ["All", "7", "9"]]


def _load(loader: object, path: Path, options: LoadOptions | None = None) -> Document:
    (doc,) = loader(SourceFile(path, path.name), options or LoadOptions())  # type: ignore[operator]
    assert isinstance(doc, Document)
    return doc


def _tables(text: str) -> list[tuple[str, list[list[str]]]]:
    """Every Markdown table in `text` as (caption, grid), the header row first and the `---` row left out."""
    tables: list[tuple[str, list[list[str]]]] = []
    caption, grid = "", []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip()[1:-1].split(" | ")]
            if not all(set(cell) == {"-"} for cell in cells):
                grid.append(cells)
            continue
        if grid:
            tables.append((caption, grid))
            caption, grid = "", []
        caption = line.removeprefix(CAPTION_PREFIX) if line.startswith(CAPTION_PREFIX) else ""
    return tables


def _deck(path: Path, slides: int = 3, core_title: str = "") -> Path:
    """Slide 1: title, body, a table with a horizontal and a vertical merge, two text boxes placed out of reading
    order, a group, notes. Slide 2: a title and body. Further slides: a line of text each."""
    deck = Presentation()
    deck.core_properties.title = core_title
    first = deck.slides.add_slide(deck.slide_layouts[5])  # Title Only
    first.shapes.title.text = "Quarterly review"
    first.shapes.add_textbox(Inches(5), Inches(6.5), Inches(4), Inches(0.5)).text_frame.text = "Bottom right box"
    first.shapes.add_textbox(Inches(0.5), Inches(6.5), Inches(4), Inches(0.5)).text_frame.text = "Bottom left box"
    first.shapes.add_textbox(Inches(0.5), Inches(1.5), Inches(9), Inches(0.5)).text_frame.text = "Revenue grew."
    table = first.shapes.add_table(3, 3, Inches(0.5), Inches(2.5), Inches(6), Inches(1.5)).table
    for r, row in enumerate([["Region", "Sales", ""], ["All", "10", "12"], ["", "7", "9"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(0, 1).merge(table.cell(0, 2))
    table.cell(1, 0).merge(table.cell(2, 0))
    group = first.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(0.5), Inches(4.5), Inches(3), Inches(0.5)).text_frame.text = "Grouped upper"
    group.shapes.add_textbox(Inches(0.5), Inches(5.2), Inches(3), Inches(0.5)).text_frame.text = "Grouped lower"
    first.notes_slide.notes_text_frame.text = "Mention the weather."
    second = deck.slides.add_slide(deck.slide_layouts[1])  # Title and Content
    second.shapes.title.text = "Next steps"
    second.placeholders[1].text_frame.text = "Hire two engineers\nShip the pump"
    for n in range(3, slides + 1):
        blank = deck.slides.add_slide(deck.slide_layouts[6])
        blank.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1)).text_frame.text = f"Slide {n} text"
    deck.save(str(path))
    return path


def test_pptx_slides_are_parts_with_title_text_in_reading_order_tables_and_notes(tmp_path: Path) -> None:
    doc = _load(load_pptx, _deck(tmp_path / "review.pptx"))
    assert doc.metadata == {"format": "pptx", "pages": 3}
    assert [p.metadata for p in doc.parts] == [{"page": 1}, {"page": 2}, {"page": 3}]
    assert doc.title == "Quarterly review"  # no core title: the first slide's
    first = doc.parts[0].text
    assert first.startswith("# Quarterly review\n\nRevenue grew.")
    order = ["Revenue grew.", "Table: Quarterly review", "Grouped upper", "Grouped lower", "Bottom left box"]
    order += ["Bottom right box", "Notes:\nMention the weather."]
    positions = [first.index(s) for s in order]
    assert positions == sorted(positions), first
    assert first.endswith("Notes:\nMention the weather.")
    assert _tables(first) == [("Quarterly review", SLIDE_TABLE)]
    assert doc.parts[1].text == "# Next steps\n\nHire two engineers\nShip the pump"
    assert doc.parts[2].text == "Slide 3 text"
    assert doc.text == "\n\n".join(p.text for p in doc.parts)


def test_pptx_title_from_core_properties_else_file_name(tmp_path: Path) -> None:
    assert _load(load_pptx, _deck(tmp_path / "a.pptx", core_title="Board deck")).title == "Board deck"
    untitled = Presentation()
    untitled.slides.add_slide(untitled.slide_layouts[6]).shapes.add_textbox(0, 0, 10, 10).text_frame.text = "hi"
    untitled.save(str(tmp_path / "pump_notes.pptx"))
    assert _load(load_pptx, tmp_path / "pump_notes.pptx").title == "pump notes"


def _refusal(loader: object, path: Path, options: LoadOptions | None = None) -> str:
    with pytest.raises(BadDocument) as refused:
        list(loader(SourceFile(path, path.name), options or LoadOptions()))  # type: ignore[operator]
    message = str(refused.value)
    assert message and "\n" not in message
    return message


def _with_member(path: Path, name: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as package:
        package.writestr(name, data)
    return path


def test_pptx_over_its_limits_or_corrupt_is_refused(tmp_path: Path) -> None:
    deck = _deck(tmp_path / "deck.pptx", slides=4)
    assert _refusal(load_pptx, deck, LoadOptions(max_pages=3)) == "more than 3 slides (RAG_INGEST_MAX_PAGES)"
    assert "characters" in _refusal(load_pptx, deck, LoadOptions(max_document_chars=100))
    bomb = _with_member(_deck(tmp_path / "bomb.pptx", slides=1), "ppt/media/zeros.bin", bytes(3_000_000))
    assert bomb.stat().st_size < 200_000
    assert "over the 2,000,000-byte limit" in _refusal(load_pptx, bomb, LoadOptions(max_expanded_bytes=2_000_000))
    (tmp_path / "junk.pptx").write_bytes(b"PK\x03\x04 not really a zip")
    assert _refusal(load_pptx, tmp_path / "junk.pptx") == "corrupt PPTX (not a zip package)"
    (tmp_path / "half.pptx").write_bytes(deck.read_bytes()[: deck.stat().st_size // 2])
    assert _refusal(load_pptx, tmp_path / "half.pptx").startswith("corrupt PPTX")
    with zipfile.ZipFile(tmp_path / "other.pptx", "w") as other:
        other.writestr("readme.txt", "a zip, not a presentation")
    assert _refusal(load_pptx, tmp_path / "other.pptx").startswith("corrupt PPTX: ")


def _set_cached_value(path: Path, member: str, formula: str, value: str) -> None:
    """Give a formula cell the value a spreadsheet application caches (openpyxl writes formulas uncalculated)."""
    with zipfile.ZipFile(path) as package:
        members = {info.filename: package.read(info) for info in package.infolist()}
    written = f"<f>{formula}</f><v></v>".encode()
    assert written in members[member]
    members[member] = members[member].replace(written, f"<f>{formula}</f><v>{value}</v>".encode())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in members.items():
            package.writestr(name, data)


def _workbook(path: Path, title: str = "") -> Path:
    """Sheet "Sales" from C3 on (empty rows and a column around and inside it): a merged header cell over two
    columns, numbers, a formula with a cached value, dates. Sheet "Notes": a small table. Sheet "Empty": nothing."""
    book = openpyxl.Workbook()
    book.properties.title = title
    sales = book.active
    sales.title = "Sales"
    sales["C3"], sales["D3"], sales["G3"] = "Region", "Scores", "Day"
    sales.merge_cells("D3:E3")
    rows = {
        4: ["North", 1, 2.5, datetime.date(2024, 3, 1)],
        6: ["South", 3, 0.1 + 0.2, datetime.datetime(2024, 3, 1, 14, 30)],
        7: ["East", 4.0, "=D7*10", True],
    }
    for r, row in rows.items():  # row 5 and column F left empty
        for c, value in zip((3, 4, 5, 7), row, strict=True):
            sales.cell(r, c, value)
    sales["H9"].number_format = "0.00"  # a cell without a value stays out of the table
    notes = book.create_sheet("Notes")
    notes.append(["Key", "Value"])
    notes.append(["owner", "Ann"])
    book.create_sheet("Empty")
    book.save(str(path))
    _set_cached_value(path, "xl/worksheets/sheet1.xml", "D7*10", "40")
    return path


def test_xlsx_sheets_are_parts_with_every_cell_in_place(tmp_path: Path) -> None:
    doc = _load(load_xlsx, _workbook(tmp_path / "results.xlsx"))
    assert doc.metadata == {"format": "xlsx", "sheets": 3}
    assert [p.metadata for p in doc.parts] == [{"sheet": "Sales"}, {"sheet": "Notes"}]
    assert doc.title == "results"
    sales = [
        ["Region", "Scores", "Scores", "Day"],
        ["North", "1", "2.5", "2024-03-01"],
        ["South", "3", "0.3", "2024-03-01 14:30:00"],
        ["East", "4", "40", "TRUE"],
    ]
    assert _tables(doc.parts[0].text) == [("Sales", sales)]
    assert _tables(doc.parts[1].text) == [("Notes", [["Key", "Value"], ["owner", "Ann"]])]
    assert "D7" not in doc.text and "=" not in doc.text  # values, never formulas


def test_xlsx_title_from_core_properties_and_files_of_any_name(tmp_path: Path) -> None:
    fetched = _workbook(tmp_path / "book.xlsx", title="Sales figures").rename(tmp_path / "fetched-body")
    assert _load(load_xlsx, fetched).title == "Sales figures"


def test_xlsx_over_its_limits_or_corrupt_is_refused(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    for n in range(5_000):
        book.active.append([n, f"row {n}"])
    book.save(str(tmp_path / "long.xlsx"))
    assert "characters" in _refusal(load_xlsx, tmp_path / "long.xlsx", LoadOptions(max_document_chars=2_000))
    diagonal = openpyxl.Workbook()  # few values, but a 300 x 300 grid once its rows and columns are kept
    for n in range(1, 301):
        diagonal.active.cell(n, n, "x")
    diagonal.save(str(tmp_path / "diagonal.xlsx"))
    assert "characters" in _refusal(load_xlsx, tmp_path / "diagonal.xlsx", LoadOptions(max_document_chars=100_000))
    blank = openpyxl.Workbook()
    for n in range(1, 2_001):
        blank.active.cell(n, 1).number_format = "0.00"  # cells without values, read all the same
    blank.save(str(tmp_path / "blank.xlsx"))
    assert "cells" in _refusal(load_xlsx, tmp_path / "blank.xlsx", LoadOptions(max_document_chars=1_000))
    merged = openpyxl.Workbook()
    merged.active["A1"], merged.active["A2"] = "spans everything", "x"
    merged.active.merge_cells("A1:XFD2")
    merged.active["XFD3"] = "far"
    merged.save(str(tmp_path / "merged.xlsx"))
    assert "characters" in _refusal(load_xlsx, tmp_path / "merged.xlsx", LoadOptions(max_document_chars=10_000))
    bomb = _with_member(_workbook(tmp_path / "bomb.xlsx"), "xl/media/zeros.bin", bytes(3_000_000))
    assert "over the 2,000,000-byte limit" in _refusal(load_xlsx, bomb, LoadOptions(max_expanded_bytes=2_000_000))
    (tmp_path / "junk.xlsx").write_bytes(b"not a zip at all")
    assert _refusal(load_xlsx, tmp_path / "junk.xlsx") == "corrupt XLSX (not a zip package)"
    with zipfile.ZipFile(tmp_path / "other.xlsx", "w") as other:
        other.writestr("readme.txt", "a zip, not a workbook")
    assert _refusal(load_xlsx, tmp_path / "other.xlsx").startswith("corrupt XLSX: ")
    assert _refusal(load_xlsx, _workbook_without_values(tmp_path / "nothing.xlsx")) == "empty document"


def _workbook_without_values(path: Path) -> Path:
    openpyxl.Workbook().save(str(path))
    return path


def test_containers_check_declared_expansion(tmp_path: Path) -> None:
    path = _with_member(_workbook_without_values(tmp_path / "c.xlsx"), "big.bin", bytes(1_000_000))
    source = SourceFile(path, path.name)
    assert len(check_container(source, LoadOptions(max_expanded_bytes=2_000_000), "XLSX")) > 1
    with pytest.raises(BadDocument, match="over the 999,999-byte limit"):
        check_container(source, LoadOptions(max_expanded_bytes=999_999), "XLSX")
    (tmp_path / "locked.pptx").write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504))
    assert _refusal(load_pptx, tmp_path / "locked.pptx").startswith("encrypted PPTX")


def _understate(path: Path, member: str, size: int) -> Path:
    """Make the zip directory declare `member` smaller than it inflates to (the trick of a zip bomb that passes a
    declared-size check)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at != -1:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_length] == member.encode():
            struct.pack_into("<I", data, at + 24, size)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))
    return path


def test_a_member_inflating_past_its_declared_size_is_stopped_there(tmp_path: Path) -> None:
    deck = _understate(_deck(tmp_path / "deck.pptx"), "ppt/slides/slide1.xml", 50)
    assert "Bad CRC-32" in _refusal(load_pptx, deck)
    book = _understate(_workbook(tmp_path / "book.xlsx"), "xl/worksheets/sheet1.xml", 50)
    assert "Bad CRC-32" in _refusal(load_xlsx, book)
