"""OpenAI's rate-limit headers: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`. The limiter's windows are
kept on the request's scope (`note`) and added to its response, whatever it is (an answer, a stream, a 429), by
RequestContextMiddleware (`headers`)."""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request
from starlette.types import Scope

from rag.errors import RateLimited
from rag.limits.limiter import Window

_KEY = "rate_limit_windows"
Kind = Literal["requests", "tokens"]


def note(request: Request, kind: Kind, window: Window | None) -> None:
    if window is not None:
        request.scope.setdefault("state", {}).setdefault(_KEY, {})[kind] = window


def note_refusal(request: Request, kind: Kind, refused: RateLimited) -> None:
    """A refused request's headers: the limit it hit, nothing left, and when it resets."""
    if refused.limit is not None:
        note(request, kind, Window(refused.limit, 0, refused.retry_after_s))


def duration(seconds: float) -> str:
    """A reset time as OpenAI writes it: `20ms`, `1s`, `6m0s`, `2h5m3s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    windows: dict[Kind, Window] = scope.get("state", {}).get(_KEY, {})
    out = []
    for kind, w in windows.items():
        out += [
            (f"x-ratelimit-limit-{kind}".encode(), str(w.limit).encode()),
            (f"x-ratelimit-remaining-{kind}".encode(), str(w.remaining).encode()),
            (f"x-ratelimit-reset-{kind}".encode(), duration(w.reset_s).encode()),
        ]
    return out
