"""Web sites as a source: a sitemap (`https://host/path/sitemap.xml`, or `.xml.gz`; sitemap indexes followed, three
deep at most) or a start URL whose same-site links are crawled, bounded by link depth and page count.

- The source never leaves the host and path prefix it was given: the sitemap's folder, or the start URL's (a start
  URL without a trailing slash whose last segment has no dot is taken as a folder). Redirects are followed within
  it; a redirect out of it drops the page.
- robots.txt is honoured (RFC 9309): a disallowed page is not listed; robots.txt missing (4xx) allows all; robots.txt
  unreachable (5xx, a timeout) fails the listing, so nothing is fetched and nothing pruned.
- Requests go at a polite rate (RAG_WEB_REQUESTS_PER_SECOND, or robots.txt's Crawl-delay when slower), one at a time,
  with RAG_WEB_USER_AGENT and, when set, RAG_WEB_AUTHORIZATION (to this site only).
- Change detection: conditional requests (`If-None-Match` with the stored ETag, else `If-Modified-Since` with the
  stored Last-Modified), a hint only: a 304 skips the page; a 200 is hashed, and a page whose validators changed but
  whose content did not stores nothing. A link crawl sends them only for pages at the depth bound: it must read the
  others to find their links, so its listing is exact.
- 404 and 410 mean the page is gone; any other error (5xx, 401/403, a timeout) is a failure that keeps the stored
  page, and in a link crawl also makes the listing incomplete (links under it unknown): nothing is pruned.
- A document's id is its path under the prefix (`?query` kept; the prefix's own page is `index`), its `source` the
  URL without credentials.
"""

from __future__ import annotations

import base64
import urllib.robotparser
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urldefrag, urljoin, urlsplit, urlunsplit

import httpx

from ingest.sources.base import (
    Fetched,
    FetchResult,
    Gone,
    KnownTokens,
    Listed,
    ListingFailed,
    ListingIncomplete,
    NotModified,
    SourceFile,
    Unfetched,
    UsageError,
    selected,
)
from ingest.sources.http_validators import Pacer, conditions, token_of
from ingest.sources.sitemaps import MAX_SITEMAP_BYTES, SITEMAP_NESTING, is_sitemap, parse_sitemap

_MAX_REDIRECTS = 5
# Content types to the format (loader suffix) they are loaded as.
_FORMATS = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}
# Links a crawl does not follow: not documents.
_NOT_DOCUMENTS = frozenset(
    ".png .jpg .jpeg .gif .svg .webp .ico .css .js .mjs .json .xml .zip .gz .tar .tgz .mp3 .mp4 .webm .woff .woff2"
    " .ttf .eot .exe .dmg .iso".split()
)


@dataclass(frozen=True, slots=True)
class WebOptions:
    """How a web source behaves (RAG_WEB_* settings; `--max-depth`/`--max-pages` override the bounds)."""

    requests_per_second: float = 2.0
    max_pages: int = 10_000
    max_depth: int = 3
    timeout_s: float = 30.0
    user_agent: str = "rag-platform-ingest/0.1"
    authorization: str | None = None
    max_page_bytes: int = 50_000_000


def _prefix_of(path: str, sitemap: bool) -> str:
    """The path prefix a source stays under (always ending in `/`)."""
    if sitemap or path.endswith("/"):
        return path.rsplit("/", 1)[0] + "/"
    last = path.rsplit("/", 1)[-1]
    return (path.rsplit("/", 1)[0] + "/") if "." in last else path + "/"


class _Stop(Exception):
    """A response that ends a fetch: gone, not modified, or failed."""

    def __init__(self, result: FetchResult) -> None:
        self.result = result


def _format(response: httpx.Response, path: str) -> str | None:
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media in _FORMATS:
        return _FORMATS[media]
    suffix = PurePosixPath(path).suffix.lower()
    return suffix if media in ("", "application/octet-stream") and suffix in _FORMATS.values() else None


class WebSource:
    """The pages of a site under a sitemap or a start URL (see the module's docstring)."""

    fetch_workers = 1  # one request at a time, at the polite rate

    def __init__(
        self,
        uri: str,
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        options: WebOptions,
        scratch_root: Path | None = None,
    ) -> None:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"'{_without_credentials(uri)}': expected http(s)://HOST/PATH")
        headers = {"User-Agent": options.user_agent}
        authorization = options.authorization
        if parts.username is not None:  # credentials in the URL: sent as Basic, never stored or printed
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        if authorization:
            headers["Authorization"] = authorization
        self._origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}".lower()  # host names ignore case
        self._start = urlunsplit((parts.scheme, self._origin.split("://", 1)[1], parts.path or "/", parts.query, ""))
        path = parts.path or "/"
        self._sitemap = is_sitemap(path)
        self._prefix = _prefix_of(path, self._sitemap)
        self._include, self._exclude, self._options = include, exclude, options
        self.follows_links = not self._sitemap
        # no automatic redirects: each hop is checked against the site and its robots.txt
        self._http = httpx.Client(headers=headers, timeout=options.timeout_s, follow_redirects=False)
        self._pacer = Pacer(1.0 / options.requests_per_second)
        self._robots: urllib.robotparser.RobotFileParser | None = None
        self._depth: dict[str, int] = {}
        self._frontier: deque[str] = deque()
        self._listed: set[str] = set()  # ids listed (or reached by a redirect) in this run
        self._failed_pages = 0
        self._scratch_root = scratch_root

    # -- where the source may go -------------------------------------------------------------------------------

    @property
    def uri(self) -> str:
        return self._origin + self._prefix

    def covers(self, stored_source: str) -> bool:
        return stored_source.startswith(self.uri) or stored_source == self.uri.rstrip("/")

    def _inside(self, url: str) -> bool:
        parts = urlsplit(url)
        return _origin_of(url) == self._origin and (
            (parts.path or "/").startswith(self._prefix) or (parts.path or "/") == self._prefix.rstrip("/")
        )

    def doc_id(self, url: str) -> str:
        parts = urlsplit(url)
        rel = (parts.path or "/")[len(self._prefix) :] if (parts.path or "/").startswith(self._prefix) else ""
        rel = rel or "index"
        return f"{rel}?{parts.query}" if parts.query else rel

    def _allowed(self, url: str) -> bool:
        return self._robots is None or self._robots.can_fetch(self._options.user_agent, url)

    # -- requests ----------------------------------------------------------------------------------------------

    def _get(
        self, url: str, headers: dict[str, str] | None = None, limit: int | None = None
    ) -> tuple[int, httpx.Headers, bytes]:
        """One paced GET: status, headers and the body (at most `limit` bytes: more raises _TooLarge)."""
        self._pacer.wait()
        with self._http.stream("GET", url, headers=headers or {}) as response:
            body = bytearray()
            if response.status_code == 200:
                for block in response.iter_bytes():
                    body += block
                    if limit is not None and len(body) > limit:
                        raise _TooLarge(f"larger than the {limit:,}-byte limit")
            return response.status_code, response.headers, bytes(body)

    def _read_robots(self) -> None:
        """robots.txt's rules and Crawl-delay; its redirects followed on this origin (RFC 9309 asks for five)."""
        url = robots_url = f"{self._origin}/robots.txt"
        for _ in range(_MAX_REDIRECTS + 1):
            try:
                status, headers, body = self._get(url, limit=500_000)
            except (httpx.HTTPError, _TooLarge) as exc:
                raise ListingFailed(f"{self.uri}: robots.txt unreachable ({_error(exc)}): nothing fetched") from None
            if status not in (301, 302, 303, 307, 308):
                break
            target = urldefrag(urljoin(url, headers.get("location", ""))).url
            if _origin_of(target) != self._origin:  # the credentials go to this site only
                raise ListingFailed(f"{self.uri}: robots.txt redirects to another site: nothing fetched")
            url = target
        robots = urllib.robotparser.RobotFileParser(robots_url)
        if 400 <= status < 500:
            robots.parse([])  # no rules: everything allowed
        elif status != 200:
            raise ListingFailed(f"{self.uri}: robots.txt answered HTTP {status}: nothing fetched, nothing pruned")
        else:
            robots.parse(body.decode("utf-8", errors="replace").splitlines())
        self._robots = robots
        delay = robots.crawl_delay(self._options.user_agent)
        if delay is not None and float(delay) > self._pacer.interval:
            self._pacer.interval = float(delay)

    # -- listing -----------------------------------------------------------------------------------------------

    def listing(self, wanted: Callable[[str], bool]) -> Iterator[Listed]:
        self._read_robots()
        if self._sitemap:
            yield from self._sitemap_listing(wanted)
        else:
            yield from self._crawl(wanted)

    def _takes(self, url: str) -> bool:
        return self._inside(url) and self._allowed(url) and selected(self.doc_id(url), self._include, self._exclude)

    def _sitemap_urls(self, url: str, level: int, seen: set[str]) -> Iterator[str]:
        if url in seen:  # an index listing itself, or a sitemap twice: its pages are listed already
            return
        if level > SITEMAP_NESTING:  # its pages unknown: the listing is not whole
            raise ListingFailed(f"sitemap {url}: indexes nested more than {SITEMAP_NESTING} deep: nothing pruned")
        seen.add(url)
        try:
            status, _, body = self._get(url, limit=MAX_SITEMAP_BYTES)
        except (httpx.HTTPError, _TooLarge) as exc:
            raise ListingFailed(f"sitemap {url} unreachable: {_error(exc)}; nothing pruned") from None
        if status != 200:
            raise ListingFailed(f"sitemap {url} answered HTTP {status}: nothing pruned")
        kind, locs = parse_sitemap(body, url)
        if kind == "sitemapindex":
            for child in locs:
                child_url = urljoin(url, child)
                if _origin_of(child_url) == self._origin:  # a sitemap on another host: ignored
                    yield from self._sitemap_urls(child_url, level + 1, seen)
        else:
            yield from (urldefrag(urljoin(url, loc)).url for loc in locs if loc)

    def _sitemap_listing(self, wanted: Callable[[str], bool]) -> Iterator[Listed]:
        listed: list[Listed] = []
        for url in self._sitemap_urls(self._start, 0, set()):
            doc_id = self.doc_id(url)
            if self._takes(url) and doc_id not in self._listed and wanted(doc_id):
                self._listed.add(doc_id)
                listed.append(Listed(doc_id, url))
        yield from listed  # all of it, or ListingFailed before any

    def _crawl(self, wanted: Callable[[str], bool]) -> Iterator[Listed]:
        self._frontier.append(self._start)
        self._depth[self._start] = 0
        count = 0
        while self._frontier:
            url = self._frontier.popleft()
            doc_id = self.doc_id(url)
            if doc_id in self._listed or not self._takes(url):
                continue
            if count >= self._options.max_pages:
                raise ListingIncomplete(
                    f"{self.uri}: stopped at {self._options.max_pages:,} pages (RAG_WEB_MAX_PAGES, --max-pages): "
                    "pages beyond are not listed, nothing pruned"
                )
            count += 1
            self._listed.add(doc_id)
            if wanted(doc_id):
                yield Listed(doc_id, url)  # the sync fetches it before asking for the next: its links join
        if self._failed_pages:
            raise ListingIncomplete(
                f"{self.uri}: {self._failed_pages} page(s) could not be read, links under them unknown: nothing pruned"
            )

    def _follow(self, url: str, depth: int, body: bytes, media: str) -> None:
        """Queue the same-site links of a page read at `depth` (unless at the depth bound)."""
        if depth >= self._options.max_depth or media != ".html":
            return
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(body, "html.parser")
        for anchor in soup.find_all("a", href=True):
            link = urldefrag(urljoin(url, str(anchor["href"]))).url
            if PurePosixPath(urlsplit(link).path).suffix.lower() in _NOT_DOCUMENTS:
                continue
            if self._inside(link) and link not in self._depth:
                self._depth[link] = depth + 1
                self._frontier.append(link)

    # -- fetching ----------------------------------------------------------------------------------------------

    def fetch(self, listed: Listed, known: KnownTokens) -> FetchResult:
        depth = self._depth.get(listed.uri, 0)
        try:
            return self._fetch(listed, known, depth)
        except _Stop as stop:
            if isinstance(stop.result, Unfetched) and self.follows_links:
                self._failed_pages += 1
            return stop.result

    def _fetch(self, listed: Listed, known: KnownTokens, depth: int) -> FetchResult:
        url, doc_id = listed.uri, listed.doc_id
        # a crawl reads every page above the depth bound for its links; a sitemap's pages may all answer 304
        conditional = not self.follows_links or depth >= self._options.max_depth
        for _ in range(_MAX_REDIRECTS + 1):
            headers = conditions(known(doc_id)) if conditional else {}
            try:
                status, response_headers, body = self._get(url, headers, limit=self._options.max_page_bytes)
            except _TooLarge as exc:
                raise _Stop(Unfetched(doc_id, url, f"page {exc}")) from None
            except httpx.HTTPError as exc:
                raise _Stop(Unfetched(doc_id, url, f"cannot fetch: {_error(exc)}", transient=True)) from None
            if status in (301, 302, 303, 307, 308):
                target = urldefrag(urljoin(url, response_headers.get("location", ""))).url
                if not self._takes(target):
                    raise _Stop(Gone(doc_id, url, "redirects out of the site or to a page not taken"))
                url, doc_id = target, self.doc_id(target)
                if doc_id != listed.doc_id and doc_id in self._listed:
                    raise _Stop(Gone(listed.doc_id, listed.uri, f"redirects to '{doc_id}', listed on its own"))
                continue
            if status == 304:
                self._listed.add(doc_id)  # a page redirecting here later is dropped, as after a 200
                return NotModified(doc_id, url)
            if status in (404, 410):
                return Gone(doc_id, url, f"HTTP {status}")
            if status != 200:
                raise _Stop(Unfetched(doc_id, url, f"HTTP {status}", transient=True))
            self._listed.add(doc_id)
            response = httpx.Response(status, headers=response_headers)
            suffix = _format(response, urlsplit(url).path)
            if suffix is None:
                media = response_headers.get("content-type", "no content type")
                return Gone(doc_id, url, f"not a document ({media})")
            if self.follows_links:
                self._follow(url, depth, body, suffix)
            file, scratch = self._spooled(doc_id, url, body, suffix)
            return Fetched(file, token_of(response.headers), len(body), scratch)
        raise _Stop(Unfetched(listed.doc_id, listed.uri, f"more than {_MAX_REDIRECTS} redirects"))

    def _spooled(self, doc_id: str, url: str, body: bytes, suffix: str) -> tuple[SourceFile, Path]:
        """The body in a file of a new scratch folder (removed by `Fetched.discard` once loaded)."""
        import tempfile

        scratch = Path(tempfile.mkdtemp(prefix="rag-web-", dir=self._scratch_root))
        stem = PurePosixPath(urlsplit(url).path).name or "index"
        name = stem if stem.lower().endswith(suffix) else f"{stem}{suffix}"
        path = scratch / name[-200:]
        path.write_bytes(body)
        return SourceFile(path, doc_id, uri=url), scratch

    def close(self) -> None:
        self._http.close()


class _TooLarge(Exception):
    pass


def _origin_of(url: str) -> str:
    """`scheme://netloc` of a URL, in lower case (userinfo kept: a URL with credentials is never this site's)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _error(exc: BaseException) -> str:
    """One line for an HTTP error; httpx's messages name the URL, which never holds credentials here."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
