"""`POST /v1/feedback`: a reader rates an answer it received (thumbs up or down), optionally with a comment and a
corrected answer; linked to the answer's trace when its tenant keeps traces. Only the one who received the answer
may rate it (and the tenant's admins), within RAG_FEEDBACK_WINDOW_DAYS of it."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from rag.errors import Forbidden, NotFound
from rag.records.rows import Feedback
from rag.records.store import new_feedback_id
from serving.deps import ReaderDep, StateDep
from serving.protocol import ErrorResponse
from serving.records_protocol import FeedbackObject, FeedbackRequest

router = APIRouter()


@router.post(
    "/v1/feedback",
    response_model=FeedbackObject,
    responses={c: {"model": ErrorResponse} for c in (400, 401, 403, 404, 429, 503)},
)
async def give_feedback(body: FeedbackRequest, state: StateDep, principal: ReaderDep) -> FeedbackObject:
    records = state.records
    await run_in_threadpool(state.record_writer.flush)  # the answer may have finished a moment ago
    owner = await run_in_threadpool(records.answer_owner, principal.tenant, body.completion_id)
    if owner is None:
        raise NotFound(
            f"no answer '{body.completion_id}' to rate: not one of this tenant's, or older than "
            f"{state.settings.records.feedback_window_days} days",
            param="completion_id",
        )
    if not principal.is_subject(owner.subject, owner.key_id) and not principal.has("admin"):
        raise Forbidden("feedback may be given only on one's own answers", param="completion_id")
    feedback = Feedback(
        id=new_feedback_id(),
        tenant=principal.tenant,
        completion_id=body.completion_id,
        subject=principal.subject,
        key_id=principal.key_id,
        created_at=datetime.now(UTC),
        rating=body.rating,
        comment=_text(body.comment),
        corrected_answer=_text(body.corrected_answer),
    )
    saved = await run_in_threadpool(records.save_feedback, feedback)
    traced = await run_in_threadpool(records.has_trace, principal.tenant, body.completion_id)
    return FeedbackObject.of(saved, traced=traced)


def _text(given: str | None) -> str | None:
    """A comment or correction as kept: stripped, none when blank."""
    return given.strip() or None if given else None
