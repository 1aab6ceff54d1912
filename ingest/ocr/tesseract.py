"""Tesseract (Debian's `tesseract-ocr`, its LSTM recognizer) behind the OCR seam: one `tesseract` process per page,
killed at the page's timeout, so that a page that hangs or crashes Tesseract fails alone. benchmarks/ocr_engines.py
measured it against tesserocr, Debian's libtesseract in-process and RapidOCR (whose models ship in its wheel);
benchmarks/results/ocr_engines.json says why this one reads here.

The process runs on one OpenMP thread (OMP_THREAD_LIMIT=1): Debian builds Tesseract with OpenMP, and its LSTM opens
a parallel region of four threads at every time step; on two cores that cost about 4.5 CPU seconds a page at 200 dpi
against 0.75 on one thread (the benchmark's `pytesseract` row; `threads=None` keeps Tesseract's default). Two pages
read at once, in two processes, use both cores.

The page goes in on stdin as an uncompressed PGM (encoding a PNG costs a tenth of the OCR for nothing), with its
resolution when the image records it (`--dpi`; else Tesseract estimates it from the text's size). The text comes back
in Tesseract's reading order with `--psm 3` (automatic page segmentation: columns are read one by one): words joined
by spaces, lines by line breaks, paragraphs by blank lines.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
from collections.abc import Iterator

import numpy as np
from PIL import Image

from ingest.formats.base import BadDocument
from ingest.ocr.engine import INSTALL_HINT, OcrText, OcrTimeout, OcrUnavailable

COMMAND = "tesseract"
PSM = 3  # automatic page segmentation (columns, blocks, paragraphs), without an orientation pass


def grayscale(image: Image.Image) -> Image.Image:
    """`image` as 8-bit grayscale: transparency over white, 16- and 32-bit samples scaled to 0..255."""
    if image.mode == "L":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        samples = np.asarray(image, dtype=np.float64)
        top = float(samples.max()) or 1.0
        return Image.fromarray((samples * (255.0 / top)).clip(0, 255).astype(np.uint8), mode="L")
    if "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L")
    return image.convert("L")


def recorded_dpi(image: Image.Image) -> int | None:
    """The resolution the image records (PNG pHYs, JPEG JFIF, TIFF tags, or set by the PDF renderer), when it is
    plausible for a scan."""
    dpi = image.info.get("dpi")
    try:
        value = round(float(dpi[0])) if dpi else 0
    except (TypeError, ValueError, IndexError):
        return None
    return value if 70 <= value <= 2400 else None


def _words(tsv: str) -> Iterator[dict[str, str]]:
    """The word rows (level 5) of Tesseract's TSV output."""
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        if row.get("level") == "5" and (row.get("text") or "").strip():
            yield row


def text_from_tsv(tsv: str) -> OcrText:
    """Text and mean word confidence (0..1, over the words that have one) from Tesseract's TSV output."""
    paragraphs: list[list[list[str]]] = []
    confidences: list[float] = []
    last_paragraph: tuple[str, ...] = ()
    last_line: tuple[str, ...] = ()
    for word in _words(tsv):
        paragraph = (word["page_num"], word["block_num"], word["par_num"])
        line = (*paragraph, word["line_num"])
        if paragraph != last_paragraph:
            paragraphs.append([])
        if line != last_line:
            paragraphs[-1].append([])
        paragraphs[-1][-1].append(word["text"].strip())
        last_paragraph, last_line = paragraph, line
        try:
            confidence = float(word["conf"])
        except (TypeError, ValueError):
            continue
        if confidence >= 0:
            confidences.append(confidence)
    text = "\n\n".join("\n".join(" ".join(words) for words in lines) for lines in paragraphs)
    mean = sum(confidences) / len(confidences) / 100 if confidences else 0.0
    return OcrText(text, min(1.0, max(0.0, mean)))


def environment(threads: int | None) -> dict[str, str]:
    """The environment a `tesseract` process runs in: ours, its OpenMP threads bounded when `threads` is set."""
    env = dict(os.environ)
    if threads is not None:
        env["OMP_THREAD_LIMIT"] = str(threads)
    return env


class TesseractEngine:
    """Tesseract for `languages` (Tesseract codes joined by "+"), `threads` OpenMP threads a page (None: Tesseract's
    default), page segmentation mode `psm`. `ingest.ocr.factory.ocr_engine` checks that the binary and the
    languages are here before it makes one."""

    def __init__(self, languages: str, version: str, *, threads: int | None = 1, psm: int = PSM) -> None:
        self.languages = languages
        self.threads = threads
        self.psm = psm
        self._name = f"tesseract {version}"
        self._env = environment(threads)

    @property
    def name(self) -> str:
        return self._name

    def read(self, image: Image.Image, *, timeout_s: float) -> OcrText:
        """The page's text. OcrTimeout when Tesseract runs past `timeout_s` (the process is killed), OcrUnavailable
        when the binary or a language went missing since the engine was made, BadDocument (one line) when
        Tesseract fails on the image."""
        page = io.BytesIO()
        grayscale(image).save(page, format="PPM")  # binary PGM for a grayscale image
        command = [COMMAND, "stdin", "stdout", "-l", self.languages, "--oem", "1", "--psm", str(self.psm)]
        if (dpi := recorded_dpi(image)) is not None:
            command += ["--dpi", str(dpi)]
        try:
            done = subprocess.run(
                [*command, "tsv"],
                input=page.getbuffer(),
                capture_output=True,
                env=self._env,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:  # run() has killed the process
            raise OcrTimeout(f"OCR took longer than {timeout_s:g} s (RAG_OCR_PAGE_TIMEOUT_S)") from exc
        except FileNotFoundError as exc:
            raise OcrUnavailable(f"Tesseract is not installed: {INSTALL_HINT}") from exc
        if done.returncode != 0:
            message = " ".join(done.stderr.decode(errors="replace").split())[-300:]
            if "Failed loading language" in message:
                raise OcrUnavailable(f"Tesseract lacks a language of {self.languages}: {INSTALL_HINT}")
            raise BadDocument(f"Tesseract failed (exit {done.returncode}): {message}")
        return text_from_tsv(done.stdout.decode(errors="replace"))
