"""What a grounded answer streams: token deltas, then one `Finished` event with usage and the answer's evidence; and
the one fold of those events into the answer, used by the API (once per request, for the wire, the records and the
metrics alike), the CLI and the evaluation harness."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from langchain_core.messages import AIMessageChunk, BaseMessageChunk

from rag.answering.answer import Answer
from rag.answering.prompts import ABSTENTION_ANSWERS
from rag.evidence.evidence import AbstentionReason, Evidence


@dataclass(frozen=True, slots=True)
class TokenDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    evidence: Evidence = field(default_factory=lambda: Evidence(citations=()))


StreamEvent = TokenDelta | Finished


def abstention(reason: AbstentionReason) -> tuple[StreamEvent, ...]:
    """What the pipeline says, without calling the LLM, when retrieval found nothing relevant (`no_sources`) or what
    it found cannot answer the question (`unanswerable`)."""
    return (TokenDelta(ABSTENTION_ANSWERS[reason]), Finished(0, 0, "stop", Evidence.abstained(reason)))


@dataclass(slots=True)
class AnswerFold:
    """The events of one answer folded as they arrive: its text so far, when its first token came
    (`time.perf_counter()`), and the `Finished` event (`complete` once it came)."""

    pieces: list[str] = field(default_factory=list)
    finished: Finished = field(default_factory=lambda: Finished(0, 0, "stop"))
    complete: bool = False
    first_token_at: float | None = None

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TokenDelta):
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            self.pieces.append(event.text)
        else:
            self.finished, self.complete = event, True

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def answer(self) -> Answer:
        return Answer(
            text=self.text,
            evidence=self.finished.evidence,
            prompt_tokens=self.finished.prompt_tokens,
            completion_tokens=self.finished.completion_tokens,
            finish_reason=self.finished.finish_reason,
        )


class UsageTracker:
    """Turns a LangChain chat model's chunks into `TokenDelta`s, keeping the usage and finish reason they carry."""

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

    def finished(self, evidence: Evidence) -> Finished:
        return Finished(self.prompt_tokens, self.completion_tokens, self.finish_reason, evidence)
