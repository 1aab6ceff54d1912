"""Build the chat model: `ChatOpenAI` against vLLM's OpenAI server, or the in-process engine."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from rag.llm.local_chat_model import LocalChatModel
from rag.llm.model_files import dev_model_dir
from rag.settings import LlmSettings, Settings


def build_chat_model(settings: Settings) -> BaseChatModel:
    if settings.llm.base_url:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            base_url=settings.llm.base_url,
            model=settings.llm.model,
            api_key=settings.llm.api_key,
            timeout=settings.llm.timeout_s,
            max_retries=settings.llm.max_retries,
            streaming=True,
            stream_usage=True,
        )
    model_dir = settings.llm.model_path or dev_model_dir(settings.embedding.cache_dir)
    return LocalChatModel(
        model_dir=model_dir,
        max_tokens=settings.llm.max_tokens,
        temperature=settings.llm.temperature,
        max_waiting=settings.llm.local_max_waiting,
    )


def chat_model_name(settings: LlmSettings) -> str:
    """The name of the model that generates, as reported in responses."""
    if settings.base_url:
        return settings.model
    return (settings.model_path.name if settings.model_path else "smollm2-135m-instruct") + " (in-process)"
