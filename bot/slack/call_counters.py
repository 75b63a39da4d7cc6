"""Counts of the bot's Slack Web API calls and of Slack's 429s, by method: what metrics read.

Every gateway puts a `CallObserver` first among its client's retry handlers. slack_sdk asks the
retry handlers about every answer and every failed attempt, so the observer sees each HTTP
attempt (a retry is a call too) without retrying anything itself. The counts are process-wide by
default (`SLACK_CALLS`), like a metrics registry; `subscribe` adds a hook called for each attempt.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot import metrics

# status is the HTTP status of the answer, or None when there was none (timeout, connection error)
CallHook = Callable[[str, int | None], None]


class CallStats:
    """Web API calls and 429 answers per method (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._ratelimited: Counter[str] = Counter()
        self._hooks: list[CallHook] = []

    def record(self, method: str, status: int | None) -> None:
        with self._lock:
            self._calls[method] += 1
            if status == 429:
                self._ratelimited[method] += 1
            hooks = list(self._hooks)
        metrics.SLACK_CALLS.labels(method).inc()
        if status == 429:
            metrics.SLACK_RATE_LIMITED.labels(method).inc()
        elif status is None or status >= 500:
            metrics.SLACK_ERRORS.labels(method, "no_answer" if status is None else f"http_{status}").inc()
        for hook in hooks:
            hook(method, status)

    def calls(self) -> dict[str, int]:
        """HTTP attempts per Web API method, retries included."""
        with self._lock:
            return dict(self._calls)

    def ratelimited(self) -> dict[str, int]:
        """Answers of HTTP 429 (`ratelimited`) per Web API method."""
        with self._lock:
            return dict(self._ratelimited)

    def subscribe(self, hook: CallHook) -> None:
        """Call `hook(method, status)` after each attempt (status None: no answer)."""
        with self._lock:
            self._hooks.append(hook)


SLACK_CALLS = CallStats()


def _method(request: HttpRequest) -> str:
    path = urlsplit(request.url).path
    return path.rpartition("/api/")[2] if "/api/" in path else path.rpartition("/")[2] or "unknown"


class CallObserver(RetryHandler):
    """A retry handler that never retries: it counts each attempt for `CallStats`."""

    def __init__(self, stats: CallStats) -> None:
        super().__init__(max_retry_count=0)
        self.stats = stats

    def __deepcopy__(self, memo: dict[int, object]) -> CallObserver:
        # Bolt deep-copies a request's context, its client included, for a lazy listener: the copy
        # counts into the same process-wide stats (a lock, which cannot be copied).
        return self

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        self.stats.record(_method(request), response.status_code if response is not None else None)
        return False

    def _can_retry(self, **_kw: Any) -> bool:
        return False


def observe(client: WebClient, stats: CallStats) -> None:
    """Count `client`'s calls in `stats` (once, whatever the other retry handlers)."""
    if not any(isinstance(h, CallObserver) for h in client.retry_handlers):
        client.retry_handlers.insert(0, CallObserver(stats))
