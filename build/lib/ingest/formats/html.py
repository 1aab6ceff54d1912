"""HTML: the main content (`<main>`, `<article>` or the body) without navigation, headers, footers or scripts."""

from __future__ import annotations

from collections.abc import Iterator

from bs4 import BeautifulSoup

from ingest.formats.base import Loaded, LoadOptions, title_from_name
from ingest.formats.text import decode_text, require_text
from ingest.sources import SourceFile
from rag.domain import Document

_BOILERPLATE_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template")


def load_html(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    soup = BeautifulSoup(decode_text(source.path.read_bytes()), "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(_BOILERPLATE_TAGS):
        tag.decompose()
    body = soup.find("main") or soup.find("article") or soup.body or soup
    lines = (line.strip() for line in body.get_text("\n").splitlines())
    text = require_text("\n".join(line for line in lines if line))
    yield Document(source.doc_id, text, title or title_from_name(source), str(source.path), {"format": "html"})
