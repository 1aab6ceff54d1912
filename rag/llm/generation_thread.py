"""The thread bridge of the in-process model: one `generate` call in a worker thread, its text handed to a reader.

Tokens stream from `generate` in the worker; the reader takes the pieces of text from a queue, blocking
(`next_piece`) or on the event loop (`anext_piece`). Stopping is a thread-safe flag, read between chunks of the
prompt's prefill and before each next token: a reader that stops early (a client gone, a stop string, a loop) stops
the generation within a token or a prefill chunk, from any thread or the event loop, and a generation cancelled while
waiting for its turn (`GenerationLine`) never starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
from collections.abc import Callable
from typing import Any

from rag.llm.generation_line import GenerationLine

PREFILL_CHUNK = 128  # prompt tokens per forward pass before generating: how often a long prefill checks for a stop
WORKER_NAME = "local-llm-generate"


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


class GenerationThread:
    """One `generate` call over the tokenized prompt `inputs` in a worker thread; its text arrives as pieces, read
    with `next_piece` or, when made with the event `loop`, `anext_piece` (None: the end). `cancel()` sets an event,
    from any thread: the prefill reads it between chunks of the prompt, a `StoppingCriteria` before each next token,
    and a generation cancelled while waiting for its turn in `line` never starts. Whatever happens, the worker ends
    the pieces, after setting `completion_tokens` or `error`."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        inputs: Any,
        *,
        line: GenerationLine,
        max_new: int,
        temperature: float,
        repetition_penalty: float,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._model, self._tokenizer, self._inputs, self._line = model, tokenizer, inputs, line
        self.max_new = max_new
        self._temperature = temperature
        self._repetition_penalty = repetition_penalty
        self.prompt_tokens = int(inputs["input_ids"].shape[1])
        self.completion_tokens = 0
        self.error: BaseException | None = None
        self._cancelled = threading.Event()
        self._loop = loop
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._aqueue: asyncio.Queue[str | None] = asyncio.Queue()
        self._thread = threading.Thread(target=self._work, name=WORKER_NAME, daemon=True)

    def start(self, max_waiting: int) -> None:
        """Take a place in the line (or raise `Overloaded`) and start the worker."""
        self._line.join(self, max_waiting)
        try:
            self._thread.start()
        except BaseException:
            self._line.leave(self)
            raise

    def cancel(self) -> None:
        """Stop generating (at the next token or prefill chunk), or never start; returns at once, safe from any
        thread or the event loop."""
        if not self._cancelled.is_set():
            self._cancelled.set()
            self._line.leave(self)

    def next_piece(self) -> str | None:
        return self._queue.get()

    async def anext_piece(self) -> str | None:
        return await self._aqueue.get()

    def _deliver(self, item: str | None) -> None:
        if self._loop is None:
            self._queue.put(item)
        else:
            self._loop.call_soon_threadsafe(self._aqueue.put_nowait, item)

    def _work(self) -> None:
        try:
            if self._line.take_turn(self, self._cancelled):
                try:
                    self._generate()
                finally:
                    self._line.done(self)
        except BaseException as exc:  # surfaced to the reader after the pieces
            self.error = exc
        finally:
            with contextlib.suppress(RuntimeError):  # RuntimeError: the event loop is closed, nobody reads any more
                self._deliver(None)

    def _generate(self) -> None:
        """The prompt (but its last token) into a KV cache in chunks, then `generate` from there: a cancellation is
        noticed between chunks of a long prompt too, not only between tokens."""
        import torch
        from transformers import DynamicCache, StoppingCriteria, StoppingCriteriaList

        cancelled, model, tokenizer = self._cancelled, self._model, self._tokenizer

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
            repetition_penalty=self._repetition_penalty,
            streamer=_streamer_class()(tokenizer, self._deliver),
            stopping_criteria=StoppingCriteriaList([_Cancelled()]),
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            **sampling,
        )
        self.completion_tokens = int(out.shape[1]) - self.prompt_tokens
