"""Running an iterator ahead in a thread: order, bound, errors, stopping."""
from __future__ import annotations

import threading
import time

import pytest

from batch_ocr.prefetch import Prefetch


def _numbers(count: int, built: list[int]):
    def make(stopping):
        for index in range(count):
            if stopping():
                return
            built.append(index)
            yield index
    return make


def test_items_arrive_in_order_and_all_of_them():
    built: list[int] = []
    with Prefetch(_numbers(50, built)) as items:
        assert list(items) == list(range(50))


def test_at_most_one_item_is_built_beyond_the_one_being_used():
    built: list[int] = []
    with Prefetch(_numbers(20, built), ahead=1) as items:
        for item in items:
            time.sleep(0.02)  # a slow consumer: the builder runs ahead as far as it may
            assert len(built) <= item + 2


def test_a_build_error_is_raised_at_its_place():
    def make(stopping):
        yield 1
        yield 2
        raise OSError("disk gone")

    seen = []
    with pytest.raises(OSError, match="disk gone"):
        with Prefetch(make) as items:
            for item in items:
                seen.append(item)
    assert seen == [1, 2]


def test_leaving_early_stops_and_joins_the_thread():
    built: list[int] = []
    with pytest.raises(KeyError):
        with Prefetch(_numbers(10_000, built), name="test-prefetch") as items:
            for item in items:
                if item == 3:
                    raise KeyError("consumer gave up")
    assert not [t for t in threading.enumerate() if t.name == "test-prefetch"]
    assert len(built) <= 5
