"""The API in process, for its contract tests: `create_app` with the real store (a copy of the docs store, or an
empty one) and the real embedder, and a deterministic chat model instead of the CPU engine. Called through
Starlette's TestClient (ASGI, the lifespan run) with the official clients pointed at it, or, where a real socket
matters (another process calls it, a client disconnects), served by uvicorn in a thread on loopback."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from starlette.testclient import TestClient

from rag.settings import Settings
from serving.app import create_app
from tests.support.launcher import free_port

BASE_URL = "http://testserver"  # TestClient's host
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
        chunks = self._chunks(messages, kwargs.get("max_tokens"))
        text = "".join(c.text for c in chunks)
        last = chunks[-1].message
        assert isinstance(last, AIMessageChunk)
        message = AIMessageChunk(
            content=text, usage_metadata=last.usage_metadata, response_metadata=last.response_metadata
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


class _GivenSettings(Settings):
    """Settings from the arguments alone: nothing from a `.env` file or the developer's `RAG_*` variables."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def settings_for(store: Path, **overrides: Any) -> Settings:
    """The settings of an app over the store at `store`, `overrides` by field name, the rest the defaults (but the
    model cache, RAG_CACHE_DIR), as `rag_env` gives a `rag` subprocess."""
    fields: dict[str, Any] = {"qdrant_path": store, **overrides}
    if os.environ.get("RAG_CACHE_DIR"):
        fields.setdefault("cache_dir", Path(os.environ["RAG_CACHE_DIR"]))
    return _GivenSettings(**fields)


@contextmanager
def app_client(settings: Settings, chat_model: BaseChatModel | None = None) -> Iterator[TestClient]:
    """The app with its lifespan run, under TestClient (server errors answered as 500s, as a server does). Without
    `chat_model`, the one the settings configure (`llm_base_url`: the real OpenAI client)."""
    app = create_app(settings, chat_model=chat_model)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield client


class ThreadedServer:
    """The app under uvicorn in a thread of this process, on a loopback port: a real socket for callers in other
    processes and for disconnects, the app's components built in this process."""

    def __init__(self, settings: Settings, chat_model: BaseChatModel | None = None) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.app = create_app(settings, chat_model=chat_model)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_config=None, access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self, timeout_s: float = 60) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-process server did not start")
            time.sleep(0.02)
        assert httpx.get(self.base_url + "/healthz").status_code == 200
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)
