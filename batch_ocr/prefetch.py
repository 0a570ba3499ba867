"""Run an iterator one item ahead in a background thread, in order, with bounded memory.

The job's chunks are built (files decoded, pages segmented and cropped: OpenCV and numpy, which
release the GIL) while the model reads the previous chunk (TensorFlow, which releases it too), so
the two overlap on a small machine instead of taking turns.

At most `ahead` items exist beyond the one the consumer holds: the thread waits for a free slot
before building the next item, and a slot frees when the consumer asks for the item after. An
exception raised while building is raised in the consumer at that item's place; leaving the
`with` block (normally, by an exception, or by SIGINT/SIGTERM turned into `Interrupted` in the
main thread) stops the thread and waits for it, so nothing keeps reading files after a run ends.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()
# How often a waiting thread looks at the stop flag; only delays the end of an aborted run.
_POLL_S = 0.05
# A builder stuck longer than this (a hung network file) is left behind as a daemon thread
# rather than holding up an interrupted run's exit.
_JOIN_TIMEOUT_S = 60.0


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


class Prefetch(Generic[T]):
    """`with Prefetch(make_items) as items: for item in items: ...`

    `make_items(stopping)` returns the iterator to run ahead; it should look at `stopping()` now
    and then (per file, per page) and end early when it is true.
    """

    def __init__(self, make_items, ahead: int = 1, name: str = "batch-ocr-prefetch"):
        self._make_items = make_items
        self._slots = threading.Semaphore(ahead + 1)  # the consumer's item plus `ahead`
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._build, name=name, daemon=True)

    def __enter__(self) -> Iterator[T]:
        self._thread.start()
        return self._items()

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._slots.release()  # wake a thread waiting for a slot
        self._thread.join(_JOIN_TIMEOUT_S)

    def _build(self) -> None:
        items = None
        try:
            items = iter(self._make_items(self._stop.is_set))
            while True:
                while not self._slots.acquire(timeout=_POLL_S):
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                item = next(items, _END)
                self._queue.put(item)
                if item is _END:
                    return
        except BaseException as exc:  # handed to the consumer, which decides what it means
            self._queue.put(_Failed(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def _items(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
            self._slots.release()  # the consumer is done with `item`: build one more
