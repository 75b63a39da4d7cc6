"""The deal hooks on the HTTP server: a deal won in the CRM becomes an engagement (`bot.deals`).

- `POST /hooks/deal`: golive's own JSON deal, signed with `GOLIVE_HOOK_SECRET`
  (`X-Golive-Request-Timestamp`, `X-Golive-Signature: v0=<hex HMAC-SHA256 of
  "v0:{timestamp}:{body}">`, `bot.events.signing`);
- `POST /hooks/hubspot`: a HubSpot workflow webhook, its v3 signature checked with
  `GOLIVE_HUBSPOT_SECRET`, mapped by `GOLIVE_HUBSPOT_MAPPING` (or the default mapping);
- `POST /hooks/salesforce`: a Salesforce outbound message from `GOLIVE_SALESFORCE_ORG_ID`,
  mapped by `GOLIVE_SALESFORCE_MAPPING`, answered with the `<Ack>true</Ack>` Salesforce waits
  for (without it Salesforce sends the message again, for up to 24 hours).

A deal is answered 202 with its engagement's id once it is recorded (the channel work follows on
a worker thread and the sweep); a bad or old signature 401 and a body over 1 MB 413, with
nothing written; a deal golive cannot read 400 with the field to fix. A hook whose secret is not
configured answers 404 (it is off); deals need `GOLIVE_CREATE_CHANNELS=true` (409 otherwise).
`golive serve` routes the hooks beside `/slack/events`; `golive socket` serves them on
`GOLIVE_HOOK_PORT` (`HookServer`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot import metrics
from bot.deals import setup
from bot.deals.crm import (
    HUBSPOT_SIGNATURE_HEADER,
    HUBSPOT_TIMESTAMP_HEADER,
    SALESFORCE_ACK,
    WrongOrganization,
    hubspot_deal,
    salesforce_deals,
    salesforce_fault,
    verify_hubspot,
)
from bot.deals.deal import DealProblem, parse_deal
from bot.deals.intake import LeadUnknown, Received, receive
from bot.deals.mapping import MappingProblem, PayloadProblem, load_mapping
from bot.events.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, BadSignature, verify
from bot.services import Services
from golive.http_body import MAX_BODY, Refused, read_body

log = logging.getLogger("golive.hooks")

DEAL_PATH = "/hooks/deal"
HUBSPOT_PATH = "/hooks/hubspot"
SALESFORCE_PATH = "/hooks/salesforce"
PATHS = (DEAL_PATH, HUBSPOT_PATH, SALESFORCE_PATH)

StartResponse = Callable[..., Any]


def _json(start_response: StartResponse, status: str, document: dict[str, Any]) -> list[bytes]:
    body = json.dumps(document).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _xml(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def _header(environ: dict[str, Any], name: str) -> str | None:
    value = environ.get("HTTP_" + name.upper().replace("-", "_"))
    return str(value) if value is not None else None


def _public_url(environ: dict[str, Any]) -> str:
    """The URL the sender called, as HubSpot signs it: scheme (X-Forwarded-Proto behind a proxy),
    host, path and query."""
    scheme = str(environ.get("HTTP_X_FORWARDED_PROTO") or environ.get("wsgi.url_scheme") or "https").split(
        ","
    )[0]
    host = str(
        environ.get("HTTP_X_FORWARDED_HOST") or environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or ""
    )
    path = str(environ.get("PATH_INFO") or "")
    query = str(environ.get("QUERY_STRING") or "")
    return f"{scheme.strip()}://{host.split(',')[0].strip()}{path}" + (f"?{query}" if query else "")


class DealHooks:
    """The three hook endpoints of one bot process."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO") or "")
        settings = self.services.settings
        secret = {
            DEAL_PATH: settings.golive_hook_secret,
            HUBSPOT_PATH: settings.golive_hubspot_secret,
            SALESFORCE_PATH: settings.golive_salesforce_org_id,
        }[path]
        if not secret:
            return _json(
                start_response, "404 Not Found", {"ok": False, "error": "this hook is not configured"}
            )
        if environ.get("REQUEST_METHOD", "GET") != "POST":
            return _json(start_response, "405 Method Not Allowed", {"ok": False, "error": "POST the deal"})
        try:
            body = read_body(environ, MAX_BODY)
        except Refused as refused:
            return self._refused(start_response, path, refused.status, refused.reason)
        if not settings.golive_create_channels:
            return _json(
                start_response,
                "409 Conflict",
                {
                    "ok": False,
                    "error": "deals make channels: set GOLIVE_CREATE_CHANNELS=true and reinstall the app",
                },
            )
        if path == SALESFORCE_PATH:
            return self._salesforce(environ, start_response, body)
        try:
            if path == DEAL_PATH:
                verify(
                    settings.golive_hook_secret,
                    _header(environ, TIMESTAMP_HEADER),
                    _header(environ, SIGNATURE_HEADER),
                    body,
                )
                documents: list[Any] = [json.loads(body) if body.strip() else None]
                source = "golive"
            else:
                verify_hubspot(
                    settings.golive_hubspot_secret,
                    "POST",
                    _public_url(environ),
                    body,
                    _header(environ, HUBSPOT_TIMESTAMP_HEADER),
                    _header(environ, HUBSPOT_SIGNATURE_HEADER),
                )
                documents = [hubspot_deal(body, load_mapping(settings.golive_hubspot_mapping, "hubspot"))]
                source = "hubspot"
        except BadSignature as exc:
            return self._refused(start_response, path, "401 Unauthorized", str(exc))
        except ValueError as exc:  # not JSON, a payload or mapping problem
            return self._problem(start_response, path, str(exc))
        try:
            done = [self._receive(document, source) for document in documents]
        except LeadUnknown as exc:
            return self._problem(start_response, path, str(exc), status="422 Unprocessable Content")
        except DealProblem as exc:
            return self._problem(start_response, path, str(exc))
        return _json(start_response, "202 Accepted", done[0].answer())

    def _receive(self, document: Any, source: str) -> Received:
        received = receive(self.services, parse_deal(document), source=source)
        metrics.DEALS.labels(source, received.outcome).inc()
        setup.kick(self.services)
        return received

    def _salesforce(
        self, environ: dict[str, Any], start_response: StartResponse, body: bytes
    ) -> Iterable[bytes]:
        """Salesforce waits for `<Ack>true</Ack>`; anything else (a fault with 500) makes it send
        the message again later — right for a failure on our side, useless for a deal that can
        never be read (it is acked and logged: the lead's CRM admin reads the log)."""
        settings = self.services.settings
        try:
            mapping = load_mapping(settings.golive_salesforce_mapping, "salesforce")
            documents = salesforce_deals(body, settings.golive_salesforce_org_id or "", mapping)
        except WrongOrganization as exc:
            return self._refused(start_response, SALESFORCE_PATH, "403 Forbidden", str(exc))
        except (PayloadProblem, MappingProblem, ValueError) as exc:
            log.error("a Salesforce outbound message golive cannot read: %s", exc)
            return _xml(start_response, "500 Internal Server Error", salesforce_fault(str(exc)[:300]))
        for document in documents:
            try:
                self._receive(document, "salesforce")
            except DealProblem as exc:
                log.error("a Salesforce deal golive cannot take (acked, not retried): %s", exc)
                metrics.DEALS.labels("salesforce", "refused").inc()
        return _xml(start_response, "200 OK", SALESFORCE_ACK)

    def _refused(self, start_response: StartResponse, path: str, status: str, reason: str) -> list[bytes]:
        log.warning("refused a request to %s: %s (%s)", path, reason, status)
        metrics.REQUESTS_REFUSED.labels(status.split(" ", 1)[0]).inc()
        return _json(start_response, status, {"ok": False, "error": status.split(" ", 1)[1]})

    def _problem(
        self, start_response: StartResponse, path: str, message: str, *, status: str = "400 Bad Request"
    ) -> list[bytes]:
        log.warning("a deal to %s was not taken: %s", path, message)
        return _json(start_response, status, {"ok": False, "error": message})


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class HookServer:
    """The deal hooks alone on their own port, for `golive socket` (`GOLIVE_HOOK_PORT`): Socket
    Mode has no HTTP server, and a CRM can only POST."""

    def __init__(self, services: Services, *, host: str = "0.0.0.0", port: int = 0) -> None:
        hooks = DealHooks(services)

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            if environ.get("PATH_INFO") in PATHS:
                return hooks(environ, start_response)
            return _json(start_response, "404 Not Found", {"ok": False, "error": "not found"})

        self.httpd = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="golive-hooks", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HookServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
