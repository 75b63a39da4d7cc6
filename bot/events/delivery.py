"""Posting queued events to their targets: signed, with a short timeout, never inside a database
transaction; retried with exponential backoff until 24 hours after the event, then given up.

A 2xx answer delivers the event. Anything else (another status, a redirect, a timeout, a refused
connection) is tried again: 30 seconds after the first failure, then 1, 2, 4… minutes, at most an
hour apart, the last try at the 24th hour (`next_attempt`). Every attempt is kept on its row
(attempts, the last status and error, when it was delivered): the delivery log of `golive hooks
log`.

Who posts: the deliverer thread of each bot process, woken as soon as a change with an event
commits and otherwise polling every GOLIVE_SWEEP_SECONDS, and every reminder sweep (`golive
sweep` from cron too). Due rows are taken with a lease (`storage.hook_deliveries.take`), so
processes and replicas sharing a database never post the same attempt twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot import __version__, metrics
from bot.config import HookTarget
from bot.events.emit import TEST_EVENT, event_body, new_event_id, outlet_of
from bot.events.signing import signed_headers
from storage import hook_deliveries
from storage.db import Database
from storage.hook_deliveries import DELIVERED, FAILED, PENDING

log = logging.getLogger("golive.hooks")

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)
KEEP_LOG = timedelta(days=30)  # delivered and given-up rows are kept this long (`golive hooks log`)
PURGE_EVERY = timedelta(hours=1)  # how often a process deletes the older ones
TIMEOUT_SECONDS = 10.0
BATCH = 10
LEASE = timedelta(seconds=BATCH * TIMEOUT_SECONDS * 2)  # a batch's posts, each up to the timeout
EVENT_HEADER = "X-Golive-Event"
EVENT_ID_HEADER = "X-Golive-Event-Id"


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min… at most an hour."""
    return min(BACKOFF_BASE * (2 ** max(0, attempts - 1)), BACKOFF_MAX)


def next_attempt(created_at: datetime, attempts: int, now: datetime) -> datetime | None:
    """When to try an event again after its `attempts`-th attempt failed at `now`; None when the
    24 hours since the event are over (it has failed). The last try is at the 24th hour."""
    deadline = created_at + GIVE_UP_AFTER
    if now >= deadline:
        return None
    return min(now + backoff(attempts), deadline)


@dataclass(frozen=True)
class Answer:
    """What a target answered to one post."""

    status: int | None  # the HTTP status; None when there was no answer
    error: str | None  # why it is not delivered (None when it is)
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer that is not a delivery: a signed POST is not re-sent elsewhere."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def signed_request_headers(secret: str, body: bytes, event: str, event_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": f"golive/{__version__}",
        EVENT_HEADER: event,
        EVENT_ID_HEADER: event_id,
        **signed_headers(secret, body),
    }


def post(
    url: str, secret: str, body: bytes, *, event: str, event_id: str, timeout: float = TIMEOUT_SECONDS
) -> Answer:
    """POST the signed body (signed now, wall-clock: the receiver checks the time)."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers=signed_request_headers(secret, body, event, event_id)
    )
    started = time.perf_counter()
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status = int(response.status)
            response.read(1024)
        error = None if 200 <= status < 300 else f"HTTP {status}"
        return Answer(status, error, time.perf_counter() - started)
    except urllib.error.HTTPError as exc:  # a non-2xx answer
        try:
            said = exc.read(200).decode("utf-8", "replace").strip()
        except Exception:
            said = ""
        error = f"HTTP {exc.code}" + (f": {' '.join(said.split())}" if said else "")
        return Answer(exc.code, error[:300], time.perf_counter() - started)
    except (urllib.error.URLError, OSError, ValueError) as exc:  # refused, DNS, TLS, timeout
        reason = getattr(exc, "reason", exc)
        return Answer(None, f"{type(exc).__name__}: {reason}"[:300], time.perf_counter() - started)


@dataclass
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def deliver_due(
    db: Database,
    now: Callable[[], datetime],
    targets: Mapping[str, str] | None = None,
    *,
    timeout: float = TIMEOUT_SECONDS,
    batch: int = BATCH,
) -> DeliveryReport:
    """Post every event due now, a batch at a time, each outside any transaction. `targets`: URL →
    secret (default: the database's configured targets, `emit.configure`); a row whose target is
    no longer configured is given up. `now`: the bot's clock (tests and the sandbox set it)."""
    report = DeliveryReport()
    if targets is None:
        outlet = outlet_of(db)
        targets = {t.url: t.secret for t in outlet.targets} if outlet is not None else {}
    if not targets:
        return report
    while True:
        taken = hook_deliveries.take(db, now(), limit=batch, lease=LEASE)
        for due in taken:
            _attempt(db, due, targets, now, timeout, report)
        if len(taken) < batch:
            break
    metrics.HOOK_PENDING.set(hook_deliveries.pending_count(db))
    _purge_now_and_then(db, now())
    return report


_purged: dict[str, datetime] = {}  # database URL → when this process last purged its log


def _purge_now_and_then(db: Database, at: datetime) -> None:
    """Keep the delivery log to `KEEP_LOG`: at most once per `PURGE_EVERY` in each process."""
    last = _purged.get(db.url)
    if last is not None and last <= at < last + PURGE_EVERY:
        return
    _purged[db.url] = at
    gone = hook_deliveries.purge(db, at - KEEP_LOG)
    if gone:
        log.info("deleted %d event deliveries older than %d days", gone, KEEP_LOG.days)


def _attempt(
    db: Database,
    due: hook_deliveries.Due,
    targets: Mapping[str, str],
    now: Callable[[], datetime],
    timeout: float,
    report: DeliveryReport,
) -> None:
    what = f"{due.event} {due.event_id} to {due.target}"
    if due.attempts == 0:
        due = _with_deal_id(db, due)
    secret = targets.get(due.target)
    if secret is None:
        answer = Answer(None, "the target is no longer in GOLIVE_HOOK_URLS", 0.0)
    else:
        answer = post(
            due.target,
            secret,
            due.body.encode("utf-8"),
            event=due.event,
            event_id=due.event_id,
            timeout=timeout,
        )
    at = now()
    if answer.ok:
        hook_deliveries.record_attempt(db, due.id, now=at, status=DELIVERED, code=answer.status, error=None)
        metrics.HOOK_DELIVERIES.labels("delivered").inc()
        report.delivered.append(what)
        return
    again = next_attempt(due.created_at, due.attempts + 1, at) if secret is not None else None
    if again is None:
        hook_deliveries.record_attempt(
            db, due.id, now=at, status=FAILED, code=answer.status, error=answer.error
        )
        metrics.HOOK_DELIVERIES.labels("failed").inc()
        report.failed.append(f"{what}: {answer.error}")
        log.warning("gave up sending %s after %d attempts: %s", what, due.attempts + 1, answer.error)
        return
    hook_deliveries.record_attempt(
        db, due.id, now=at, status=PENDING, code=answer.status, error=answer.error, next_attempt_at=again
    )
    metrics.HOOK_DELIVERIES.labels("retried").inc()
    report.retried.append(f"{what}: {answer.error}")
    log.info("sending %s failed (%s); trying again at %s", what, answer.error, again.isoformat())


def _with_deal_id(db: Database, due: hook_deliveries.Due) -> hook_deliveries.Due:
    """An event about an engagement made from a CRM deal gets the deal's id before it is first
    sent: the deal is linked to its engagement after `start_engagement` returns (in the same
    transaction), so `engagement.started` was queued without it."""
    if due.engagement_id is None or '"deal_id":null' not in due.body:
        return due
    deal_id = hook_deliveries.deal_id_of(db, due.engagement_id)
    if deal_id is None:
        return due
    document = json.loads(due.body)
    if document.get("deal_id") is not None:
        return due
    document["deal_id"] = deal_id
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    hook_deliveries.set_body(db, due.event_id, body)
    return replace(due, body=body)


def send_test(url: str, secret: str, at: datetime, *, timeout: float = TIMEOUT_SECONDS) -> tuple[str, Answer]:
    """Post a signed `golive.test` event to `url` now (not queued, not retried): its id and the
    answer (`golive hooks test URL`)."""
    event_id = new_event_id()
    body = event_body(
        TEST_EVENT,
        event_id=event_id,
        at=at,
        engagement=None,
        deal_id=None,
        change={"message": "A test event from golive: the signature checks out if your receiver says so."},
    )
    return event_id, post(
        url, secret, body.encode("utf-8"), event=TEST_EVENT, event_id=event_id, timeout=timeout
    )


class HookWorker:
    """This process's deliverer: a thread woken as soon as a change with an event commits here
    (`emit`), and otherwise every `poll_seconds` (retries, events other processes queued)."""

    def __init__(
        self,
        db: Database,
        now: Callable[[], datetime],
        targets: tuple[HookTarget, ...],
        *,
        poll_seconds: float,
    ) -> None:
        self.db = db
        self.now = now
        self.targets = {t.url: t.secret for t in targets}
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> HookWorker:
        outlet = outlet_of(self.db)
        if outlet is not None:
            outlet.wakers.append(self.wake)
        self._thread = threading.Thread(target=self._run, name="golive-hooks", daemon=True)
        self._thread.start()
        self.wake()  # what an earlier process left due
        return self

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                deliver_due(self.db, self.now, self.targets)
            except Exception:
                log.exception("delivering events failed; the next pass tries again")

    def stop(self, timeout: float = 15.0) -> None:
        """Stop after the post in flight (its row stays leased, then due again, if it is cut)."""
        outlet = outlet_of(self.db)
        if outlet is not None and self.wake in outlet.wakers:
            outlet.wakers.remove(self.wake)
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


def describe(row_status: str, attempts: int, code: int | None, error: str | None) -> str:
    """One delivery's state in words, for the log."""
    answer = f"HTTP {code}" if code is not None else "no answer"
    if row_status == DELIVERED:
        return f"delivered ({answer}, attempt {attempts})"
    if attempts == 0:
        return "waiting for its first attempt"
    state = "given up" if row_status == FAILED else "to retry"
    return f"{state} after {attempts} attempt{'s' if attempts != 1 else ''}: {error or answer}"
