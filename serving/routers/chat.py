"""`POST /v1/chat/completions`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from rag.access.identity import Principal
from serving.chat.service import ChatService
from serving.chat_slot import holding
from serving.deps import ReaderDep, StateDep
from serving.disconnect import CLIENT_CLOSED_REQUEST, ClientGone, until_disconnect
from serving.metering import admit_tokens
from serving.protocol import ChatCompletion, ChatCompletionRequest, ErrorResponse
from serving.state import AppState

router = APIRouter()

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 429, 503)
}


@router.post("/v1/chat/completions", response_model=ChatCompletion, responses=_ERRORS)
async def chat_completions(
    body: ChatCompletionRequest, state: StateDep, principal: ReaderDep, request: Request
) -> ChatCompletion | Response:
    # The tenant's chats in flight first (429 past its cap), then its quota with this chat's slot held: every chat
    # admitted below the quota is one of at most `max_concurrent_chats` running, so the quota's overshoot is at
    # most that many answers (docs/limits.md).
    slot = await state.chat_slots.admit(principal.tenant)
    return await holding(slot, _answer(body, state, principal, request))


async def _answer(
    body: ChatCompletionRequest, state: AppState, principal: Principal, request: Request
) -> ChatCompletion | Response:
    await admit_tokens(state, request, principal)
    # A client that leaves before the answer (all of it, or a stream's first event) cancels retrieval and generation.
    try:
        return await until_disconnect(request.receive, ChatService(state, principal).create(body))
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
