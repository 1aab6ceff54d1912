"""The RAG pipeline: retrieve, build a prompt with numbered sources, stream the LLM's answer and its citations.

One pipeline serves the API, the CLI and the evaluation harness, and they build its requests alike
(rag/answering/requests.py), so what evaluations measure is what users get.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, BaseMessageChunk

from rag.answering.answer import Answer
from rag.answering.prompts import ABSTENTION_ANSWERS, citations_for, grounded_messages, retrieval_query
from rag.answering.requests import ChatRequest
from rag.answering.retrieval import Retriever
from rag.answering.stream import AnswerFold, StreamEvent, TokenDelta, UsageTracker, abstention
from rag.domain import Citation, Hit
from rag.errors import BackendUnavailable, InvalidInput
from rag.evidence.answerability import AnswerabilityModel
from rag.evidence.attribution import AttributionConfig, Attributor, StreamingAttribution
from rag.evidence.evidence import AbstentionReason, Evidence
from rag.evidence.markers import MarkerFilter
from rag.evidence.source_policy import apply_source_policy
from rag.settings import InjectedSources, Settings


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """What the pipeline itself reads of the settings (`from_settings`: the only place its values come from)."""

    history_turns: int  # earlier user turns added to the retrieval query of a follow-up question
    excerpt_chars: int  # characters of each source shown in a citation
    attribution: AttributionConfig
    # An answer none of whose sentences a source supports: replaced by the abstention (RAG_UNSUPPORTED_ANSWERS=
    # abstain: the answer is then held back until its evidence is in, and a stream's text arrives at its end), or
    # kept and flagged.
    abstain_unsupported: bool
    injected_sources: InjectedSources  # flagged sources: kept, last with a note, or dropped
    fence_sources: bool  # sources quoted as data in the prompt (off only to measure the fence)
    # Below this probability that the sources answer the question (rag/evidence/answerability.py), abstain (0: never).
    answerability_min: float
    answerability: AnswerabilityModel | None  # loaded when `answerability_min` is above 0

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineConfig:
        retrieval, evidence = settings.retrieval, settings.evidence
        return cls(
            history_turns=retrieval.history_turns,
            excerpt_chars=evidence.excerpt_chars,
            attribution=AttributionConfig.of(evidence),
            abstain_unsupported=evidence.unsupported_answers == "abstain",
            injected_sources=evidence.injected_sources,
            fence_sources=True,
            answerability_min=retrieval.answerability_min,
            answerability=AnswerabilityModel.load() if retrieval.answerability_min > 0 else None,
        )


@dataclass(frozen=True, slots=True)
class Grounding:
    """What retrieval found for a request, and the prompt built from it."""

    hits: list[Hit]
    citations: list[Citation]
    messages: list[BaseMessage]
    answerable: float | None = None  # the answerability model's probability, where it ran
    abstention: AbstentionReason | None = None  # why the answer abstains without calling the LLM
    query: str = ""  # what was searched: the question, with earlier turns for a follow-up


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
    query = retrieval_query(request.turns, config.history_turns)
    gate = config.answerability if config.answerability_min > 0 else None
    retrieved = retriever.retrieve_with_signals(request.retrieval(query), signals=gate is not None)
    answerable = gate.probability(retrieved.signals) if gate and retrieved.signals else None
    if not retrieved.hits or (answerable is not None and answerable < config.answerability_min):
        reason: AbstentionReason = "unanswerable" if retrieved.hits else "no_sources"
        return Grounding([], [], [], answerable=answerable, abstention=reason, query=query)
    hits = apply_source_policy(retrieved.hits, config.injected_sources)
    if not hits:  # every source was dropped as injected
        return Grounding([], [], [], answerable=answerable, abstention="no_sources", query=query)
    citations = citations_for(hits, config.excerpt_chars)
    messages = grounded_messages(request.turns, hits, fence=config.fence_sources)
    return Grounding(hits=hits, citations=citations, messages=messages, answerable=answerable, query=query)


class _CheckedAnswer:
    """One answer as it streams: usage kept, `[n]` markers checked (rag/evidence/markers.py), the text passed on
    kept, and at its end the closing events with the evidence. `hold` (RAG_UNSUPPORTED_ANSWERS=abstain): nothing is
    passed on before the evidence decides whether the answer stands."""

    def __init__(self, grounding: Grounding, attributor: Attributor, hold: bool) -> None:
        self._grounding, self._hold = grounding, hold
        self._sentences = StreamingAttribution(attributor, grounding.hits)
        self._usage = UsageTracker()
        self._markers = MarkerFilter(len(grounding.hits))
        self._pieces: list[str] = []

    def take(self, chunk: BaseMessageChunk) -> TokenDelta | None:
        """What of the model's next chunk may be passed on now."""
        delta = self._usage.observe(chunk)
        return self._passed(self._markers.feed(delta.text)) if delta else None

    def end(self) -> TokenDelta | None:
        return self._passed(self._markers.flush())

    def _passed(self, text: str) -> TokenDelta | None:
        self._pieces.append(text)
        return TokenDelta(text) if text and not self._hold else None

    def sentences_ready(self) -> tuple[str, list[tuple[int, int]]] | None:
        """The text so far and its sentences complete since the last call, if any, to `attribute` while the answer
        streams on."""
        text = "".join(self._pieces)
        spans = self._sentences.ready(text)
        return (text, spans) if spans else None

    def attribute(self, ready: tuple[str, list[tuple[int, int]]]) -> None:
        self._sentences.attribute(*ready)

    def closing(self) -> list[StreamEvent]:
        """The attribution of the sentences not attributed yet (blocking: embeds them), then the `Finished` event,
        preceded by a held answer's text: itself, or the abstention when no sentence of it is supported."""
        text = "".join(self._pieces)
        attributions = self._sentences.finish(text)
        evidence = Evidence.of(self._grounding.citations, self._markers, attributions)
        if not self._hold:
            return [self._usage.finished(evidence)]
        if evidence.supported == 0:
            unsupported = Evidence.abstained("unsupported", evidence.citations)
            return [TokenDelta(ABSTENTION_ANSWERS["unsupported"]), self._usage.finished(unsupported)]
        return [TokenDelta(text), self._usage.finished(evidence)]


class RagPipeline:
    """Grounds a chat request, then streams its answer: one stream of events (rag/answering/stream.py) that every
    caller folds once (`AnswerFold`)."""

    def __init__(self, retriever: Retriever, chat_model: BaseChatModel, config: PipelineConfig) -> None:
        self.retriever = retriever
        self.chat_model = chat_model
        self._config = config
        self.attributor = Attributor(retriever.embedder, self._config.attribution)

    def ground(self, request: ChatRequest) -> Grounding:
        """Retrieve sources for the conversation's last question and build the grounded prompt."""
        return ground(self.retriever, self._config, request)

    def _llm_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        return {"max_tokens": request.max_tokens, "temperature": request.temperature}

    def _checked(self, grounding: Grounding) -> _CheckedAnswer:
        return _CheckedAnswer(grounding, self.attributor, self._config.abstain_unsupported)

    async def astream(self, request: ChatRequest, grounding: Grounding) -> AsyncGenerator[StreamEvent, None]:
        """Token deltas of the answer, markers checked, then one `Finished` event with the evidence. Abstains
        without calling the LLM if the grounding says so."""
        if grounding.abstention:
            for event in abstention(grounding.abstention):
                yield event
            return
        answer = self._checked(grounding)
        # Complete sentences are attributed in a worker thread while the answer streams on, one batch at a time.
        attributing: asyncio.Future[None] | None = None
        with _llm_errors():
            async for chunk in self.chat_model.astream(grounding.messages, **self._llm_kwargs(request)):
                if passed := answer.take(chunk):
                    yield passed
                if (attributing is None or attributing.done()) and (ready := answer.sentences_ready()):
                    attributing = asyncio.ensure_future(asyncio.to_thread(answer.attribute, ready))
        if last := answer.end():
            yield last
        if attributing is not None:
            await attributing
        for event in await asyncio.to_thread(answer.closing):
            yield event

    def stream(self, request: ChatRequest, grounding: Grounding) -> Iterator[StreamEvent]:
        """The synchronous twin of `astream`, for the CLI and the evaluation harness."""
        if grounding.abstention:
            yield from abstention(grounding.abstention)
            return
        answer = self._checked(grounding)
        with _llm_errors():
            for chunk in self.chat_model.stream(grounding.messages, **self._llm_kwargs(request)):
                if passed := answer.take(chunk):
                    yield passed
        if last := answer.end():
            yield last
        yield from answer.closing()

    def answer(self, request: ChatRequest) -> Answer:
        fold = AnswerFold()
        for event in self.stream(request, self.ground(request)):
            fold.add(event)
        return fold.answer()
