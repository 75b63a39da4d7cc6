"""The rendered-answers cache: a burst of misses on one key renders it once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.cache import LRUCache


def test_a_burst_of_misses_on_one_key_makes_it_once_and_all_get_it():
    cache: LRUCache[str] = LRUCache()
    calls: list[int] = []
    start = threading.Barrier(8)

    def make() -> str:
        calls.append(1)
        time.sleep(0.2)  # a render the others arrive during
        return "rendered"

    def ask(_: int) -> str:
        start.wait()
        return cache.get_or_make(("status", 1), make)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert answers == ["rendered"] * 8
    assert len(calls) == 1
    assert cache.get_or_make(("status", 1), make) == "rendered" and len(calls) == 1  # a hit
    assert cache.get_or_make(("status", 2), make) == "rendered" and len(calls) == 2  # another key


def test_when_the_maker_fails_each_waiter_makes_it_itself():
    cache: LRUCache[str] = LRUCache()
    first = threading.Event()
    calls: list[str] = []

    def failing() -> str:
        calls.append("failing")
        first.set()
        time.sleep(0.2)
        raise RuntimeError("the database went away")

    def working() -> str:
        calls.append("working")
        return "rendered"

    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = pool.submit(cache.get_or_make, "k", failing)
        assert first.wait(5)
        waiter = pool.submit(cache.get_or_make, "k", working)  # arrives while the first is making it
        with pytest.raises(RuntimeError):
            failed.result(5)
        assert waiter.result(5) == "rendered"
    assert calls == ["failing", "working"]
    assert cache.get("k") == "rendered"
