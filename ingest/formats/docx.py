"""DOCX with python-docx: paragraphs and tables in order; Word headings become Markdown headings, so chunks keep
their heading path as Markdown's do."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from ingest.formats.base import BadDocument, Loaded, LoadOptions, title_from_name
from ingest.formats.text import require_text
from ingest.sources import SourceFile
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


def load_docx(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    if not zipfile.is_zipfile(source.path):
        raise BadDocument("corrupt DOCX (not a zip package)")
    try:
        document = docx.Document(str(source.path))
    except (zipfile.BadZipFile, KeyError, ValueError, PackageNotFoundError) as exc:
        raise BadDocument(f"corrupt DOCX: {exc}") from exc
    blocks = [
        _paragraph(block) if isinstance(block, Paragraph) else _table(block) for block in document.iter_inner_content()
    ]
    text = require_text("\n\n".join(b for b in blocks if b))
    core_title = (document.core_properties.title or "").strip()
    yield Document(source.doc_id, text, core_title or title_from_name(source), str(source.path), {"format": "docx"})
