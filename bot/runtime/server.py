"""HTTP mode: one WSGI app with `POST /slack/events` and `GET /healthz`.

`golive serve` runs it on gunicorn (threaded worker, graceful SIGTERM). Tests run the same
WSGI app on a threaded wsgiref server in-process.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.runtime.app import Bot

log = logging.getLogger("golive.server")

EVENTS_PATH = "/slack/events"


def make_wsgi_app(bot: Bot) -> Callable[..., Iterable[bytes]]:
    slack = SlackRequestHandler(bot.app, path=EVENTS_PATH)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz":
            ok = bot.services.db.ping()
            body = json.dumps({"ok": ok, "database": "up" if ok else "down"}).encode()
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path == EVENTS_PATH and method == "POST":
            return slack(environ, start_response)
        body = b"Not Found"
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return app


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


class InProcessServer:
    """The WSGI app on a loopback port in a daemon thread (tests and the sandbox)."""

    def __init__(self, bot: Bot, host: str = "127.0.0.1", port: int = 0) -> None:
        self.bot = bot
        self.httpd = make_server(
            host, port, make_wsgi_app(bot), server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="golive-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def events_url(self) -> str:
        return self.url + EVENTS_PATH

    def start(self) -> InProcessServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
