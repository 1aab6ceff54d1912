"""The in-process engine's LangChain adapter: `LocalChatModel`, a chat model running a transformers causal LM on
this machine's CPU.

Development default when no vLLM server is configured. The adapter turns messages into the model's prompt (refusing
one over the model's context before any work), runs it as a `GenerationThread` (the thread bridge) after its turn in
the `GenerationLine` (admission: 429 `engine_overloaded` beyond `max_waiting`), and streams the text that
`AnswerSoFar` lets through (stop strings, loops) as chunks, ending with one that carries usage and finish reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from rag.errors import InvalidInput
from rag.hf_runtime import offline_and_quiet
from rag.llm.cpu_dtype import cpu_llm_dtype
from rag.llm.generation_line import GenerationLine
from rag.llm.generation_thread import GenerationThread
from rag.llm.stop_conditions import AnswerSoFar
from rag.settings import LlmSettings, default_of

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def _chat_dicts(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _ROLES.get(m.type, "user"), "content": m.text} for m in messages]


def _usage_chunk(generation: GenerationThread) -> ChatGenerationChunk:
    """The last chunk, once the pieces ended: usage and finish reason (or the generation's error)."""
    if generation.error is not None:
        raise generation.error
    prompt, completion = generation.prompt_tokens, generation.completion_tokens
    usage = UsageMetadata(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion)
    finish = "length" if completion >= generation.max_new else "stop"
    return ChatGenerationChunk(
        message=AIMessageChunk(content="", usage_metadata=usage, response_metadata={"finish_reason": finish})
    )


class LocalChatModel(BaseChatModel):
    """A `BaseChatModel` over a local transformers model directory, streaming token by token."""

    model_dir: Path
    max_tokens: int = default_of(LlmSettings, "max_tokens")
    temperature: float = default_of(LlmSettings, "temperature")
    repetition_penalty: float = 1.0
    dtype: Literal["auto", "bfloat16", "float32"] = "auto"  # auto: float32 unless the CPU computes bfloat16 natively
    max_waiting: int = default_of(
        LlmSettings, "local_max_waiting"
    )  # generations allowed to wait behind the running one; beyond: `Overloaded`

    _tokenizer: Any = PrivateAttr()
    _model: Any = PrivateAttr()
    _line: GenerationLine = PrivateAttr(default_factory=GenerationLine)

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        offline_and_quiet()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
        dtype = getattr(torch, cpu_llm_dtype() if self.dtype == "auto" else self.dtype)
        self._model = AutoModelForCausalLM.from_pretrained(str(self.model_dir), dtype=dtype)
        self._model.eval()

    @property
    def _llm_type(self) -> str:
        return "rag-local-transformers"

    @property
    def model_name(self) -> str:
        return self.model_dir.name

    def _generation(
        self, messages: list[BaseMessage], kwargs: dict[str, Any], loop: asyncio.AbstractEventLoop | None = None
    ) -> GenerationThread:
        """The generation of an answer to `messages`, not started yet; a prompt that does not fit the model's context
        with `max_tokens` is refused first, as vLLM refuses it: before any work."""
        max_new = int(kwargs.get("max_tokens") or self.max_tokens)
        inputs = self._tokenizer.apply_chat_template(
            _chat_dicts(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        prompt_tokens = int(inputs["input_ids"].shape[1])
        context = getattr(self._model.config, "max_position_embeddings", None)
        if context and prompt_tokens + max_new > context:
            raise InvalidInput(
                f"the prompt ({prompt_tokens} tokens with its sources) and max_tokens ({max_new}) exceed "
                f"the model's context of {context} tokens: ask for fewer sources (top_k) or a shorter conversation",
                param="messages",
            )
        return GenerationThread(
            self._model,
            self._tokenizer,
            inputs,
            line=self._line,
            max_new=max_new,
            temperature=float(kwargs.get("temperature", self.temperature) or 0.0),
            repetition_penalty=self.repetition_penalty,
            loop=loop,
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Through `_astream`, so that cancelling the caller's task stops the generation too."""
        return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Generator[ChatGenerationChunk, None, None]:
        generation = self._generation(messages, kwargs)
        generation.start(self.max_waiting)
        answer = AnswerSoFar(stop)
        try:
            while (piece := generation.next_piece()) is not None:
                if text := answer.accept(piece):
                    if run_manager:
                        run_manager.on_llm_new_token(text)
                    yield ChatGenerationChunk(message=AIMessageChunk(content=text))
                if answer.ended:
                    generation.cancel()  # the pieces end within a token, after the count
        finally:
            generation.cancel()  # a consumer that stops early (a no-op when the generation ended)
        yield _usage_chunk(generation)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Like `_stream`, read on the event loop: a consumer that stops early, or a cancelled task, stops the
        generation at once (no thread of the loop's executor waits on it)."""
        generation = self._generation(messages, kwargs, asyncio.get_running_loop())
        generation.start(self.max_waiting)
        answer = AnswerSoFar(stop)
        try:
            while (piece := await generation.anext_piece()) is not None:
                if text := answer.accept(piece):
                    if run_manager:
                        await run_manager.on_llm_new_token(text)
                    yield ChatGenerationChunk(message=AIMessageChunk(content=text))
                if answer.ended:
                    generation.cancel()
        finally:
            generation.cancel()
        yield _usage_chunk(generation)
