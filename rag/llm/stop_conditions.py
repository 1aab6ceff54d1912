"""Where an answer of the in-process model ends, besides the model's end token and `max_tokens`: before a stop
string, or after a sentence that repeats (a small model's greedy loop). The reader of the generation checks each
piece of text here, and cancels the generation once the answer has ended."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?\n])\s+")


def is_looping(text: str, min_chars: int = 24) -> bool:
    """True when the newest complete sentence already appeared earlier: greedy decoding of a small model has
    entered a loop, and everything after it would repeat. (Penalties would also punish copying the sources.)"""
    sentences = [s.strip() for s in _SENTENCE_END.split(text)]
    if len(sentences) < 3:
        return False
    newest = sentences[-2]  # the last element may be an unfinished sentence
    return len(newest) >= min_chars and newest in sentences[:-2]


class AnswerSoFar:
    """The answer's text so far; it ends before a stop string, or after a sentence that repeats (`is_looping`)."""

    def __init__(self, stop: list[str] | None) -> None:
        self.text = ""
        self.ended = False
        self._stop = stop or []

    def accept(self, piece: str) -> str:
        """What to emit of the next piece: the piece, or "" once the answer has ended (check `ended`)."""
        if self.ended or not piece:
            return ""
        # Stop strings are looked for in the text here, not by transformers' `StopStringCriteria`: that criterion
        # only ends `generate`, after the streamer has already delivered the piece holding the stop string, so
        # keeping the stop string out of the answer needs this check anyway; and it matches across the prompt's end
        # as well (with the stop "\n\n", a first "\n" after the chat template's "assistant\n" ends the answer at
        # once), which this check over the answer's own text does not. What it would save is one token: ours
        # notices the stop when the next word flushes the streamer.
        if any(s in self.text + piece for s in self._stop):
            self.ended = True
            return ""
        self.text += piece
        self.ended = is_looping(self.text)
        return piece
