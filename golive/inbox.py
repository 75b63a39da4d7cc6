"""Finishing what a dead process acked: the inbox's rows replayed through the Bolt app.

Every bot process that serves requests (`serve`'s workers, `socket`) runs one `InboxWorker`. A
request whose work follows its ack is in the inbox before its 200 (`handlers.listening.after_ack`,
`storage.inbox`), leased to the process that recorded it, which runs it at once. The worker looks
every `POLL_SECONDS` for rows whose lease ran out — their process was killed, OOM-killed or lost
with its host — takes a few, as many as the after-the-ack workers have room for, and dispatches
each through the Bolt app as the request it was, marked as a replay (`handlers.base.REPLAY`): the
listener runs again (it only parses and checks before its work), its work runs and the row is
marked done. Several processes and replicas on one PostgreSQL database share the inbox: `take`
skips rows another has locked.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from slack_bolt import App

from bot import metrics
from bot.services import Services
from golive.server import NotAnObject, slack_request
from handlers.base import REPLAY
from storage import inbox

log = logging.getLogger("golive.inbox")

POLL_SECONDS = 1.0
PURGE_SECONDS = 600.0  # how often done rows older than `inbox.KEEP_DONE` are deleted


class InboxWorker:
    def __init__(self, app: App, services: Services, *, poll: float = POLL_SECONDS) -> None:
        self.app = app
        self.services = services
        self.poll = poll
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
                self.replay_due()
                if time.monotonic() - self._purged > PURGE_SECONDS:
                    self._purged = time.monotonic()
                    inbox.purge(self.services.db, datetime.now(UTC))
            except Exception:
                log.exception("the inbox could not be read; trying again")
            self._stop.wait(self.poll)

    def replay_due(self) -> int:
        """Take the rows whose lease ran out (as many as the after-the-ack workers have room for)
        and replay them. How many were taken."""
        room = 2 * self.services.after_ack.max_slots - self.services.after_ack.in_flight
        if room <= 0:
            return 0
        lease = timedelta(seconds=self.services.settings.golive_inbox_lease_seconds)
        taken = inbox.take(self.services.db, datetime.now(UTC), limit=room, lease=lease)
        for row in taken:
            log.warning(
                "inbox row %s (%s, received earlier, try %d): its process stopped before its work was "
                "done; replaying it",
                row.id,
                row.kind,
                row.attempts,
            )
            metrics.INBOX_REPLAYED.inc()
            self.replay(row)
        return len(taken)

    def replay(self, row: inbox.Taken) -> None:
        """Dispatch the row's request through the Bolt app, marked as a replay. Bolt returns at
        the listener's ack; the listener marks the row done once its work has run."""
        try:
            request = slack_request(row.body, row.headers, context={REPLAY: row.id})
        except (NotAnObject, ValueError):
            log.error("inbox row %s cannot be read as a Slack request; given up", row.id)
            inbox.finish(self.services.db, row.id, datetime.now(UTC), outcome="abandoned")
            return
        response = self.app.dispatch(request)
        if response.status == 404:  # no listener takes it now (an upgrade removed it)
            log.error("inbox row %s (%s): no listener takes it; given up", row.id, row.kind)
            inbox.finish(self.services.db, row.id, datetime.now(UTC), outcome="abandoned")
