"""The OCR engine seam: an image in, its text and the engine's confidence out.

`ocr_engine(languages)` gives the engine this deployment reads with (docs/ingestion.md says which and why), or
raises `OcrUnavailable` with the command that installs it: a scanned document is then reported, not dropped
silently, and everything else ingests as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PIL.Image import Image

INSTALL_HINT = "install Tesseract (./scripts/tesseract.sh, or apt-get install tesseract-ocr tesseract-ocr-LANG)"


class OcrUnavailable(Exception):
    """No OCR engine here (or not for these languages); the message says how to enable it."""


class OcrTimeout(Exception):
    """A page took longer than RAG_OCR_PAGE_TIMEOUT_S."""


@dataclass(frozen=True, slots=True)
class OcrText:
    """A page's text as the engine read it, and its mean word confidence (0 to 1)."""

    text: str
    confidence: float


class OcrEngine(Protocol):
    @property
    def name(self) -> str:
        """The engine and its version, as chunks' metadata names it (`tesseract 5.3.0`)."""
        ...

    def read(self, image: Image, *, timeout_s: float) -> OcrText: ...
