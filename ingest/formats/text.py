"""Plain text in any common encoding; the decoding every text-based format shares."""

from __future__ import annotations

import codecs
from collections.abc import Iterator

from charset_normalizer import CharsetMatch, from_bytes

from ingest.formats.base import BadDocument, Loaded, LoadOptions, title_from_name
from ingest.sources.base import SourceFile
from rag.domain import Document

_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")
# When charset-normalizer finds several encodings equally plausible (short Western text decodes cleanly as cp1250
# and cp1252 alike), the more common one wins.
_COMMON = ("cp1252", "latin_1", "iso8859_15", "cp1251", "shift_jis", "gb18030", "big5", "euc_kr", "cp1250")


def _looks_binary(text: str) -> bool:
    sample = text[:20_000]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in _ALLOWED_CONTROLS)
    return controls > max(2, len(sample) // 100)


def _detected(data: bytes) -> CharsetMatch:
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise BadDocument("undecodable bytes: not text in any common encoding")
    tied = {m.encoding: m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)}
    return next((tied[e] for e in _COMMON if e in tied), best)


def _refuse_nul(data: bytes) -> None:
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadDocument("binary content (NUL bytes), not text")


def _refuse_binary(text: str) -> None:
    if _looks_binary(text):
        raise BadDocument("binary content (control characters), not text")


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, else the encoding charset-normalizer finds; binary content is refused."""
    _refuse_nul(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = str(_detected(data))
    _refuse_binary(text)
    return text


def detect_encoding(sample: bytes, *, partial: bool = False) -> str:
    """The encoding `decode_text` would pick for a text that starts with `sample` (cut anywhere when `partial`), for
    reading a large file line by line. Encodings whose newline is not the byte 0x0A (UTF-16, UTF-32) are refused."""
    _refuse_nul(sample)
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(sample, final=not partial)
        encoding = "utf-8-sig"
    except UnicodeDecodeError:
        match = _detected(sample)
        text, encoding = str(match), match.encoding
    if encoding != "utf-8-sig" and "\n".encode(encoding) != b"\n":
        raise BadDocument(f"a record file in {encoding} is not supported: convert it to UTF-8")
    _refuse_binary(text)
    return encoding


def require_text(text: str) -> str:
    if not text.strip():
        raise BadDocument("empty document")
    return text


def load_text(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    text = require_text(decode_text(source.path.read_bytes()))
    yield Document(source.doc_id, text, title_from_name(source), source.location, {"format": "txt"})
