"""APScheduler as the clock only: a BackgroundScheduler runs one sweep every N seconds, and
reads a few channels' members (`bot.slack.rosters.backfill_rosters`: channels never read, then
those read a day ago) on the same beat, as a job of its own so the reminders never wait for it.

Nothing is stored in APScheduler's job stores (they pickle jobs, drop one-off jobs that
miss their run by more than misfire_grace_time, and cannot be shared by two processes);
the reminder rows in the database decide what is due.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from bot.reminders.sweep import Sweeper
from bot.services import Services
from bot.slack.rosters import backfill_rosters

log = logging.getLogger("golive.scheduler")


def start_scheduler(services: Services, seconds: int) -> BackgroundScheduler:
    sweeper = Sweeper(services)

    def tick() -> None:
        try:
            sweeper.run()
        except Exception:
            log.exception("sweep failed; the next tick tries again")

    def rosters() -> None:
        try:
            backfill_rosters(services)
        except Exception:
            log.exception("reading channel members failed; the next tick tries again")

    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        rosters,
        "interval",
        seconds=seconds,
        id="rosters",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=seconds,
    )
    scheduler.add_job(
        tick,
        "interval",
        seconds=seconds,
        id="sweep",
        coalesce=True,
        max_instances=1,
        next_run_time=datetime.now(UTC),
        misfire_grace_time=seconds,
    )
    scheduler.start()
    log.info("sweeping every %ss", seconds)
    return scheduler
