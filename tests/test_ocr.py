"""OCR with the real Tesseract on scans generated from known text (tests/support/scans.py): the character error
rate at 200 dpi stays within 3% on a fixed set of pages, whether they come as PNG, JPEG, multi-page TIFF or an
image-only PDF; images and PDF pages too large to decode, and TIFFs of too many pages, are refused from their
headers with one line; a page past its time is stopped; a missing language names the command that installs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image

from ingest.formats.base import BadDocument
from ingest.ocr.engine import OcrEngine, OcrTimeout, OcrUnavailable
from ingest.ocr.factory import ocr_engine
from ingest.ocr.images import open_image_pages
from ingest.ocr.render import render_pdf_page
from tests.support.paths import ROOT
from tests.support.scans import (
    bomb_png,
    cer,
    many_page_tiff,
    page_text,
    render_page,
    scanned_pages,
    write_scan,
)

FIXED_SET = (0, 1, 2, 3)  # pages of tests/support/scans.py's fixed text
MAX_CER = 0.03
MAX_PIXELS, MAX_PAGES = 100_000_000, 5_000  # LoadOptions' defaults


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return ocr_engine("eng")


@pytest.fixture(scope="module")
def scans_200() -> list[tuple[str, Image.Image]]:
    return scanned_pages(FIXED_SET, 200)


def _read(engine: OcrEngine, image: Image.Image) -> str:
    return engine.read(image, timeout_s=60).text


def test_a_multi_page_tiff_at_200_dpi_is_read_page_by_page_within_3_percent(
    engine: OcrEngine, scans_200: list[tuple[str, Image.Image]], tmp_path: Path
) -> None:
    tiff = write_scan(tmp_path / "scan.tiff", [image for _, image in scans_200], 200)
    pages = open_image_pages(tiff, MAX_PIXELS, MAX_PAGES)
    errors = []
    for (number, page), (reference, _) in zip(pages, scans_200, strict=True):
        assert page.info["dpi"] == pytest.approx((200, 200), rel=1e-3)
        read = engine.read(page, timeout_s=60)
        assert 0.5 < read.confidence <= 1
        assert read.text.count("\n\n") == reference.count("\n\n")  # paragraphs come apart as blank lines
        errors.append((number, cer(reference, read.text)))
    assert [number for number, _ in errors] == [1, 2, 3, 4]
    assert max(error for _, error in errors) <= MAX_CER, errors
    assert engine.name.startswith("tesseract 5.")


def test_an_image_only_pdf_rendered_at_200_dpi_is_read_within_3_percent(
    engine: OcrEngine, scans_200: list[tuple[str, Image.Image]], tmp_path: Path
) -> None:
    path = write_scan(tmp_path / "scan.pdf", [image for _, image in scans_200], 200)
    pdf = pdfium.PdfDocument(path)
    try:
        for number, (reference, _) in enumerate(scans_200, start=1):
            page = render_pdf_page(pdf, number, dpi=200, max_pixels=MAX_PIXELS)
            assert page.mode == "L" and page.size == (1700, 2200)
            assert cer(reference, _read(engine, page)) <= MAX_CER
        with pytest.raises(BadDocument) as refused:  # 1700 x 2200 pixels at 200 dpi
            render_pdf_page(pdf, 2, dpi=200, max_pixels=3_000_000)
    finally:
        pdf.close()
    assert (
        str(refused.value)
        == "page 2: 1,700 x 2,200 pixels at 200 dpi, more than 3,000,000 (RAG_INGEST_MAX_IMAGE_PIXELS)"
    )


@pytest.mark.parametrize(("suffix", "dpi"), [(".png", 150), (".jpg", 200), (".png", 300)])
def test_png_and_jpeg_scans_at_each_resolution_are_read(
    engine: OcrEngine, suffix: str, dpi: int, tmp_path: Path
) -> None:
    reference = page_text(7)
    path = write_scan(tmp_path / f"scan{suffix}", [render_page(reference, dpi, seed=7)], dpi)
    [(number, page)] = open_image_pages(path, MAX_PIXELS, MAX_PAGES)
    assert number == 1 and page.info["dpi"] == pytest.approx((dpi, dpi), rel=1e-3)  # PNG keeps dots per metre
    assert cer(reference, _read(engine, page)) <= MAX_CER


def test_black_text_on_a_transparent_page_is_read_over_white(engine: OcrEngine, tmp_path: Path) -> None:
    reference = page_text(8)
    ink = render_page(reference, 200, seed=8)
    transparent = Image.new("LA", ink.size, 0)
    transparent.putalpha(ink.point(lambda value: 255 - value))  # black where the ink is, see-through elsewhere
    path = tmp_path / "transparent.png"
    transparent.save(path)
    [(_, page)] = open_image_pages(path, MAX_PIXELS, MAX_PAGES)
    assert cer(reference, _read(engine, page)) <= MAX_CER


def test_a_decompression_bomb_is_refused_from_its_header_in_one_line(tmp_path: Path) -> None:
    bomb = bomb_png(tmp_path / "bomb.png")  # 30,000 x 30,000: 112 MB decoded as 1-bit, 900 MB as grayscale
    assert bomb.stat().st_size < 200_000
    with pytest.raises(BadDocument) as refused:
        next(open_image_pages(bomb, MAX_PIXELS, MAX_PAGES))
    assert str(refused.value) == "an image of 900,000,000 pixels, more than 100,000,000 (RAG_INGEST_MAX_IMAGE_PIXELS)"
    wide = bomb_png(tmp_path / "wide.png", 30_000, 2_000)  # within Pillow's own bound, over ours
    with pytest.raises(BadDocument) as refused:
        next(open_image_pages(wide, 10_000_000, MAX_PAGES))
    assert str(refused.value) == (
        "an image of 30,000 x 2,000 pixels, more than 10,000,000 (RAG_INGEST_MAX_IMAGE_PIXELS)"
    )
    # in a process of its own: the refusal allocates none of the 112 MB a decode would
    probe = (
        "import resource, sys; from pathlib import Path; from ingest.ocr.images import open_image_pages\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try: next(open_image_pages(Path(sys.argv[1]), 100_000_000, 5_000))\n"
        "except ValueError as exc: print(exc)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(bomb)], capture_output=True, text=True, cwd=ROOT, check=True
    )
    message, grown_mb = done.stdout.splitlines()
    assert "RAG_INGEST_MAX_IMAGE_PIXELS" in message and int(grown_mb) < 20, done.stdout


def test_a_tiff_of_10000_pages_is_refused_before_its_first_page(tmp_path: Path) -> None:
    tiff = many_page_tiff(tmp_path / "pages.tiff", 10_000)
    assert tiff.stat().st_size < 2_000_000
    start = time.perf_counter()
    with pytest.raises(BadDocument) as refused:
        next(open_image_pages(tiff, MAX_PIXELS, MAX_PAGES))
    assert str(refused.value) == "more than 5,000 pages (RAG_INGEST_MAX_PAGES)"
    assert time.perf_counter() - start < 5
    small = many_page_tiff(tmp_path / "small.tiff", 30)
    assert [number for number, _ in open_image_pages(small, MAX_PIXELS, 30)] == list(range(1, 31))
    with pytest.raises(BadDocument, match="more than 29 pages"):
        next(open_image_pages(small, MAX_PIXELS, 29))


def test_files_that_are_not_images_are_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(BadDocument, match=r"^not a PNG, JPEG or TIFF image$"):
        next(open_image_pages(tmp_path / "text.png", MAX_PIXELS, MAX_PAGES))
    whole = write_scan(tmp_path / "whole.png", [Image.new("L", (400, 300), 255)], 200).read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BadDocument) as refused:
        next(open_image_pages(tmp_path / "cut.png", MAX_PIXELS, MAX_PAGES))
    assert str(refused.value).startswith("unreadable image (") and "\n" not in str(refused.value)


def test_a_page_past_its_time_is_stopped(engine: OcrEngine) -> None:
    page = render_page(page_text(9), 300, seed=9)
    start = time.perf_counter()
    with pytest.raises(OcrTimeout, match=r"longer than 0\.05 s \(RAG_OCR_PAGE_TIMEOUT_S\)"):
        engine.read(page, timeout_s=0.05)
    assert time.perf_counter() - start < 5


def test_a_missing_language_or_tesseract_names_the_command_that_installs_it() -> None:
    assert ocr_engine("eng") is ocr_engine(" eng ")  # one engine per languages setting
    with pytest.raises(OcrUnavailable) as missing:
        ocr_engine("eng+xyz")
    assert str(missing.value) == (
        "Tesseract has no language data for xyz: install it"
        " (./scripts/tesseract.sh xyz, or apt-get install tesseract-ocr-xyz)"
    )
    with pytest.raises(OcrUnavailable, match="not Tesseract language codes"):
        ocr_engine("eng;touch /tmp/x")
    probe = (
        "from ingest.ocr.factory import ocr_engine\n"
        "try: ocr_engine('eng')\n"
        "except Exception as exc: print(type(exc).__name__, exc)"
    )
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # Python's folder, no tesseract in it
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=env, check=True)
    assert done.stdout.strip() == (
        "OcrUnavailable Tesseract is not installed: install Tesseract"
        " (./scripts/tesseract.sh, or apt-get install tesseract-ocr tesseract-ocr-LANG)"
    )
