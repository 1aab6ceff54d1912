"""HTML: the page's main content, extracted by trafilatura (favouring precision: navigation, headers, footers,
scripts and ads left out), as Markdown so that headings (`#`, `##`) and tables keep their structure; the title is the
page's own `<title>`.

A page trafilatura finds no main content in (a very short page) falls back to the text of `<main>`, `<article>` or
the body without its boilerplate tags, so that no page with text is reported empty.

Tables are rendered here, not by trafilatura (whose tables drop merged cells): each data `<table>` is swapped for a
placeholder paragraph before extraction, so trafilatura still decides what is main content and where each table
stands, and its Markdown table (ingest/formats/tables.py) is put in the placeholder's place after. Colspan and rowspan
are filled into a full grid; the header row is the `<thead>` (its rows joined column by column) or else the first
row; the caption is the `<caption>` or else the nearest heading before the table. A table holding another table, or
marked role="presentation", lays out the page rather than holding data: its rows and cells become plain blocks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import trafilatura
from bs4 import BeautifulSoup, Tag

from ingest.formats.base import Loaded, LoadOptions, title_from_name
from ingest.formats.tables import markdown_table, spanned_grid
from ingest.formats.text import decode_text, require_text
from ingest.sources.base import SourceFile
from rag.domain import Document

_BOILERPLATE_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template")
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_TABLE_PARTS = ("caption", "colgroup", "thead", "tbody", "tfoot", "tr", "td", "th")
_LAYOUT_ROLES = frozenset({"presentation", "none"})
_SPAN = re.compile(r"\s*(\d+)")


def _span(value: object, default: int) -> int:
    """A rowspan or colspan attribute as a number (its leading digits, as browsers read it), else `default`."""
    match = _SPAN.match(value) if isinstance(value, str) else None
    return int(match.group(1)) if match else default


def _owned(table: Tag, names: tuple[str, ...]) -> list[Tag]:
    """The elements named `names` that belong to this table, not to a table nested in it."""
    return [tag for tag in table.find_all(names) if tag.find_parent("table") is table]


def _markdown(table: Tag, budget: list[int]) -> str:
    """A data table (no table nested in it) as a Markdown table, merged cells filled. `budget` holds the cells still
    allowed in this page (each takes at least 3 characters of text): BadDocument past it."""
    rows = table.find_all("tr")

    def group(tr: Tag) -> str:
        found = tr.find_parent(("thead", "tbody", "tfoot", "table"))
        return found.name if found is not None else "table"

    head = [tr for tr in rows if group(tr) == "thead"]
    foot = [tr for tr in rows if group(tr) == "tfoot"]
    ordered = head + [tr for tr in rows if group(tr) not in ("thead", "tfoot")] + foot
    cells = [
        [
            (td.get_text(" ", strip=True), _span(td.get("rowspan"), 1), _span(td.get("colspan"), 1))
            for td in tr.find_all(("td", "th"))
        ]
        for tr in ordered
    ]
    grid = spanned_grid(cells, budget[0])
    budget[0] -= sum(len(row) for row in grid)
    if len(head) > 1:  # a header of several rows: each column's distinct texts, top to bottom
        width = max(len(row) for row in grid[: len(head)])
        header = [" ".join(dict.fromkeys(r[c] for r in grid[: len(head)] if c < len(r) and r[c])) for c in range(width)]
        grid = [header, *grid[len(head) :]]
    caption_tag = table.find("caption")
    caption = caption_tag.get_text(" ", strip=True) if isinstance(caption_tag, Tag) else ""
    heading = table.find_previous(_HEADINGS)
    if not caption and isinstance(heading, Tag):
        caption = heading.get_text(" ", strip=True)
    return markdown_table(grid, caption or None)


def _with_placeholders(html: str, options: LoadOptions) -> tuple[str, dict[str, str]]:
    """The page with each data table swapped for a placeholder paragraph (layout tables turned into plain blocks),
    and each placeholder's Markdown table; the page unchanged where it has no table."""
    soup = BeautifulSoup(html, "lxml")
    tables = soup.find_all("table")
    if not tables:
        return html, {}
    layout = [t for t in tables if t.find("table") is not None or str(t.get("role", "")).lower() in _LAYOUT_ROLES]
    parts = [part for t in layout for part in _owned(t, _TABLE_PARTS)]
    nonce = hashlib.sha256(html.encode("utf-8", "replace")).hexdigest()[:12]
    budget = [options.max_document_chars // 3]
    rendered: dict[str, str] = {}
    laid_out = {id(t) for t in layout}  # by identity: bs4 compares tags by their markup
    for i, table in enumerate(t for t in tables if id(t) not in laid_out):
        token = f"rag{nonce}table{i}"
        rendered[token] = _markdown(table, budget)
        placeholder = soup.new_tag("p")
        placeholder.string = token
        table.replace_with(placeholder)
    for tag in [*layout, *parts]:
        tag.name = "div"
    return str(soup), rendered


def _put_tables(text: str, rendered: dict[str, str]) -> str:
    """The extracted text with each placeholder that survived extraction replaced by its table, as a block of its
    own (a table trafilatura left out, in navigation or a footer, stays out)."""
    for token, table in rendered.items():
        block = "\n\n" + table.replace("\\", "\\\\") + "\n\n"  # a replacement template: backslashes doubled
        text = re.sub(rf"\n*[^\S\n]*{token}[^\S\n]*\n*", block, text)
    return text.strip()


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
    page, rendered = _with_placeholders(html, options)
    main = trafilatura.extract(
        page, output_format="markdown", include_tables=True, include_comments=False, favor_precision=True
    )
    text = require_text(_put_tables(main if main and main.strip() else _fallback_text(page), rendered))
    title = _title(html) or title_from_name(source)
    yield Document(source.doc_id, text, title, source.location, {"format": "html"})
