"""The outbox's jobs, and what a running job sends through (`Sending`): paced calls with
Slack's retry rules. The queue that runs them is `bot.slack.outbox`.

- An update that has to wait (pacing, a 429's Retry-After, a 5xx, a timeout) raises `Retry`: its
  worker is given back and the job runs again later, rendering again. Parts of a job that already
  landed with the same content are not sent again.
- A post waits where it is, so the channel's order holds. An answer that was lost (timeout, 5xx)
  may hide a message that landed: the channel is looked through for it (message metadata)
  before it is sent again, so it is never doubled.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from bot.slack.gateway import SlackCallFailed
from messages import Message

if TYPE_CHECKING:
    from bot.slack.outbox import Outbox

log = logging.getLogger("golive.outbox")

# A refresh asked for while the same one is running is held this long before it may run, gathering
# what else comes meanwhile: a burst of clicks costs a few updates, not one per click. A lone
# change is sent at once.
SETTLE_SECONDS = 0.5
BACKOFF_FIRST = 0.5  # seconds before the first retry of a 5xx or a timeout; doubles up to BACKOFF_MAX
BACKOFF_MAX = 60.0
POST_EVENT = "golive_post"  # message metadata event type: finds a post whose answer was lost
# The message is not there (any more), or can no longer be edited: nothing to retry.
T = TypeVar("T")
MESSAGE_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
# Looking a lost post up in the channel is not possible: post it again rather than never.
CANNOT_LOOK = frozenset(
    {"missing_scope", "not_in_channel", "channel_not_found", "not_authed", "invalid_auth"}
)


class Retry(Exception):
    """Run the job again later: after `after` seconds, or after a backoff when None."""

    def __init__(self, after: float | None = None, reason: str = "") -> None:
        super().__init__(reason or "retry")
        self.after = after
        self.reason = reason


class Abandoned(Exception):
    """The outbox stopped before the job could finish."""


class Job:
    """A unit of Slack output. `key`: jobs with equal keys are coalesced (None: never); `lane`:
    the channel, whose jobs run one at a time in order."""

    key: Hashable | None = None
    lane: str | None = None
    posts = False  # it posts new messages: merged into a waiting job, it takes a place at the back
    settle = 0.0  # seconds held when a job of the same key is running (see SETTLE_SECONDS)
    gather = 0.0  # seconds every job of this kind waits before it may run, gathering a burst

    def run(self, out: Sending) -> None:
        raise NotImplementedError

    def merge(self, newer: Job) -> Job:
        """This waiting job combined with a newer one of the same key."""
        return newer

    def describe(self) -> str:
        return type(self).__name__


Render = Callable[["Sending"], Message | None]
# Where a post goes: a thread's parent ts, or a function that finds it when the job runs (the
# parent may be posted by a job queued just before in the same channel; when the function finds
# none, the post is dropped: a reply never lands at the top level by accident); None: the top level.
Thread = str | Callable[[], str | None] | None


class PostJob(Job):
    """Post one message (rendered now, or by `render` when it runs) and record it in the ledger.
    `then(ts)` runs after it landed; `on_failed(error)` when Slack refused it for good.
    `thread_ts` makes it a reply (see `Thread`); `top_if_no_thread`: when the thread finder finds
    none, post at the top level instead of dropping it."""

    def __init__(
        self,
        channel: str,
        message: Message | Render,
        *,
        kind: str,
        key: str = "",
        engagement_id: int | None = None,
        then: Callable[[str], None] | None = None,
        on_failed: Callable[[SlackCallFailed], None] | None = None,
        thread_ts: Thread = None,
        top_if_no_thread: bool = False,
    ) -> None:
        self.lane = channel
        self.posts = True
        self.channel, self.message, self.kind, self.ledger_key = channel, message, kind, key
        self.engagement_id, self.then, self.on_failed = engagement_id, then, on_failed
        self.thread_ts, self.top_if_no_thread = thread_ts, top_if_no_thread

    def run(self, out: Sending) -> None:
        message = self.message(out) if callable(self.message) else self.message
        if message is None:
            return
        thread_ts = self.thread_ts() if callable(self.thread_ts) else self.thread_ts
        if callable(self.thread_ts) and not thread_ts and not self.top_if_no_thread:
            log.info("%s: nothing to reply under in %s; not posted", self.kind, self.channel)
            return
        try:
            ts = out.post(
                self.channel,
                message,
                kind=self.kind,
                key=self.ledger_key,
                engagement_id=self.engagement_id,
                thread_ts=thread_ts,
            )
        except SlackCallFailed as exc:
            log.warning("%s not posted in %s: %s", self.kind, self.channel, exc.error)
            if self.on_failed is not None:
                self.on_failed(exc)
            return
        if self.then is not None:
            self.then(ts)

    def describe(self) -> str:
        return f"post {self.kind} in {self.channel}" + (" (in a thread)" if self.thread_ts else "")


class UpdateJob(Job):
    """Update one posted message in place with what `render` gives when the job runs (None:
    nothing to change). Coalesced per message: the newest render wins."""

    def __init__(self, channel: str, ts: str, render: Message | Render, *, what: str = "message") -> None:
        self.key = ("message", channel, ts)
        self.lane = channel
        self.settle = SETTLE_SECONDS
        self.channel, self.ts, self.render, self.what = channel, ts, render, what

    def run(self, out: Sending) -> None:
        message = self.render(out) if callable(self.render) else self.render
        if message is not None and not out.update(self.channel, self.ts, message):
            log.info("%s %s in %s is gone; not updated", self.what, self.ts, self.channel)

    def describe(self) -> str:
        return f"update {self.what} {self.ts} in {self.channel}"


@dataclass(eq=False)
class Entry:
    """A job in the queue: its place (seq), when it may run, and what it already sent."""

    job: Job
    seq: int
    ready_at: float = 0.0
    attempts: int = 0
    landed: dict[tuple[str, str], str] = field(default_factory=dict)  # (channel, ts) -> digest sent


def _digest(message: Message) -> str:
    raw = json.dumps(message.as_kwargs(), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()


def backoff(attempt: int, first: float = BACKOFF_FIRST) -> float:
    """Seconds before retry number `attempt` (0-based): doubling, capped, with some jitter."""
    return min(BACKOFF_MAX, first * (2**attempt)) * random.uniform(0.8, 1.2)


class Sending:
    """What a running job sends through: paced posts and updates, with the retry rules above."""

    def __init__(self, outbox: Outbox, entry: Entry, *, inline: bool = False) -> None:
        self.outbox = outbox
        self.slack = outbox.slack
        self._entry = entry
        self._inline = inline

    def submit(self, job: Job) -> None:
        """Queue a follow-up job."""
        self.outbox.submit(job)

    def sleep(self, seconds: float) -> None:
        if self._inline:
            time.sleep(max(0.0, seconds))
        elif self.outbox.halted.wait(max(0.0, seconds)):
            raise Abandoned()

    def _pace(self, method: str, channel: str, *, wait_here: bool) -> None:
        while True:
            wait = self.outbox.pacer.take(method, channel)
            if not wait:
                return
            if not wait_here and not self._inline:
                raise Retry(wait, f"{method} paced")
            self.sleep(wait)

    def ready(self, method: str, channel: str = "") -> None:
        """Raise Retry unless a call of `method` may go now: a job checks before it renders what
        it would send, so a paced job does not render once per wait (py-spy: checklist renders
        thrown away by pacing were a tenth of serve's CPU under a burst of due dates)."""
        if self._inline:
            return
        wait = self.outbox.pacer.wait(method, channel)
        if wait:
            raise Retry(wait, f"{method} paced")

    def update(self, channel: str, ts: str, message: Message) -> bool:
        """chat.update, unless this exact content already landed in this job. False when the
        message is gone or can no longer be edited; raises Retry to run the job again later (a
        429, a 5xx, a timeout, or pacing), SlackCallFailed when Slack refused it for good."""
        digest = _digest(message)
        if self._entry.landed.get((channel, ts)) == digest:
            return True
        try:
            self.call("chat.update", channel, lambda: self.slack.update(channel, ts, message))
        except SlackCallFailed as exc:
            if exc.error in MESSAGE_GONE:
                return False
            raise
        self._entry.landed[(channel, ts)] = digest
        return True

    def publish_home(
        self, user_id: str, render: Callable[[], dict[str, Any]], *, view_hash: str | None = None
    ) -> str:
        """views.publish of the view `render` returns, rendered once the pace lets the call go
        (Tier 4: about 100 a minute for the workspace); returns the Home's new hash. Raises Retry
        to run the job again later (a 429, a 5xx, a timeout, or pacing), SlackCallFailed when
        Slack refused it for good. The job renders again when it runs again: the latest state
        wins. With `view_hash` (read before rendering: the Home this one replaces), Slack refuses
        to put it over a Home published since: SlackCallFailed `hash_conflict`, for the job to
        read the newest state and publish that (`bot.slack.home.HomeJob`)."""
        return self.call(
            "views.publish", "", lambda: self.slack.publish_home(user_id, render(), view_hash=view_hash)
        )

    def call(self, method: str, channel: str, fn: Callable[[], T]) -> T:
        """One Slack call of a job that can run again later: paced (when `method` has a pace);
        pacing, a 429 (its Retry-After then holds every call of `method`), a 5xx, a timeout or a
        lost connection raise Retry; Slack's other refusals raise SlackCallFailed."""
        self._pace(method, channel, wait_here=False)
        try:
            return fn()
        except SlackCallFailed as exc:
            if _ratelimited(exc):
                after = exc.retry_after if exc.retry_after is not None else 1.0
                self.outbox.pacer.hold(method, channel, after)
                raise Retry(after, f"{method} ratelimited") from exc
            if _transient(exc):
                raise Retry(None, f"{method} {exc.error}") from exc
            raise
        except (OSError, http.client.HTTPException) as exc:
            raise Retry(None, f"{method} {type(exc).__name__}") from exc

    def post(
        self,
        channel: str,
        message: Message,
        *,
        kind: str,
        key: str = "",
        engagement_id: int | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """chat.postMessage, paced per channel, recorded in the ledger; returns the ts. Waits
        here (a 429's Retry-After, pacing, backoff) so the channel's order holds. An answer that
        was lost (timeout, 5xx) may hide a message that landed: the channel (or the thread, for a
        reply under `thread_ts`) is looked through for it (message metadata) before it is sent
        again. Raises SlackCallFailed when Slack refused it for good (channel gone, not in
        channel, invalid blocks, no such thread)."""
        marker = {"event_type": POST_EVENT, "event_payload": {"key": uuid.uuid4().hex}}
        uncertain, attempt = False, 0
        while True:
            if uncertain:
                found, uncertain = self._look_for(channel, marker, thread_ts)
                if found:
                    self.slack.record(channel, found, kind=kind, key=key, engagement_id=engagement_id)
                    log.info("%s in %s had landed after all (%s); not posted again", kind, channel, found)
                    return found
                if uncertain:  # could not look yet
                    self.sleep(backoff(attempt, self.outbox.backoff_first))
                    attempt += 1
                    continue
            self._pace("chat.postMessage", channel, wait_here=True)
            try:
                return self.slack.post(
                    channel,
                    message,
                    kind=kind,
                    key=key,
                    engagement_id=engagement_id,
                    metadata=marker,
                    thread_ts=thread_ts,
                )
            except SlackCallFailed as exc:
                if _ratelimited(exc):
                    after = exc.retry_after if exc.retry_after is not None else 1.0
                    self.outbox.pacer.hold("chat.postMessage", channel, after)
                    self.outbox.note_wait()
                    self.sleep(after)
                    continue
                if not _transient(exc):
                    raise
                uncertain = True
                log.info("posting %s in %s: %s; will look for it, then retry", kind, channel, exc.error)
            except (OSError, http.client.HTTPException) as exc:
                uncertain = not isinstance(exc, ConnectionRefusedError)
                log.info("posting %s in %s: %s; retrying", kind, channel, type(exc).__name__)
            self.sleep(backoff(attempt, self.outbox.backoff_first))
            attempt += 1

    def _look_for(
        self, channel: str, marker: dict[str, Any], thread_ts: str | None = None
    ) -> tuple[str | None, bool]:
        """(ts of the post if it is in the channel or thread, whether still uncertain)."""
        try:
            found = self.slack.find_by_metadata(
                channel, POST_EVENT, marker["event_payload"]["key"], thread_ts=thread_ts
            )
        except SlackCallFailed as exc:
            if exc.error in CANNOT_LOOK:
                log.warning("cannot look for a lost post in %s (%s); posting it again", channel, exc.error)
                return None, False
            return None, True
        except (OSError, http.client.HTTPException):
            return None, True
        return found, False

    def permalink(self, channel: str, ts: str) -> str | None:
        """A link to a message, or None when Slack would not give one (it is gone)."""
        try:
            return self.call("chat.getPermalink", channel, lambda: self.slack.permalink(channel, ts))
        except SlackCallFailed:
            return None


def _ratelimited(exc: SlackCallFailed) -> bool:
    return exc.error == "ratelimited" or exc.status == 429


def _transient(exc: SlackCallFailed) -> bool:
    status = exc.status or 0
    return status >= 500 or exc.error in (
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    )
