"""Test-side HTTP servers standing in for the bot: a recorder and a Bolt app adapter."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import App
from slack_bolt.request import BoltRequest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body, keep_blank_values=True).items()}

    def payload(self) -> dict[str, Any]:
        return json.loads(self.form()["payload"])


@dataclass
class RecordingBot:
    """Records every request; answers with ``reply`` (status, content type, body)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    reply: tuple[int, str, str] = (200, "text/plain", "")


def _serve(handler_cls: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/slack/events"


@contextmanager
def recording_bot() -> Iterator[RecordingBot]:
    bot = RecordingBot()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            bot.requests.append(Received(self.path, dict(self.headers.items()), body))
            status, ctype, text = bot.reply
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server, bot.url = _serve(Handler)
    try:
        yield bot
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def bolt_server(app: App) -> Iterator[str]:
    """Serve a Bolt app over HTTP (like its adapters do); yields the request URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            headers: dict[str, str | list[str]] = {k.lower(): v for k, v in self.headers.items()}
            resp = app.dispatch(BoltRequest(body=body, headers=headers))
            data = (resp.body or "").encode()
            self.send_response(resp.status)
            for key, values in resp.headers.items():
                if key.lower() == "content-length":
                    continue
                for value in values:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server, url = _serve(Handler)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
