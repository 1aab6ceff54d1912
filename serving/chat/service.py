"""One chat completion, end to end: the wire request translated (serving/chat/translation.py), the chat observed
(serving/chat/instrumentation.py), its answer sent whole or streamed (serving/chat/transport.py)."""

from __future__ import annotations

import time

from fastapi.sse import EventSourceResponse

from rag.access.identity import Principal
from serving.chat import transport
from serving.chat.instrumentation import ObservedChat
from serving.chat.translation import StreamChunks, chat_request
from serving.protocol import ChatCompletion, ChatCompletionRequest, completion_id
from serving.state import AppState


class ChatService:
    """The chat requests of one principal."""

    def __init__(self, state: AppState, principal: Principal) -> None:
        self._state, self._principal = state, principal

    async def create(self, body: ChatCompletionRequest) -> ChatCompletion | EventSourceResponse:
        arrived, cid = time.perf_counter(), completion_id()
        api = self._state.settings.api
        request = chat_request(body, self._state.components.requests, self._principal, model=api.model_name)
        chat = ObservedChat(self._state, self._principal, request, completion_id=cid, arrived=arrived)
        if not body.stream:
            return await transport.complete(chat, api.model_name)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return await transport.stream(chat, StreamChunks(cid, api.model_name, include_usage), api.stream_keepalive_s)
