"""`POST /v1/chat/completions`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from serving.chat_service import ChatService
from serving.deps import StateDep, TenantDep
from serving.protocol import ChatCompletion, ChatCompletionRequest, ErrorResponse

router = APIRouter()

_ERRORS: dict[int | str, dict[str, object]] = {code: {"model": ErrorResponse} for code in (400, 404, 413, 503)}


@router.post("/v1/chat/completions", response_model=ChatCompletion, responses=_ERRORS)
async def chat_completions(
    body: ChatCompletionRequest, state: StateDep, tenant: TenantDep
) -> ChatCompletion | StreamingResponse:
    return await ChatService(state).create(body, tenant)
