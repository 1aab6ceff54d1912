"""The in-process engine: a LangChain chat model running a transformers causal LM on this machine's CPU.

Development default when no vLLM server is configured. Tokens stream from `generate` running in a worker thread;
closing the stream stops the generation. One generation runs at a time (the CPU is the bottleneck anyway).
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables.config import run_in_executor
from pydantic import PrivateAttr

from rag.hf_runtime import offline_and_quiet
from rag.llm.cpu_dtype import cpu_llm_dtype

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}
_SENTENCE_END = re.compile(r"(?<=[.!?\n])\s+")


def is_looping(text: str, min_chars: int = 24) -> bool:
    """True when the newest complete sentence already appeared earlier: greedy decoding of a small model has
    entered a loop, and everything after it would repeat. (Penalties would also punish copying the sources.)"""
    sentences = [s.strip() for s in _SENTENCE_END.split(text)]
    if len(sentences) < 3:
        return False
    newest = sentences[-2]  # the last element may be an unfinished sentence
    return len(newest) >= min_chars and newest in sentences[:-2]


def _chat_dicts(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _ROLES.get(m.type, "user"), "content": m.text} for m in messages]


class LocalChatModel(BaseChatModel):
    """A `BaseChatModel` over a local transformers model directory, streaming token by token."""

    model_dir: Path
    max_tokens: int = 256
    temperature: float = 0.0
    repetition_penalty: float = 1.0
    dtype: Literal["auto", "bfloat16", "float32"] = "auto"  # auto: float32 unless the CPU computes bfloat16 natively

    _tokenizer: Any = PrivateAttr()
    _model: Any = PrivateAttr()
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

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

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text, usage, finish = "", None, "stop"
        for chunk in self._stream(messages, stop, run_manager, **kwargs):
            text += chunk.text
            msg = chunk.message
            if isinstance(msg, AIMessageChunk) and msg.usage_metadata:
                usage = msg.usage_metadata
                finish = msg.response_metadata.get("finish_reason", finish)
        message = AIMessage(content=text, usage_metadata=usage, response_metadata={"finish_reason": finish})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Generator[ChatGenerationChunk, None, None]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        max_new = int(kwargs.get("max_tokens") or self.max_tokens)
        temperature = float(kwargs.get("temperature", self.temperature) or 0.0)
        inputs = self._tokenizer.apply_chat_template(
            _chat_dicts(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        prompt_tokens = int(inputs["input_ids"].shape[1])
        cancelled = threading.Event()

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **_: Any) -> bool:
                return cancelled.is_set()

        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_p": 0.9} if temperature > 0 else {"do_sample": False}
        )
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                with self._lock:
                    out = self._model.generate(
                        **inputs,
                        max_new_tokens=max_new,
                        repetition_penalty=self.repetition_penalty,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_Cancel()]),
                        pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
                        **sampling,
                    )
                result["completion_tokens"] = int(out.shape[1]) - prompt_tokens
            except BaseException as exc:  # surfaced to the consumer below
                result["error"] = exc
                streamer.end()  # type: ignore[no-untyped-call]

        thread = threading.Thread(target=work, name="local-llm-generate", daemon=True)
        thread.start()
        text = ""
        try:
            for piece in streamer:
                if stop and any(s in text + piece for s in stop):
                    break
                if piece:
                    text += piece
                    if run_manager:
                        run_manager.on_llm_new_token(piece)
                    yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
                    if is_looping(text):
                        break
        finally:
            cancelled.set()
            thread.join()
        if "error" in result:
            raise result["error"]
        completion = int(result.get("completion_tokens", 0))
        usage = UsageMetadata(
            input_tokens=prompt_tokens, output_tokens=completion, total_tokens=prompt_tokens + completion
        )
        finish = "length" if completion >= max_new else "stop"
        yield ChatGenerationChunk(
            message=AIMessageChunk(content="", usage_metadata=usage, response_metadata={"finish_reason": finish})
        )

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Like LangChain's default, but a consumer that stops early also stops the generation."""
        iterator = self._stream(messages, stop, None, **kwargs)
        done = object()
        try:
            while True:
                item = await run_in_executor(None, next, iterator, done)
                if item is done:
                    break
                assert isinstance(item, ChatGenerationChunk)
                if run_manager and item.text:
                    await run_manager.on_llm_new_token(item.text)
                yield item
        finally:
            await run_in_executor(None, iterator.close)
