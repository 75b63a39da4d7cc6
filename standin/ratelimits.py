"""Slack's Web API rate limits, as the stand-in enforces them.

Slack documents (docs.slack.dev/apis/web-api/rate-limits) limits "per API method per app per
workspace": Tier 3 methods such as ``chat.update`` allow "50+ per minute", with "sporadic bursts
welcome"; ``chat.postMessage`` has a special limit, "1 per second" per channel, "short bursts >1
allowed". Over a limit Slack answers HTTP 429 with ``{"ok": false, "error": "ratelimited"}`` and a
``Retry-After`` header of whole seconds.

Each limit is a token bucket: ``burst`` calls may come at once, then calls are allowed at
``per_minute`` a minute on average. Slack does not publish its burst sizes: developers report
posting bursts of 25 to 40 messages before 429s; the stand-in allows 10 (a Slack stricter than
the real one is the safe side). Tests make the windows short with ``SlackStandIn.set_rate_limit``
(e.g. ``per_minute=60, burst=1``: a second between calls).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """At most ``burst`` calls at once, then ``per_minute`` calls a minute; counted for the whole
    workspace or, with ``per_channel``, for each channel (the ``channel`` argument)."""

    per_minute: float
    burst: int = 1
    per_channel: bool = False

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs per_minute > 0 and burst >= 1")


# Tier 3 for chat.update; one post a second per channel, with a short burst, for chat.postMessage;
# Tier 4 for views.publish.
SLACK_RATE_LIMITS: dict[str, RateLimit] = {
    "chat.update": RateLimit(per_minute=50, burst=50),
    "chat.postMessage": RateLimit(per_minute=60, burst=10, per_channel=True),
    # Tier 4 ("100+ per minute"): publishing App Home views, listing a channel's members.
    "views.publish": RateLimit(per_minute=100, burst=20),
    "conversations.members": RateLimit(per_minute=100, burst=20),
}


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets per (method, channel). Not thread-safe: callers hold the workspace lock."""

    def __init__(self, limits: dict[str, RateLimit] | None = None) -> None:
        self.limits: dict[str, RateLimit] = dict(limits or {})
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def set(self, method: str, limit: RateLimit | None) -> None:
        """Set (None: remove) the limit of one method; its bucket starts full."""
        if limit is None:
            self.limits.pop(method, None)
        else:
            self.limits[method] = limit
        self._buckets = {k: b for k, b in self._buckets.items() if k[0] != method}

    def take(self, method: str, channel: str | None, now: float) -> float:
        """Count one call at `now` (monotonic seconds). 0.0 when it is allowed; otherwise the
        seconds until it would be, and the call is not counted."""
        limit = self.limits.get(method)
        if limit is None:
            return 0.0
        key = (method, str(channel or "") if limit.per_channel else "")
        rate = limit.per_minute / 60.0
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(limit.burst), at=now)
        bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate


def retry_after_header(wait: float) -> str:
    """Slack's Retry-After: whole seconds, at least one."""
    return str(max(1, math.ceil(wait - 1e-9)))
