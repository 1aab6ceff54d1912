"""Build the chat model: `ChatOpenAI` against vLLM's OpenAI server, or the in-process engine."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from rag.llm.local_chat_model import LocalChatModel
from rag.llm.model_files import dev_model_dir
from rag.settings import Settings


def build_chat_model(settings: Settings) -> BaseChatModel:
    if settings.llm_base_url:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key,
            timeout=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            streaming=True,
            stream_usage=True,
        )
    model_dir = settings.llm_model_path or dev_model_dir(settings.cache_dir)
    return LocalChatModel(
        model_dir=model_dir,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        max_waiting=settings.local_llm_max_waiting,
    )


def chat_model_name(settings: Settings) -> str:
    """The name of the model that generates, as reported in responses."""
    if settings.llm_base_url:
        return settings.llm_model
    return (settings.llm_model_path.name if settings.llm_model_path else "smollm2-135m-instruct") + " (in-process)"
