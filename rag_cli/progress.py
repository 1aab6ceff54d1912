"""Progress on long work: a tqdm bar on a terminal, and a plain line every `every_s` in job logs (no terminal).

The total may grow while the work runs (a source's listing: `add_total`), and an ingestion's source counts (listed,
fetched, bytes downloaded, not modified: `show`) ride along, on the bar and in the plain lines.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType

from tqdm import tqdm

from ingest.sources.base import SourceCounts


class Progress:
    def __init__(self, total: int, desc: str, *, every_s: float = 30.0, unit: str = "document") -> None:
        self._tty = sys.stderr.isatty()
        self._bar = tqdm(total=total, unit=unit, desc=desc, disable=not self._tty)
        self._total, self._desc, self._every, self._unit = total, desc, every_s, unit
        self._done, self._last = 0, time.monotonic()
        self._counts: SourceCounts | None = None

    def add_total(self, n: int) -> None:
        self._total += n
        self._bar.total = self._total
        self._bar.refresh()

    def show(self, counts: SourceCounts) -> None:
        """Show these source counts (read each time the bar moves)."""
        self._counts = counts

    def _counts_text(self) -> str:
        c = self._counts
        if c is None:
            return ""
        return (
            f"{c.documents_listed:,} listed, {c.documents_fetched:,} fetched ({c.bytes_downloaded / 1e6:,.1f} MB), "
            f"{c.documents_not_modified:,} not modified"
        )

    def advance(self) -> None:
        self._bar.update(1)
        self._done += 1
        if self._counts is not None and self._tty:
            self._bar.set_postfix_str(self._counts_text(), refresh=False)
        if not self._tty and time.monotonic() - self._last >= self._every:
            self._last = time.monotonic()
            counts = f" ({self._counts_text()})" if self._counts is not None else ""
            print(f"{self._desc}: {self._done:,}/{self._total:,} {self._unit}s{counts}", file=sys.stderr, flush=True)

    def write(self, line: str) -> None:
        """A line on stderr that does not break the bar."""
        self._bar.write(line, file=sys.stderr)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._bar.close()
