"""The one source of "now". Tests, the sandbox and `golive sweep --at` set it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall clock in UTC; `set`/`advance` pin it for tests and the sandbox."""

    def __init__(self, at: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._fixed: datetime | None = None
        if at is not None:
            self.set(at)

    def now(self) -> datetime:
        with self._lock:
            if self._fixed is not None:
                return self._fixed
        return datetime.now(UTC)

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        with self._lock:
            self._fixed = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            base = self._fixed if self._fixed is not None else datetime.now(UTC)
            self._fixed = base + delta
            return self._fixed
