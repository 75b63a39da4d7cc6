"""What runs beside the request handlers in `serve` and `socket`: started and stopped here."""

from __future__ import annotations

import logging

from bot.app import Bot

log = logging.getLogger("golive.runtime")


def start_runtime(bot: Bot) -> None:
    log.info("golive ready (database %s)", "SQLite" if bot.services.db.is_sqlite else "PostgreSQL")


def stop_runtime(bot: Bot) -> None:
    log.info("golive stopping: waiting for work in flight")
    bot.close()
