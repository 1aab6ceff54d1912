"""The web source (`rag ingest http(s)://...`, ingest/sources/web.py) against a real site on loopback
(tests/support/web_site.py): sitemap indexes, robots.txt, redirects, 404/410/5xx, conditional requests, a bounded
link crawl, the polite rate and credentials, through the real CLI into a real store (Qdrant Edge), and the exactness
property over generated edits and removals (hypothesis), driven through `SourceDocuments` and the `Ingestor`.

What the site served is counted by the site (`bodies`, `not_modified`, `requests`), never by the code under test."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.chunking import Chunker
from ingest.formats.base import LoadOptions
from ingest.source_documents import SourceDocuments
from ingest.sources.web import WebOptions, WebSource
from ingest.sync import IngestSummary
from rag.access.document_access import Reader
from rag.domain import Chunk
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.store.base import StoredDocument, VectorStore
from rag.store.edge import EdgeStore
from tests.support.cli import CliResult, run_cli
from tests.support.ingestors import ingestor_into_c
from tests.support.launcher import rag_env
from tests.support.web_site import BOILERPLATE_PHRASES, SITEMAP_NS, LocalSite, html_page

# Where `rag ingest` stores by default: collection RAG_COLLECTION's default, under tenant RAG_TENANT's default.
COLLECTION, TENANT = "docs", "default"
FAST = "200"  # requests a second in the tests that do not test the rate
SITEMAP_PATHS = ("/robots.txt", "/sitemap.xml")


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite() as served:
        yield served


@pytest.fixture
def elsewhere() -> Iterator[LocalSite]:
    """Another site (another port: another origin), where redirects and links point that must never be followed."""
    with LocalSite() as served:
        yield served


def _page(name: str, version: int = 0) -> str:
    """A page about `name`, its paragraph naming its version (`version N of NAME`, what the stored text is read
    for)."""
    return html_page(
        f"{name.title()} policy",
        [
            (
                f"About {name}",
                f"This is version {version} of {name}. It says what staff need to know about {name} and how to ask "
                "for help. The team that owns it keeps it current.",
            )
        ],
    )


def _ingest(source: str, store: Path, *flags: str, **env: str) -> tuple[CliResult, dict[str, Any]]:
    """`rag ingest SOURCE --json FLAGS` into `store`: the result and its JSON summary (exit 0 or 1 expected)."""
    result = run_cli(
        ["ingest", source, "--json", *flags], rag_env(store, **{"RAG_WEB_REQUESTS_PER_SECOND": FAST, **env})
    )
    assert result.returncode in (0, 1), result.stderr
    return result, json.loads(result.stdout.strip().splitlines()[-1])


def _stored(store: Path) -> dict[str, StoredDocument]:
    engine = EdgeStore.under(store)
    try:
        return {d.doc_id: d for d in engine.documents(COLLECTION, Reader.whole_tenant(TENANT))}
    finally:
        engine.close()


def _chunks_in(engine: VectorStore, collection: str) -> dict[str, list[Chunk]]:
    """Each stored document's chunks, in order."""
    found: dict[str, list[Chunk]] = {}
    for batch in engine.scroll_points(collection):
        for chunk in batch.chunks:
            found.setdefault(chunk.doc_id, []).append(chunk)
    return {d: sorted(cs, key=lambda c: c.chunk_index) for d, cs in found.items()}


def _chunks(store: Path) -> dict[str, list[Chunk]]:
    engine = EdgeStore.under(store)
    try:
        return _chunks_in(engine, COLLECTION)
    finally:
        engine.close()


def _joined(chunks: dict[str, list[Chunk]]) -> dict[str, str]:
    """Each document's chunk texts, in order, joined."""
    return {doc_id: "\n".join(c.text for c in cs) for doc_id, cs in chunks.items()}


def _is_page(path: str) -> bool:
    """Whether a path requested at the site is a page's (not robots.txt or a sitemap)."""
    return path not in SITEMAP_PATHS and not path.startswith("/sitemaps/")


def _page_requests(site: LocalSite) -> list[str]:
    """The paths requested at the site, robots.txt and the sitemaps left out."""
    return [p for _, _, p in site.requests if _is_page(p)]


def _page_bodies(site: LocalSite) -> Counter[str]:
    """The pages the site answered with a body (200), by path."""
    return Counter({p: n for p, n in site.bodies.items() if _is_page(p)})


# -- sitemaps and robots.txt -----------------------------------------------------------------------------------


def test_a_sitemap_index_lists_every_child_and_robots_disallowed_pages_are_never_requested(
    site: LocalSite, tmp_path: Path
) -> None:
    public = [f"/guide/{n}.html" for n in ("leave", "pay", "travel", "expenses", "security")]
    private = ["/private/salaries.html", "/guide/drafts/plan.html"]
    for path in public + private:
        site.put(path, _page(path.rsplit("/", 1)[-1].removesuffix(".html")))
    site.robots("User-agent: *\nDisallow: /private/\nDisallow: /guide/drafts/\n")
    site.sitemap_index(paths_per_sitemap=2)  # seven pages: four children

    result, summary = _ingest(site.url + "/sitemap.xml", tmp_path / "store")

    assert result.returncode == 0, result.stderr
    assert summary["failed"] == [] and summary["incomplete"] == []
    assert summary["documents_listed"] == 5 and summary["documents_added"] == 5 and summary["documents_fetched"] == 5
    stored = _stored(tmp_path / "store")
    assert set(stored) == {p.removeprefix("/") for p in public}
    assert {d.source for d in stored.values()} == {site.url + p for p in public}
    requested = [p for _, _, p in site.requests]
    assert {"/robots.txt", "/sitemap.xml", *(f"/sitemaps/{n}.xml" for n in range(1, 5))} <= set(requested)
    assert not [p for p in requested if p.startswith(("/private/", "/guide/drafts/"))]
    assert Counter(_page_requests(site)) == Counter(public)  # each page once
    assert {h["user-agent"] for h in site.headers_seen} == {"rag-platform-ingest/0.1"}


def test_robots_txt_redirected_on_the_site_is_followed(site: LocalSite, tmp_path: Path) -> None:
    site.redirect("/robots.txt", "/meta/robots.txt")
    site.put("/meta/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain; charset=utf-8")
    for path in ("/open.html", "/private/closed.html"):
        site.put(path, _page(path[1:]))
    site.sitemap_urls(["/open.html", "/private/closed.html"])

    result, summary = _ingest(site.url + "/sitemap.xml", tmp_path / "store")

    assert result.returncode == 0, result.stderr
    assert set(_stored(tmp_path / "store")) == {"open.html"} and summary["documents_listed"] == 1
    assert "/meta/robots.txt" in [p for _, _, p in site.requests]
    assert "/private/closed.html" not in [p for _, _, p in site.requests]


# -- redirects, 404 and 410 ------------------------------------------------------------------------------------


def test_redirects_are_followed_within_the_site_and_dropped_when_they_leave_it(
    site: LocalSite, elsewhere: LocalSite, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    site.robots("User-agent: *\nDisallow: /private/\n")
    for name in ("a", "new", "private/p"):
        site.put(f"/{name}.html", _page(name))
    elsewhere.put("/x.html", _page("x"))
    site.redirect("/old.html", "/new.html")
    site.redirect("/older.html", site.url + "/new.html", status=302)  # the same target: stored once
    site.redirect("/away.html", elsewhere.url + "/x.html")  # another origin
    site.redirect("/hidden.html", "/private/p.html", status=307)  # disallowed by robots.txt
    site.sitemap_urls(["/a.html", "/old.html", "/older.html", "/away.html", "/hidden.html"])

    first, summary = _ingest(site.url + "/sitemap.xml", store)

    assert first.returncode == 0, first.stderr
    assert summary["failed"] == [] and summary["documents_added"] == 2 and summary["documents_gone"] == 3
    stored = _stored(store)
    assert set(stored) == {"a.html", "new.html"}  # under the target's id
    assert stored["new.html"].source == site.url + "/new.html"
    assert site.bodies["/new.html"] == 1
    assert elsewhere.requests == []
    assert not [p for _, _, p in site.requests if p.startswith("/private/")]

    site.reset_counts()
    again, summary = _ingest(site.url + "/sitemap.xml", store)

    # the target answers 304 through the first redirect; the second redirect to it is dropped, not a duplicate
    assert again.returncode == 0, again.stderr
    assert summary["failed"] == [] and summary["documents_unchanged"] == 2 and summary["chunks_upserted"] == 0
    assert site.not_modified == Counter({"/a.html": 1, "/new.html": 1}) and not _page_bodies(site)
    assert elsewhere.requests == []


def test_404_and_410_are_gone_not_failed_and_pruned(site: LocalSite, tmp_path: Path) -> None:
    store = tmp_path / "store"
    for name in ("a", "b", "c"):
        site.put(f"/{name}.html", _page(name))
    site.sitemap_index()
    _ingest(site.url + "/sitemap.xml", store)
    assert set(_stored(store)) == {"a.html", "b.html", "c.html"}

    site.remove("/b.html")  # 404
    site.gone("/c.html")  # 410
    site.sitemap_urls(["/a.html", "/b.html", "/c.html", "/never.html"])  # still listed: a stale sitemap
    result, summary = _ingest(site.url + "/sitemap.xml", store, "--prune")

    assert result.returncode == 0, result.stderr
    assert summary["failed"] == [] and summary["incomplete"] == []
    assert summary["documents_gone"] == 3 and summary["documents_pruned"] == 2 and summary["documents_unchanged"] == 1
    assert set(_stored(store)) == {"a.html"}


# -- change detection ------------------------------------------------------------------------------------------


def test_an_unchanged_resync_answers_304s_an_edit_is_refetched_and_a_removed_page_pruned(
    site: LocalSite, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    pages = [f"/handbook/p{n}.html" for n in range(4)]
    for path in pages:
        site.put(path, _page(path))
    site.sitemap_index(paths_per_sitemap=3)
    first, summary = _ingest(site.url + "/sitemap.xml", store)
    assert first.returncode == 0 and summary["documents_added"] == 4 and summary["chunks_upserted"] >= 4
    before = _stored(store)

    site.reset_counts()
    again, summary = _ingest(site.url + "/sitemap.xml", store)

    assert again.returncode == 0, again.stderr
    assert summary["documents_unchanged"] == 4 and summary["documents_not_modified"] == 4
    assert summary["documents_fetched"] == 0 and summary["bytes_downloaded"] == 0
    assert summary["chunks_upserted"] == 0 and summary["embedding_tokens"] == 0
    assert site.not_modified == Counter(pages) and not _page_bodies(site)
    page_headers = [h for (_, _, p), h in zip(site.requests, site.headers_seen, strict=True) if p in pages]
    assert all(h.get("if-none-match") for h in page_headers)
    assert _stored(store) == before

    site.put(pages[1], _page(pages[1], version=1))
    site.remove(pages[3])
    site.put("/handbook/p4.html", _page("/handbook/p4.html"))
    site.reset_counts()
    third, summary = _ingest(site.url + "/sitemap.xml", store, "--prune")

    assert third.returncode == 0, third.stderr
    assert _page_bodies(site) == Counter([pages[1], "/handbook/p4.html"])
    assert summary["documents_updated"] == 1 and summary["documents_added"] == 1
    assert summary["documents_pruned"] == 1 and summary["documents_unchanged"] == 2
    texts = _joined(_chunks(store))
    assert set(texts) == {"handbook/p0.html", "handbook/p1.html", "handbook/p2.html", "handbook/p4.html"}
    assert "version 1 of" in texts["handbook/p1.html"] and "version 0 of" not in texts["handbook/p1.html"]


def test_a_regenerated_last_modified_over_the_same_content_stores_nothing(site: LocalSite, tmp_path: Path) -> None:
    store = tmp_path / "store"
    site.regenerate_last_modified(True)  # every answer: Last-Modified now, no ETag, never 304
    pages = [f"/p{n}.html" for n in range(3)]
    for path in pages:
        site.put(path, _page(path))
    site.sitemap_index()
    _ingest(site.url + "/sitemap.xml", store)
    before = _stored(store)
    time.sleep(1.1)  # a Last-Modified one second later (HTTP dates are to the second)

    site.reset_counts()
    result, summary = _ingest(site.url + "/sitemap.xml", store)

    assert result.returncode == 0, result.stderr
    assert _page_bodies(site) == Counter(pages)  # the hint said changed: fetched, hashed
    page_headers = [h for (_, _, p), h in zip(site.requests, site.headers_seen, strict=True) if p in pages]
    assert all(h.get("if-modified-since") for h in page_headers)
    assert summary["documents_fetched"] == 3 and summary["documents_unchanged"] == 3
    assert summary["chunks_upserted"] == 0 and summary["documents_updated"] == 0
    after = _stored(store)
    assert {d: s.hashes for d, s in after.items()} == {d: s.hashes for d, s in before.items()}
    assert all(after[d].tokens != before[d].tokens for d in before)  # the new Last-Modified kept for next time


# -- failures never lose anything ------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["500", "timeout"])
def test_a_page_that_fails_is_reported_and_its_stored_version_kept(
    site: LocalSite, tmp_path: Path, failure: str
) -> None:
    """The page keeps its stored version; and as the site (not the page) failed, the run prunes nothing under it,
    not even a page that left the sitemap."""
    store = tmp_path / "store"
    for name in ("a", "b", "c"):
        site.put(f"/{name}.html", _page(name))
    site.sitemap_index()
    _ingest(site.url + "/sitemap.xml", store)
    before = _stored(store)["b.html"]

    site.remove("/c.html")  # gone from the sitemap: pruned by a clean run
    if failure == "500":
        site.fail("/b.html", 500)
    else:
        site.slow("/b.html", 2.5)
    result, summary = _ingest(site.url + "/sitemap.xml", store, "--prune", RAG_WEB_TIMEOUT_S="1")

    assert result.returncode == 1
    assert [f["path"] for f in summary["failed"]] == [site.url + "/b.html"]
    assert ("HTTP 500" if failure == "500" else "Timeout") in summary["failed"][0]["error"]
    assert summary["documents_pruned"] == 0 and summary["documents_unchanged"] == 1
    assert summary["incomplete"] == [site.url + "/"]
    assert _stored(store)["b.html"] == before and "c.html" in _stored(store)
    assert f"failed: {site.url}/b.html" in result.stderr


@pytest.mark.parametrize("where", ["sitemap index", "one sitemap child", "robots.txt"])
def test_a_listing_that_fails_prunes_nothing_and_fetches_nothing(site: LocalSite, tmp_path: Path, where: str) -> None:
    store = tmp_path / "store"
    pages = [f"/p{n}.html" for n in range(5)]
    for path in pages:
        site.put(path, _page(path))
    site.sitemap_index(paths_per_sitemap=2)
    _ingest(site.url + "/sitemap.xml", store)
    assert len(_stored(store)) == 5

    site.remove(pages[0])
    site.put(pages[1], _page(pages[1], version=1))
    if where == "sitemap index":
        site.fail_sitemap(500)
    elif where == "one sitemap child":
        site.fail_sitemap(503, only="/sitemaps/2.xml")  # the listing fails part-way
    else:
        site.fail("/robots.txt", 503)
    site.reset_counts()
    result, summary = _ingest(site.url + "/sitemap.xml", store, "--prune")

    assert result.returncode == 1
    assert summary["incomplete"] == [site.url + "/"]
    assert [f["path"] for f in summary["failed"]] == [site.url + "/"]
    assert summary["documents_pruned"] == 0 and summary["chunks_upserted"] == 0
    assert _page_requests(site) == []  # the whole listing first: nothing fetched from a part of it
    assert set(_stored(store)) == {p[1:] for p in pages}


def _urlset(urls: list[str], extension: str = "") -> str:
    """A hand-written sitemap of `urls` (`extension`: more XML inside the first entry, such as an image's)."""
    entries = "".join(f"<url><loc>{u}</loc>{extension if i == 0 else ''}</url>" for i, u in enumerate(urls))
    image = 'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"'
    return f'<?xml version="1.0"?><urlset xmlns="{SITEMAP_NS}" {image}>{entries}</urlset>'


def _index(urls: list[str]) -> str:
    entries = "".join(f"<sitemap><loc>{u}</loc></sitemap>" for u in urls)
    return f'<?xml version="1.0"?><sitemapindex xmlns="{SITEMAP_NS}">{entries}</sitemapindex>'


def test_hand_written_sitemaps_gzipped_with_image_entries_and_an_index_listing_itself(
    site: LocalSite, tmp_path: Path
) -> None:
    for name in ("a", "b", "c"):
        site.put(f"/docs/{name}.html", _page(name))
    site.put("/docs/photo.jpg", b"\xff\xd8\xff", "image/jpeg")
    image = f"<image:image><image:loc>{site.url}/docs/photo.jpg</image:loc></image:image>"
    site.put("/docs/pages.xml", _urlset([site.url + "/docs/a.html", "/docs/b.html"], image), "application/xml")
    site.put("/docs/more.xml.gz", gzip.compress(_urlset([site.url + "/docs/c.html"]).encode()), "application/gzip")
    children = [f"{site.url}/docs/{n}" for n in ("pages.xml", "more.xml.gz", "index.xml")]
    site.put("/docs/index.xml", _index(children), "application/xml")

    result, summary = _ingest(site.url + "/docs/index.xml", tmp_path / "store")

    assert result.returncode == 0, result.stderr
    assert summary["documents_listed"] == 3 and summary["documents_gone"] == 0
    assert set(_stored(tmp_path / "store")) == {"a.html", "b.html", "c.html"}
    assert "/docs/photo.jpg" not in [p for _, _, p in site.requests]  # an image's <loc> is no page


def test_sitemap_indexes_nested_past_the_bound_fail_the_listing(site: LocalSite, tmp_path: Path) -> None:
    store = tmp_path / "store"
    site.put("/a.html", _page("a"))
    site.put("/b.html", _page("b"))
    for level in range(3):  # s0 -> s1 -> s2 -> s3: three indexes deep
        site.put(f"/s{level}.xml", _index([f"{site.url}/s{level + 1}.xml"]), "application/xml")
    site.put("/s3.xml", _urlset([site.url + "/a.html", site.url + "/b.html"]), "application/xml")
    first, _ = _ingest(site.url + "/s0.xml", store)
    assert first.returncode == 0, first.stderr
    assert set(_stored(store)) == {"a.html", "b.html"}

    site.put("/s3.xml", _index([site.url + "/s4.xml"]), "application/xml")  # one deeper: its pages unknown
    site.put("/s4.xml", _urlset([site.url + "/a.html"]), "application/xml")
    result, summary = _ingest(site.url + "/s0.xml", store, "--prune")

    assert result.returncode == 1
    assert summary["incomplete"] == [site.url + "/"] and "nested" in summary["failed"][0]["error"]
    assert summary["documents_pruned"] == 0 and set(_stored(store)) == {"a.html", "b.html"}
    assert "/s4.xml" not in [p for _, _, p in site.requests]


# -- a link crawl ----------------------------------------------------------------------------------------------


def _handbook(site: LocalSite, elsewhere: LocalSite) -> None:
    """A handbook under /handbook/ whose links go deep (a -> c -> d -> e), back up, out of the prefix, to another
    origin, to a disallowed folder, to an image, and through a redirect out of the prefix."""
    links = {
        "/handbook/": [
            "a.html",
            "/handbook/b.html",
            "moved.html",
            "../outside/x.html",
            elsewhere.url + "/handbook/z.html",
            "private/p.html",
            "logo.png",
            "#top",
        ],
        "/handbook/a.html": ["c.html"],
        "/handbook/b.html": ["/handbook/", "a.html#part"],
        "/handbook/c.html": ["d.html"],
        "/handbook/d.html": ["e.html"],
        "/handbook/e.html": [],
        "/handbook/private/p.html": [],
        "/outside/x.html": [],
        "/outside/y.html": [],
    }
    for path, hrefs in links.items():
        name = path.removeprefix("/handbook/").removesuffix(".html") or "handbook"
        site.put(path, html_page(f"{name} page", [(f"On {name}", f"Version 0 of {name}. Staff read it.")], hrefs))
    site.put("/handbook/logo.png", b"\x89PNG\r\n", "image/png")
    site.redirect("/handbook/moved.html", "/outside/y.html")
    site.robots("User-agent: *\nDisallow: /handbook/private/\n")
    elsewhere.put("/handbook/z.html", _page("z"))


def test_a_crawl_stays_under_its_prefix_and_within_its_depth(
    site: LocalSite, elsewhere: LocalSite, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    _handbook(site, elsewhere)

    result, summary = _ingest(site.url + "/handbook/", store, "--max-depth", "2")

    assert result.returncode == 0, result.stderr
    assert summary["failed"] == [] and summary["incomplete"] == []
    stored = _stored(store)
    assert set(stored) == {"index", "a.html", "b.html", "c.html"}  # d.html is at depth 3
    assert stored["index"].source == site.url + "/handbook/"
    assert summary["documents_gone"] == 1  # moved.html: redirects out of the prefix
    requested = [p for _, _, p in site.requests]
    assert set(requested) == {"/robots.txt", *(f"/handbook/{p}" for p in ("", "a.html", "b.html", "c.html"))} | {
        "/handbook/moved.html"
    }
    assert Counter(requested)["/handbook/a.html"] == 1  # a link back, or with a fragment, is the same page
    assert elsewhere.requests == []


def test_a_crawl_at_its_page_bound_is_incomplete_and_prunes_nothing(
    site: LocalSite, elsewhere: LocalSite, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    _handbook(site, elsewhere)
    _ingest(site.url + "/handbook/", store, "--max-depth", "3")
    assert set(_stored(store)) == {"index", "a.html", "b.html", "c.html", "d.html"}

    site.reset_counts()
    result, summary = _ingest(site.url + "/handbook/", store, "--max-depth", "3", "--max-pages", "3", "--prune")

    assert result.returncode == 0, result.stderr
    assert summary["documents_listed"] == 3 and summary["incomplete"] == [site.url + "/handbook/"]
    assert summary["documents_pruned"] == 0 and summary["failed"] == []
    assert "stopped at 3 pages" in result.stderr
    assert len(_page_requests(site)) == 3
    assert set(_stored(store)) == {"index", "a.html", "b.html", "c.html", "d.html"}
    assert elsewhere.requests == []


def test_a_crawl_page_that_fails_prunes_nothing(site: LocalSite, elsewhere: LocalSite, tmp_path: Path) -> None:
    store = tmp_path / "store"
    _handbook(site, elsewhere)
    _ingest(site.url + "/handbook/", store, "--max-depth", "2")
    before = _stored(store)

    site.fail("/handbook/a.html", 500)  # c.html is reached through it only: unknown this time
    site.remove("/handbook/b.html")  # gone, but the listing is not whole: kept until a complete one
    result, summary = _ingest(site.url + "/handbook/", store, "--max-depth", "2", "--prune")

    assert result.returncode == 1
    assert [f["path"] for f in summary["failed"]] == [site.url + "/handbook/a.html"]
    assert summary["incomplete"] == [site.url + "/handbook/"] and summary["documents_pruned"] == 0
    assert _stored(store) == before


# -- rate and credentials ----------------------------------------------------------------------------------------


def test_requests_go_at_the_rate_set(site: LocalSite, tmp_path: Path) -> None:
    for n in range(3):
        site.put(f"/p{n}.html", _page(f"p{n}"))
    site.sitemap_index(paths_per_sitemap=2)

    result, _ = _ingest(site.url + "/sitemap.xml", tmp_path / "store", RAG_WEB_REQUESTS_PER_SECOND="5")

    assert result.returncode == 0, result.stderr
    times = [t for t, _, _ in site.requests]
    assert len(times) == 7  # robots.txt, the index, two children, three pages
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.2 - 0.05, gaps  # as they reached the site: less the jitter of a request's way there
    assert times[-1] - times[0] >= 6 * 0.2 - 0.05


def test_credentials_reach_the_site_and_nothing_else(
    site: LocalSite, elsewhere: LocalSite, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every library's debug lines in the command's stderr too
    bearer, user, password = "Bearer tok-5e3f9a1c77", "alice", "pa55-w0rd-xyz"
    basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    secrets = [bearer.split()[1], password, basic.split()[1], f"{user}:"]
    store = tmp_path / "store"
    for name in ("a", "b"):
        site.put(f"/{name}.html", _page(name))
    site.fail("/b.html", 500)  # an error message naming its URL
    site.redirect("/away.html", elsewhere.url + "/x.html")
    site.sitemap_urls(["/a.html", "/b.html", "/away.html", "/missing.html"])
    with_userinfo = f"http://{user}:{password}@{site.url.removeprefix('http://')}/sitemap.xml"

    outputs: list[str] = []
    result, summary = _ingest(site.url + "/sitemap.xml", store, RAG_WEB_AUTHORIZATION=bearer)
    assert result.returncode == 1 and summary["documents_added"] == 1
    assert {h.get("authorization") for h in site.headers_seen} == {bearer}
    outputs += [result.stdout, result.stderr]

    site.reset_counts()
    site.put("/a.html", _page("a", version=1))
    result, summary = _ingest(with_userinfo, store)
    assert result.returncode == 1 and summary["documents_updated"] == 1
    assert {h.get("authorization") for h in site.headers_seen} == {basic}
    outputs += [result.stdout, result.stderr]

    site.fail_sitemap(500)
    result, summary = _ingest(with_userinfo, store, "--prune")
    assert result.returncode == 1 and summary["incomplete"] == [site.url + "/"]
    outputs += [result.stdout, result.stderr]

    home = html_page("Home", [("Pages", "The pages of the site. Read them.")], ["a.html", "b.html", "away.html"])
    site.put("/", home)
    result, summary = _ingest(with_userinfo.removesuffix("sitemap.xml"), store, "--max-depth", "1")  # a crawl
    assert result.returncode == 1 and summary["documents_added"] == 1 and summary["documents_unchanged"] == 1
    outputs += [result.stdout, result.stderr]

    assert elsewhere.requests == []  # the redirect off the site was not followed: its credentials stayed here
    chunks = [c for cs in _chunks(store).values() for c in cs]
    stored = [*outputs, *(d.source for d in _stored(store).values()), *(c.text + c.source + c.title for c in chunks)]
    assert not [(s, text) for s in secrets for text in stored if s in text]
    assert {d.source for d in _stored(store).values()} == {site.url + "/", site.url + "/a.html"}


# -- what is stored ----------------------------------------------------------------------------------------------


def test_the_main_content_is_stored_with_the_page_title_and_headings(site: LocalSite, tmp_path: Path) -> None:
    store = tmp_path / "store"
    site.put(
        "/leave.html",
        html_page(
            "Annual leave policy",
            [
                ("Booking leave", "Book leave in the staff portal two weeks ahead. Your manager approves it."),
                ("Carrying leave over", "Up to five days carry over into the next year. The rest lapses."),
            ],
        ),
    )
    site.sitemap_index()

    result, _ = _ingest(site.url + "/sitemap.xml", store)

    assert result.returncode == 0, result.stderr
    assert _stored(store)["leave.html"].title == "Annual leave policy"
    (chunk, *_) = _chunks(store)["leave.html"]
    text = _joined(_chunks(store))["leave.html"]
    assert chunk.title == "Annual leave policy"
    assert "## Booking leave" in text and "## Carrying leave over" in text
    assert "Book leave in the staff portal" in text and "Up to five days carry over" in text
    assert not [phrase for phrase in BOILERPLATE_PHRASES if phrase in text]


# -- the sync through SourceDocuments and the Ingestor ---------------------------------------------------------


class _CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed (an unchanged re-sync asks for none)."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner, self.embedded = inner, 0
        self.tokenizer, self.dimension, self.name = inner.tokenizer, inner.dimension, inner.name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def _sync(site: LocalSite, store: EdgeStore, embedder: Any, sparse: Bm25Encoder, **run: Any) -> IngestSummary:
    """One sync of the site's sitemap into collection `c` of tenant `t`, with --prune. A run that finished left none
    of the pages it fetched on disk."""
    chunker = Chunker(embedder.tokenizer, chunk_size=200, chunk_overlap=0)
    ingestor = ingestor_into_c(store, embedder, sparse, chunker, batch_chunks=run.pop("batch_chunks", 64))
    with tempfile.TemporaryDirectory() as scratch:
        options = WebOptions(requests_per_second=float(FAST))
        source = WebSource(site.url + "/sitemap.xml", options=options, scratch_root=Path(scratch))
        try:
            stored = ingestor.stored_documents()
            documents = SourceDocuments([source], stored, LoadOptions())
            summary = ingestor.run(documents, prune=documents.prunable, stored=stored, **run)
            summary.add_source_counts(documents.counts)
        finally:
            source.close()
        if summary.stopped is None:
            assert not list(Path(scratch).iterdir())
    return summary


def test_a_sync_stopped_part_way_resumes_without_fetching_what_it_stored(
    site: LocalSite, tmp_path: Path, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    pages = [f"/p{n}.html" for n in range(6)]
    for path in pages:
        site.put(path, _page(path))
    site.sitemap_index(paths_per_sitemap=3)
    store = EdgeStore.under(tmp_path)
    try:

        def crash(summary: IngestSummary) -> str | None:
            return "stopped" if summary.chunks_upserted >= 2 else None

        first = _sync(site, store, embedder, sparse, batch_chunks=1, stop=crash)
        assert first.stopped == "stopped"
        kept = {"/" + d.doc_id for d in store.documents("c", Reader.whole_tenant("t"))}
        assert 2 <= len(kept) < len(pages)

        site.reset_counts()
        again = _sync(site, store, embedder, sparse)

        assert again.failed == [] and again.documents_unchanged == len(kept)
        assert set(_page_bodies(site)) == set(pages) - kept and set(site.not_modified) == kept
        assert {d.doc_id for d in store.documents("c", Reader.whole_tenant("t"))} == {p[1:] for p in pages}
    finally:
        store.close()


PATHS = ("/a.html", "/b.html", "/guide/c.html", "/guide/d.html", "/guide/deep/e.html")
_EDIT = st.tuples(st.sampled_from(("put", "remove", "gone")), st.sampled_from(PATHS), st.integers(0, 2))


@settings(max_examples=15, deadline=None)
@given(steps=st.lists(st.lists(_EDIT, min_size=1, max_size=4), min_size=1, max_size=3))
def test_after_each_sync_the_store_equals_the_site_and_only_changed_pages_were_fetched(
    embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder, steps: list[list[tuple[str, str, int]]]
) -> None:
    counting = _CountingEmbedder(embedder)
    with LocalSite() as site, tempfile.TemporaryDirectory() as folder:
        site.sitemap_index(paths_per_sitemap=2)
        store = EdgeStore.under(Path(folder))
        try:
            pages: dict[str, int] = {}  # path -> version, as the site serves them now
            synced: dict[str, int] = {}  # path -> version at the last sync
            for step in steps:
                for action, path, version in step:
                    if action == "put":
                        site.put(path, _page(path, version))
                        pages[path] = version
                    else:
                        (site.remove if action == "remove" else site.gone)(path)
                        pages.pop(path, None)

                site.reset_counts()
                summary = _sync(site, store, counting, sparse)

                changed = {p for p, v in pages.items() if synced.get(p) != v}
                assert _page_bodies(site) == Counter(changed)  # counted at the site
                assert summary.failed == [] and summary.incomplete == []
                assert summary.documents_pruned == len(synced.keys() - pages.keys())
                stored = {d.doc_id: d for d in store.documents("c", Reader.whole_tenant("t"))}
                assert {d: s.source for d, s in stored.items()} == {p[1:]: site.url + p for p in pages}
                texts = _joined(_chunks_in(store, "c")) if stored else {}
                for path, version in pages.items():
                    assert f"version {version} of {path}." in texts[path[1:]]
                synced = dict(pages)

            site.reset_counts()
            embedded = counting.embedded
            again = _sync(site, store, counting, sparse)

            assert not _page_bodies(site) and site.not_modified == Counter(list(pages))
            assert again.chunks_upserted == 0 and counting.embedded == embedded
            assert again.documents_unchanged == len(pages) and again.documents_pruned == 0
        finally:
            store.close()
