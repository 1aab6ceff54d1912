"""The `[n]` marker filter: whole markers checked however the text is split, bad numbers removed and counted."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.evidence.markers import MarkerFilter


def run(sources: int, deltas: list[str]) -> tuple[str, MarkerFilter]:
    markers = MarkerFilter(sources)
    text = "".join(markers.feed(d) for d in deltas) + markers.flush()
    return text, markers


def test_keeps_valid_markers_and_removes_those_that_name_no_source() -> None:
    text, markers = run(3, ["Paris is big ", "[", "1", "]", " and old [", "7]", ". Also [2,", " 9] and [3][1]."])
    assert text == "Paris is big [1] and old. Also [2] and [3][1]."
    assert markers.removed == 2
    assert markers.cited == {1, 2, 3}
    assert [text[m.start : m.end] for m in markers.markers] == ["[1]", "[2]", "[3]", "[1]"]
    assert [m.sources for m in markers.markers] == [(1,), (2,), (3,), (1,)]


def test_brackets_that_are_not_markers_pass_unchanged() -> None:
    text, markers = run(2, ["see [note] and a[", "b] or [1 and [", "2"])
    assert text == "see [note] and a[b] or [1 and [2"
    assert markers.markers == [] and markers.removed == 0


def test_a_removed_marker_never_closes_an_open_bracket_before_it() -> None:
    assert run(0, ["[1[1]]"])[0] == "[1 ]"  # not `[1]`, a marker naming a source that is not there
    assert run(0, ["[1", "[1]", "]"])[0] == "[1 ]"
    assert run(0, ["[[7]1]"])[0] == "[1 ]"
    assert run(0, ["[1,[1]1]"])[0] == "[1,1 ]"
    assert run(1, ["[1, [7]", "2", "]"])[0] == "[1,2 ]"
    assert run(0, ["[11111]"])[0] == ""  # a number of any length is checked


def test_zero_and_out_of_range_numbers_are_removed() -> None:
    text, markers = run(1, ["A [0] B [1, 1, 2]."])
    assert text == "A B [1]."
    assert markers.removed == 2  # 0 and 2; the repeated 1 is kept once
    assert markers.markers[0].sources == (1,)


_PIECES = st.sampled_from(["[", "]", "1", "2", "7", "0", ",", " ", ".", "a", "word", "[1]", "[9]", "[2, 3]", "\n"])


@settings(max_examples=400, deadline=None)
@given(
    sources=st.integers(min_value=0, max_value=4),
    pieces=st.lists(_PIECES, max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12),
)
def test_any_split_of_the_text_gives_the_same_checked_answer(sources: int, pieces: list[str], cuts: list[int]) -> None:
    whole = "".join(pieces)
    bounds = sorted({min(c, len(whole)) for c in cuts})
    deltas = [whole[a:b] for a, b in zip([0, *bounds], [*bounds, len(whole)], strict=True)]
    expected, reference = run(sources, [whole])
    text, markers = run(sources, deltas)
    assert text == expected
    assert markers.markers == reference.markers and markers.removed == reference.removed
    for marker in markers.markers:  # every span points at a marker naming only real sources
        assert re.fullmatch(r"\[\d+(, \d+)*\]", text[marker.start : marker.end])
        assert all(1 <= n <= sources for n in marker.sources)
    for found in re.finditer(r"\[(\d+(?:\s*,\s*\d+)*)\]", text):  # nothing left in the text names a missing source
        assert all(1 <= int(n) <= sources for n in re.findall(r"\d+", found.group(1)))


def test_removing_a_marker_never_forms_a_new_one() -> None:
    text, markers = run(2, ["x [", "[9]7] y [[8]1]"])
    assert "[7]" not in text and "[1]" not in text
    assert markers.markers == [] and markers.removed == 2
