"""The RAG pipeline: retrieve, build a prompt with numbered sources, stream the LLM's answer and its citations.

One pipeline serves the API, the CLI and the evaluation harness, so what evaluations measure is what users get.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage, BaseMessageChunk

from rag.domain import Answer, Citation, Hit, RetrievalMode
from rag.errors import BackendUnavailable, InvalidInput
from rag.prompts import NO_SOURCES_ANSWER, Turn, citations_for, grounded_messages, retrieval_query
from rag.retrieval import RetrievalRequest, Retriever
from rag.settings import Settings
from rag.store.base import PayloadFilter


@dataclass(frozen=True, slots=True)
class ChatRequest:
    turns: Sequence[Turn]
    collection: str
    tenant: str
    top_k: int
    mode: RetrievalMode
    max_tokens: int
    temperature: float
    filters: PayloadFilter | None = None


@dataclass(frozen=True, slots=True)
class Grounding:
    """What retrieval found for a request, and the prompt built from it."""

    hits: list[Hit]
    citations: list[Citation]
    messages: list[BaseMessage]


@dataclass(frozen=True, slots=True)
class TokenDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


StreamEvent = TokenDelta | Finished
# What the pipeline says, without calling the LLM, when retrieval found nothing.
ABSTENTION: tuple[StreamEvent, ...] = (TokenDelta(NO_SOURCES_ANSWER), Finished(0, 0, "stop"))


@contextmanager
def _llm_errors() -> Iterator[None]:
    """The LLM backend's failures, as the platform's `BackendUnavailable` (no internals in the message)."""
    try:
        yield
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        raise BackendUnavailable("the language model backend is unreachable") from exc
    except openai.BadRequestError as exc:  # vLLM's answer to a prompt longer than the model's context, mostly
        raise InvalidInput(
            "the language model refused the request (a prompt with its sources longer than the model's context "
            "is the usual cause): ask for fewer sources (top_k) or a shorter conversation",
            param="messages",
        ) from exc
    except openai.APIStatusError as exc:
        raise BackendUnavailable(f"the language model backend failed (status {exc.status_code})") from exc


class _UsageTracker:
    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.finish_reason = "stop"

    def observe(self, chunk: BaseMessageChunk) -> TokenDelta | None:
        if isinstance(chunk, AIMessageChunk) and chunk.usage_metadata:
            self.prompt_tokens = chunk.usage_metadata["input_tokens"]
            self.completion_tokens = chunk.usage_metadata["output_tokens"]
        reason = chunk.response_metadata.get("finish_reason")
        if reason:
            self.finish_reason = str(reason)
        return TokenDelta(chunk.text) if chunk.text else None

    def finished(self) -> Finished:
        return Finished(self.prompt_tokens, self.completion_tokens, self.finish_reason)


class RagPipeline:
    def __init__(self, retriever: Retriever, chat_model: BaseChatModel, settings: Settings) -> None:
        self.retriever = retriever
        self.chat_model = chat_model
        self._settings = settings

    def ground(self, request: ChatRequest) -> Grounding:
        """Retrieve sources for the conversation's last question and build the grounded prompt."""
        if not request.turns or request.turns[-1].role != "user" or not request.turns[-1].content.strip():
            raise InvalidInput("the last message must be a non-empty user message", param="messages")
        if request.max_tokens < 1:
            raise InvalidInput("max_tokens must be at least 1", param="max_tokens")
        query = retrieval_query(request.turns, self._settings.history_turns)
        hits = self.retriever.retrieve(
            RetrievalRequest(
                query=query,
                collection=request.collection,
                tenant=request.tenant,
                top_k=request.top_k,
                mode=request.mode,
                filters=request.filters,
                min_relevance=self._settings.min_relevance,
            )
        )
        citations = citations_for(hits, self._settings.excerpt_chars)
        return Grounding(hits=hits, citations=citations, messages=grounded_messages(request.turns, hits))

    def _llm_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        return {"max_tokens": request.max_tokens, "temperature": request.temperature}

    async def astream(self, request: ChatRequest, grounding: Grounding) -> AsyncGenerator[StreamEvent, None]:
        """Token deltas of the answer, then one `Finished` event. Abstains without calling the LLM if nothing
        was retrieved."""
        if not grounding.hits:
            for event in ABSTENTION:
                yield event
            return
        usage = _UsageTracker()
        with _llm_errors():
            async for chunk in self.chat_model.astream(grounding.messages, **self._llm_kwargs(request)):
                delta = usage.observe(chunk)
                if delta:
                    yield delta
        yield usage.finished()

    def stream(self, request: ChatRequest, grounding: Grounding) -> Iterator[StreamEvent]:
        """The synchronous twin of `astream`, for the CLI and the evaluation harness."""
        if not grounding.hits:
            yield from ABSTENTION
            return
        usage = _UsageTracker()
        with _llm_errors():
            for chunk in self.chat_model.stream(grounding.messages, **self._llm_kwargs(request)):
                delta = usage.observe(chunk)
                if delta:
                    yield delta
        yield usage.finished()

    def answer(self, request: ChatRequest) -> Answer:
        grounding = self.ground(request)
        text, finished = "", Finished(0, 0, "stop")
        for event in self.stream(request, grounding):
            if isinstance(event, TokenDelta):
                text += event.text
            else:
                finished = event
        return Answer(
            text=text,
            citations=grounding.citations,
            prompt_tokens=finished.prompt_tokens,
            completion_tokens=finished.completion_tokens,
            finish_reason=finished.finish_reason,
        )
