"""Chat completions: OpenAI request -> rag pipeline -> OpenAI response or SSE stream (vLLM's serving-class pattern).

A stream is committed (status 200) only after retrieval succeeded and the LLM produced its first event, so a
backend that is down is a plain 503. An error after that is sent inside the stream, followed by `[DONE]`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from rag.errors import InvalidInput, NotFound, RagError
from rag.pipeline import ChatRequest, Finished, Grounding, StreamEvent, TokenDelta
from rag.prompts import Turn
from serving.errors import error_body, status_of
from serving.protocol import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    CitationOut,
    Delta,
    Usage,
    completion_id,
    now,
)
from serving.state import AppState

log = logging.getLogger(__name__)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


def _sse(payload: str) -> bytes:
    return f"data: {payload}\n\n".encode()


def _usage(finished: Finished) -> Usage:
    return Usage(
        prompt_tokens=finished.prompt_tokens,
        completion_tokens=finished.completion_tokens,
        total_tokens=finished.prompt_tokens + finished.completion_tokens,
    )


class ChatService:
    def __init__(self, state: AppState) -> None:
        self._state = state

    def _domain_request(self, body: ChatCompletionRequest, tenant: str) -> ChatRequest:
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
        max_tokens = body.max_completion_tokens or body.max_tokens or settings.max_tokens
        if max_tokens > settings.max_tokens_limit:
            param = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
            raise InvalidInput(f"{param} may be at most {settings.max_tokens_limit}", param=param)
        return ChatRequest(
            turns=turns,
            collection=body.collection or settings.collection,
            tenant=tenant,
            top_k=body.top_k or settings.top_k,
            mode=settings.retrieval_mode,
            max_tokens=max_tokens,
            temperature=settings.temperature if body.temperature is None else body.temperature,
            filters=body.filter,
        )

    def _citations(self, grounding: Grounding) -> list[CitationOut]:
        return [CitationOut.model_validate(c, from_attributes=True) for c in grounding.citations]

    async def create(self, body: ChatCompletionRequest, tenant: str) -> ChatCompletion | StreamingResponse:
        request = self._domain_request(body, tenant)
        grounding = await run_in_threadpool(self._state.pipeline.ground, request)
        events = self._state.pipeline.astream(request, grounding)
        if not body.stream:
            return await self._complete(events, grounding)
        first = await anext(events)  # a backend failure here is still a plain HTTP error
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        stream = self._stream(first, events, grounding, include_usage)
        return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)

    async def _complete(self, events: AsyncIterator[StreamEvent], grounding: Grounding) -> ChatCompletion:
        text, finished = "", Finished(0, 0, "stop")
        async for event in events:
            if isinstance(event, TokenDelta):
                text += event.text
            else:
                finished = event
        return ChatCompletion(
            model=self._state.settings.api_model_name,
            choices=[Choice(message=AssistantMessage(content=text), finish_reason=finished.finish_reason)],
            usage=_usage(finished),
            citations=self._citations(grounding),
        )

    async def _stream(
        self,
        first: StreamEvent,
        events: AsyncGenerator[StreamEvent, None],
        grounding: Grounding,
        include_usage: bool,
    ) -> AsyncIterator[bytes]:
        cid, created, model = completion_id(), now(), self._state.settings.api_model_name

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
            yield chunk([choice(Delta(), finished.finish_reason)])
            yield chunk([], citations=self._citations(grounding))
            if include_usage:
                yield chunk([], usage=_usage(finished))
        except RagError as exc:
            log.warning("stream failed after it started: %s", exc.message)
            yield _sse(error_body(status_of(exc), exc.message, param=exc.param).model_dump_json())
        except Exception:
            log.exception("stream failed after it started")
            yield _sse(error_body(500, "internal server error").model_dump_json())
        finally:
            await events.aclose()
        yield _sse("[DONE]")
