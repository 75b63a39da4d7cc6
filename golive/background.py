"""What runs beside the request handlers in `serve` and `socket`: started and stopped here.

The outbox's workers are started with the bot itself (`build_bot`), since the test harness and
the sandbox run the bot without the scheduler; stopping drains them after the listeners
(`Bot.close`), within gunicorn's graceful timeout.
"""

from __future__ import annotations

import logging

from golive.app import Bot
from golive.sweep_clock import start_scheduler

log = logging.getLogger("golive.runtime")


def start_runtime(bot: Bot) -> None:
    from golive.inbox import InboxWorker

    services = bot.services
    bot.inbox = InboxWorker(bot.app, services).start()  # finishes what a stopped process acked
    bot.scheduler = start_scheduler(services, services.settings.golive_sweep_seconds)
    log.info("golive ready (database %s)", "SQLite" if services.db.is_sqlite else "PostgreSQL")


def stop_runtime(bot: Bot) -> None:
    log.info("golive stopping: finishing work in flight and sending what is queued for Slack")
    if bot.scheduler is not None:
        bot.scheduler.shutdown(wait=True)
    bot.close()
