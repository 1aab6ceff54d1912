"""Admission to the in-process model: the line of answers waiting for it.

One generation runs at a time (the CPU is the bottleneck anyway), the others wait their turn in arrival order; at most
`max_waiting` wait, and one more is refused with `Overloaded` (429 `engine_overloaded`, Retry-After) before any token.
"""

from __future__ import annotations

import threading
from collections import deque

from rag.errors import Overloaded

RETRY_AFTER_S = 2.0  # what a refused caller is told to wait (Retry-After)


class GenerationLine:
    """Turns at the model: one generation at a time, first come first served, at most `max_waiting` waiting behind
    it. A cancelled generation stops counting at once: a waiter leaves the line (its thread ends), and the running
    one lets the next start as soon as it notices, within a token or a prefill chunk."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()
        self._counted: set[object] = set()  # waiting or running, not cancelled
        self._busy = False

    def join(self, ticket: object, max_waiting: int) -> None:
        with self._cond:
            if len(self._counted) > max_waiting:
                raise Overloaded(
                    f"the in-process model is busy: {len(self._counted)} answers are being generated or waiting "
                    f"(at most {max_waiting + 1}); retry later",
                    retry_after_s=RETRY_AFTER_S,
                )
            self._counted.add(ticket)
            self._waiting.append(ticket)

    def take_turn(self, ticket: object, cancelled: threading.Event) -> bool:
        """Wait for `ticket`'s turn: True when it has the model (`done` must follow), False when it was cancelled."""
        with self._cond:
            while not cancelled.is_set() and (self._busy or not self._waiting or self._waiting[0] is not ticket):
                self._cond.wait()
            if cancelled.is_set():
                return False
            self._waiting.popleft()
            self._busy = True
            return True

    def leave(self, ticket: object) -> None:
        """`ticket` was cancelled: it no longer counts, and it leaves the line if it is waiting."""
        with self._cond:
            self._counted.discard(ticket)
            if ticket in self._waiting:
                self._waiting.remove(ticket)
            self._cond.notify_all()

    def done(self, ticket: object) -> None:
        with self._cond:
            self._counted.discard(ticket)
            self._busy = False
            self._cond.notify_all()
