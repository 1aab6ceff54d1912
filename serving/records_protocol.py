"""The bodies of `POST /v1/feedback` and `GET /v1/traces`: records of rag/records/ on the wire (times as Unix
seconds, as OpenAI's objects have them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.records.rows import Feedback, Rating, Trace
from serving.protocol import Utf8Str

MAX_COMMENT_CHARS = 4_000
MAX_CORRECTION_CHARS = 32_000


class FeedbackRequest(BaseModel):
    """A rating of one answer (its completion id, `chatcmpl-...`), with an optional comment and corrected answer.
    Giving feedback again on the same answer replaces the earlier one."""

    model_config = ConfigDict(extra="forbid")
    completion_id: Utf8Str = Field(min_length=1, max_length=100)
    rating: Rating
    comment: Utf8Str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)
    corrected_answer: Utf8Str | None = Field(default=None, max_length=MAX_CORRECTION_CHARS)


class FeedbackObject(BaseModel):
    object: Literal["feedback"] = "feedback"
    id: str
    completion_id: str
    rating: Rating
    comment: str | None
    corrected_answer: str | None
    subject: str
    created_at: int
    trace: bool = False  # a trace of the rated answer is kept (its tenant's traces are on)

    @classmethod
    def of(cls, feedback: Feedback, *, traced: bool) -> FeedbackObject:
        return cls(
            id=feedback.id,
            completion_id=feedback.completion_id,
            rating=feedback.rating,
            comment=feedback.comment,
            corrected_answer=feedback.corrected_answer,
            subject=feedback.subject,
            created_at=int(feedback.created_at.timestamp()),
            trace=traced,
        )


class TraceHitObject(BaseModel):
    chunk_id: str
    doc_id: str
    doc_hash: str
    chunk_index: int
    score: float
    index: int | None  # the source's [n] in the prompt
    cited: bool
    title: str | None = None  # these three with the trace's content only
    source: str | None = None
    text: str | None = None


class TraceContentObject(BaseModel):
    question: str
    retrieval_query: str
    answer: str


class TraceUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class TraceObject(BaseModel):
    object: Literal["trace"] = "trace"
    id: str  # the completion id
    created_at: int
    expires_at: int
    subject: str
    key_id: str | None
    collection: str
    model: str
    settings_fingerprint: str
    finish_reason: str
    abstention: str | None
    usage: TraceUsage
    timings: dict[str, float]  # milliseconds: retrieval_ms, first_token_ms, generation_ms, total_ms
    hits: list[TraceHitObject]
    attributions: list[dict[str, Any]]
    removed_markers: int
    content: TraceContentObject | None  # null unless RAG_TRACE_CONTENT was on when it was written
    feedback: list[FeedbackObject]

    @classmethod
    def of(cls, trace: Trace) -> TraceObject:
        content = trace.content
        return cls(
            id=trace.id,
            created_at=int(trace.created_at.timestamp()),
            expires_at=int(trace.expires_at.timestamp()),
            subject=trace.subject,
            key_id=trace.key_id,
            collection=trace.collection,
            model=trace.model,
            settings_fingerprint=trace.settings_fingerprint,
            finish_reason=trace.finish_reason,
            abstention=trace.abstention,
            usage=TraceUsage(prompt_tokens=trace.prompt_tokens, completion_tokens=trace.completion_tokens),
            timings=trace.timings,
            hits=[TraceHitObject.model_validate(h, from_attributes=True) for h in trace.hits],
            attributions=trace.attributions,
            removed_markers=trace.removed_markers,
            content=TraceContentObject.model_validate(content, from_attributes=True) if content else None,
            feedback=[FeedbackObject.of(f, traced=True) for f in trace.feedback],
        )


class TracePage(BaseModel):
    """A page of traces, newest first; `last_id` is the next page's `after` while `has_more`."""

    object: Literal["list"] = "list"
    data: list[TraceObject]
    has_more: bool
    last_id: str | None
