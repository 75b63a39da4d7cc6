"""Running the work of acked requests from the inbox, and finishing what a dead process acked.

Under `golive serve` the request processes record each request whose work follows its ack and
ack it; the inbox process (`run_inbox_process`, forked from the master before the gunicorn
workers, at a lower priority) takes each row at once (`take(fresh=True)`, polling every 20 ms)
and dispatches it through its own Bolt app, marked as a replay: the listener runs again up to
`after_ack`, which runs the work there. The kernel gives the acks the cores first: the work of a
burst of ticks no longer competes with the next requests' acks for the interpreter.

The inbox process's `InboxWorker` also takes rows whose lease ran out — the process that held
them was killed, OOM-killed or lost with its host — and so does one in every other process that
serves requests (`serve`'s request processes, `socket`), looking every `POLL_SECONDS`: it takes
a few, as many as its after-the-ack workers have room for (rows the inbox process did not take
within a lease among them), and replays them the same way. In `socket` (one process) and in the tests, the process that
records a request runs its work itself, leased to it. Several processes and replicas on one
PostgreSQL database share the inbox: `take` skips rows another has locked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt import App

from bot import metrics
from bot.services import Services
from golive.server import NotAnObject, slack_request
from handlers.base import RECEIVED, REPLAY
from storage import inbox

log = logging.getLogger("golive.inbox")

POLL_SECONDS = 1.0  # a request process: rows whose process died (or the inbox process is down)
INBOX_PROCESS_POLL_SECONDS = 0.02  # `golive serve`'s inbox process: every acked request's work
PURGE_SECONDS = 600.0  # how often done rows older than `inbox.KEEP_DONE` are deleted


class InboxWorker:
    def __init__(
        self, app: App, services: Services, *, poll: float = POLL_SECONDS, fresh: bool = False
    ) -> None:
        self.app = app
        self.services = services
        self.poll = poll
        self.fresh = fresh  # the inbox process: takes rows nobody has taken yet too
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="golive-inbox", daemon=True)
        self._purged = 0.0

    def start(self) -> InboxWorker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.replay_due()
                if time.monotonic() - self._purged > PURGE_SECONDS:
                    self._purged = time.monotonic()
                    inbox.purge(self.services.db, datetime.now(UTC))
            except Exception:
                log.exception("the inbox could not be read; trying again")
                busy = 0
            if not busy:
                self._stop.wait(self.poll)

    def replay_due(self) -> int:
        """Take the rows whose lease ran out (as many as the after-the-ack workers have room for)
        and replay them. How many were taken."""
        room = 2 * self.services.after_ack.max_slots - self.services.after_ack.in_flight
        if room <= 0:
            return 0
        lease = timedelta(seconds=self.services.settings.golive_inbox_lease_seconds)
        taken = inbox.take(self.services.db, datetime.now(UTC), limit=room, lease=lease, fresh=self.fresh)
        for row in taken:
            if row.attempts > 1:
                log.warning(
                    "inbox row %s (%s, try %d): its process stopped before its work was done; replaying it",
                    row.id,
                    row.kind,
                    row.attempts,
                )
                metrics.INBOX_REPLAYED.inc()
            elif not self.fresh:
                log.warning(
                    "inbox row %s (%s): the inbox process did not take it; running it here", row.id, row.kind
                )
            self.replay(row)
        return len(taken)

    def replay(self, row: inbox.Taken) -> None:
        """Dispatch the row's request through the Bolt app, marked as a replay. Bolt returns at
        the listener's ack; the listener marks the row done once its work has run."""
        try:
            context = {REPLAY: row.id, RECEIVED: row.received_at.timestamp()}
            request = slack_request(row.body, row.headers, context=context)
        except (NotAnObject, ValueError):
            log.error("inbox row %s cannot be read as a Slack request; given up", row.id)
            inbox.finish(self.services.db, row.id, datetime.now(UTC), outcome="abandoned")
            return
        response = self.app.dispatch(request)
        if response.status == 404:  # no listener takes it now (an upgrade removed it)
            log.error("inbox row %s (%s): no listener takes it; given up", row.id, row.kind)
            inbox.finish(self.services.db, row.id, datetime.now(UTC), outcome="abandoned")


def run_inbox_process(build: Callable[[], Any], nice: int) -> None:
    """The inbox process: lower its priority (`GOLIVE_INBOX_NICE`, 10 by default: a CFS weight
    about a tenth of a request process's, so acks run first when the cores are busy), build the
    bot, take and run every acked request's work until SIGTERM; then finish the work in hand and
    send what it queued."""
    os.nice(nice)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the master's Ctrl-C: it stops us with SIGTERM
    bot = build()
    bot.inbox = InboxWorker(bot.app, bot.services, poll=INBOX_PROCESS_POLL_SECONDS, fresh=True).start()
    log.info("inbox process ready (nice %d)", nice)
    stopping.wait()
    bot.wait_idle(timeout=20)
    bot.close()


def fork_inbox_process(build: Callable[[], Any], nice: int) -> int:
    """Fork the inbox process (`run_inbox_process`) and return its pid. It leaves with os._exit:
    the exit handlers it inherited are the master's (temporary directories...)."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        run_inbox_process(build, nice)
    except BaseException:
        log.exception("the inbox process failed")
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


def stop_inbox_process(pid: int, timeout: float = 25.0) -> None:
    """SIGTERM the inbox process and wait until it is gone (gunicorn's master may reap it first);
    its live gauges then no longer count on /metrics. What it had not finished stays in the
    inbox, for the next start."""
    from prometheus_client import multiprocess

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
        except ChildProcessError:  # reaped by gunicorn's SIGCHLD handler
            break
        if time.monotonic() > deadline:
            log.warning("the inbox process did not stop in %.0f s; killing it", timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    multiprocess.mark_process_dead(pid)
