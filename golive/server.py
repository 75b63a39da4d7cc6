"""HTTP mode: one WSGI app with `POST /slack/events`, `GET /healthz`, `GET /metrics` and the deal
hooks from the CRM (`POST /hooks/deal`, `/hooks/hubspot`, `/hooks/salesforce`: `golive.hooks`).

`golive serve` runs it on gunicorn (threaded worker, graceful SIGTERM). Tests run the same
WSGI app on a threaded wsgiref server in-process.

Before Bolt sees a request, `SlackGate` checks it, so junk costs one log line and no
traceback:
- a body over `MAX_BODY` (1 MB; Slack's requests are a few KB) is refused with 413 before it
  is read: the Content-Length is checked first, and a body without one is read only up to
  the limit;
- a missing or wrong signature, a timestamp that is not a number or is more than five minutes
  off, answers 401, as Bolt does for a bad signature;
- a correctly signed body that cannot be read (`payload=notjson`, not UTF-8, not an object)
  answers 400: the signature proves who sent it, so "unauthorized" would be untrue and would
  send an operator looking for a wrong signing secret; the content is what is wrong.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse

from bot import metrics
from bot.metrics import request_kind
from golive.app import Bot
from golive.hooks import PATHS as HOOK_PATHS
from golive.hooks import DealHooks
from golive.http_body import MAX_BODY, Refused, read_body
from handlers.base import ANSWERED
from storage import inbox

log = logging.getLogger("golive.server")

EVENTS_PATH = "/slack/events"
METRICS_PATH = "/metrics"
MAX_CLOCK_SKEW = 5 * 60  # seconds, as Slack and Bolt allow
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")


class SlackGate:
    """Size, signature and shape checks in front of Bolt (see the module docstring)."""

    def __init__(self, signing_secret: str | None, *, max_body: int = MAX_BODY) -> None:
        self.secret = signing_secret.encode() if signing_secret else None
        self.max_body = max_body

    def read_body(self, environ: dict[str, Any]) -> bytes:
        return read_body(environ, self.max_body)

    def check_signature(self, environ: dict[str, Any], body: bytes) -> None:
        if self.secret is None:  # `serve` requires one; without it nothing can be trusted
            raise Refused("401 Unauthorized", "no signing secret is configured")
        stamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or "").strip()
        signature = str(environ.get("HTTP_X_SLACK_SIGNATURE") or "").strip()
        if not stamp or not signature:
            raise Refused("401 Unauthorized", "the request is not signed")
        if not _TIMESTAMP.match(stamp):
            raise Refused("401 Unauthorized", "the request timestamp is not a number")
        if abs(time.time() - int(stamp)) > MAX_CLOCK_SKEW:
            raise Refused("401 Unauthorized", "the request timestamp is more than five minutes off")
        expected = (
            "v0=" + hmac.new(self.secret, b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        )
        if not _SIGNATURE.match(signature) or not hmac.compare_digest(expected, signature):
            raise Refused("401 Unauthorized", "the signature does not match")

    def check_shape(self, environ: dict[str, Any], body: bytes) -> tuple[str, BoltRequest]:
        """What Bolt reads must parse: UTF-8, and JSON objects where JSON is expected. Returns the
        request's kind (for the metrics) and the request for Bolt (`slack_request`)."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("400 Bad Request", "the body is not UTF-8") from None
        try:
            request = slack_request(text, _headers(environ), query=str(environ.get("QUERY_STRING") or ""))
        except NotAnObject:
            raise Refused("400 Bad Request", "the body is JSON but not an object") from None
        except ValueError:
            raise Refused("400 Bad Request", "the body is not the JSON Slack sends") from None
        if not text:
            return "other", request
        document = request.body
        if "command" in document and "type" not in document:
            return request_kind(None, is_command=True), request
        return request_kind(str(document.get("type") or ""), is_command=False), request


class NotAnObject(ValueError):
    """JSON where Slack sends an object, holding something else."""


def slack_request(
    text: str, headers: dict[str, Any], *, query: str = "", context: dict[str, Any] | None = None
) -> BoltRequest:
    """A Slack request's body for Bolt in HTTP mode (its signature checked by the gate; the app
    does not check it again: `request_verification_enabled=False`), as JSON, which Bolt parses
    once: an event's as it came; an interaction's `payload` field, decoded here; a slash
    command's fields.

    - An interaction's form is `payload=` and the JSON percent-encoded: decoded in C
      (`_payload_of`), not by `urllib.parse.parse_qsl` (Bolt's `parse_body`), whose Python loop
      over every escape took 1.5 ms of a tick's 2.7 ms of CPU in the ack and again in the inbox
      process (cProfile: a checklist tick's payload is about 12 KB).
    - A slash command's form is parsed here: Bolt's own parse takes any form whose text contains
      "payload" for an interaction (`if "payload" in body`), so `/golive add 2 Check the payload
      format` reached Bolt as an empty body and no listener (tests/e2e/test_bolt.py keeps that
      fact in sight).

    Raises ValueError for JSON that is not JSON, NotAnObject for JSON that is not an object."""
    if text and not _is_json(headers, text):
        payload = _payload_of(text)
        if payload is None:
            fields = dict(parse_qsl(text, keep_blank_values=True))
            payload = fields["payload"] if "payload" in fields else json.dumps(fields)  # a command
        text = payload
        headers = {**headers, "content-type": "application/json"}
    try:
        request = BoltRequest(body=text, query=query, headers=headers, context=context)
    except AttributeError:  # Bolt reading the context of a document that is not an object
        raise NotAnObject("not an object") from None
    if not isinstance(request.body, dict):
        raise NotAnObject(type(request.body).__name__)
    return request


def _payload_of(text: str) -> str | None:
    """The `payload` field of a form that has only that field, percent-decoded as
    `urllib.parse.unquote_plus` does, by `binascii.a2b_qp` (quoted-printable's `=XX` is
    percent-encoding's `%XX`; literal `=` are escaped first, `+` is a space); None for any other
    form (parsed the standard way)."""
    if not text.startswith("payload=") or "&" in text or "\n" in text or not text.isascii():
        return None
    raw = text[8:].encode("ascii").replace(b"=", b"=3D").replace(b"+", b" ").replace(b"%", b"=")
    try:
        return binascii.a2b_qp(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _is_json(headers: dict[str, Any], text: str) -> bool:
    kind = headers.get("content-type") or ""
    if isinstance(kind, list | tuple):
        kind = kind[0] if kind else ""
    return str(kind).split(";")[0].strip().lower() == "application/json" or text.startswith("{")


def _is_ssl_check(body: bytes) -> bool:
    """Slack's `ssl_check=1` probe: Bolt answers it first, without a signature, and runs no
    listener for it."""
    if b"ssl_check" not in body:
        return False
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return False
    return fields.get("ssl_check") == "1"


def _plain(start_response: Callable[..., Any], status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {k[5:].lower().replace("_", "-"): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    return headers


def _answer(start_response: Callable[..., Any], response: BoltResponse) -> Iterable[bytes]:
    http = WsgiHttpResponse(status=response.status, headers=response.headers, body=response.body)
    start_response(http.status, http.get_headers())
    return http.get_body()


class _Written:
    """The response body; the WSGI server calls `close()` once it has written it to Slack."""

    def __init__(self, body: Iterable[bytes], answered: threading.Event) -> None:
        self._body = body
        self._answered = answered

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        self._answered.set()


def make_wsgi_app(bot: Bot) -> Callable[..., Iterable[bytes]]:
    gate = SlackGate(bot.services.settings.slack_signing_secret)
    hooks, hook_paths = DealHooks(bot.services), frozenset(HOOK_PATHS)

    def events(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        try:
            body = gate.read_body(environ)
            if not _is_ssl_check(body):
                gate.check_signature(environ, body)
            kind, request = gate.check_shape(environ, body)
        except Refused as refused:
            log.warning(
                "refused a request from %s: %s (%s)",
                environ.get("REMOTE_ADDR", "?"),
                refused.reason,
                refused.status,
            )
            metrics.REQUESTS_REFUSED.labels(refused.status.split(" ", 1)[0]).inc()
            return _plain(start_response, refused.status, refused.status.split(" ", 1)[1])
        # The gate verified the signature (Bolt is told so: `request_verification_enabled=False`)
        # and Bolt parsed the body once, as the gate's shape check read it.
        answered = threading.Event()
        request.context[ANSWERED] = answered
        # Bolt returns once the listener has acked (process_before_response is off): the ack.
        # A listener with work after its ack recorded it in the inbox first (`after_ack`).
        response = bot.app.dispatch(request)
        metrics.ACK_SECONDS.labels(kind).observe(time.perf_counter() - started)
        return _Written(_answer(start_response, response), answered)

    def metrics_page(start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            backlog: tuple[int, float] | None = inbox.backlog(bot.services.db, datetime.now(UTC))
        except Exception:  # the database is down: /healthz says so; the rest is still worth reading
            backlog = None
        try:
            live: metrics.LiveCounts | None = metrics.live_counts(bot.services.db)
        except Exception:  # as above
            live = None
        data, content_type = metrics.exposition(backlog, live)
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(data)))])
        return [data]

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
            return events(environ, start_response)
        if path == METRICS_PATH and method == "GET" and bot.services.settings.golive_metrics:
            return metrics_page(start_response)
        if path in hook_paths:
            return hooks(environ, start_response)
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
        # A short poll: stop() waits for serve_forever to notice, up to half a second by default,
        # paid at every harness's stop in the tests.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="golive-http", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        assert isinstance(host, str)  # a TCP server's (a Unix socket's would be bytes)
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
