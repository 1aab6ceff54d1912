"""Translation between OpenAI's chat-completions wire format and the pipeline.

Inward, a wire request becomes a `ChatRequest` through `RequestBuilder` (rag/answering/requests.py), which fills what
the request leaves out from the settings and checks every bound; only what exists on the wire alone is checked here
(the model's name, tool messages). Outward, a folded answer (`AnswerFold`) becomes a `ChatCompletion`, or the chunks
of a stream: the role first, a delta for each piece of text, then the finish with the citations' annotations, our
extra fields, and the usage when the client asked for it."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.access.identity import Principal
from rag.answering.prompts import Turn
from rag.answering.requests import ChatRequest, OutOfBounds, RequestBuilder
from rag.answering.stream import AnswerFold, Finished
from rag.errors import InvalidInput, NotFound
from serving.evidence_out import extras, url_citations
from serving.protocol import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChunkChoice,
    Delta,
    Usage,
    now,
)


def _turn(index: int, message: ChatMessage) -> Turn:
    if message.role == "tool":
        raise InvalidInput("tool messages are not supported", param=f"messages.{index}.role")
    return Turn("system" if message.role == "developer" else message.role, message.text())


def chat_request(
    body: ChatCompletionRequest, requests: RequestBuilder, principal: Principal, *, model: str
) -> ChatRequest:
    """The pipeline's request for `body`; `NotFound` for another model than ours, `InvalidInput` naming the wire's
    field for anything the request may not hold."""
    if body.model != model:
        raise NotFound(f"model '{body.model}' does not exist; use '{model}'", param="model")
    turns = [_turn(i, message) for i, message in enumerate(body.messages)]
    # OpenAI's newer name for max_tokens wins when both are given, and an error names the field that was sent.
    sent_as = "max_tokens" if body.max_completion_tokens is None else "max_completion_tokens"
    try:
        return requests.chat(
            turns,
            principal=principal,
            collection=body.collection,
            top_k=body.top_k,
            max_tokens=body.max_tokens if body.max_completion_tokens is None else body.max_completion_tokens,
            temperature=body.temperature,
            filters=body.filter,
        )
    except OutOfBounds as exc:
        if exc.param == "max_tokens":
            raise exc.named(sent_as) from None
        raise


def usage(finished: Finished) -> Usage:
    return Usage(
        prompt_tokens=finished.prompt_tokens,
        completion_tokens=finished.completion_tokens,
        total_tokens=finished.prompt_tokens + finished.completion_tokens,
    )


def completion(answer: AnswerFold, completion_id: str, model: str) -> ChatCompletion:
    """A whole answer as one completion."""
    evidence = answer.finished.evidence
    return ChatCompletion(
        id=completion_id,
        model=model,
        choices=[
            Choice(
                message=AssistantMessage(content=answer.text, annotations=url_citations(evidence)),
                finish_reason=answer.finished.finish_reason,
            )
        ],
        usage=usage(answer.finished),
        **extras(evidence),
    )


@dataclass(frozen=True)
class StreamChunks:
    """The chunks of one streamed completion, as JSON: each holds only what it sets (a delta, just what changed)."""

    completion_id: str
    model: str
    include_usage: bool  # stream_options.include_usage: a last chunk with the usage and no choices
    created: int = field(default_factory=now)

    def _json(self, choices: list[ChunkChoice], **extra: object) -> str:
        chunk = ChatCompletionChunk(
            id=self.completion_id,
            object="chat.completion.chunk",
            created=self.created,
            model=self.model,
            choices=choices,
            **extra,  # type: ignore[arg-type]
        )
        return chunk.model_dump_json(exclude_unset=True)

    @staticmethod
    def _choice(delta: Delta, finish_reason: str | None = None) -> ChunkChoice:
        return ChunkChoice(index=0, delta=delta, finish_reason=finish_reason, logprobs=None)

    def opening(self) -> str:
        return self._json([self._choice(Delta(role="assistant", content=""))])

    def text(self, text: str) -> str:
        return self._json([self._choice(Delta(content=text))])

    def closing(self, finished: Finished) -> list[str]:
        """The finish (with the citations' annotations), our extra fields, and the usage where asked for."""
        cited = url_citations(finished.evidence)
        last = [
            self._json([self._choice(Delta(annotations=cited) if cited else Delta(), finished.finish_reason)]),
            self._json([], **extras(finished.evidence)),
        ]
        return [*last, self._json([], usage=usage(finished))] if self.include_usage else last
