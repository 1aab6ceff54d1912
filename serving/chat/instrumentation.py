"""What one chat leaves behind besides its answer: the retrieval timed (rag_retrieval_duration_seconds) and traced
(`rag.retrieve`), the cited documents audited; the generation timed (time to first token, LLM duration), traced
(`rag.generate`) and its tokens counted; the usage metered (the LLM's tokens, or the request alone when it failed
before them); and once the answer is whole, its records (its owner, and its trace where the tenant's are on).

The pipeline's events pass through here once, and are folded here once (`ObservedChat.answer`): the transport reads
the same fold for the wire as the metrics and the records read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

from fastapi.concurrency import run_in_threadpool

from rag.access.identity import Principal
from rag.answering.pipeline import Grounding
from rag.answering.requests import ChatRequest
from rag.answering.stream import AnswerFold, Finished, StreamEvent
from rag.limits.usage import UsageCounts
from rag.records.capture import ChatOutcome, StageTimes, chat_records
from serving.metering import meter
from serving.state import AppState
from serving.tracing import tracer

CHAT_ENDPOINT = "POST /v1/chat/completions"


def _usage_counts(finished: Finished) -> UsageCounts:
    """A chat's metered usage: the LLM's tokens, one request, one retrieval."""
    return UsageCounts(
        prompt_tokens=finished.prompt_tokens,
        completion_tokens=finished.completion_tokens,
        requests=1,
        retrieval_calls=1,
    )


class ObservedChat:
    """One chat request of one principal, observed: `ground`, then `answer`'s events, folded into `fold`."""

    def __init__(
        self, state: AppState, principal: Principal, request: ChatRequest, *, completion_id: str, arrived: float
    ) -> None:
        self._state, self._principal, self.request = state, principal, request
        self.completion_id, self._arrived = completion_id, arrived  # arrived: `time.perf_counter()`
        self.fold = AnswerFold()

    async def ground(self) -> Grounding:
        """Retrieval and the prompt, timed, traced and audited."""
        request = self.request
        with self._state.metrics.retrieving(request.collection, request.top_k, request.mode) as span:
            grounding = await run_in_threadpool(self._state.pipeline.ground, request)
            span.set_attribute("rag.hits", len(grounding.hits))
        doc_ids = list(dict.fromkeys(c.doc_id for c in grounding.citations))
        await self._state.audit.record(self._principal, CHAT_ENDPOINT, "retrieve", request.collection, doc_ids)
        return grounding

    async def answer(self, grounding: Grounding) -> AsyncGenerator[StreamEvent, None]:
        """The pipeline's events, each folded into `fold` before it is passed on. The span is started, not made
        current: a generator resumes in other contexts."""
        state, fold, metrics = self._state, self.fold, self._state.metrics
        began = time.perf_counter()
        span = tracer.start_span("rag.generate", attributes={"rag.max_tokens": self.request.max_tokens})
        events = state.pipeline.astream(self.request, grounding)
        metered = False
        try:
            async for event in events:
                waiting = fold.first_token_at is None
                fold.add(event)
                if waiting and fold.first_token_at is not None:
                    metrics.first_token.observe(fold.first_token_at - self._arrived)
                if isinstance(event, Finished):
                    metrics.tokens.inc(event.completion_tokens)
                    span.set_attributes(
                        {"rag.completion_tokens": event.completion_tokens, "rag.finish_reason": event.finish_reason}
                    )
                    # the LLM's own usage (vLLM's, or the in-process engine's count), before the closing chunks
                    metered = True
                    await meter(state, self._principal, _usage_counts(event))
                yield event
        except BaseException as exc:
            span.record_exception(exc)
            raise
        finally:
            metrics.llm.observe(time.perf_counter() - began)
            span.end()
            await events.aclose()
            if not metered:  # failed or cancelled before the LLM reported usage: the request, without tokens
                await asyncio.shield(meter(state, self._principal, UsageCounts(requests=1, retrieval_calls=1)))
            if fold.complete:
                self._record(grounding, began)

    def _record(self, grounding: Grounding, began: float) -> None:
        """The whole answer's records, to the background writer."""
        times = StageTimes(self._arrived, began, self.fold.first_token_at, time.perf_counter())
        outcome = ChatOutcome(self.completion_id, self._principal, self.request.collection,
                              self.request.turns[-1].content, grounding, self.fold.finished, self.fold.text,
                              times)  # fmt: skip
        for record in chat_records(self._state.record_policy, outcome, datetime.now(UTC)):
            self._state.record_writer.submit(record)
