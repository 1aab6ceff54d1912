"""A small real web site on loopback for the tests of the web source (`rag ingest https://...`): pages, robots.txt,
sitemaps, redirects, failures and conditional requests, served by the standard library's ThreadingHTTPServer in a
thread of the test process, its content changed by the test while it serves.

    with LocalSite() as site:                        # or site = LocalSite(); site.start(); ...; site.stop()
        site.put("/handbook/leave.html", html_page("Leave", [("Annual leave", "Staff get ...")], ["/a.html"]))
        site.robots("User-agent: *\\nDisallow: /private/\\n")
        site.sitemap_index(paths_per_sitemap=2)
        ...  # ingest site.url + "/sitemap.xml", or crawl from site.url + "/handbook/leave.html"
        assert site.bodies["/handbook/leave.html"] == 1

`LocalSite()` binds a free port on 127.0.0.1 at once (`url` is `http://127.0.0.1:PORT`, known before `start()`).
Every method below may be called from the test thread while the site serves (one lock guards the content).

Content (by path, such as "/handbook/leave.html"; a request's query is ignored unless a page was put under the
path with that query):
- `put(path, body, content_type="text/html; charset=utf-8")` adds or replaces a page, and ends its `fail`,
  `gone` or `redirect`; `remove(path)` makes it 404; `gone(path)` makes it 410; `fail(path, status=500)` makes
  it answer `status` until the next `put` (the page stays listed in the sitemap, as a page that is down would);
  `redirect(path, to, status=301)` answers `status` with `Location: to`, sent as given (a path on the site, or an
  absolute URL such as one on another host, to test that the crawl never leaves the site).
- `robots(text)` sets /robots.txt (404 until set).
- `sitemap_index(paths_per_sitemap=2)` makes /sitemap.xml a sitemap index of /sitemaps/1.xml, /sitemaps/2.xml, ...
  whose `<url><loc>` entries (absolute URLs, sorted, `paths_per_sitemap` a child) are the pages put and not
  removed, gone or redirected, read at request time (so a removed page leaves the sitemap); an entry of a page
  carries `<lastmod>` (the time of its `put`). `sitemap_urls(paths)` pins that list instead (paths, or absolute
  URLs; say a page that 404s, or a URL on another host) until the next `sitemap_index`. `fail_sitemap(status=500)`
  makes the index and its children answer `status` (`only="/sitemaps/2.xml"`: that child alone, a listing that
  fails part-way), `heal_sitemap()` ends it. /sitemap.xml is 404 until one of
  `sitemap_index` or `sitemap_urls` is called.
- `slow(path, seconds)` makes a request for `path` wait `seconds` before its answer (0 ends it): a timeout test.

Validators: a page's (robots.txt's, a sitemap's) `ETag` is a strong quoted hash of its body; a page's
`Last-Modified` is the time of its last `put` (robots.txt's: of `robots`; a sitemap has none), an HTTP date, so one
second is its resolution (two puts within a second share it: only the ETag tells them apart). A GET or HEAD whose
`If-None-Match` names the ETag (or is `*`) is answered 304 with no body; without `If-None-Match`, one whose
`If-Modified-Since` is at or after the Last-Modified is answered 304. After `regenerate_last_modified(True)` every
200 carries `Last-Modified` = now and no ETag, and no request is answered 304 (a site whose Last-Modified changes
although its content does not); `False` ends it.

What the site saw, for the test to read (never the code under test); `reset_counts()` empties them all:
- `bodies`: Counter of 200 answers with a body (GET, not HEAD) by the request's path (query included);
- `not_modified`: Counter of 304 answers by path (query included);
- `requests`: (time.monotonic(), method, path with query) of every request, in arrival order;
- `headers_seen`: the request headers of every request, in the order of `requests`, as a dict whose lookups
  ignore case (`headers_seen[-1]["authorization"]`, `["User-Agent"]`).

`html_page(title, headings_and_paragraphs, links=())` builds a realistic page: nav, header and footer boilerplate
(`BOILERPLATE_PHRASES` are its words, for a test that the main-content extraction drops them; its links point at a
fragment or at the unresolvable host `example.invalid`, never at the site) around a `<main>` of an `<h1>`, an
`<h2>` and paragraph a pair, and `links` as `<a href>` inside main. The paragraphs are written as given: give a
few sentences each, as real pages have (trafilatura 2.3 keeps even a one-sentence paragraph of this page).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
SITEMAP_CHILD = re.compile(r"/sitemaps/([1-9][0-9]*)\.xml")
HTML = "text/html; charset=utf-8"
BOILERPLATE_PHRASES = (
    "Skip to main content",
    "Intranet home",
    "Staff directory",
    "Example Corp. All rights reserved.",
    "Privacy notice",
    "Accessibility statement",
)  # the nav, header and footer words of `html_page`, never in its main content


class HeaderDict(dict[str, str]):
    """Request headers by lower-cased name (a repeated header's values joined by ", "), looked up in any case."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        for name, value in pairs:
            key = name.lower()
            self[key] = f"{self[key]}, {value}" if key in self else value

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name.lower() if isinstance(name, str) else name)

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


@dataclass(frozen=True)
class _Page:
    """One resource's body and validators: `modified` is its `put` time (time.time())."""

    body: bytes
    content_type: str
    etag: str
    modified: float | None


@dataclass(frozen=True)
class _Response:
    """An answer to write: status, headers, body (dropped for HEAD and 304)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""


def _page(body: str | bytes, content_type: str, modified: float | None) -> _Page:
    data = body.encode() if isinstance(body, str) else body
    return _Page(data, content_type, '"' + hashlib.sha256(data).hexdigest()[:32] + '"', modified)


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match names `etag` (the weak comparison RFC 9110 asks of If-None-Match)."""
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _not_modified_since(if_modified_since: str, modified: float) -> bool:
    """Whether an If-Modified-Since is at or after `modified` (to the second, as HTTP dates go); False if invalid."""
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        return False
    return since.timestamp() >= int(modified)


def _w3c_datetime(t: float) -> str:
    """A sitemap `<lastmod>`: W3C datetime in UTC, to the microsecond (two puts a second apart still differ)."""
    return datetime.fromtimestamp(t, UTC).isoformat()


class _Server(ThreadingHTTPServer):
    """The HTTP server, knowing its site and its open connections (closed on stop, keep-alive ones included)."""

    daemon_threads = True

    def __init__(self, site: LocalSite) -> None:
        self.site = site
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that went away (a timeout test's) is no error of the site."""


class _Handler(BaseHTTPRequestHandler):
    """Reads a request, asks the site for its answer, writes it (HTTP/1.1, keep-alive)."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection's thread ends after this

    def setup(self) -> None:
        super().setup()
        # headers and body go in two writes: without this, Nagle and the client's delayed ACK hold the body ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server = self._server()
        with server.connections_lock:
            server.connections.add(self.connection)

    def finish(self) -> None:
        server = self._server()
        with server.connections_lock:
            server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _server(self) -> _Server:
        assert isinstance(self.server, _Server)
        return self.server

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def _answer(self) -> None:
        response = self._server().site._respond(self.command, self.path, HeaderDict(self.headers.items()))
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD" and response.status != 304:
                self.wfile.write(response.body)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `LocalSite.requests` instead."""


class LocalSite:
    """A web site on 127.0.0.1 (a free port), served in a thread; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: dict[str, _Page] = {}
        self._answers: dict[str, _Response] = {}  # path -> a 410, a `fail` status or a redirect, before any page
        self._robots: _Page | None = None
        self._sitemap_per_child: int | None = None  # None: no sitemap (404)
        self._sitemap_pinned: list[str] | None = None
        self._sitemap_status: int | None = None
        self._sitemap_failing: str | None = None  # the one sitemap path `fail_sitemap` fails (None: all)
        self._regenerate = False
        self._delays: dict[str, float] = {}
        self.bodies: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self.requests: list[tuple[float, str, str]] = []
        self.headers_seen: list[dict[str, str]] = []
        self._server = _Server(self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The site's root, `http://127.0.0.1:PORT` (no trailing slash)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LocalSite:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        with self._server.connections_lock:
            for conn in list(self._server.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()

    def __enter__(self) -> LocalSite:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # content

    def put(self, path: str, body: str | bytes, content_type: str = HTML) -> None:
        """Add or replace the page at `path`, Last-Modified now; ends its `fail`, `gone` or `redirect`."""
        with self._lock:
            self._pages[path] = _page(body, content_type, time.time())
            self._answers.pop(path, None)

    def remove(self, path: str) -> None:
        """The page at `path` answers 404 (and leaves the sitemap)."""
        with self._lock:
            self._pages.pop(path, None)
            self._answers.pop(path, None)

    def gone(self, path: str) -> None:
        """The page at `path` answers 410 Gone (and leaves the sitemap)."""
        with self._lock:
            self._pages.pop(path, None)
            self._answers[path] = _error(410)

    def fail(self, path: str, status: int = 500) -> None:
        """The page at `path` answers `status` until the next `put` (it stays in the sitemap)."""
        with self._lock:
            self._answers[path] = _error(status)

    def redirect(self, path: str, to: str, status: int = 301) -> None:
        """`path` answers `status` with `Location: to` as given (a path here, or an absolute URL, another host's)."""
        with self._lock:
            self._pages.pop(path, None)
            body = f"Moved to {to}\n".encode()
            headers = [("Location", to), ("Content-Type", "text/plain; charset=utf-8")]
            self._answers[path] = _Response(status, [*headers, ("Content-Length", str(len(body)))], body)

    def robots(self, text: str) -> None:
        """Set /robots.txt (Last-Modified now)."""
        with self._lock:
            self._robots = _page(text, "text/plain; charset=utf-8", time.time())

    def sitemap_index(self, paths_per_sitemap: int = 2) -> None:
        """/sitemap.xml: an index of children listing the current pages, `paths_per_sitemap` a child (unpins)."""
        if paths_per_sitemap < 1:
            raise ValueError("paths_per_sitemap must be at least 1")
        with self._lock:
            self._sitemap_per_child = paths_per_sitemap
            self._sitemap_pinned = None

    def sitemap_urls(self, paths: Iterable[str]) -> None:
        """The sitemap lists these paths (or absolute URLs), sorted, in place of the current pages."""
        with self._lock:
            self._sitemap_pinned = list(paths)
            if self._sitemap_per_child is None:
                self._sitemap_per_child = 2

    def fail_sitemap(self, status: int = 500, only: str | None = None) -> None:
        """The sitemap index and its children (or the one at path `only`) answer `status` until `heal_sitemap`."""
        with self._lock:
            self._sitemap_status, self._sitemap_failing = status, only

    def heal_sitemap(self) -> None:
        with self._lock:
            self._sitemap_status = None

    def regenerate_last_modified(self, on: bool) -> None:
        """While on: every 200 carries Last-Modified = now and no ETag, and nothing is answered 304."""
        with self._lock:
            self._regenerate = on

    def slow(self, path: str, seconds: float) -> None:
        """A request for `path` waits `seconds` before its answer (0: no wait)."""
        with self._lock:
            if seconds > 0:
                self._delays[path] = seconds
            else:
                self._delays.pop(path, None)

    def reset_counts(self) -> None:
        """Empty `bodies`, `not_modified`, `requests` and `headers_seen` (the same objects, emptied)."""
        with self._lock:
            self.bodies.clear()
            self.not_modified.clear()
            self.requests.clear()
            self.headers_seen.clear()

    # serving (the server's threads)

    def _respond(self, method: str, target: str, headers: HeaderDict) -> _Response:
        """The answer to `method target`, counted."""
        path = urlsplit(target).path
        with self._lock:
            self.requests.append((time.monotonic(), method, target))
            self.headers_seen.append(headers)
            delay = self._delays.get(target, self._delays.get(path, 0.0))
        if delay:
            time.sleep(delay)
        with self._lock:
            response = self._response(target, path, headers)
            if response.status == 304:
                self.not_modified[target] += 1
            elif response.status == 200 and method != "HEAD":
                self.bodies[target] += 1
        return response

    def _response(self, target: str, path: str, headers: HeaderDict) -> _Response:
        """The answer to a GET or HEAD of `target` (its `path` without the query), under the lock."""
        if path == "/robots.txt" and self._robots is not None:
            return self._serve(self._robots, headers)
        if self._sitemap_per_child is not None and (path == "/sitemap.xml" or SITEMAP_CHILD.fullmatch(path)):
            if self._sitemap_status is not None and self._sitemap_failing in (None, path):
                return _error(self._sitemap_status)
            sitemap = self._sitemap(path)
            return _error(404) if sitemap is None else self._serve(_page(sitemap, "application/xml", None), headers)
        key = target if target in self._answers or target in self._pages else path
        if key in self._answers:
            return self._answers[key]
        if key in self._pages:
            return self._serve(self._pages[key], headers)
        return _error(404)

    def _serve(self, page: _Page, headers: HeaderDict) -> _Response:
        """200 with the page and its validators, or 304 where the request's validators say it is unchanged."""
        out = [("Content-Type", page.content_type)]
        if self._regenerate:
            out.append(("Last-Modified", formatdate(time.time(), usegmt=True)))
        else:
            out.append(("ETag", page.etag))
            if page.modified is not None:
                out.append(("Last-Modified", formatdate(page.modified, usegmt=True)))
            if_none_match, if_modified_since = headers.get("If-None-Match"), headers.get("If-Modified-Since")
            if if_none_match is not None:
                unchanged = _etag_matches(if_none_match, page.etag)
            else:
                unchanged = (
                    if_modified_since is not None
                    and page.modified is not None
                    and _not_modified_since(if_modified_since, page.modified)
                )
            if unchanged:
                return _Response(304, [h for h in out if h[0] != "Content-Type"])
        return _Response(200, [*out, ("Content-Length", str(len(page.body)))], page.body)

    def _sitemap(self, path: str) -> str | None:
        """The index (/sitemap.xml) or child (/sitemaps/N.xml) as XML; None for a child past the last."""
        assert self._sitemap_per_child is not None
        if self._sitemap_pinned is not None:
            urls = sorted(self._absolute(p) for p in self._sitemap_pinned)
        else:
            urls = sorted(self._absolute(p) for p in self._pages)
        per = self._sitemap_per_child
        children = [urls[i : i + per] for i in range(0, len(urls), per)]
        head = '<?xml version="1.0" encoding="UTF-8"?>\n'
        if path == "/sitemap.xml":
            entries = "".join(
                f"  <sitemap><loc>{escape(self.url)}/sitemaps/{n}.xml</loc></sitemap>\n"
                for n in range(1, len(children) + 1)
            )
            return f'{head}<sitemapindex xmlns="{SITEMAP_NS}">\n{entries}</sitemapindex>\n'
        match = SITEMAP_CHILD.fullmatch(path)
        assert match is not None
        n = int(match.group(1))
        if n > len(children):
            return None
        entries = "".join(f"  <url><loc>{escape(u)}</loc>{self._lastmod(u)}</url>\n" for u in children[n - 1])
        return f'{head}<urlset xmlns="{SITEMAP_NS}">\n{entries}</urlset>\n'

    def _absolute(self, path_or_url: str) -> str:
        return path_or_url if urlsplit(path_or_url).scheme else self.url + path_or_url

    def _lastmod(self, url: str) -> str:
        """A sitemap entry's `<lastmod>`: its page's `put` time, where the URL is a page of the site."""
        if not url.startswith(self.url + "/"):
            return ""
        page = self._pages.get(url.removeprefix(self.url))
        if page is None or page.modified is None:
            return ""
        return f"<lastmod>{_w3c_datetime(page.modified)}</lastmod>"


def _error(status: int) -> _Response:
    """A short plain-text answer with `status`."""
    body = f"{status}\n".encode()
    return _Response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))], body)


def html_page(title: str, headings_and_paragraphs: Sequence[tuple[str, str]], links: Sequence[str] = ()) -> str:
    """A realistic HTML page: `<title>`, nav, header and footer boilerplate (BOILERPLATE_PHRASES, its links off the
    site), and a `<main>` of `<h1>title</h1>`, an `<h2>` and a `<p>` per (heading, paragraph) pair, and `links` as
    `<a href>` in a closing paragraph. Text is HTML-escaped; hrefs are written as given (escaped)."""
    e = html.escape
    sections = "".join(
        f"      <section>\n        <h2>{e(heading)}</h2>\n        <p>{e(paragraph)}</p>\n      </section>\n"
        for heading, paragraph in headings_and_paragraphs
    )
    related = ""
    if links:
        anchors = ", ".join(f'<a href="{e(href)}">{e(_link_text(href))}</a>' for href in links)
        related = f"      <p>Related pages in this handbook: {anchors}.</p>\n"
    return f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>{e(title)}</title>
    <meta name="viewport" content="width=device-width, initial-scale=1">
  </head>
  <body>
    <a class="skip" href="#main">Skip to main content</a>
    <header>
      <nav aria-label="Site">
        <ul>
          <li><a href="https://intranet.example.invalid/">Intranet home</a></li>
          <li><a href="https://intranet.example.invalid/people">Staff directory</a></li>
          <li><a href="https://intranet.example.invalid/news">News</a></li>
        </ul>
      </nav>
    </header>
    <main id="main">
      <article>
      <h1>{e(title)}</h1>
{sections}{related}      </article>
    </main>
    <footer>
      <p>&copy; 2024 Example Corp. All rights reserved.</p>
      <ul>
        <li><a href="https://www.example.invalid/privacy">Privacy notice</a></li>
        <li><a href="https://www.example.invalid/accessibility">Accessibility statement</a></li>
      </ul>
    </footer>
  </body>
</html>
"""


def _link_text(href: str) -> str:
    """A link's words from its last path segment ("/handbook/sick-leave.html" -> "sick leave")."""
    name = urlsplit(href).path.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return name.replace("-", " ").replace("_", " ") or href
