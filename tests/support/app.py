"""The API in process, for its contract tests: `create_app` with the real store (a copy of the docs store, or an
empty one), one real embedder shared by every app of the session, and a deterministic chat model instead of the CPU
engine (tests/support/scripted_chat.py). Called through Starlette's TestClient (ASGI, the lifespan run) with the
official clients pointed at it, or, where a real socket matters (another process calls it, a client disconnects),
served by uvicorn in a thread on loopback."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from langchain_core.language_models import BaseChatModel
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from starlette.testclient import TestClient

from rag.components import build_embedder
from rag.embedding.base import DenseEmbedder
from rag.settings import Settings
from serving.app import create_app
from tests.support.launcher import free_port
from tests.support.scripted_chat import ScriptedChatModel

BASE_URL = "http://testserver"  # TestClient's host


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


# The embedders loaded so far, by their settings: an app in process loads none of its own (each took a few tenths
# of a second, and the suite starts dozens of apps).
_EMBEDDERS: dict[str, DenseEmbedder] = {}


def shared_embedder(settings: Settings) -> DenseEmbedder:
    """The embedder `settings` configure, as the app would build it, loaded once a session for every app whose
    embedding settings are the same."""
    key = settings.embedding.model_dump_json()
    if key not in _EMBEDDERS:
        _EMBEDDERS[key] = build_embedder(settings.embedding)
    return _EMBEDDERS[key]


def in_process_app(settings: Settings, chat_model: BaseChatModel | None = None) -> FastAPI:
    """`create_app` over `settings` with the prepared components: the session's embedder, and `chat_model` (None:
    the one the settings configure, `llm_base_url`: the real OpenAI client)."""
    return create_app(settings, chat_model=chat_model, embedder=shared_embedder(settings))


@contextmanager
def app_client(settings: Settings, chat_model: BaseChatModel | None = None) -> Iterator[TestClient]:
    """The app with its lifespan run, under TestClient (server errors answered as 500s, as a server does). Without
    `chat_model`, the one the settings configure (`llm_base_url`: the real OpenAI client)."""
    with TestClient(in_process_app(settings, chat_model), base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield client


@contextmanager
def empty_store_api(
    factory: pytest.TempPathFactory, name: str, chat_model: BaseChatModel | None = None, **overrides: Any
) -> Iterator[TestClient]:
    """The recipe of the module-level `api` fixtures: the app over an empty store in a fresh folder named `name`,
    settings `overrides` by flat name, answering with `chat_model` (None: a new `ScriptedChatModel`)."""
    settings = settings_for(factory.mktemp(name) / "qdrant", **overrides)
    with app_client(settings, chat_model if chat_model is not None else ScriptedChatModel()) as client:
        yield client


class ThreadedServer:
    """The app under uvicorn in a thread of this process, on a loopback port: a real socket for callers in other
    processes and for disconnects, the app's components built in this process."""

    def __init__(self, settings: Settings, chat_model: BaseChatModel | None = None) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.app = in_process_app(settings, chat_model)
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
