"""HTTP for a polite web source: the pace of its requests, and the validators (ETag, Last-Modified) a page is stored
under as its change token and asked for again with (`If-None-Match`, `If-Modified-Since`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping


class Pacer:
    """At most one request per `interval` seconds, across threads (the interval may grow: robots.txt's Crawl-delay)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            if self._next > now:
                time.sleep(self._next - now)
            self._next = max(now, self._next) + self.interval


def token_of(headers: Mapping[str, str]) -> str:
    """A response's change token: its ETag (`etag:...`), else its Last-Modified (`lm:...`), else "" (none)."""
    etag = headers.get("etag")
    if etag:
        return f"etag:{etag}"
    modified = headers.get("last-modified")
    return f"lm:{modified}" if modified else ""


def conditions(token: str) -> dict[str, str]:
    """The conditional request headers that ask whether a page changed since `token`."""
    if token.startswith("etag:"):
        return {"If-None-Match": token[len("etag:") :]}
    if token.startswith("lm:"):
        return {"If-Modified-Since": token[len("lm:") :]}
    return {}
