"""Sitemaps (sitemaps.org): a `<urlset>` of page URLs or a `<sitemapindex>` of child sitemaps, plain or gzip.

Only each entry's own `<loc>` counts (not the `<image:loc>`, video or news extensions inside a `<url>`). A sitemap
that cannot be read whole raises `ListingFailed`: its pages would otherwise look absent, and be pruned.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # expat refuses entity expansion bombs (billion laughs) itself
import zlib
from typing import Literal

from ingest.sources.base import ListingFailed

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the protocol's own limit (uncompressed)
SITEMAP_NESTING = 3  # indexes of indexes followed this deep at most

SitemapKind = Literal["urlset", "sitemapindex"]


def is_sitemap(path: str) -> bool:
    """A URL path that names a sitemap rather than a page to crawl from."""
    return path.lower().endswith((".xml", ".xml.gz"))


def _gunzipped(body: bytes, url: str) -> bytes:
    """A gzip-compressed sitemap (`sitemap.xml.gz`, served as is) uncompressed, within the protocol's limit."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflate.decompress(body, MAX_SITEMAP_BYTES)
    except zlib.error as exc:
        raise ListingFailed(f"sitemap {url} is not valid gzip ({exc}): nothing pruned") from None
    if inflate.unconsumed_tail:
        raise ListingFailed(f"sitemap {url} inflates past {MAX_SITEMAP_BYTES:,} bytes: nothing pruned")
    return data


def _local(tag: str) -> str:
    """An XML tag's name without its `{namespace}`."""
    return tag.rsplit("}", 1)[-1]


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def parse_sitemap(body: bytes, url: str) -> tuple[SitemapKind, list[str]]:
    """The sitemap's kind and its entries' `<loc>` values, in order (relative to `url` where relative)."""
    if body[:2] == b"\x1f\x8b":
        body = _gunzipped(body, url)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ListingFailed(f"sitemap {url} is not XML ({exc}): nothing pruned") from None
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise ListingFailed(f"sitemap {url}: expected <urlset> or <sitemapindex>, got <{kind}>")
    entry = "sitemap" if kind == "sitemapindex" else "url"
    locs = [
        (loc.text or "").strip()
        for e in root
        if _local(e.tag) == entry
        for loc in e
        if _local(loc.tag) == "loc" and _namespace(loc.tag) == _namespace(e.tag)
    ]
    return ("urlset" if kind == "urlset" else "sitemapindex"), locs
