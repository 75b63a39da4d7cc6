"""The outbox: one paced queue for every message the bot posts or updates in channels.

Listeners ack, write the database, and hand their Slack output to the outbox; they never wait
on it. Background workers owned by the running bot (`start`/`stop`) send it:

- Coalesced: a job with a key (a checklist, one message) has at most one run in flight and one
  waiting; a job submitted while an equal one waits is merged into it. Refreshes render from the
  database when they run, so the latest state wins and a burst of clicks costs a refresh or two.
- In order per channel: jobs of one channel (its lane) run one at a time, oldest first, so an
  announcement comes before the checklist it introduces.
- Paced (`bot.slack.pacing`): posting about one message a second per channel, updates at Tier 3
  for the workspace. An update that has to wait gives its worker back and runs again later; a
  post waits where it is, so the channel's order holds.
- Never dropped: a 429 is waited out (Retry-After); 5xx, timeouts and connection errors are
  retried with backoff, until the call lands or the message or channel is gone. A post whose
  answer was lost (timeout, 5xx) is looked for in the channel by its message metadata before it
  is sent again, so it is never doubled.

`wait_idle()` waits until nothing is queued or running (tests and the sandbox rely on it);
`depth` and `in_flight` are what metrics read. Without workers ever started (a CLI that built
the services but no bot), a submitted job runs at once in the caller's thread; once stopped, the
outbox takes nothing more (logged).
"""

from __future__ import annotations

import bisect
import hashlib
import http.client
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.exc import OperationalError

from bot.slack.gateway import SlackCallFailed, SlackGateway
from bot.slack.pacing import Pacer
from messages import Message

log = logging.getLogger("golive.outbox")

WORKERS = 4
# A refresh asked for while the same one is running is held this long before it may run, gathering
# what else comes meanwhile: a burst of clicks costs a few updates, not one per click. A lone
# change is sent at once.
SETTLE_SECONDS = 0.5
BACKOFF_FIRST = 0.5  # seconds before the first retry of a 5xx or a timeout; doubles up to BACKOFF_MAX
BACKOFF_MAX = 60.0
POST_EVENT = "golive_post"  # message metadata event type: finds a post whose answer was lost
# The message is not there (any more), or can no longer be edited: nothing to retry.
MESSAGE_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
# Looking a lost post up in the channel is not possible: post it again rather than never.
CANNOT_LOOK = frozenset(
    {"missing_scope", "not_in_channel", "channel_not_found", "not_authed", "invalid_auth"}
)


def make_outbox_client(token: str | None, base_url: str, *, timeout: int) -> WebClient:
    """A client that retries nothing itself: the outbox paces, waits out 429s and retries."""
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[],
        logger=logging.getLogger("golive.slack.outbox"),
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

    def run(self, out: Sending) -> None:
        raise NotImplementedError

    def merge(self, newer: Job) -> Job:
        """This waiting job combined with a newer one of the same key."""
        return newer

    def describe(self) -> str:
        return type(self).__name__


Render = Callable[["Sending"], Message | None]


class PostJob(Job):
    """Post one message (rendered now, or by `render` when it runs) and record it in the ledger.
    `then(ts)` runs after it landed; `on_failed(error)` when Slack refused it for good."""

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
    ) -> None:
        self.lane = channel
        self.posts = True
        self.channel, self.message, self.kind, self.ledger_key = channel, message, kind, key
        self.engagement_id, self.then, self.on_failed = engagement_id, then, on_failed

    def run(self, out: Sending) -> None:
        message = self.message(out) if callable(self.message) else self.message
        if message is None:
            return
        try:
            ts = out.post(
                self.channel, message, kind=self.kind, key=self.ledger_key, engagement_id=self.engagement_id
            )
        except SlackCallFailed as exc:
            log.warning("%s not posted in %s: %s", self.kind, self.channel, exc.error)
            if self.on_failed is not None:
                self.on_failed(exc)
            return
        if self.then is not None:
            self.then(ts)

    def describe(self) -> str:
        return f"post {self.kind} in {self.channel}"


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
class _Entry:
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

    def __init__(self, outbox: Outbox, entry: _Entry, *, inline: bool = False) -> None:
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

    def update(self, channel: str, ts: str, message: Message) -> bool:
        """chat.update, unless this exact content already landed in this job. False when the
        message is gone or can no longer be edited; raises Retry to run the job again later (a
        429, a 5xx, a timeout, or pacing), SlackCallFailed when Slack refused it for good."""
        digest = _digest(message)
        if self._entry.landed.get((channel, ts)) == digest:
            return True
        self._pace("chat.update", channel, wait_here=False)
        try:
            self.slack.update(channel, ts, message)
        except SlackCallFailed as exc:
            if exc.error == "ratelimited" or exc.status == 429:
                after = exc.retry_after if exc.retry_after is not None else 1.0
                self.outbox.pacer.hold("chat.update", channel, after)
                raise Retry(after, "chat.update ratelimited") from exc
            if exc.error in MESSAGE_GONE:
                return False
            if _transient(exc):
                raise Retry(None, f"chat.update {exc.error}") from exc
            raise
        except (OSError, http.client.HTTPException) as exc:
            raise Retry(None, f"chat.update {type(exc).__name__}") from exc
        self._entry.landed[(channel, ts)] = digest
        return True

    def post(
        self,
        channel: str,
        message: Message,
        *,
        kind: str,
        key: str = "",
        engagement_id: int | None = None,
    ) -> str:
        """chat.postMessage, paced per channel, recorded in the ledger; returns the ts. Waits
        here (a 429's Retry-After, pacing, backoff) so the channel's order holds. An answer that
        was lost (timeout, 5xx) may hide a message that landed: the channel is looked through
        for it (message metadata) before it is sent again. Raises SlackCallFailed when Slack
        refused it for good (channel gone, not in channel, invalid blocks)."""
        marker = {"event_type": POST_EVENT, "event_payload": {"key": uuid.uuid4().hex}}
        uncertain, attempt = False, 0
        while True:
            if uncertain:
                found, uncertain = self._look_for(channel, marker)
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
                    channel, message, kind=kind, key=key, engagement_id=engagement_id, metadata=marker
                )
            except SlackCallFailed as exc:
                if exc.error == "ratelimited" or exc.status == 429:
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

    def _look_for(self, channel: str, marker: dict[str, Any]) -> tuple[str | None, bool]:
        """(ts of the post if it is in the channel, whether still uncertain)."""
        try:
            found = self.slack.find_by_metadata(channel, POST_EVENT, marker["event_payload"]["key"])
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
            return self.slack.permalink(channel, ts)
        except SlackCallFailed as exc:
            if exc.error == "ratelimited" or exc.status == 429:
                raise Retry(exc.retry_after or 1.0, "chat.getPermalink ratelimited") from exc
            if _transient(exc):
                raise Retry(None, f"chat.getPermalink {exc.error}") from exc
            return None
        except (OSError, http.client.HTTPException) as exc:
            raise Retry(None, f"chat.getPermalink {type(exc).__name__}") from exc


def _transient(exc: SlackCallFailed) -> bool:
    status = exc.status or 0
    return status >= 500 or exc.error in ("internal_error", "fatal_error", "service_unavailable", "request_timeout")


class Outbox:
    """The queue and its workers. Thread-safe; see the module docstring."""

    def __init__(
        self,
        slack: SlackGateway,
        *,
        pacer: Pacer | None = None,
        workers: int = WORKERS,
        backoff_first: float = BACKOFF_FIRST,
    ) -> None:
        self.slack = slack
        self.pacer = pacer or Pacer()
        self.workers = max(1, workers)
        self.backoff_first = backoff_first
        self.halted = threading.Event()  # set when stop() gives up on what is left
        self._cond = threading.Condition()
        self._pending: list[_Entry] = []  # by seq
        self._waiting: dict[Hashable, _Entry] = {}  # key -> its waiting entry
        self._running_keys: set[Hashable] = set()
        self._busy_lanes: set[str] = set()
        self._running = 0
        self._seq = 0
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._stopped = False
        self.waits = 0  # 429s waited out and paced waits (for tests and metrics)

    # -- what metrics and tests read -----------------------------------------------------------
    @property
    def depth(self) -> int:
        """Jobs waiting to run (coalesced: one per key)."""
        with self._cond:
            return len(self._pending)

    @property
    def in_flight(self) -> int:
        """Jobs running now."""
        with self._cond:
            return self._running

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stopping

    def note_wait(self) -> None:
        with self._cond:
            self.waits += 1

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or running; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._running, timeout=timeout)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Outbox:
        if self._threads:
            return self
        self.halted.clear()
        self._stopping = self._stopped = False
        for n in range(self.workers):
            t = threading.Thread(target=self._work, name=f"golive-outbox-{n}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float = 20.0) -> list[str]:
        """Send what is queued (waiting out Retry-After and pacing) for up to `timeout` seconds,
        then stop the workers. Returns what had to be left unsent (also logged)."""
        if not self._threads:
            return []
        with self._cond:
            self._cond.wait_for(lambda: not self._pending and not self._running, timeout=timeout)
            left = [e.job.describe() for e in self._pending]
            self._stopping = self._stopped = True
            self._pending.clear()
            self._waiting.clear()
            self.halted.set()
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        if left:
            log.warning("stopped with %d Slack update(s) unsent: %s", len(left), "; ".join(left[:20]))
        return left

    # -- submitting ------------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        if self._stopped:
            log.warning("not sent, the bot has stopped: %s", job.describe())
            return
        if not self.running:
            self._run_inline(job)
            return
        with self._cond:
            self._seq += 1
            waiting = self._waiting.get(job.key) if job.key is not None else None
            if waiting is not None:
                merged = waiting.job.merge(job)
                if merged.posts and not waiting.job.posts:
                    # it now posts: it takes its place in the channel's order now
                    self._pending.remove(waiting)
                    waiting.seq, waiting.ready_at = self._seq, min(waiting.ready_at, time.monotonic())
                    self._insert(waiting)
                waiting.job = merged
            else:
                now = time.monotonic()
                settle = job.settle if job.key is not None and job.key in self._running_keys else 0.0
                entry = _Entry(job, self._seq, ready_at=now + settle)
                self._insert(entry)
                if job.key is not None:
                    self._waiting[job.key] = entry
            self._cond.notify_all()

    def post(
        self,
        channel: str,
        message: Message | Render,
        *,
        kind: str,
        key: str = "",
        engagement_id: int | None = None,
        then: Callable[[str], None] | None = None,
        on_failed: Callable[[SlackCallFailed], None] | None = None,
    ) -> None:
        """Queue a new message for `channel` (see PostJob)."""
        self.submit(
            PostJob(
                channel, message, kind=kind, key=key, engagement_id=engagement_id, then=then, on_failed=on_failed
            )
        )

    def update(self, channel: str, ts: str, render: Message | Render, *, what: str = "message") -> None:
        """Queue an in-place update of a posted message (see UpdateJob)."""
        self.submit(UpdateJob(channel, ts, render, what=what))

    def _insert(self, entry: _Entry) -> None:
        bisect.insort(self._pending, entry, key=lambda e: e.seq)

    # -- running ---------------------------------------------------------------------------------
    def _pick(self, now: float) -> tuple[_Entry | None, float | None]:
        soonest: float | None = None
        for entry in self._pending:
            job = entry.job
            if job.key is not None and job.key in self._running_keys:
                continue
            if job.lane is not None and job.lane in self._busy_lanes:
                continue
            if entry.ready_at <= now:
                return entry, None
            soonest = entry.ready_at if soonest is None else min(soonest, entry.ready_at)
        return None, (soonest - now if soonest is not None else None)

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    entry, wait = self._pick(time.monotonic())
                    if entry is not None:
                        break
                    self._cond.wait(timeout=wait)
                self._pending.remove(entry)
                job = entry.job
                if job.key is not None:
                    self._waiting.pop(job.key, None)
                    self._running_keys.add(job.key)
                if job.lane is not None:
                    self._busy_lanes.add(job.lane)
                self._running += 1
            retry: Retry | None = None
            try:
                job.run(Sending(self, entry))
            except Retry as exc:
                retry = exc
            except OperationalError as exc:  # the database was busy: try again shortly
                retry = Retry(None, f"database: {exc.orig}")
            except Abandoned:
                log.warning("stopped before finishing: %s", job.describe())
            except SlackCallFailed as exc:
                level = logging.ERROR if exc.error.startswith(("invalid_", "msg_")) else logging.WARNING
                log.log(level, "%s: Slack refused it (%s); not retried", job.describe(), exc.error)
            except Exception:
                log.exception("%s failed; not retried", job.describe())
            finally:
                with self._cond:
                    self._running -= 1
                    if job.key is not None:
                        self._running_keys.discard(job.key)
                    if job.lane is not None:
                        self._busy_lanes.discard(job.lane)
                    if retry is not None and not self._stopping:
                        self._again(entry, retry)
                    self._cond.notify_all()

    def _again(self, entry: _Entry, retry: Retry) -> None:
        """Queue a job that asked to run again; a newer one of its key waiting meanwhile is
        merged into it, so there is still one run waiting."""
        if retry.after is None:
            after = backoff(entry.attempts, self.backoff_first)
            entry.attempts += 1
        else:
            after = retry.after
            self.waits += 1
        entry.ready_at = time.monotonic() + after
        log.info("%s: %s; again in %.1fs", entry.job.describe(), retry.reason or "retry", after)
        key = entry.job.key
        newer = self._waiting.get(key) if key is not None else None
        if newer is not None:
            self._pending.remove(newer)
            entry.job = entry.job.merge(newer.job)
        self._insert(entry)
        if key is not None:
            self._waiting[key] = entry

    def _run_inline(self, job: Job) -> None:
        """No workers: run the job now, in this thread, with the same retry rules."""
        entry = _Entry(job, 0)
        for _ in range(100):
            try:
                job.run(Sending(self, entry, inline=True))
                return
            except Retry as exc:
                wait = exc.after if exc.after is not None else backoff(entry.attempts, self.backoff_first)
                entry.attempts += 1
                time.sleep(wait)
            except SlackCallFailed as exc:
                log.warning("%s: Slack refused it (%s)", job.describe(), exc.error)
                return
        log.warning("%s: gave up after 100 tries", job.describe())
