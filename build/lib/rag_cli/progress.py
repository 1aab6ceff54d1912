"""Progress on long work: a tqdm bar on a terminal, and a plain line every `every_s` in job logs (no terminal)."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from tqdm import tqdm


class Progress:
    def __init__(self, total: int, desc: str, *, every_s: float = 30.0, unit: str = "document") -> None:
        self._tty = sys.stderr.isatty()
        self._bar = tqdm(total=total, unit=unit, desc=desc, disable=not self._tty)
        self._total, self._desc, self._every, self._unit = total, desc, every_s, unit
        self._done, self._last = 0, time.monotonic()

    def advance(self) -> None:
        self._bar.update(1)
        self._done += 1
        if not self._tty and time.monotonic() - self._last >= self._every:
            self._last = time.monotonic()
            print(f"{self._desc}: {self._done:,}/{self._total:,} {self._unit}s", file=sys.stderr, flush=True)

    def write(self, line: str) -> None:
        """A line on stderr that does not break the bar."""
        self._bar.write(line, file=sys.stderr)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._bar.close()
