"""How an answer travels: whole, as one JSON completion, or streamed as server-sent events.

A stream is committed (status 200) once retrieval succeeded and the LLM produced its first event, so a backend that
is down is a plain 503, or after RAG_STREAM_KEEPALIVE_S, whichever comes first: a slow retrieval or prefill then
sends SSE comment lines (`: keep-alive`) every RAG_STREAM_KEEPALIVE_S, so proxies and load balancers see bytes and
keep the connection. An error after the stream started is sent inside it in OpenAI's error shape, followed by
`[DONE]`.

The framing and the response are FastAPI's (`fastapi.sse`); its generator endpoints (`response_class=
EventSourceResponse`) do not fit this endpoint: one route answers JSON or a stream as the request asks, a failure
before the first event must still be a plain HTTP error (a generator endpoint commits 200 before its first item),
and their pings are every 15 s (a module constant) throughout, as `: ping`, where ours follow RAG_STREAM_KEEPALIVE_S
and stop once the answer flows. sse-starlette, not installed, would not remove that wait either: its pings too run
throughout the stream once it is committed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator

from fastapi.sse import EventSourceResponse, format_sse_event

from rag.answering.stream import StreamEvent, TokenDelta
from rag.errors import RagError
from serving.chat.instrumentation import ObservedChat
from serving.chat.translation import StreamChunks, completion
from serving.errors import code_of, error_body, status_of
from serving.protocol import ChatCompletion

log = logging.getLogger(__name__)
# Caches and proxies (nginx) pass each event on at once; FastAPI's own SSE routes send the first two alike.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
KEEPALIVE = format_sse_event(comment="keep-alive")  # an SSE comment: clients ignore it, proxies see traffic
DONE = format_sse_event(data_str="[DONE]")

Started = tuple[StreamEvent, AsyncGenerator[StreamEvent, None]]  # the answer's first event, and the rest


def _error(exc: BaseException, when: str) -> bytes:
    """A failure inside a stream, as an SSE event in OpenAI's error shape (no internals for an unexpected one)."""
    if isinstance(exc, RagError):
        log.warning("stream failed %s: %s", when, exc.message)
        body = error_body(status_of(exc), exc.message, param=exc.param, code=code_of(exc))
    else:
        log.error("stream failed %s", when, exc_info=exc)
        body = error_body(500, "internal server error")
    return format_sse_event(data_str=body.model_dump_json())


async def complete(chat: ObservedChat, model: str) -> ChatCompletion:
    """The whole answer, then one completion."""
    async for _ in chat.answer(await chat.ground()):
        pass  # the events are folded as they pass (chat.fold)
    return completion(chat.fold, chat.completion_id, model)


async def stream(chat: ObservedChat, chunks: StreamChunks, keepalive_s: float) -> EventSourceResponse:
    """The answer as server-sent events, committed once its first event came, or after `keepalive_s`."""
    started = asyncio.ensure_future(_start(chat))
    try:
        await asyncio.wait_for(asyncio.shield(started), timeout=keepalive_s)
    except TimeoutError:  # still retrieving or prefilling: commit the stream and keep it alive meanwhile
        body = _kept_alive(chat, started, chunks, keepalive_s)
    except BaseException:
        started.cancel()
        raise
    else:  # a failure before this point is a plain HTTP error
        body = _events(chat, *started.result(), chunks)
    return EventSourceResponse(body, headers=SSE_HEADERS)


async def _start(chat: ObservedChat) -> Started:
    """Retrieval, then the LLM's first event."""
    events = chat.answer(await chat.ground())
    try:
        first = await anext(events)
    except BaseException:
        await events.aclose()
        raise
    return first, events


async def _kept_alive(
    chat: ObservedChat, started: asyncio.Future[Started], chunks: StreamChunks, interval: float
) -> AsyncIterator[bytes]:
    try:
        while True:
            yield KEEPALIVE
            try:
                await asyncio.wait_for(asyncio.shield(started), timeout=interval)
                break
            except TimeoutError:
                continue
        first, events = started.result()
    except Exception as exc:
        yield _error(exc, "before its first token")
        yield DONE
        return
    finally:
        started.cancel()  # the client went away while waiting: stop retrieval and generation
    async for piece in _events(chat, first, events, chunks):
        yield piece


async def _events(
    chat: ObservedChat, first: StreamEvent, events: AsyncGenerator[StreamEvent, None], chunks: StreamChunks
) -> AsyncIterator[bytes]:
    """The role, a chunk per token delta, then the closing chunks read from the answer's fold, and `[DONE]`."""
    try:
        yield format_sse_event(data_str=chunks.opening())
        event: StreamEvent | None = first
        while event is not None:
            if isinstance(event, TokenDelta):
                yield format_sse_event(data_str=chunks.text(event.text))
            event = await anext(events, None)
        for closing in chunks.closing(chat.fold.finished):
            yield format_sse_event(data_str=closing)
    except Exception as exc:
        yield _error(exc, "after it started")
    finally:
        await events.aclose()
    yield DONE
