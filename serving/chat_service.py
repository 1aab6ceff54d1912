"""Chat completions: OpenAI request -> rag pipeline -> OpenAI response or SSE stream (vLLM's serving-class pattern).

A stream is committed (status 200) once retrieval succeeded and the LLM produced its first event, so a backend
that is down is a plain 503, or after RAG_STREAM_KEEPALIVE_S, whichever comes first: a slow retrieval or prefill
then sends SSE comment lines (`: keep-alive`) every RAG_STREAM_KEEPALIVE_S, so proxies and load balancers see
bytes and keep the connection. An error after the stream started is sent inside it in OpenAI's error shape,
followed by `[DONE]`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from rag.access.identity import Principal
from rag.answering.pipeline import Grounding
from rag.answering.prompts import Turn
from rag.answering.requests import ChatRequest
from rag.answering.stream import AnswerFold, Finished, StreamEvent, TokenDelta
from rag.errors import InvalidInput, NotFound, RagError
from rag.limits.usage import UsageCounts
from rag.records.capture import ChatOutcome, StageTimes, chat_records
from serving.errors import code_of, error_body, status_of
from serving.evidence_out import extras, url_citations
from serving.metering import meter
from serving.protocol import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    Usage,
    completion_id,
    now,
)
from serving.state import AppState
from serving.tracing import tracer

log = logging.getLogger(__name__)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
KEEPALIVE = b": keep-alive\n\n"  # an SSE comment: clients ignore it, proxies see traffic


def _sse(payload: str) -> bytes:
    return f"data: {payload}\n\n".encode()


def _usage(finished: Finished) -> Usage:
    return Usage(
        prompt_tokens=finished.prompt_tokens,
        completion_tokens=finished.completion_tokens,
        total_tokens=finished.prompt_tokens + finished.completion_tokens,
    )


def _usage_counts(finished: Finished) -> UsageCounts:
    """A chat's metered usage: the LLM's tokens, one request, one retrieval."""
    return UsageCounts(
        prompt_tokens=finished.prompt_tokens,
        completion_tokens=finished.completion_tokens,
        requests=1,
        retrieval_calls=1,
    )


CHAT_ENDPOINT = "POST /v1/chat/completions"


class ChatService:
    """One chat request of one principal."""

    def __init__(self, state: AppState, principal: Principal) -> None:
        self._state, self._principal = state, principal

    def _domain_request(self, body: ChatCompletionRequest) -> ChatRequest:
        settings = self._state.settings
        if body.model != settings.api_model_name:
            raise NotFound(f"model '{body.model}' does not exist; use '{settings.api_model_name}'", param="model")
        if len(body.messages) > settings.max_messages:
            raise InvalidInput(
                f"too many messages: {len(body.messages)}, at most {settings.max_messages}", param="messages"
            )
        turns: list[Turn] = []
        for i, message in enumerate(body.messages):
            if message.role == "tool":
                raise InvalidInput("tool messages are not supported", param=f"messages.{i}.role")
            role = "system" if message.role == "developer" else message.role
            turns.append(Turn(role, message.text()))
        chars = sum(len(t.content) for t in turns)
        if chars > settings.max_input_chars:
            raise InvalidInput(
                f"the messages hold {chars} characters, at most {settings.max_input_chars}", param="messages"
            )
        request = self._state.components.requests.chat(
            turns,
            principal=self._principal,
            collection=body.collection,
            top_k=body.top_k,
            max_tokens=body.max_completion_tokens or body.max_tokens,
            temperature=body.temperature,
            filters=body.filter,
        )
        if request.max_tokens > settings.max_tokens_limit:
            param = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
            raise InvalidInput(f"{param} may be at most {settings.max_tokens_limit}", param=param)
        return request

    async def _ground(self, request: ChatRequest) -> Grounding:
        """Retrieval and the prompt, timed (rag_retrieval_duration_seconds), traced (`rag.retrieve`) and audited
        (the cited documents)."""
        with self._state.metrics.retrieving(request.collection, request.top_k, request.mode) as span:
            grounding = await run_in_threadpool(self._state.pipeline.ground, request)
            span.set_attribute("rag.hits", len(grounding.hits))
        doc_ids = list(dict.fromkeys(c.doc_id for c in grounding.citations))
        await self._state.audit.record(self._principal, CHAT_ENDPOINT, "retrieve", request.collection, doc_ids)
        return grounding

    async def _generate(
        self, request: ChatRequest, grounding: Grounding, arrived: float, cid: str
    ) -> AsyncGenerator[StreamEvent, None]:
        """The pipeline's events, timed (first token, LLM duration, tokens) and traced (`rag.generate`; the span is
        started, not made current: a generator resumes in other contexts); once the answer is whole, its records
        (its owner, and its trace where the tenant's are on) go to the background writer."""
        metrics, began, first_at = self._state.metrics, time.perf_counter(), None
        span = tracer.start_span("rag.generate", attributes={"rag.max_tokens": request.max_tokens})
        events = self._state.pipeline.astream(request, grounding)
        metered, pieces, finished = False, [], None
        try:
            async for event in events:
                if isinstance(event, TokenDelta):
                    pieces.append(event.text)
                    if first_at is None:
                        first_at = time.perf_counter()
                        metrics.first_token.observe(first_at - arrived)
                elif isinstance(event, Finished):
                    finished = event
                    metrics.tokens.inc(event.completion_tokens)
                    span.set_attributes(
                        {"rag.completion_tokens": event.completion_tokens, "rag.finish_reason": event.finish_reason}
                    )
                    # the LLM's own usage (vLLM's, or the in-process engine's count), before the closing chunks
                    metered = True
                    await meter(self._state, self._principal, _usage_counts(event))
                yield event
        except BaseException as exc:
            span.record_exception(exc)
            raise
        finally:
            metrics.llm.observe(time.perf_counter() - began)
            span.end()
            await events.aclose()
            if not metered:  # failed or cancelled before the LLM reported usage: the request, without tokens
                await asyncio.shield(meter(self._state, self._principal, UsageCounts(requests=1, retrieval_calls=1)))
            if finished is not None:
                times = StageTimes(arrived, began, first_at, time.perf_counter())
                outcome = ChatOutcome(cid, self._principal, request.collection, request.turns[-1].content, grounding,
                                      finished, "".join(pieces), times)  # fmt: skip
                for record in chat_records(self._state.record_policy, outcome, datetime.now(UTC)):
                    self._state.record_writer.submit(record)

    async def create(self, body: ChatCompletionRequest) -> ChatCompletion | StreamingResponse:
        arrived, cid = time.perf_counter(), completion_id()
        request = self._domain_request(body)
        if not body.stream:
            grounding = await self._ground(request)
            return await self._complete(self._generate(request, grounding, arrived, cid), cid)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        started = asyncio.ensure_future(self._start(request, arrived, cid))
        try:
            await asyncio.wait_for(asyncio.shield(started), timeout=self._state.settings.stream_keepalive_s)
        except TimeoutError:  # still retrieving or prefilling: commit the stream and keep it alive meanwhile
            stream = self._kept_alive(started, include_usage, cid)
        except BaseException:
            started.cancel()
            raise
        else:  # a failure before this point is a plain HTTP error
            stream = self._stream(*started.result(), include_usage, cid)
        return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)

    async def _start(
        self, request: ChatRequest, arrived: float, cid: str
    ) -> tuple[StreamEvent, AsyncGenerator[StreamEvent, None]]:
        """Retrieval, then the LLM's first event."""
        grounding = await self._ground(request)
        events = self._generate(request, grounding, arrived, cid)
        try:
            first = await anext(events)
        except BaseException:
            await events.aclose()
            raise
        return first, events

    async def _kept_alive(
        self,
        started: asyncio.Future[tuple[StreamEvent, AsyncGenerator[StreamEvent, None]]],
        include_usage: bool,
        cid: str,
    ) -> AsyncIterator[bytes]:
        interval = self._state.settings.stream_keepalive_s
        try:
            while True:
                yield KEEPALIVE
                try:
                    await asyncio.wait_for(asyncio.shield(started), timeout=interval)
                    break
                except TimeoutError:
                    continue
            first, events = started.result()
        except RagError as exc:
            log.warning("stream failed before its first token: %s", exc.message)
            yield _sse(error_body(status_of(exc), exc.message, param=exc.param, code=code_of(exc)).model_dump_json())
            yield _sse("[DONE]")
            return
        except Exception:
            log.exception("stream failed before its first token")
            yield _sse(error_body(500, "internal server error").model_dump_json())
            yield _sse("[DONE]")
            return
        finally:
            started.cancel()  # the client went away while waiting: stop retrieval and generation
        async for piece in self._stream(first, events, include_usage, cid):
            yield piece

    async def _complete(self, events: AsyncIterator[StreamEvent], cid: str) -> ChatCompletion:
        fold = AnswerFold()
        async for event in events:
            fold.add(event)
        evidence = fold.finished.evidence
        message = AssistantMessage(content=fold.text, annotations=url_citations(evidence))
        return ChatCompletion(
            id=cid,
            model=self._state.settings.api_model_name,
            choices=[Choice(message=message, finish_reason=fold.finished.finish_reason)],
            usage=_usage(fold.finished),
            **extras(evidence),
        )

    async def _stream(
        self,
        first: StreamEvent,
        events: AsyncGenerator[StreamEvent, None],
        include_usage: bool,
        cid: str,
    ) -> AsyncIterator[bytes]:
        created, model = now(), self._state.settings.api_model_name

        def chunk(choices: list[ChunkChoice], **extra: object) -> bytes:
            c = ChatCompletionChunk(
                id=cid,
                object="chat.completion.chunk",
                created=created,
                model=model,
                choices=choices,
                **extra,  # type: ignore[arg-type]
            )
            return _sse(c.model_dump_json(exclude_unset=True))  # only what is set: delta holds just what changed

        def choice(delta: Delta, finish_reason: str | None = None) -> ChunkChoice:
            return ChunkChoice(index=0, delta=delta, finish_reason=finish_reason, logprobs=None)

        try:
            yield chunk([choice(Delta(role="assistant", content=""))])
            finished = Finished(0, 0, "stop")
            event: StreamEvent | None = first
            while event is not None:
                if isinstance(event, TokenDelta):
                    yield chunk([choice(Delta(content=event.text))])
                else:
                    finished = event
                event = await anext(events, None)
            cited = url_citations(finished.evidence)
            yield chunk([choice(Delta(annotations=cited) if cited else Delta(), finished.finish_reason)])
            yield chunk([], **extras(finished.evidence))
            if include_usage:
                yield chunk([], usage=_usage(finished))
        except RagError as exc:
            log.warning("stream failed after it started: %s", exc.message)
            yield _sse(error_body(status_of(exc), exc.message, param=exc.param, code=code_of(exc)).model_dump_json())
        except Exception:
            log.exception("stream failed after it started")
            yield _sse(error_body(500, "internal server error").model_dump_json())
        finally:
            await events.aclose()
        yield _sse("[DONE]")
