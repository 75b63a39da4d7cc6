"""Pacing the bot's Slack output to Slack's published rate limits, before Slack has to say 429.

Slack limits `chat.update` to Tier 3 (50+ a minute for the workspace, "sporadic bursts welcome")
and `chat.postMessage` to about one message a second per channel ("short bursts >1 allowed"),
and answers a call over a limit with HTTP 429 and Retry-After (docs.slack.dev/apis/web-api/
rate-limits). The outbox asks the pacer before each call: a token bucket per method (and per
channel for posting) that allows a burst, then the documented rate. Slack publishes no burst
sizes; these are on the small side of what developers report. A 429 that comes anyway
(another process, a stricter Slack) empties the bucket until Retry-After has passed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Pace:
    """A burst of `burst` calls, then `per_minute` a minute; per channel with `per_channel`."""

    per_minute: float
    burst: int = 1
    per_channel: bool = False


# A little under the documented rates and the stand-in's bursts: the bot's clock and Slack's never
# agree to the millisecond, and a call let through at the edge of a window would come back 429.
SLACK_PACE: dict[str, Pace] = {
    "chat.update": Pace(per_minute=45, burst=40),
    "chat.postMessage": Pace(per_minute=55, burst=8, per_channel=True),
    # Tier 4 (100+ a minute): the App Home re-published after changes.
    "views.publish": Pace(per_minute=90, burst=20),
    # Special, "hundreds of requests per minute" (docs.slack.dev/reference/methods/
    # chat.getPermalink): links to requests and checklists put in messages being sent.
    "chat.getPermalink": Pace(per_minute=180, burst=18),
    # A picture shared through files_upload_v2 is two Tier 4 calls (files.getUploadURLExternal,
    # then files.completeUploadExternal): half of Tier 4's rate.
    "files.upload": Pace(per_minute=45, burst=9),
    # Tier 3 (50+ a minute): the project page's line edits (one change a call) and the lookups that
    # find the lines they change (bot.slack.project_page).
    "canvases.edit": Pace(per_minute=45, burst=20),
    "canvases.sections.lookup": Pace(per_minute=45, burst=20),
}


@dataclass
class _Bucket:
    tokens: float
    at: float
    held_until: float = 0.0


class Pacer:
    """Token buckets per (method, channel), shared by the outbox's workers (thread-safe)."""

    def __init__(
        self, paces: dict[str, Pace] | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.paces: dict[str, Pace] = dict(SLACK_PACE if paces is None else paces)
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def set(self, method: str, pace: Pace | None) -> None:
        """Pace `method` this way (None: not at all)."""
        with self._lock:
            if pace is None:
                self.paces.pop(method, None)
            else:
                self.paces[method] = pace
            self._buckets = {k: b for k, b in self._buckets.items() if k[0] != method}

    def _bucket(self, method: str, channel: str | None) -> tuple[Pace, _Bucket] | None:
        pace = self.paces.get(method)
        if pace is None:
            return None
        key = (method, (channel or "") if pace.per_channel else "")
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(pace.burst), at=self._clock())
        return pace, bucket

    def take(self, method: str, channel: str | None = None) -> float:
        """0.0 when a call may go now (and it is counted); otherwise the seconds to wait, and
        nothing is counted."""
        return self._ask(method, channel, count=True)

    def wait(self, method: str, channel: str | None = None) -> float:
        """The seconds until a call of `method` may go (0.0: now), without counting one."""
        return self._ask(method, channel, count=False)

    def _ask(self, method: str, channel: str | None, *, count: bool) -> float:
        now = self._clock()
        with self._lock:
            found = self._bucket(method, channel)
            if found is None:
                return 0.0
            pace, bucket = found
            if now < bucket.held_until:
                return bucket.held_until - now
            rate = pace.per_minute / 60.0
            tokens = min(float(pace.burst), bucket.tokens + (now - bucket.at) * rate)
            if count:
                bucket.tokens, bucket.at = tokens, now
            if tokens >= 1.0:
                if count:
                    bucket.tokens -= 1.0
                return 0.0
            return (1.0 - tokens) / rate

    def hold(self, method: str, channel: str | None, seconds: float) -> None:
        """Slack answered 429: no call of `method` (in `channel`, when paced per channel) for
        `seconds`; then one call, and the burst refills from there."""
        now = self._clock()
        with self._lock:
            found = self._bucket(method, channel)
            if found is None:
                return
            _pace, bucket = found
            bucket.held_until = max(bucket.held_until, now + seconds)
            bucket.tokens, bucket.at = 1.0, now + seconds
