"""What one chat leaves in the records: always its owner (who may give feedback on it); and, for a tenant whose
traces are on (RAG_TRACE_TENANTS), its trace: retrieved chunks (ids, doc hashes, scores, source numbers, cited or
not), attributions, model, settings fingerprint, tokens and timings per stage; the question, the retrieval query,
the answer and the sources' texts only with RAG_TRACE_CONTENT."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rag.access.identity import Principal
from rag.answering.pipeline import Grounding
from rag.answering.stream import Finished
from rag.evidence.attribution import Attribution
from rag.records.rows import AnswerOwner, Record, Trace, TraceContent, TraceHit
from rag.settings import Settings

# The settings an answer depends on: two traces with one fingerprint were answered alike.
ANSWER_SETTINGS = (
    "retrieval_mode", "top_k", "prefetch_k", "fusion", "rrf_k", "fusion_dense_weight", "fusion_sparse_weight",
    "min_relevance", "answerability_min", "attribution_dense_weight", "attribution_min_support",
    "unsupported_answers", "injected_sources", "history_turns", "excerpt_chars", "llm_model", "llm_base_url",
    "llm_model_path", "embed_model_path", "embed_backend", "max_tokens", "temperature", "chunk_size", "chunk_overlap",
)  # fmt: skip


def settings_fingerprint(settings: Settings) -> str:
    """16 hex digits of a hash of the settings an answer depends on."""
    chosen = {name: settings.value(name) for name in ANSWER_SETTINGS}
    return hashlib.sha256(json.dumps(chosen, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class RecordPolicy:
    """What the settings say the records keep of a chat."""

    trace_days: dict[str, int]  # tenant (or `*`) -> days a trace is kept
    content: bool
    feedback_days: int
    fingerprint: str
    model: str

    @classmethod
    def of(cls, settings: Settings) -> RecordPolicy:
        return cls(
            trace_days=dict(settings.records.trace_tenants),
            content=settings.records.trace_content,
            feedback_days=settings.records.feedback_window_days,
            fingerprint=settings_fingerprint(settings),
            model=settings.llm.model,
        )

    def trace_days_for(self, tenant: str) -> int | None:
        """How long the tenant's traces are kept; None: its chats leave none."""
        return self.trace_days.get(tenant, self.trace_days.get("*"))


@dataclass(frozen=True, slots=True)
class StageTimes:
    """`time.perf_counter()` readings of one chat: arrival, retrieval done, first token (if any), answer done."""

    arrived: float
    grounded: float
    first_token: float | None
    finished: float

    def milliseconds(self) -> dict[str, float]:
        def ms(start: float, end: float) -> float:
            return round((end - start) * 1000, 2)

        times = {"retrieval_ms": ms(self.arrived, self.grounded)}
        if self.first_token is not None:
            times["first_token_ms"] = ms(self.arrived, self.first_token)
        return times | {"generation_ms": ms(self.grounded, self.finished), "total_ms": ms(self.arrived, self.finished)}


@dataclass(frozen=True, slots=True)
class ChatOutcome:
    """One finished chat as the API saw it."""

    completion_id: str
    principal: Principal
    collection: str
    question: str
    grounding: Grounding
    finished: Finished
    answer: str
    times: StageTimes


def _attribution(a: Attribution) -> dict[str, Any]:
    return {"start": a.start, "end": a.end, "sources": list(a.sources), "score": round(a.score, 4),
            "supported": a.supported}  # fmt: skip


def chat_records(policy: RecordPolicy, chat: ChatOutcome, now: datetime) -> list[Record]:
    """The chat's owner, and its trace where the tenant's traces are on."""
    who = chat.principal
    owner = AnswerOwner(chat.completion_id, who.tenant, who.subject, who.key_id, now,
                        now + timedelta(days=policy.feedback_days))  # fmt: skip
    days = policy.trace_days_for(who.tenant)
    if days is None:
        return [owner]
    evidence = chat.finished.evidence
    cited = {c.index for c in evidence.citations if c.cited}
    hits = []
    for number, hit in enumerate(chat.grounding.hits, start=1):
        chunk = hit.chunk
        shown = (chunk.title, chunk.source, chunk.text) if policy.content else (None, None, None)
        hits.append(TraceHit(chunk.point_id, chunk.doc_id, chunk.doc_hash, chunk.chunk_index, round(hit.score, 6),
                             number, number in cited, *shown))  # fmt: skip
    trace = Trace(
        id=chat.completion_id,
        tenant=who.tenant,
        subject=who.subject,
        key_id=who.key_id,
        created_at=now,
        expires_at=now + timedelta(days=days),
        collection=chat.collection,
        model=policy.model,
        settings_fingerprint=policy.fingerprint,
        finish_reason=chat.finished.finish_reason,
        abstention=evidence.abstention,
        prompt_tokens=chat.finished.prompt_tokens,
        completion_tokens=chat.finished.completion_tokens,
        timings=chat.times.milliseconds(),
        hits=hits,
        attributions=[_attribution(a) for a in evidence.attributions],
        removed_markers=evidence.removed_markers,
        content=TraceContent(chat.question, chat.grounding.query, chat.answer) if policy.content else None,
    )
    return [owner, trace]
