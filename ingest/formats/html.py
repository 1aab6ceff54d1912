"""HTML: the page's main content, extracted by trafilatura (favouring precision: navigation, headers, footers,
scripts and ads left out), as Markdown so that headings (`#`, `##`) and tables keep their structure; the title is the
page's own `<title>`.

A page trafilatura finds no main content in (a very short page) falls back to the text of `<main>`, `<article>` or
the body without its boilerplate tags, so that no page with text is reported empty.
"""

from __future__ import annotations

from collections.abc import Iterator

import trafilatura
from bs4 import BeautifulSoup

from ingest.formats.base import Loaded, LoadOptions, title_from_name
from ingest.formats.text import decode_text, require_text
from ingest.sources.base import SourceFile
from rag.domain import Document

_BOILERPLATE_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template")


def _fallback_text(html: str) -> str:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(_BOILERPLATE_TAGS):
        tag.decompose()
    body = soup.find("main") or soup.find("article") or soup.body or soup
    lines = (line.strip() for line in body.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line)


def _title(html: str) -> str | None:
    """The page's own `<title>`, else the title trafilatura finds (a heading, the metadata)."""
    soup = BeautifulSoup(html, "html.parser")
    if soup.title and soup.title.get_text(strip=True):
        return soup.title.get_text(" ", strip=True)
    metadata = trafilatura.extract_metadata(html)
    return str(metadata.title) if metadata is not None and metadata.title else None


def load_html(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    html = decode_text(source.path.read_bytes())
    main = trafilatura.extract(
        html, output_format="markdown", include_tables=True, include_comments=False, favor_precision=True
    )
    text = require_text(main if main and main.strip() else _fallback_text(html))
    title = _title(html) or title_from_name(source)
    yield Document(source.doc_id, text, title, source.location, {"format": "html"})
