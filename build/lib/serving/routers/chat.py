"""`POST /v1/chat/completions`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from serving.chat_service import ChatService
from serving.deps import ReaderDep, StateDep
from serving.disconnect import CLIENT_CLOSED_REQUEST, ClientGone, until_disconnect
from serving.metering import admit_tokens
from serving.protocol import ChatCompletion, ChatCompletionRequest, ErrorResponse

router = APIRouter()

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 429, 503)
}


@router.post("/v1/chat/completions", response_model=ChatCompletion, responses=_ERRORS)
async def chat_completions(
    body: ChatCompletionRequest, state: StateDep, principal: ReaderDep, request: Request
) -> ChatCompletion | Response:
    await admit_tokens(state, request, principal)
    # A client that leaves before the answer (all of it, or a stream's first event) cancels retrieval and generation.
    try:
        return await until_disconnect(request.receive, ChatService(state, principal).create(body))
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
