"""The sandbox's web page: stdlib HTTP server, server-rendered HTML, POST-redirect-GET.

Routes:
    GET  /                      the page (`?view=channel|home|messages|activity`, `?channel=C…` one of
                                the person's channels, the shared one by default; `?thread=<ts>`
                                opens a thread in the side pane, `?as=U…` switches persona)
    GET  /static/<file>         the CSS and the little JavaScript
    GET  /files/<id>            a file the bot shared in the channel (the audit CSV), downloaded
    GET  /files/<id>/preview    a PNG or JPEG picture the bot shared, shown inline
    POST /command               a slash command from the composer
    POST /action                a click, tick or selection on a message or a view
    POST /view/submit           a modal's submit button
    POST /view/close            a modal's close button
    POST /home                  open the app's Home tab (sends `app_home_opened`)
    POST /clock                 move the sandbox clock, then run the reminder sweep
    POST /deal                  Deal won: the sample deal, signed, to the bot's /hooks/deal
    POST /invite/accept         a customer persona accepts a Slack Connect invitation
"""

from __future__ import annotations

import logging
import mimetypes
import threading
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from sandbox.harness import CHANNEL

from .conversation import page_address
from .files import picture
from .page import render_page
from .session import Sandbox

log = logging.getLogger("golive.sandbox.web")

STATIC_DIR = Path(__file__).parent / "static"
COOKIE = "golive_as"
MAX_BODY = 1_000_000


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server that knows its sandbox."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox | None = None) -> None:
        super().__init__(address, SandboxHandler)
        self.sandbox = sandbox

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class SandboxHandler(BaseHTTPRequestHandler):
    server: SandboxHTTPServer
    server_version = "golive-sandbox"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    @property
    def sandbox(self) -> Sandbox:
        if self.server.sandbox is None:
            raise RuntimeError("the sandbox is still starting")
        return self.server.sandbox

    # ----- request helpers
    def _query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)

    def _user(self) -> str:
        cookie = SimpleCookie(self.headers.get("Cookie") or "")
        morsel = cookie.get(COOKIE)
        return Sandbox.persona(morsel.value if morsel else None).user_id

    def _form(self) -> dict[str, list[str]]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request too large")
        body = self.rfile.read(length).decode("utf-8", "replace")
        return parse_qs(body, keep_blank_values=True)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _redirect(self, location: str, cookie: str | None = None) -> None:
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        if cookie:
            self.send_header("Set-Cookie", f"{COOKIE}={cookie}; Path=/; SameSite=Lax; HttpOnly")
        self.end_headers()

    def _same_origin(self) -> bool:
        """Refuse cross-site form posts (another web page posting to this local port)."""
        origin = self.headers.get("Origin")
        if not origin or origin == "null":
            return self.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")
        return urlsplit(origin).netloc == self.headers.get("Host")

    # ----- GET
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/":
            self._page()
        elif path.startswith("/static/"):
            self._static(path.removeprefix("/static/"))
        elif path.startswith("/files/") and path.endswith("/preview"):
            self._preview(path.removeprefix("/files/").removesuffix("/preview"))
        elif path.startswith("/files/"):
            self._file(path.removeprefix("/files/"))
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        else:
            self._send(HTTPStatus.NOT_FOUND, b"Not found", "text/plain; charset=utf-8")

    do_HEAD = do_GET

    def _page(self) -> None:
        query = self._query()
        view = (query.get("view") or ["channel"])[0]
        thread = (query.get("thread") or [""])[0]
        channel = (query.get("channel") or [""])[0]
        if "as" in query:
            persona = Sandbox.persona(query["as"][0])
            rest = {"view": view} if view != "channel" else {}
            if channel and view == "channel":
                rest["channel"] = channel
            if thread:
                rest["thread"] = thread
            self._redirect("/" + (("?" + urlencode(rest)) if rest else ""), cookie=persona.user_id)
            return
        html = render_page(self.sandbox, self._user(), view, thread, channel)
        self._send(HTTPStatus.OK, html.encode("utf-8"), "text/html; charset=utf-8")

    def _static(self, name: str) -> None:
        file = (STATIC_DIR / name).resolve()
        if file.parent != STATIC_DIR.resolve() or not file.is_file():
            self._send(HTTPStatus.NOT_FOUND, b"Not found", "text/plain; charset=utf-8")
            return
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        self._send(HTTPStatus.OK, file.read_bytes(), kind)

    def _file(self, file_id: str) -> None:
        """A file the bot shared (e.g. the audit CSV), as a download."""
        record = self.sandbox.file(file_id)
        if record is None:
            self._send(HTTPStatus.NOT_FOUND, b"No such file", "text/plain; charset=utf-8")
            return
        name = (
            "".join(c for c in str(record.get("filename") or "file") if c.isalnum() or c in "._-") or "file"
        )
        kind = str(record.get("mimetype") or "application/octet-stream")
        if kind.startswith("text/"):
            kind += "; charset=utf-8"
        self._send(
            HTTPStatus.OK,
            bytes(record.get("content") or b""),
            kind,
            {"Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"},
        )

    def _preview(self, file_id: str) -> None:
        """A picture the bot shared, shown inline: only PNG or JPEG bytes, with their content type."""
        record = self.sandbox.file(file_id)
        shown = picture(record.get("content")) if record is not None else None
        if record is None or shown is None:
            self._send(HTTPStatus.NOT_FOUND, b"No such picture", "text/plain; charset=utf-8")
            return
        self._send(
            HTTPStatus.OK,
            bytes(record.get("content") or b""),
            shown.mimetype,
            {"Content-Disposition": "inline", "X-Content-Type-Options": "nosniff"},
        )

    # ----- POST
    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        routes = {
            "/command": self._command,
            "/action": self._action,
            "/view/submit": self._view_submit,
            "/view/close": self._view_close,
            "/home": self._home,
            "/clock": self._clock,
            "/deal": self._deal,
            "/invite/accept": self._accept_invite,
        }
        route = routes.get(path)
        if route is None:
            self._send(HTTPStatus.NOT_FOUND, b"Not found", "text/plain; charset=utf-8")
            return
        if not self._same_origin():
            self._send(HTTPStatus.FORBIDDEN, b"Cross-site request refused", "text/plain; charset=utf-8")
            return
        user = self._user()
        back = "/"
        try:
            form = self._form()
            back = _safe_back((form.get("back") or ["/"])[0])
            back = route(user, form) or back
        except Exception as exc:
            log.exception("sandbox request %s failed", path)
            self.sandbox.note(user, f"The sandbox could not do that: {exc}")
        self._redirect(back)

    def _command(self, user: str, form: dict[str, list[str]]) -> str | None:
        self.sandbox.command(user, _first(form, "text"), _first(form, "channel") or CHANNEL)
        return None  # back to the channel, with its open thread

    def _action(self, user: str, form: dict[str, list[str]]) -> str | None:
        self.sandbox.act(
            user,
            where=_first(form, "where") or "message",
            channel=_first(form, "channel"),
            ts=_first(form, "ts"),
            view_id=_first(form, "view_id"),
            block_id=_first(form, "block_id"),
            action_id=_first(form, "action_id"),
            values=form.get("values", []) + form.get("value", []),
        )
        return None

    def _view_submit(self, user: str, form: dict[str, list[str]]) -> str | None:
        self.sandbox.submit_view(user, _first(form, "view_id"), form)
        return None

    def _view_close(self, user: str, form: dict[str, list[str]]) -> str | None:
        self.sandbox.close_view(user, _first(form, "view_id"))
        return None

    def _home(self, user: str, form: dict[str, list[str]]) -> str | None:
        if not Sandbox.is_customer(Sandbox.persona(user)):
            self.sandbox.open_home(user)
        return "/?view=home"

    def _clock(self, user: str, form: dict[str, list[str]]) -> str | None:
        self.sandbox.move_clock(user, _first(form, "op"), _first(form, "at"))
        return None

    def _deal(self, user: str, form: dict[str, list[str]]) -> str | None:
        self.sandbox.deal_won(user)
        return None  # the note says what the bot answered; the channel appears in the sidebar

    def _accept_invite(self, user: str, form: dict[str, list[str]]) -> str | None:
        channel = self.sandbox.accept_invite(user, _first(form, "invite_id"))
        return page_address(channel) if channel else None


def _first(form: dict[str, list[str]], key: str) -> str:
    values = form.get(key) or [""]
    return values[0]


def _safe_back(back: str) -> str:
    """Only local paths (`/`, `/?view=…`, `/?thread=…#a-m-…`), on one header line."""
    local = back.startswith("/") and not back.startswith(("//", "/\\"))
    return back if local and back.isascii() and back.isprintable() else "/"


def serve_in_thread(server: SandboxHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.name = "golive-sandbox-web"
    thread.start()
    return thread
