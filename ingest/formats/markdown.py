"""Markdown: the first `# ` heading is the title; chunking keeps each chunk's heading path (ingest.chunking)."""

from __future__ import annotations

from collections.abc import Iterator

from ingest.formats.base import Loaded, LoadOptions, title_from_name
from ingest.formats.text import decode_text, require_text
from ingest.sources.base import SourceFile
from rag.domain import Document


def _title(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return None


def load_markdown(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    text = require_text(decode_text(source.path.read_bytes()))
    title = _title(text) or title_from_name(source)
    yield Document(source.doc_id, text, title, source.location, {"format": "md"})
