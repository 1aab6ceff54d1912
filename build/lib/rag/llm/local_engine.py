"""The in-process engine: a LangChain chat model running a transformers causal LM on this machine's CPU.

Development default when no vLLM server is configured. Tokens stream from `generate` running in a worker thread
(`_Generation`). Stopping is a thread-safe flag, read between chunks of the prompt's prefill and before each next
token: a consumer that stops early (a client gone, a stop string, a loop) stops the generation within a token or a
prefill chunk, from any thread or the event loop.
One generation runs at a time (the CPU is the bottleneck anyway), the others wait their turn in arrival order; at
most `max_waiting` wait, and one more is refused with `Overloaded` (429) before any token.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import re
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from rag.errors import InvalidInput, Overloaded
from rag.hf_runtime import offline_and_quiet
from rag.llm.cpu_dtype import cpu_llm_dtype

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}
_SENTENCE_END = re.compile(r"(?<=[.!?\n])\s+")
RETRY_AFTER_S = 2.0  # what a refused caller is told to wait (Retry-After)
PREFILL_CHUNK = 128  # prompt tokens per forward pass before generating: how often a long prefill checks for a stop


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


class _Line:
    """Turns at the model: one generation at a time, first come first served, at most `max_waiting` waiting behind
    it. A cancelled generation stops counting at once: a waiter leaves the line (its thread ends), and the running
    one lets the next start as soon as it notices, within a token or a prefill chunk."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()
        self._counted: set[object] = set()  # waiting or running, not cancelled
        self._busy = False

    def join(self, ticket: object, max_waiting: int) -> None:
        with self._cond:
            if len(self._counted) > max_waiting:
                raise Overloaded(
                    f"the in-process model is busy: {len(self._counted)} answers are being generated or waiting "
                    f"(at most {max_waiting + 1}); retry later",
                    retry_after_s=RETRY_AFTER_S,
                )
            self._counted.add(ticket)
            self._waiting.append(ticket)

    def take_turn(self, ticket: object, cancelled: threading.Event) -> bool:
        """Wait for `ticket`'s turn: True when it has the model (`done` must follow), False when it was cancelled."""
        with self._cond:
            while not cancelled.is_set() and (self._busy or not self._waiting or self._waiting[0] is not ticket):
                self._cond.wait()
            if cancelled.is_set():
                return False
            self._waiting.popleft()
            self._busy = True
            return True

    def leave(self, ticket: object) -> None:
        """`ticket` was cancelled: it no longer counts, and it leaves the line if it is waiting."""
        with self._cond:
            self._counted.discard(ticket)
            if ticket in self._waiting:
                self._waiting.remove(ticket)
            self._cond.notify_all()

    def done(self, ticket: object) -> None:
        with self._cond:
            self._counted.discard(ticket)
            self._busy = False
            self._cond.notify_all()


@functools.cache
def _streamer_class() -> type[Any]:
    """A transformers `TextStreamer` (its incremental, UTF-8-safe decoding) handing each finished piece of text to
    a callback, and ignoring the end of the stream: the worker ends it, once the token count is known."""
    from transformers import TextStreamer

    class _ToCallback(TextStreamer):
        def __init__(self, tokenizer: Any, deliver: Callable[[str], None]) -> None:
            super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
            self._deliver = deliver

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                self._deliver(text)

    return _ToCallback


class _Generation:
    """One `generate` call in a worker thread; its text arrives as pieces, read with `next_piece` or, when made with
    the event `loop`, `anext_piece` (None: the end). `cancel()` sets an event, from any thread: the prefill reads it
    between chunks of the prompt, a `StoppingCriteria` before each next token, and a generation cancelled while
    waiting for its turn never starts. Whatever happens, the worker ends the pieces, after setting
    `completion_tokens` or `error`."""

    def __init__(
        self,
        engine: LocalChatModel,
        messages: list[BaseMessage],
        kwargs: dict[str, Any],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._engine = engine
        self.max_new = int(kwargs.get("max_tokens") or engine.max_tokens)
        self._temperature = float(kwargs.get("temperature", engine.temperature) or 0.0)
        self._inputs = engine._tokenizer.apply_chat_template(
            _chat_dicts(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        self.prompt_tokens = int(self._inputs["input_ids"].shape[1])
        context = getattr(engine._model.config, "max_position_embeddings", None)
        if context and self.prompt_tokens + self.max_new > context:  # as vLLM refuses it: before any work
            raise InvalidInput(
                f"the prompt ({self.prompt_tokens} tokens with its sources) and max_tokens ({self.max_new}) exceed "
                f"the model's context of {context} tokens: ask for fewer sources (top_k) or a shorter conversation",
                param="messages",
            )
        self.completion_tokens = 0
        self.error: BaseException | None = None
        self._cancelled = threading.Event()
        self._loop = loop
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._aqueue: asyncio.Queue[str | None] = asyncio.Queue()
        self._thread = threading.Thread(target=self._work, name="local-llm-generate", daemon=True)

    def start(self) -> None:
        """Take a place in the line (or raise `Overloaded`) and start the worker."""
        self._engine._line.join(self, self._engine.max_waiting)
        try:
            self._thread.start()
        except BaseException:
            self._engine._line.leave(self)
            raise

    def cancel(self) -> None:
        """Stop generating (at the next token or prefill chunk), or never start; returns at once, safe from any
        thread or the event loop."""
        if not self._cancelled.is_set():
            self._cancelled.set()
            self._engine._line.leave(self)

    def _deliver(self, item: str | None) -> None:
        if self._loop is None:
            self._queue.put(item)
        else:
            self._loop.call_soon_threadsafe(self._aqueue.put_nowait, item)

    def _work(self) -> None:
        line = self._engine._line
        try:
            if line.take_turn(self, self._cancelled):
                try:
                    self._generate()
                finally:
                    line.done(self)
        except BaseException as exc:  # surfaced to the consumer after the pieces
            self.error = exc
        finally:
            with contextlib.suppress(RuntimeError):  # RuntimeError: the event loop is closed, nobody reads any more
                self._deliver(None)

    def _generate(self) -> None:
        """The prompt (but its last token) into a KV cache in chunks, then `generate` from there: a cancellation is
        noticed between chunks of a long prompt too, not only between tokens."""
        import torch
        from transformers import DynamicCache, StoppingCriteria, StoppingCriteriaList

        cancelled, model, tokenizer = self._cancelled, self._engine._model, self._engine._tokenizer

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **_: Any) -> bool:
                return cancelled.is_set()

        ids, cache = self._inputs["input_ids"], DynamicCache(config=model.config)
        with torch.no_grad():
            for start in range(0, self.prompt_tokens - 1, PREFILL_CHUNK):
                if cancelled.is_set():
                    return
                model(input_ids=ids[:, start : min(start + PREFILL_CHUNK, self.prompt_tokens - 1)], cache=cache)
        if cancelled.is_set():
            return
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": self._temperature, "top_p": 0.9}
            if self._temperature > 0
            else {"do_sample": False}
        )
        out = model.generate(
            **self._inputs,
            cache=cache,
            max_new_tokens=self.max_new,
            repetition_penalty=self._engine.repetition_penalty,
            streamer=_streamer_class()(tokenizer, self._deliver),
            stopping_criteria=StoppingCriteriaList([_Cancelled()]),
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            **sampling,
        )
        self.completion_tokens = int(out.shape[1]) - self.prompt_tokens

    def next_piece(self) -> str | None:
        return self._queue.get()

    async def anext_piece(self) -> str | None:
        return await self._aqueue.get()

    def usage_chunk(self) -> ChatGenerationChunk:
        """The last chunk, once the pieces ended: usage and finish reason (or the generation's error)."""
        if self.error is not None:
            raise self.error
        completion = self.completion_tokens
        usage = UsageMetadata(
            input_tokens=self.prompt_tokens, output_tokens=completion, total_tokens=self.prompt_tokens + completion
        )
        finish = "length" if completion >= self.max_new else "stop"
        return ChatGenerationChunk(
            message=AIMessageChunk(content="", usage_metadata=usage, response_metadata={"finish_reason": finish})
        )


class _Answer:
    """The answer's text so far; it ends before a stop string, or after a sentence that repeats (`is_looping`)."""

    def __init__(self, stop: list[str] | None) -> None:
        self.text = ""
        self.ended = False
        self._stop = stop or []

    def accept(self, piece: str) -> str:
        """What to emit of the next piece: the piece, or "" once the answer has ended (check `ended`)."""
        if self.ended or not piece:
            return ""
        if any(s in self.text + piece for s in self._stop):
            self.ended = True
            return ""
        self.text += piece
        self.ended = is_looping(self.text)
        return piece


class _Collected:
    """Chunks gathered into one `ChatResult` (the non-streaming calls)."""

    def __init__(self) -> None:
        self.text, self.finish = "", "stop"
        self.usage: UsageMetadata | None = None

    def add(self, chunk: ChatGenerationChunk) -> None:
        self.text += chunk.text
        msg = chunk.message
        if isinstance(msg, AIMessageChunk) and msg.usage_metadata:
            self.usage = msg.usage_metadata
            self.finish = msg.response_metadata.get("finish_reason", self.finish)

    def result(self) -> ChatResult:
        message = AIMessage(
            content=self.text, usage_metadata=self.usage, response_metadata={"finish_reason": self.finish}
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


class LocalChatModel(BaseChatModel):
    """A `BaseChatModel` over a local transformers model directory, streaming token by token."""

    model_dir: Path
    max_tokens: int = 256
    temperature: float = 0.0
    repetition_penalty: float = 1.0
    dtype: Literal["auto", "bfloat16", "float32"] = "auto"  # auto: float32 unless the CPU computes bfloat16 natively
    max_waiting: int = 4  # generations allowed to wait behind the running one; beyond: `Overloaded`

    _tokenizer: Any = PrivateAttr()
    _model: Any = PrivateAttr()
    _line: _Line = PrivateAttr(default_factory=_Line)

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
        collected = _Collected()
        for chunk in self._stream(messages, stop, run_manager, **kwargs):
            collected.add(chunk)
        return collected.result()

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Through `_astream`, so that cancelling the caller's task stops the generation too."""
        collected = _Collected()
        async for chunk in self._astream(messages, stop, run_manager, **kwargs):
            collected.add(chunk)
        return collected.result()

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Generator[ChatGenerationChunk, None, None]:
        generation = _Generation(self, messages, kwargs)
        generation.start()
        answer = _Answer(stop)
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
        yield generation.usage_chunk()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Like `_stream`, read on the event loop: a consumer that stops early, or a cancelled task, stops the
        generation at once (no thread of the loop's executor waits on it)."""
        generation = _Generation(self, messages, kwargs, asyncio.get_running_loop())
        generation.start()
        answer = _Answer(stop)
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
        yield generation.usage_chunk()
