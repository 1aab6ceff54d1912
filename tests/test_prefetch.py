"""The prefetch thread: order kept, errors raised in the consumer, an early stop stops the producer."""

import threading
from collections.abc import Iterator

import pytest

from ingest.prefetch import prefetch


def test_items_arrive_in_order_from_another_thread() -> None:
    threads: set[str] = set()

    def produce() -> Iterator[int]:
        for i in range(50):
            threads.add(threading.current_thread().name)
            yield i

    assert list(prefetch(produce(), depth=3)) == list(range(50))
    assert threads == {"ingest-prefetch"}


def test_producer_error_is_raised_in_the_consumer_after_the_items_before_it() -> None:
    def produce() -> Iterator[int]:
        yield 1
        raise ValueError("bad file")

    got = []
    with pytest.raises(ValueError, match="bad file"):
        for item in prefetch(produce()):
            got.append(item)
    assert got == [1]


def test_consumer_stopping_early_stops_the_producer() -> None:
    produced = []

    def produce() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    for item in prefetch(produce(), depth=2):
        if item == 3:
            break
    assert len(produced) < 10
    assert not any(t.name == "ingest-prefetch" for t in threading.enumerate())
