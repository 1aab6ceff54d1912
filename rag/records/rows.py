"""The rows of the records database as typed values: what the API and the jobs write and read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

AuditAction = Literal["retrieve", "list", "store", "delete"]
Rating = Literal["up", "down"]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Who (tenant, subject, key id) did what (endpoint, action, collection, the doc ids returned or changed) in
    which request; never content or a credential."""

    time: datetime
    tenant: str
    subject: str
    key_id: str | None
    endpoint: str
    action: AuditAction
    collection: str
    doc_ids: list[str]
    request_id: str | None


@dataclass(frozen=True, slots=True)
class AnswerOwner:
    """Who received an answer: the one who may give feedback on it."""

    completion_id: str
    tenant: str
    subject: str
    key_id: str | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TraceHit:
    """A retrieved chunk as a trace keeps it: ids, hash, score, its source number and whether the answer cited it;
    its text only with the trace's content."""

    chunk_id: str
    doc_id: str
    doc_hash: str
    chunk_index: int
    score: float
    index: int | None  # the [n] it was given in the prompt (None: retrieved but left out, as a dropped source)
    cited: bool
    title: str | None = None
    source: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class TraceContent:
    question: str
    retrieval_query: str
    answer: str


@dataclass(frozen=True, slots=True)
class Trace:
    """How one answer came about."""

    id: str  # the completion id
    tenant: str
    subject: str
    key_id: str | None
    created_at: datetime
    expires_at: datetime
    collection: str
    model: str
    settings_fingerprint: str
    finish_reason: str
    abstention: str | None
    prompt_tokens: int
    completion_tokens: int
    timings: dict[str, float]  # milliseconds: retrieval, first_token, generation, total
    hits: list[TraceHit]
    attributions: list[dict[str, Any]]  # {start, end, sources, score, supported} per sentence of the answer
    removed_markers: int
    content: TraceContent | None = None  # only where RAG_TRACE_CONTENT allows it
    feedback: list[Feedback] = field(default_factory=list)  # filled when read, not stored with the trace


@dataclass(frozen=True, slots=True)
class Feedback:
    """A rating of one answer by its reader, with an optional comment and corrected answer."""

    id: str
    tenant: str
    completion_id: str
    subject: str
    key_id: str | None
    created_at: datetime
    rating: Rating
    comment: str | None = None
    corrected_answer: str | None = None


Record = AuditEvent | AnswerOwner | Trace
