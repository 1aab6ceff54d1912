"""The `[n]` markers of an answer, checked as the answer streams.

The model cites its numbered sources as `[1]`, `[2]` or `[1, 3]`. `MarkerFilter` reads the answer's text deltas in
order and passes on the text a reader should see: a marker is checked once it is whole, also when its characters
arrive split over several deltas (the filter holds back a possible marker's start until it closes or cannot be
one). A number that names no source (`[7]` of three) is removed from the text and counted, never passed on; a
marker left with no number disappears with the space before it. `markers` gives each kept marker's span in the
text passed on, the spans OpenAI's `url_citation` annotations point at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A whole marker: digits, comma-separated, in brackets (also what attribution and the evals strip from a text).
MARKER_PATTERN = r"\[(\d+(?:\s*,\s*\d+)*)\]"
MARKER = re.compile(MARKER_PATTERN)
# What may still become a marker once more text arrives: an opening bracket and the start of its inside.
_OPEN_PREFIX = re.compile(r"\[(?:\d+(?:\s*,\s*\d+)*\s*(?:,\s*)?)?$")
# What may follow an open bracket and still close it into a marker.
_CONTINUATION = re.compile(r"[\d\s,]*")
_NUMBER = re.compile(r"\d+")
_TAIL = 256  # enough passed-on text to see an open marker's start


@dataclass(frozen=True, slots=True)
class Marker:
    """A marker as passed on: the source numbers it cites, and its span `[start, end)` in the passed-on text
    (Python string indices: code points)."""

    sources: tuple[int, ...]
    start: int
    end: int


@dataclass(slots=True)
class MarkerFilter:
    """Checks the markers of one answer citing `sources` numbered sources (1..sources)."""

    sources: int
    markers: list[Marker] = field(default_factory=list)
    removed: int = 0  # numbers that named no source
    _held: str = ""  # text not yet passed on: a possible marker's start, and whitespace before it
    _emitted: int = 0  # characters passed on so far
    _tail: str = ""  # the end of the text passed on
    _open: str | None = None  # an open `[n,` a removal left at the end of the text passed on: it must not close

    def feed(self, text: str) -> str:
        """The part of the answer so far that can be passed on, given its next delta."""
        buffer = self._held + text
        cut = _hold_from(buffer)
        self._held = buffer[cut:]
        return self._checked(buffer[:cut])

    def flush(self) -> str:
        """What was held back, at the end of the answer (an unclosed `[` is plain text)."""
        rest, self._held = self._held, ""
        return self._checked(rest)

    @property
    def cited(self) -> set[int]:
        """The source numbers the passed-on text cites."""
        return {n for m in self.markers for n in m.sources}

    def _unclosable(self, segment: str) -> str:
        """`segment`, passed on after a bracket a removal left open, with a space before a `]` that would close it
        into a marker (a marker has no space before its `]`)."""
        if self._open is None or not segment:
            return segment
        run = _CONTINUATION.match(segment)
        end = run.end() if run else 0
        if end == len(segment):  # still open: what comes next may close it
            self._open += segment
            return segment
        if segment[end] == "]" and MARKER.fullmatch(self._open + segment[: end + 1]):
            segment = segment[:end] + " " + segment[end:]
        self._open = None
        return segment

    def _checked(self, text: str) -> str:
        out: list[str] = []
        position = 0
        for match in MARKER.finditer(text):
            before = text[position : match.start()]
            numbers = [int(n) for n in _NUMBER.findall(match.group(1))]
            valid = tuple(dict.fromkeys(n for n in numbers if 1 <= n <= self.sources))
            self.removed += len(numbers) - sum(1 for n in numbers if 1 <= n <= self.sources)
            before = self._unclosable(before)
            if valid:
                out.append(before)
                start = self._emitted + sum(map(len, out))
                marker = "[" + ", ".join(map(str, valid)) + "]"
                out.append(marker)
                self.markers.append(Marker(valid, start, start + len(marker)))
            else:  # nothing left to cite: the marker goes, and the space that led to it
                kept = before[:-1] if before.endswith(" ") else before
                out.append(kept)
                # `[[7]1]` and `[1,[7]2]` must not become new markers once `[7]` is gone (`_unclosable`)
                left_open = _OPEN_PREFIX.search((self._tail + "".join(out))[-_TAIL:])
                self._open = left_open.group(0) if left_open else None
            position = match.end()
        out.append(self._unclosable(text[position:]))
        passed = "".join(out)
        self._emitted += len(passed)
        self._tail = (self._tail + passed)[-_TAIL:]
        return passed


def _hold_from(buffer: str) -> int:
    """Where the text that must wait for the next delta begins: the last `[` that may still open a marker, and the
    spaces before it (they go if the marker does); or the spaces the buffer ends with (a marker may follow)."""
    bracket = buffer.rfind("[")
    start = bracket if bracket >= 0 and _OPEN_PREFIX.fullmatch(buffer, bracket) else len(buffer)
    while start > 0 and buffer[start - 1] == " ":
        start -= 1
    return start
