"""What runs beside the request handlers in `serve` and `socket`: started and stopped here."""

from __future__ import annotations

import logging

from bot.runtime.app import Bot
from bot.runtime.sweep_clock import start_scheduler

log = logging.getLogger("golive.runtime")


def start_runtime(bot: Bot) -> None:
    s = bot.services
    bot.scheduler = start_scheduler(s, s.settings.golive_sweep_seconds)
    log.info("golive ready (database %s)", "SQLite" if s.db.is_sqlite else "PostgreSQL")


def stop_runtime(bot: Bot) -> None:
    log.info("golive stopping: waiting for work in flight")
    if bot.scheduler is not None:
        bot.scheduler.shutdown(wait=True)
    bot.close()
