"""What `golive serve` imports before its workers fork, so they share it instead of each loading it.

A gunicorn worker forked from a master that has imported a module shares that module's pages
with the master and the other workers; a module first imported in a worker is that worker's
alone. Measured with 10,000 engagements (tracemalloc and `sys.modules` in a worker after a burst
of requests): the workers imported about 415 modules after the fork, among them every listener
module, APScheduler, Bolt's WSGI adapter and all 250 country modules of `holidays` (its
`holidays.countries` package imports every country on the first lookup of any), about 19 MB of
objects per worker.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings
    from messages import Renderer


def before_fork(settings: Settings) -> Renderer:
    """What `serve`'s master does before its workers fork: the services built once to check the
    playbook and the templates (ConfigError, jinja2.TemplateError), every template compiled (the
    workers inherit them compiled) and the preload. Returns the compiled templates."""
    from golive.app import build_services

    checked = build_services(settings)
    checked.db.dispose()
    checked.renderer.compile_all()
    preload()
    return checked.renderer


def preload() -> None:
    """Import what a worker would import after the fork, and fill the caches every worker reads."""
    import handlers

    for module in pkgutil.iter_modules(handlers.__path__):
        importlib.import_module(f"handlers.{module.name}")
    importlib.import_module("golive.background")
    importlib.import_module("golive.server")
    importlib.import_module("apscheduler.executors.pool")
    importlib.import_module("apscheduler.jobstores.memory")
    importlib.import_module("apscheduler.triggers.interval")
    importlib.import_module("holidays.countries")
    "slack.com".encode("idna")  # http.client's first connection loads the idna codec

    from bot.user_input import country_for_timezone, parse_country, parse_timezone

    parse_country("DE")  # the supported countries, cached
    country_for_timezone("Europe/Berlin")  # the tz database's zone → country table, cached
    parse_timezone("Europe/Berlin")  # the zone names, cached
