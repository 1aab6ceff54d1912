"""A chat holds its tenant's slot (rag/limits/chat_slots.py) for as long as it runs: a plain answer until it is ready,
a stream until its response has been sent, has failed or was cut off by its client; a chat that fails or is
cancelled before either gives it back at once."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from typing import TypeVar

from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from rag.limits.chat_slots import ChatSlot

T = TypeVar("T")


class _HeldStream(Response):
    """A streamed answer that gives back its chat's slot when its last event has been produced (before the response
    ends: a client that reads it to its end and asks again finds the slot free), when it fails, or when its client
    leaves; and, whatever else happens, once the response is over."""

    def __init__(self, stream: StreamingResponse, slot: ChatSlot) -> None:
        self._stream, self._slot = stream, slot
        self.status_code, self.background = stream.status_code, None
        self.raw_headers = stream.raw_headers  # the same list: headers set on either are the stream's
        stream.body_iterator = self._released_at_end(stream.body_iterator)

    async def _released_at_end(
        self, body: AsyncIterable[str | bytes | memoryview]
    ) -> AsyncIterator[str | bytes | memoryview]:
        try:
            async for chunk in body:
                yield chunk
        finally:  # the stream's own clean-up (its usage metered) ran first
            await self._slot.release()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._stream(scope, receive, send)
        finally:  # a stream never started, or left where a cancelled generator is not closed
            await self._slot.release()
        if self.background is not None:
            await self.background()


async def holding(slot: ChatSlot | None, chat: Awaitable[T]) -> T | Response:
    """`chat`'s answer, `slot` held while it runs (None: no slot to hold)."""
    if slot is None:
        return await chat
    try:
        answer = await chat
    except BaseException:
        await slot.release()
        raise
    if isinstance(answer, StreamingResponse):
        return _HeldStream(answer, slot)
    await slot.release()
    return answer
