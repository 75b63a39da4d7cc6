"""`golive serve`: the WSGI app on gunicorn.

The bot is built inside the worker (after the fork), so its thread pool, database engine and
scheduler belong to the process that serves requests. SIGTERM makes gunicorn stop accepting,
finish in-flight requests, and then the worker waits for after-the-ack work to finish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

log = logging.getLogger("golive.server")


class GoliveGunicorn(BaseApplication):
    def __init__(self, factory: Callable[[], Any], options: dict[str, Any]) -> None:
        self.factory = factory
        self.options = options
        self.bot: Any = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from golive.server import make_wsgi_app

        self.bot = self.factory()
        return make_wsgi_app(self.bot)


def run_gunicorn(
    factory: Callable[[], Any],
    *,
    host: str,
    port: int,
    threads: int,
    log_level: str,
    workers: int = 1,
    on_worker_exit: Callable[[Any], None],
) -> None:
    holder: dict[str, GoliveGunicorn] = {}

    def worker_exit(_server: Any, _worker: Any) -> None:
        app = holder.get("app")
        if app is not None and app.bot is not None:
            on_worker_exit(app.bot)

    def child_exit(_server: Any, worker: Any) -> None:
        # A worker that exited: its live gauges no longer count on /metrics.
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 60,
        "graceful_timeout": 25,
        "keepalive": 5,
        "loglevel": log_level.lower(),
        "accesslog": None,
        "errorlog": "-",
        "proc_name": "golive",
        "worker_exit": worker_exit,
        "child_exit": child_exit,
    }
    app = GoliveGunicorn(factory, options)
    holder["app"] = app
    app.run()
