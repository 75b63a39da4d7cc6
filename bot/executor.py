"""Thread pools that count work in flight: the one Bolt runs listeners in, and the after-the-ack
workers (`handlers.listening.after_ack`).

`wait_idle()` lets end-to-end tests and the sandbox wait until every listener has finished
its after-the-ack work, instead of sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import Gauge


class TrackingExecutor(ThreadPoolExecutor):
    def __init__(
        self, max_workers: int = 8, name: str = "golive-listener", gauge: Gauge | None = None
    ) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=name)
        self.max_slots = max_workers
        self._cond = threading.Condition()
        self._in_flight = 0
        self._gauge = gauge  # set to the work in flight (waiting or running)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._cond:
            self._in_flight += 1
            if self._gauge is not None:
                self._gauge.set(self._in_flight)
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._done()
            raise
        future.add_done_callback(lambda _f: self._done())
        return future

    def _done(self) -> None:
        with self._cond:
            self._in_flight -= 1
            if self._gauge is not None:
                self._gauge.set(self._in_flight)
            self._cond.notify_all()

    @property
    def in_flight(self) -> int:
        """Work submitted and not finished (waiting or running)."""
        return self._in_flight

    def wait_idle(self, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._in_flight == 0, timeout=timeout)
