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

Every Web API method the bot calls has its documented limit here (each method's page on
docs.slack.dev/reference/methods says "Rate limits: Tier N" or "Special"). Tiers: Tier 1 "1+ per
minute", Tier 2 "20+ per minute", Tier 3 "50+ per minute", Tier 4 "100+ per minute"; the "+"
is left out (the floor is the safe side). Bursts, which Slack describes only in words ("a small
amount of burst behavior is tolerated" for Tier 1, "occasional bursts" for Tier 2, "sporadic
bursts are welcome" for Tier 3, "generous burst behavior" for Tier 4): Tier 3 takes a minute's
worth at once (50); Tier 2 five, Tier 4 twenty — under a minute's worth, a stricter Slack. A
method not listed here is not limited: add it when the bot starts calling it.
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


TIER_1 = RateLimit(per_minute=1, burst=1)
TIER_2 = RateLimit(per_minute=20, burst=5)
TIER_3 = RateLimit(per_minute=50, burst=50)
TIER_4 = RateLimit(per_minute=100, burst=20)
# "Special" methods that "allow hundreds of requests per minute" (auth.test, chat.getPermalink):
# two hundred, with Tier 4's burst.
HUNDREDS = RateLimit(per_minute=200, burst=20)

# One entry per Web API method the bot calls (bot/slack/gateway.py, its files_upload_v2, and Bolt's
# own auth.test), each with the tier its page on docs.slack.dev/reference/methods gives.
SLACK_RATE_LIMITS: dict[str, RateLimit] = {
    # Special, "hundreds of requests per minute" (docs.slack.dev/reference/methods/auth.test):
    # Bolt checks the token once at start, golive asks once for the install's Grid org.
    "auth.test": HUNDREDS,
    # Special, "hundreds of requests per minute" (docs.slack.dev/reference/methods/chat.getPermalink).
    "chat.getPermalink": HUNDREDS,
    # Tier 4 (docs.slack.dev/reference/methods/chat.postEphemeral).
    "chat.postEphemeral": TIER_4,
    # Special: "generally allows posting one message per second per channel, while also
    # maintaining a workspace-wide limit"; "short bursts >1 allowed"
    # (docs.slack.dev/reference/methods/chat.postMessage, docs.slack.dev/apis/web-api/rate-limits).
    "chat.postMessage": RateLimit(per_minute=60, burst=10, per_channel=True),
    # Tier 3 (docs.slack.dev/reference/methods/chat.update).
    "chat.update": TIER_3,
    # Tier 3 (docs.slack.dev/reference/methods/conversations.history and .replies). Slack's
    # lower limits of May 2025 for commercially distributed non-Marketplace apps do not apply to
    # "internal customer-built applications", which each vendor's golive app is.
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    # Tier 3 (docs.slack.dev/reference/methods/conversations.info).
    "conversations.info": TIER_3,
    # Tier 2 (docs.slack.dev/reference/methods/conversations.create and .inviteShared), Tier 3
    # (conversations.invite): the customer's channel made from a CRM deal (issue 27). Tier 2's
    # burst of five means a deal with more contacts than that must pace its invitations.
    "conversations.create": TIER_2,
    "conversations.invite": TIER_3,
    "conversations.inviteShared": TIER_2,
    # Tier 2 (conversations.canvases.create, pins.add) and Tier 3 (canvases.edit,
    # canvases.sections.lookup): the project page of issue 28, a channel canvas or, without one, a
    # pinned message.
    "conversations.canvases.create": TIER_2,
    "canvases.edit": TIER_3,
    "canvases.sections.lookup": TIER_3,
    "pins.add": TIER_2,
    # Tier 4 (docs.slack.dev/reference/methods/conversations.members).
    "conversations.members": TIER_4,
    # Tier 3 (docs.slack.dev/reference/methods/conversations.open).
    "conversations.open": TIER_3,
    # Tier 4 (docs.slack.dev/reference/methods/files.getUploadURLExternal and
    # files.completeUploadExternal): slack_sdk's files_upload_v2 calls both.
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
    # Tier 2 (docs.slack.dev/reference/methods/usergroups.users.list): the golive admins' group.
    "usergroups.users.list": TIER_2,
    # Tier 4 (docs.slack.dev/reference/methods/users.info).
    "users.info": TIER_4,
    # Tier 3 (docs.slack.dev/reference/methods/users.lookupByEmail): a deal's lead given by email.
    "users.lookupByEmail": TIER_3,
    # Tier 4 (docs.slack.dev/reference/methods/views.open, views.publish, views.push, views.update).
    "views.open": TIER_4,
    "views.publish": TIER_4,
    "views.push": TIER_4,
    "views.update": TIER_4,
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
