"""The RAG pipeline: retrieve, build a prompt with numbered sources, stream the LLM's answer and its citations.

One pipeline serves the API, the CLI and the evaluation harness, and they build its requests alike
(rag/requests.py), so what evaluations measure is what users get.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from rag.answer_stream import ABSTENTION, AnswerFold, StreamEvent, UsageTracker
from rag.domain import Answer, Citation, Hit
from rag.errors import BackendUnavailable, InvalidInput
from rag.prompts import citations_for, grounded_messages, retrieval_query
from rag.requests import ChatRequest
from rag.retrieval import Retriever
from rag.settings import Settings


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """What the pipeline itself reads of the settings."""

    history_turns: int = 1  # earlier user turns added to the retrieval query of a follow-up question
    excerpt_chars: int = 300  # characters of each source shown in a citation

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineConfig:
        return cls(history_turns=settings.history_turns, excerpt_chars=settings.excerpt_chars)


@dataclass(frozen=True, slots=True)
class Grounding:
    """What retrieval found for a request, and the prompt built from it."""

    hits: list[Hit]
    citations: list[Citation]
    messages: list[BaseMessage]


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


def ground(retriever: Retriever, config: PipelineConfig, request: ChatRequest) -> Grounding:
    """What `RagPipeline.ground` does, without a chat model: `rag ask` grounds (and fails on a collection that does
    not exist) before it loads the language model."""
    if not request.turns or request.turns[-1].role != "user" or not request.turns[-1].content.strip():
        raise InvalidInput("the last message must be a non-empty user message", param="messages")
    if request.max_tokens < 1:
        raise InvalidInput("max_tokens must be at least 1", param="max_tokens")
    hits = retriever.retrieve(request.retrieval(retrieval_query(request.turns, config.history_turns)))
    citations = citations_for(hits, config.excerpt_chars)
    return Grounding(hits=hits, citations=citations, messages=grounded_messages(request.turns, hits))


class RagPipeline:
    def __init__(self, retriever: Retriever, chat_model: BaseChatModel, config: PipelineConfig | None = None) -> None:
        self.retriever = retriever
        self.chat_model = chat_model
        self._config = config or PipelineConfig()

    def ground(self, request: ChatRequest) -> Grounding:
        """Retrieve sources for the conversation's last question and build the grounded prompt."""
        return ground(self.retriever, self._config, request)

    def _llm_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        return {"max_tokens": request.max_tokens, "temperature": request.temperature}

    async def astream(self, request: ChatRequest, grounding: Grounding) -> AsyncGenerator[StreamEvent, None]:
        """Token deltas of the answer, then one `Finished` event. Abstains without calling the LLM if nothing
        was retrieved."""
        if not grounding.hits:
            for event in ABSTENTION:
                yield event
            return
        usage = UsageTracker()
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
        usage = UsageTracker()
        with _llm_errors():
            for chunk in self.chat_model.stream(grounding.messages, **self._llm_kwargs(request)):
                delta = usage.observe(chunk)
                if delta:
                    yield delta
        yield usage.finished()

    def answer(self, request: ChatRequest) -> Answer:
        grounding = self.ground(request)
        fold = AnswerFold()
        for event in self.stream(request, grounding):
            fold.add(event)
        finished = fold.finished
        return Answer(
            text=fold.text,
            citations=grounding.citations,
            prompt_tokens=finished.prompt_tokens,
            completion_tokens=finished.completion_tokens,
            finish_reason=finished.finish_reason,
        )
