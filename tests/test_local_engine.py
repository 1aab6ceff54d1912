"""The in-process engine (rag/llm/local_chat_model.py and the modules it runs) with the real development model:
stopping a consumer stops `generate` at once (a flag read before each token, never a generator closed from another
thread), generations wait in line one at a time, and a full line is refused before any token."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, HumanMessage

from rag.errors import InvalidInput, Overloaded, RateLimited
from rag.llm.local_chat_model import LocalChatModel
from rag.llm.model_files import dev_model_dir
from rag.settings import Settings

LONG = [HumanMessage("Tell me a long story about a dragon who learns to deploy software.")]
WORKER = "local-llm-generate"


@pytest.fixture(scope="module")
def engine() -> LocalChatModel:
    return LocalChatModel(model_dir=dev_model_dir(Settings().embedding.cache_dir), max_tokens=8, max_waiting=1)


@pytest.fixture
def generate_calls(engine: LocalChatModel, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """When each `generate` call started; and no worker may outlive the test."""
    calls: list[float] = []
    real = engine._model.generate

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(engine._model, "generate", counted)
    yield calls
    assert _wait_for_workers(60), "a generation outlived its test"


def _workers() -> int:
    return sum(t.name == WORKER for t in threading.enumerate())


def _wait_for_workers(limit_s: float) -> float | None:
    """Seconds until no generation thread is left, or None after `limit_s`."""
    began = time.monotonic()
    while _workers():
        if time.monotonic() - began > limit_s:
            return None
        time.sleep(0.005)
    return time.monotonic() - began


def _stop_limit(first_token_s: float) -> float:
    """How soon a stopped generation must end: a second, or two prefills when other test runs load the CPU (one
    token is far less than a prefill). Running on, 1,500 tokens take minutes."""
    return max(1.0, 2 * first_token_s)


class _LoopErrors:
    """Errors the event loop reports (`Task exception was never retrieved`, ...)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, context: self.seen.append(repr(context)))


def test_closing_an_async_stream_after_the_first_chunk_stops_generate(
    engine: LocalChatModel, generate_calls: list[float]
) -> None:
    async def scenario() -> tuple[float, float | None, list[str]]:
        errors = _LoopErrors()
        began = time.monotonic()
        stream = engine.astream(LONG, max_tokens=1500)
        first = await anext(stream)
        first_token_s = time.monotonic() - began
        assert first.text
        await stream.aclose()
        stopped = await asyncio.to_thread(_wait_for_workers, 60)
        return first_token_s, stopped, errors.seen

    first_token_s, stopped, errors = asyncio.run(scenario())
    assert stopped is not None and stopped < _stop_limit(first_token_s), (stopped, first_token_s)
    assert not errors
    assert len(generate_calls) == 1


def test_cancelling_a_task_waiting_for_a_token_stops_generate(
    engine: LocalChatModel, generate_calls: list[float]
) -> None:
    """What Starlette does when a streaming client leaves: it cancels the task that awaits the next chunk. (The
    old engine closed its generator from an executor thread while another was inside it: `ValueError('generator
    already executing')`, and the generation ran on to `max_tokens`.)"""

    async def scenario() -> tuple[float, float | None, list[str], BaseException | None]:
        errors = _LoopErrors()
        began, got_first = time.monotonic(), asyncio.Event()

        async def consume() -> None:
            async for _ in engine.astream(LONG, max_tokens=1500):
                got_first.set()

        task = asyncio.ensure_future(consume())
        await got_first.wait()
        first_token_s = time.monotonic() - began
        await asyncio.sleep(0.05)  # the consumer now awaits the next token
        task.cancel()
        outcome = (await asyncio.gather(task, return_exceptions=True))[0]
        stopped = await asyncio.to_thread(_wait_for_workers, 60)
        return first_token_s, stopped, errors.seen, outcome

    first_token_s, stopped, errors, outcome = asyncio.run(scenario())
    assert isinstance(outcome, asyncio.CancelledError), outcome
    assert stopped is not None and stopped < _stop_limit(first_token_s), (stopped, first_token_s)
    assert not errors


def test_closing_a_sync_stream_stops_generate(engine: LocalChatModel, generate_calls: list[float]) -> None:
    began = time.monotonic()
    stream = engine.stream(LONG, max_tokens=1500)
    assert next(stream).text
    first_token_s = time.monotonic() - began
    stream.close()
    stopped = _wait_for_workers(60)
    assert stopped is not None and stopped < _stop_limit(first_token_s), (stopped, first_token_s)


def test_a_full_line_is_refused_and_a_cancelled_waiter_never_starts(
    engine: LocalChatModel, generate_calls: list[float]
) -> None:
    """max_waiting=1: one generates, one waits, a third is refused before any token; a waiter cancelled in line
    never calls `generate` and frees its place at once."""

    async def first_chunk(messages: list[BaseMessage], started: asyncio.Event | None = None) -> None:
        async for _ in engine.astream(messages, max_tokens=1500):
            if started:
                started.set()

    async def scenario() -> None:
        running_started = asyncio.Event()
        running = asyncio.ensure_future(first_chunk(LONG, running_started))
        await running_started.wait()
        waiting = asyncio.ensure_future(first_chunk(LONG))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        with pytest.raises(Overloaded) as refused:
            await first_chunk([HumanMessage("Hi")])
        assert isinstance(refused.value, RateLimited) and refused.value.retry_after_s > 0
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        admitted = asyncio.ensure_future(first_chunk([HumanMessage("Hi")]))  # the cancelled waiter's place
        await asyncio.sleep(0.2)
        assert not admitted.done()  # in line, behind the running one
        for task in (running, admitted):
            task.cancel()
        await asyncio.gather(running, admitted, return_exceptions=True)

    asyncio.run(scenario())
    assert _wait_for_workers(60) is not None
    assert len(generate_calls) == 1  # neither the cancelled waiter nor the one behind it ever started


def test_usage_and_finish_reason_of_every_call(engine: LocalChatModel, generate_calls: list[float]) -> None:
    question = [HumanMessage("What is Kubernetes?")]
    invoked = engine.invoke(question, max_tokens=4)
    ainvoked = asyncio.run(engine.ainvoke(question, max_tokens=4))
    for message in (invoked, ainvoked):
        assert message.usage_metadata is not None and message.usage_metadata["output_tokens"] == 4
        assert message.usage_metadata["input_tokens"] > 10
        assert message.response_metadata["finish_reason"] == "length"
    assert invoked.text == ainvoked.text  # greedy decoding: both paths generate the same
    stopped = engine.invoke(question, max_tokens=64, stop=[invoked.text.split()[-1]])
    assert stopped.response_metadata["finish_reason"] == "stop" and invoked.text.split()[-1] not in stopped.text


def test_a_prompt_over_the_models_context_is_refused_before_any_work(
    engine: LocalChatModel, generate_calls: list[float]
) -> None:
    context = engine._model.config.max_position_embeddings
    huge = [HumanMessage("word " * context)]
    with pytest.raises(InvalidInput, match="top_k") as refused:
        list(engine.stream(huge))
    assert refused.value.param == "messages" and generate_calls == []
    with pytest.raises(InvalidInput):  # the prompt fits, the prompt and max_tokens do not
        engine.invoke([HumanMessage("word " * (context - 100))], max_tokens=200)
