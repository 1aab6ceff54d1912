"""PDF structure and OCR through the real loaders (issue 30): a two-column page in reading order; tables drawn with
fpdf2 (merged cells, a 200-row table running over pages) back as Markdown with every cell in its row and column,
under their caption, between their prose, split by the real Chunker between rows under the header; scanned pages
read by the real Tesseract only where a page has no text layer, with `ocr` metadata and within 3% of the known text
at 200 dpi; OCR off, missing, too slow or over the pixel bound reported in one line naming the file and page while
the other pages go on; PNG, JPEG and multi-page TIFF scans; and one `rag ingest` of a folder of them, its stored
chunks carrying their page and OCR metadata.

The tests marked xfail are the gaps found while writing these (each reason names the file and what it does)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image
from pptx import Presentation
from pypdf import PdfReader, PdfWriter

from ingest.chunking import Chunker
from ingest.formats.base import Loaded, LoadFailure, LoadOptions
from ingest.formats.tables import markdown_table
from ingest.loaders import load
from ingest.sources.base import SourceFile
from rag.domain import Chunk, Document
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.store.edge import EdgeStore
from tests.support.cli import run_cli
from tests.support.launcher import rag_env
from tests.support.scans import cer, normalize, page_text, render_page, write_scan
from tests.support.tables import (
    KnownTable,
    cell_accuracy,
    known_table,
    long_table,
    markdown_tables,
    merged_table,
    normalised,
    pdf_caption,
    split_row,
    write_pdf,
)

CHUNK_SIZE = 200
DPI = 200  # the scans' resolution: the issue's 3% bound is asserted at 200 dpi
MAX_CER = 0.03
COLUMN_WORDS = 60  # LEFT0..LEFT59 fill most of the left column, RIGHT0..RIGHT59 the right


def _load(path: Path, options: LoadOptions | None = None) -> list[Loaded]:
    return list(load([SourceFile(path, path.name)], options or LoadOptions()))


def _document(path: Path, options: LoadOptions | None = None) -> tuple[Document, list[LoadFailure]]:
    """The file's one document and its failures (pages reported while the rest loaded)."""
    document, *failures = _load(path, options)
    assert isinstance(document, Document), document
    assert all(isinstance(f, LoadFailure) for f in failures)
    return document, [f for f in failures if isinstance(f, LoadFailure)]


def _refusal(path: Path, options: LoadOptions) -> LoadFailure:
    (failure,) = _load(path, options)
    assert isinstance(failure, LoadFailure), failure
    return failure


def _pages(document: Document) -> list[int]:
    return [part.metadata["page"] for part in document.parts]


def _assert_ocr(metadata: dict[str, object]) -> None:
    assert metadata["ocr"] is True
    assert isinstance(metadata["ocr_confidence"], float) and 0.5 < metadata["ocr_confidence"] <= 1
    assert str(metadata["ocr_engine"]).startswith("tesseract ")


def _column_words(text: str) -> list[str]:
    return re.findall(r"\b(?:LEFT|RIGHT)\d+\b", text)


READING_ORDER = [f"LEFT{i}" for i in range(COLUMN_WORDS)] + [f"RIGHT{i}" for i in range(COLUMN_WORDS)]


def _letter() -> FPDF:
    pdf = FPDF(format="letter")
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    return pdf


def _two_columns(pdf: FPDF, words: int = COLUMN_WORDS, *, balance: bool = False) -> None:
    """LEFT0.. in the left column, then RIGHT0.. in the right one (fpdf2's text columns, a column break between)."""
    columns = pdf.text_columns(ncols=2, gutter=10, balance=balance)
    with columns:
        columns.write(" ".join(f"LEFT{i} alpha beta" for i in range(words)))
        columns.ln()
        columns.new_column()
        columns.write(" ".join(f"RIGHT{i} gamma delta" for i in range(words)))


# -- two columns ---------------------------------------------------------------------------------------------------


def test_a_two_column_pdf_is_read_column_by_column(tmp_path: Path) -> None:
    pdf = _letter()
    pdf.cell(0, 10, "Two column report", new_x="LMARGIN", new_y="NEXT")
    _two_columns(pdf)
    pdf.output(str(tmp_path / "columns.pdf"))
    document, failures = _document(tmp_path / "columns.pdf")
    assert failures == [] and _pages(document) == [1]
    assert document.text.startswith("Two column report")
    assert _column_words(document.text) == READING_ORDER


@pytest.mark.xfail(
    strict=True,
    reason="ingest/formats/pdf.py _page_texts (line 62) reads a page in the order it is drawn (pypdf extract_text): a"
    " page that draws its two columns line by line across the page comes out LEFT0 LEFT1 RIGHT0 RIGHT1 LEFT2 ...",
)
def test_a_two_column_page_drawn_across_is_still_read_column_by_column(tmp_path: Path) -> None:
    pdf = _letter()
    for line in range(COLUMN_WORDS // 2):
        y = 30 + line * 5.5
        pdf.text(20, y, f"LEFT{2 * line} alpha beta LEFT{2 * line + 1}")
        pdf.text(115, y, f"RIGHT{2 * line} gamma delta RIGHT{2 * line + 1}")
    pdf.output(str(tmp_path / "across.pdf"))
    document, _ = _document(tmp_path / "across.pdf")
    assert _column_words(document.text) == READING_ORDER


@pytest.mark.xfail(
    strict=True,
    reason="ingest/formats/pdf_tables.py _band_text (line 45) reads the text above and below a table across the whole"
    " page width with pdfplumber's extract_text, line by line: on a two-column page holding a table the columns"
    " come out interleaved (LEFT0 .. LEFT2 RIGHT0 RIGHT1, then the next line of each)",
)
def test_a_two_column_page_with_a_table_keeps_its_columns_in_reading_order(tmp_path: Path) -> None:
    table = known_table(3, 3, caption="Contacts", seed=3)
    pdf = _letter()
    _two_columns(pdf, 40, balance=True)
    pdf.ln(10)
    pdf.cell(0, 6, pdf_caption(1, table), new_x="LMARGIN", new_y="NEXT")
    with pdf.table() as drawn:
        for values in table.grid:
            row = drawn.row()
            for value in values:
                row.cell(value)
    pdf.output(str(tmp_path / "columns-table.pdf"))
    document, _ = _document(tmp_path / "columns-table.pdf")
    (parsed,) = markdown_tables(document.text)
    assert cell_accuracy(table, parsed) == 1.0  # the table is read right; the prose above it is not
    assert _column_words(document.text) == READING_ORDER[:40] + READING_ORDER[COLUMN_WORDS : COLUMN_WORDS + 40]


# -- tables --------------------------------------------------------------------------------------------------------


def _expected(table: KnownTable) -> list[list[str]]:
    return [[normalised(v) for v in row] for row in table.grid]


@pytest.fixture(scope="module")
def chunker(embedder: SentenceTransformerEmbedder) -> Chunker:
    return Chunker(embedder.tokenizer, chunk_size=CHUNK_SIZE, chunk_overlap=30)


@pytest.fixture(scope="module")
def long_pdf(tmp_path_factory: pytest.TempPathFactory) -> tuple[KnownTable, Document]:
    """long_table(200) drawn alone in a PDF (it runs over several pages), loaded."""
    table = long_table(200)
    document, failures = _document(write_pdf(tmp_path_factory.mktemp("long") / "inventory.pdf", [table]))
    assert failures == []
    return table, document


def test_pdf_tables_keep_every_cell_in_its_row_and_column_under_their_caption_between_their_prose(
    tmp_path: Path,
) -> None:
    tables = [merged_table(), known_table(4, 3, caption="Contacts", seed=3)]  # spanned header, rowspan, 2 x 2, row
    document, failures = _document(write_pdf(tmp_path / "report.pdf", tables))
    assert failures == []
    assert [part.metadata for part in document.parts] == [{"page": 1, "tables": 2}]
    parsed = markdown_tables(document.text)
    assert [p.caption for p in parsed] == [pdf_caption(n, t) for n, t in enumerate(tables, 1)]
    for known, got in zip(tables, parsed, strict=True):
        assert got.rows == _expected(known)
        assert cell_accuracy(known, got) == 1.0
    text = document.text
    for n, table in enumerate(tables, 1):  # prose above, caption, table, prose below, in that order
        above = text.index(f"The table below lists {table.caption.lower()} for section {n}.")
        caption = text.index(f"Table: {pdf_caption(n, table)}\n{markdown_table([table.header])}")
        below = text.index(f"Figures in table {n} are provisional until the accounts close.")
        assert above < caption < below
    assert text.count(pdf_caption(1, tables[0])) == 1  # the caption line is not left in the prose as well


def _table_pieces(chunks: list[Chunk], table: KnownTable) -> list[Chunk]:
    header = markdown_table([table.header])
    return [c for c in chunks if header in c.text]


def test_a_200_row_pdf_table_over_pages_is_split_between_rows_each_piece_under_its_header(
    long_pdf: tuple[KnownTable, Document], chunker: Chunker
) -> None:
    table, document = long_pdf
    pages = _pages(document)
    assert len(pages) >= 4 and pages == list(range(1, len(pages) + 1))
    assert all(part.metadata["tables"] == 1 and "ocr" not in part.metadata for part in document.parts)
    assert document.text.index("The table below lists parts inventory") < document.text.index("Table: ")
    assert document.parts[-1].text.endswith("Figures in table 1 are provisional until the accounts close.")
    # Per page one table under the repeated header: together, every body row once, in order, in its columns.
    parsed = markdown_tables(document.text)
    assert all(p.rows[0] == _expected(table)[0] for p in parsed)
    assert [r for p in parsed for r in p.rows[1:]] == _expected(table)[1:]
    assert parsed[0].caption == pdf_caption(1, table)
    chunks = chunker.chunk(document, "t")
    head = markdown_table([table.header])
    pieces = _table_pieces(chunks, table)
    assert len(pieces) >= 10
    rows: list[list[str]] = []
    for piece in pieces:
        body = piece.text.removeprefix(f"Table: {pdf_caption(1, table)}\n")
        assert body.startswith(head + "\n"), piece.text[:200]
        assert chunker.count_tokens(piece.text) <= CHUNK_SIZE
        assert piece.metadata["page"] in pages
        lines = body[len(head) + 1 :].splitlines()
        table_lines = lines[: next((i for i, line in enumerate(lines) if not line.startswith("|")), len(lines))]
        rows += [split_row(line) for line in table_lines]  # the last piece may go on with the prose after the table
    assert rows == _expected(table)[1:]
    assert pieces[0].text.startswith(f"Table: {pdf_caption(1, table)}\n{head}\n")


def test_every_piece_of_a_pdf_table_over_pages_starts_with_its_caption(
    long_pdf: tuple[KnownTable, Document], chunker: Chunker
) -> None:
    table, document = long_pdf
    head = f"Table: {pdf_caption(1, table)}\n{markdown_table([table.header])}\n"
    pieces = _table_pieces(chunker.chunk(document, "t"), table)
    assert [p.text[: len(head)] for p in pieces] == [head] * len(pieces)


# -- OCR in PDFs ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pdfs:
    """`digital`: one born-digital page (page_text(1)); `scan`: one scanned page (page_text(2)) at 200 dpi, no text
    layer; `mixed`: the two merged, the scan as page 2."""

    digital: Path
    scan: Path
    mixed: Path


def _born_digital(path: Path, text: str) -> Path:
    pdf = _letter()
    pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def _merged(path: Path, *pdfs: Path) -> Path:
    writer = PdfWriter()
    for pdf in pdfs:
        writer.append(str(pdf))
    writer.write(str(path))
    return path


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory: pytest.TempPathFactory) -> Pdfs:
    folder = tmp_path_factory.mktemp("ocr-pdfs")
    digital = _born_digital(folder / "digital.pdf", page_text(1))
    scan = write_scan(folder / "scan.pdf", [render_page(page_text(2), DPI, seed=2)], DPI)
    return Pdfs(digital, scan, _merged(folder / "mixed.pdf", digital, scan))


def test_a_mixed_pdf_ocrs_only_its_scanned_page(pdfs: Pdfs) -> None:
    document, failures = _document(pdfs.mixed)
    assert failures == [] and document.metadata == {"format": "pdf", "pages": 2}
    text_page, scanned = document.parts
    assert text_page.metadata == {"page": 1}  # its text layer, not OCR
    assert normalize(text_page.text) == normalize(page_text(1))
    assert scanned.metadata["page"] == 2
    _assert_ocr(scanned.metadata)
    assert cer(page_text(2), scanned.text) <= MAX_CER


def test_born_digital_pdfs_are_never_ocrd_in_auto(pdfs: Pdfs, tmp_path: Path) -> None:
    pdf = _letter()  # text beside a picture: a page with an image and a text layer is not a scan
    pdf.image(Image.new("L", (400, 300), 128), x=20, y=20, w=80)
    pdf.set_y(80)
    pdf.multi_cell(0, 6, page_text(3))
    pdf.output(str(tmp_path / "pictured.pdf"))
    tables = write_pdf(tmp_path / "tables.pdf", [merged_table()])
    for path in (pdfs.digital, tmp_path / "pictured.pdf", tables):
        document, failures = _document(path)
        assert failures == []
        assert all("ocr" not in part.metadata for part in document.parts), path.name
    pictured, _ = _document(tmp_path / "pictured.pdf")
    assert normalize(pictured.text) == normalize(page_text(3))


def test_forced_ocr_reads_every_page_from_its_image(pdfs: Pdfs) -> None:
    document, failures = _document(pdfs.mixed, LoadOptions(ocr="force"))
    assert failures == [] and _pages(document) == [1, 2]
    for part, number in zip(document.parts, (1, 2), strict=True):
        _assert_ocr(part.metadata)
        assert cer(page_text(number), part.text) <= MAX_CER


def test_with_ocr_off_an_image_only_pdf_is_refused_naming_the_setting(pdfs: Pdfs) -> None:
    refused = _refusal(pdfs.scan, LoadOptions(ocr="off"))
    assert refused.path == str(pdfs.scan)
    assert refused.error == "no extractable text: OCR is off (RAG_OCR=off)"


def test_without_an_ocr_engine_a_scan_is_reported_with_the_install_command(pdfs: Pdfs) -> None:
    options = LoadOptions(ocr_languages="xyz")  # the factory raises OcrUnavailable: no such language data
    install = "apt-get install tesseract-ocr-xyz"
    refused = _refusal(pdfs.scan, options)
    assert refused.path == str(pdfs.scan) and install in refused.error and "\n" not in refused.error
    document, (failure,) = _document(pdfs.mixed, options)  # the text page is kept, the scanned one reported
    assert [part.metadata for part in document.parts] == [{"page": 1}]
    assert (failure.path, failure.file) == (f"{pdfs.mixed} page 2", str(pdfs.mixed))
    assert install in failure.error and "no OCR" in failure.error


def test_a_page_over_the_pixel_bound_is_reported_and_the_other_pages_go_on(pdfs: Pdfs, tmp_path: Path) -> None:
    # Page 3: the top of a scan, 1700 x 1000 pixels at 200 dpi, under the bound; page 2 (1700 x 2200) is over it.
    top = write_scan(tmp_path / "top.pdf", [render_page(page_text(5), DPI, seed=5).crop((0, 0, 1700, 1000))], DPI)
    path = _merged(tmp_path / "three.pdf", pdfs.digital, pdfs.scan, top)
    document, (failure,) = _document(path, LoadOptions(max_image_pixels=2_000_000))
    assert _pages(document) == [1, 3]
    _assert_ocr(document.parts[1].metadata)
    assert cer(normalize(page_text(5))[:300], normalize(document.parts[1].text)[:300]) <= MAX_CER
    assert (failure.path, failure.file) == (f"{path} page 2", str(path))
    assert "RAG_INGEST_MAX_IMAGE_PIXELS" in failure.error and "\n" not in failure.error


def test_a_page_past_the_ocr_timeout_is_reported_and_the_text_page_kept(pdfs: Pdfs) -> None:
    document, (failure,) = _document(pdfs.mixed, LoadOptions(ocr_page_timeout_s=0.001))
    assert [part.metadata for part in document.parts] == [{"page": 1}]
    assert (failure.path, failure.file) == (f"{pdfs.mixed} page 2", str(pdfs.mixed))
    assert failure.error == "OCR took longer than 0.001 s (RAG_OCR_PAGE_TIMEOUT_S)"
    refused = _refusal(pdfs.scan, LoadOptions(ocr_page_timeout_s=0.001))  # nothing else to keep: the file is refused
    assert "RAG_OCR_PAGE_TIMEOUT_S" in refused.error


def test_a_scanned_page_with_a_stamped_line_of_text_is_still_ocrd(pdfs: Pdfs, tmp_path: Path) -> None:
    stamp = _letter()
    stamp.set_font("helvetica", size=8)
    stamp.text(20, 270, "CONFIDENTIAL ACME-0001234")
    stamp.output(str(tmp_path / "stamp.pdf"))
    writer = PdfWriter(clone_from=str(pdfs.scan))
    writer.pages[0].merge_page(PdfReader(tmp_path / "stamp.pdf").pages[0])
    writer.write(str(tmp_path / "stamped.pdf"))
    document, _ = _document(tmp_path / "stamped.pdf")
    assert cer(page_text(2), document.text.replace("CONFIDENTIAL ACME-0001234", "")) <= MAX_CER


# -- images --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "numbers"),
    [("scan.png", "png", (10,)), ("scan.jpg", "jpg", (11,)), ("scan.tiff", "tif", (12, 13, 14))],
)
def test_png_jpeg_and_multi_page_tiff_scans_are_read_page_by_page(
    name: str, kind: str, numbers: tuple[int, ...], tmp_path: Path
) -> None:
    images = [render_page(page_text(n), DPI, seed=n) for n in numbers]
    document, failures = _document(write_scan(tmp_path / name, images, DPI))
    assert failures == []
    assert document.metadata == {"format": kind, "pages": len(numbers)}
    assert _pages(document) == list(range(1, len(numbers) + 1))
    for part, number in zip(document.parts, numbers, strict=True):
        _assert_ocr(part.metadata)
        assert cer(page_text(number), part.text) <= MAX_CER, part.metadata


def test_an_image_without_ocr_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = write_scan(tmp_path / "scan.png", [Image.new("L", (850, 1100), 255)], 100)
    assert "RAG_OCR=off" in _refusal(path, LoadOptions(ocr="off")).error
    assert "apt-get install tesseract-ocr-xyz" in _refusal(path, LoadOptions(ocr_languages="xyz")).error


# -- the whole command ---------------------------------------------------------------------------------------------


def _deck(path: Path) -> Path:
    deck = Presentation()
    for title, body in (("Roadmap", "Ship the scanner in May."), ("Budget", "Hold costs flat this year.")):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    deck.save(str(path))
    return path


def _stored(store_path: Path) -> dict[str, list[Chunk]]:
    store = EdgeStore.under(store_path)
    try:
        chunks = [chunk for batch in store.scroll_points("docs") for chunk in batch.chunks]
    finally:
        store.close()
    by_doc: dict[str, list[Chunk]] = {}
    for chunk in sorted(chunks, key=lambda c: (c.doc_id, c.chunk_index)):
        by_doc.setdefault(chunk.doc_id, []).append(chunk)
    return by_doc


def test_rag_ingest_stores_a_scan_a_table_pdf_and_slides_with_their_pages_and_ocr(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    write_scan(folder / "scan.pdf", [render_page(page_text(n), DPI, seed=n) for n in (20, 21)], DPI)
    write_pdf(folder / "tables.pdf", [merged_table()])
    _deck(folder / "deck.pptx")
    result = run_cli(["ingest", str(folder), "--json"], rag_env(tmp_path / "store"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["documents_added"], summary["failed"]) == (3, [])
    stored = _stored(tmp_path / "store")
    assert sorted(stored) == ["deck.pptx", "scan.pdf", "tables.pdf"]
    assert summary["chunks_upserted"] == sum(len(chunks) for chunks in stored.values())
    scan = stored["scan.pdf"]
    assert {c.metadata["page"] for c in scan} == {1, 2}
    for chunk in scan:
        _assert_ocr(chunk.metadata)
    for number in (1, 2):  # the page's words are in its chunks (read within 3% above; chunks overlap)
        read = set(" ".join(c.text for c in scan if c.metadata["page"] == number).split())
        words = page_text(19 + number).split()
        assert sum(word in read for word in words) >= 0.95 * len(words)
    tables = stored["tables.pdf"]
    assert all(c.metadata["page"] == 1 and "ocr" not in c.metadata for c in tables)
    pieces = markdown_tables("\n\n".join(c.text for c in tables))  # split between rows, each under its head
    assert {(p.caption, tuple(p.rows[0])) for p in pieces} == {(pdf_caption(1, merged_table()), merged_table().header)}
    assert [row for p in pieces for row in p.rows[1:]] == _expected(merged_table())[1:]
    assert [c.metadata["page"] for c in stored["deck.pptx"]] == [1, 2]
    # RAG_OCR=off through the environment: the scan is reported, the rest stored.
    off = run_cli(["ingest", str(folder), "--json"], rag_env(tmp_path / "off", RAG_OCR="off"))
    assert off.returncode == 1, off.stderr
    summary = json.loads(off.stdout)
    assert summary["documents_added"] == 2
    assert summary["failed"] == [
        {"path": str(folder / "scan.pdf"), "error": "no extractable text: OCR is off (RAG_OCR=off)"}
    ]
