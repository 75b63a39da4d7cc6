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
import logging
import threading
import time
from collections.abc import Callable, Hashable

from slack_sdk import WebClient
from sqlalchemy.exc import OperationalError

from bot import metrics
from bot.slack.gateway import SlackCallFailed, SlackGateway
from bot.slack.pacing import Pacer
from bot.slack.sending import (
    BACKOFF_FIRST,
    Abandoned,
    Entry,
    Job,
    PostJob,
    Render,
    Retry,
    Sending,
    Thread,
    UpdateJob,
    backoff,
)
from messages import Message

__all__ = ["Job", "Outbox", "PostJob", "Retry", "Sending", "UpdateJob", "make_outbox_client"]

log = logging.getLogger("golive.outbox")

WORKERS = 4


def make_outbox_client(token: str | None, base_url: str, *, timeout: int) -> WebClient:
    """A client that retries nothing itself: the outbox paces, waits out 429s and retries."""
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[],
        logger=logging.getLogger("golive.slack.outbox"),
    )


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
        self._pending: list[Entry] = []  # by seq
        self._waiting: dict[Hashable, Entry] = {}  # key -> its waiting entry
        self._running_keys: set[Hashable] = set()
        self._busy_lanes: set[str] = set()
        self._running = 0
        self._seq = 0
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._stopped = False
        self.waits = 0  # 429s waited out and paced waits (for tests and metrics)
        # Jobs with a `gather` wait that long before they run (False: they run at once, as the
        # end-to-end tests have them, which wait for the bot to be idle after every request).
        self.gathering = True

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
                if self.gathering:
                    settle = max(settle, job.gather)
                entry = Entry(job, self._seq, ready_at=now + settle)
                self._insert(entry)
                if job.key is not None:
                    self._waiting[job.key] = entry
            metrics.REFRESH_QUEUE_DEPTH.set(len(self._pending))
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
        thread_ts: Thread = None,
        top_if_no_thread: bool = False,
    ) -> None:
        """Queue a new message for `channel` (see PostJob); a reply in a thread with `thread_ts`
        (the parent's ts, or a function that finds it when the job runs, in the channel's order)."""
        self.submit(
            PostJob(
                channel,
                message,
                kind=kind,
                key=key,
                engagement_id=engagement_id,
                then=then,
                on_failed=on_failed,
                thread_ts=thread_ts,
                top_if_no_thread=top_if_no_thread,
            )
        )

    def update(self, channel: str, ts: str, render: Message | Render, *, what: str = "message") -> None:
        """Queue an in-place update of a posted message (see UpdateJob)."""
        self.submit(UpdateJob(channel, ts, render, what=what))

    def _insert(self, entry: Entry) -> None:
        bisect.insort(self._pending, entry, key=lambda e: e.seq)

    # -- running ---------------------------------------------------------------------------------
    def _pick(self, now: float) -> tuple[Entry | None, float | None]:
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
                    metrics.REFRESH_QUEUE_DEPTH.set(len(self._pending))
                    self._cond.notify_all()

    def _again(self, entry: Entry, retry: Retry) -> None:
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
        entry = Entry(job, 0)
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
