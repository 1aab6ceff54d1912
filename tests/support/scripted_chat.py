"""A deterministic chat model for the app in process: it stands in for the CPU engine and vLLM where what is tested
is the API around the answer (the wire, auth, limits, records), not the answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.chat_models import generate_from_stream
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import Field

ANSWER = (
    "The platform is deployed on Kubernetes with its Helm chart [1]. Install the chart, set the API keys in a "
    "Secret, and point the API at a Qdrant server [2]. Readiness and liveness probes call /readyz and /healthz."
)


class ScriptedChatModel(BaseChatModel):
    """A deterministic chat model: ANSWER word by word (one chunk a word, a word counted as a token), or the given
    `pieces` one a chunk, cut at the request's `max_tokens` (finish reason `length`, else `stop`), then a usage chunk
    as the real engine sends one (prompt tokens: the prompt's words). Records the prompts it was given."""

    answer: str = ANSWER
    pieces: list[str] | None = None
    max_tokens: int = 256
    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _chunks(self, messages: list[BaseMessage], max_tokens: int | None) -> list[ChatGenerationChunk]:
        self.prompts.append(messages)
        words = self.pieces or [w if i == 0 else " " + w for i, w in enumerate(self.answer.split(" "))]
        limit = max_tokens or self.max_tokens
        pieces = words[:limit]
        prompt = sum(len(m.text.split()) for m in messages)
        usage = UsageMetadata(input_tokens=prompt, output_tokens=len(pieces), total_tokens=prompt + len(pieces))
        finish = "length" if len(words) > limit else "stop"
        last = AIMessageChunk(content="", usage_metadata=usage, response_metadata={"finish_reason": finish})
        return [
            *(ChatGenerationChunk(message=AIMessageChunk(content=p)) for p in pieces),
            ChatGenerationChunk(message=last),
        ]

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from self._chunks(messages, kwargs.get("max_tokens"))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages, kwargs.get("max_tokens")):
            await asyncio.sleep(0)  # a chance to be cancelled between tokens, as the real engine has
            yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(iter(self._chunks(messages, kwargs.get("max_tokens"))))
