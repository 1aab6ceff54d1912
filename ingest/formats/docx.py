"""DOCX with python-docx: paragraphs and tables in order; Word headings become Markdown headings, so chunks keep
their heading path as Markdown's do."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator

import docx
from docx.document import Document as DocxDocument
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from ingest.formats.base import BadDocument, Loaded, LoadOptions, title_from_name
from ingest.formats.text import require_text
from ingest.sources.base import SourceFile
from rag.domain import Document


def _paragraph(p: Paragraph) -> str:
    text = p.text.strip()
    style = (p.style.name if p.style is not None else "") or ""
    if text and style.startswith("Heading ") and style[8:].isdigit():
        return "#" * min(int(style[8:]), 6) + " " + text
    if text and style == "Title":
        return "# " + text
    return text


def _table(t: Table) -> str:
    return "\n".join(" | ".join(cell.text.strip() for cell in row.cells) for row in t.rows)


def _expanded_bytes(source: SourceFile) -> int:
    """What the package's parts inflate to, as its zip directory declares (zipfile never inflates a part past its
    declared size, so the sum bounds what python-docx can read)."""
    try:
        with zipfile.ZipFile(source.path) as package:
            return sum(info.file_size for info in package.infolist())
    except zipfile.BadZipFile as exc:
        raise BadDocument("corrupt DOCX (not a zip package)") from exc


def _text(document: DocxDocument, options: LoadOptions) -> str:
    """Paragraphs and tables in order, stopping as soon as the text is over the document limit."""
    blocks: list[str] = []
    size = 0
    for block in document.iter_inner_content():
        text = _paragraph(block) if isinstance(block, Paragraph) else _table(block)
        if text:
            blocks.append(text)
            size += len(text) + 2
            if size > options.max_document_chars:
                options.check_text("\n\n".join(blocks))
    return "\n\n".join(blocks)


def load_docx(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    expanded = _expanded_bytes(source)
    if expanded > options.max_expanded_bytes:
        raise BadDocument(
            f"expands to {expanded:,} bytes, over the {options.max_expanded_bytes:,}-byte limit "
            "(RAG_INGEST_MAX_EXPANDED_MB)"
        )
    try:
        document = docx.Document(str(source.path))
    except (zipfile.BadZipFile, KeyError, ValueError, PackageNotFoundError) as exc:
        raise BadDocument(f"corrupt DOCX: {exc}") from exc
    text = require_text(_text(document, options))
    core_title = (document.core_properties.title or "").strip()
    yield Document(source.doc_id, text, core_title or title_from_name(source), source.location, {"format": "docx"})
