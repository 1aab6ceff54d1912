"""The OCR engine this deployment reads with: Tesseract for the configured languages, made once per languages
setting and checked before it reads anything (the binary answers, every language's data is installed), so that a
scanned file is reported with the command that enables OCR rather than failing page by page."""

from __future__ import annotations

import re
import subprocess
from functools import cache

from ingest.ocr.engine import INSTALL_HINT, OcrEngine, OcrUnavailable
from ingest.ocr.tesseract import COMMAND, TesseractEngine

_LANGUAGE = re.compile(r"[A-Za-z0-9_]+")


def debian_package(language: str) -> str:
    """Debian's package for a Tesseract language code (`chi_sim` -> `tesseract-ocr-chi-sim`)."""
    return "tesseract-ocr-" + language.lower().replace("_", "-")


def _tesseract(*arguments: str) -> str:
    """What `tesseract ARGUMENTS` prints (stdout and stderr: versions print to either), or OcrUnavailable."""
    try:
        done = subprocess.run([COMMAND, *arguments], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OcrUnavailable(f"Tesseract is not installed: {INSTALL_HINT}") from exc
    if done.returncode != 0:
        raise OcrUnavailable(f"`tesseract {' '.join(arguments)}` failed here: {INSTALL_HINT}")
    return (done.stdout + done.stderr).decode(errors="replace")


def ocr_engine(languages: str) -> OcrEngine:
    """The engine for `languages` (RAG_OCR_LANGUAGES: Tesseract codes joined by "+", e.g. "eng+deu"), the same
    object for the same setting; OcrUnavailable, naming the command that installs what is missing, when Tesseract
    or one of the languages is not here (not cached: once installed, the next file reads)."""
    return _engine("+".join(part.strip() for part in languages.split("+")))


@cache
def _engine(languages: str) -> TesseractEngine:
    wanted = languages.split("+")
    if not all(_LANGUAGE.fullmatch(language) for language in wanted):
        raise OcrUnavailable(f"RAG_OCR_LANGUAGES={languages!r} is not Tesseract language codes joined by '+'")
    version = re.search(r"tesseract v?(\d+(?:\.\d+)*)", _tesseract("--version"))
    if version is None or int(version.group(1).split(".")[0]) < 4:
        raise OcrUnavailable(f"Tesseract 4 or later is needed (its LSTM recognizer): {INSTALL_HINT}")
    installed = set(_tesseract("--list-langs").split()[1:])  # after the "List of available languages..." line
    missing = [language for language in wanted if language not in installed]
    if missing:
        packages = " ".join(debian_package(language) for language in missing)
        raise OcrUnavailable(
            f"Tesseract has no language data for {', '.join(missing)}: install it"
            f" (./scripts/tesseract.sh {' '.join(missing)}, or apt-get install {packages})"
        )
    return TesseractEngine(languages, version.group(1))
