"""A small thread-safe LRU cache for rendered messages, keyed so that a stale entry is never hit:
the key carries everything the message depends on (e.g. the engagement's latest audit row and
the local date), so nothing has to be invalidated by hand."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar, cast

V = TypeVar("V")


# How long a request waits for another one making the same entry before it makes it itself.
MAKING_WAIT_SECONDS = 10.0


class _Making(Generic[V]):
    """An entry being made by one request, which the others asking for it wait for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: V | None = None
        self.made = False


class LRUCache(Generic[V]):
    def __init__(self, maxsize: int = 512) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._making: dict[Hashable, _Making[V]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The entry for `key`, made with `make()` when missing. One request makes it, outside the
        lock; others asking for the same key meanwhile wait for that one instead of making it too.
        (After every change the first `/golive status` of a burst renders it again: with 50 at
        once, each process rendered it about 25 times side by side, about 30 ms of CPU each, and
        those answers were the burst's p99, 364-400 ms.) If the maker fails, each waiter makes it
        itself."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
            making = self._making.get(key)
            mine = making is None
            if making is None:
                making = self._making[key] = _Making()
        if not mine:
            if making.done.wait(MAKING_WAIT_SECONDS) and making.made:
                return cast(V, making.value)  # made: the value is set
            value = make()
            self.put(key, value)
            return value
        try:
            value = make()
        except BaseException:
            with self._lock:
                self._making.pop(key, None)
            making.done.set()  # `made` is still False: each waiter makes it itself
            raise
        making.value, making.made = value, True
        self.put(key, value)  # in the cache before the waiters wake and before it stops being made
        with self._lock:
            self._making.pop(key, None)
        making.done.set()
        return value

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return None

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)
