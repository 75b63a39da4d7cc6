"""HTTP side of the stand-in: ``/api/<method>``, ``/upload/<file_id>`` and ``/response/<id>``."""

from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import api_canvases, api_chat, api_connect, api_files, api_views  # noqa: F401  (register the methods)
from .api_common import METHODS, ApiError, ApiRequest, loggable_args, require_scope, str_arg
from .interactions import apply_response_url
from .ratelimits import retry_after_header
from .state import Call, Fault, Workspace


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """Fields and file parts of a multipart/form-data body."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if not message.is_multipart():
        return fields, files
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[str(name)] = payload
        else:
            fields[str(name)] = payload.decode("utf-8", "replace")
    return fields, files


def parse_request(query: str, body: bytes, content_type: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Merge query parameters with a JSON, form-encoded or multipart body."""
    args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    files: dict[str, bytes] = {}
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "application/json":
        try:
            data = json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            raise ApiError("invalid_json") from exc
        if not isinstance(data, dict):
            raise ApiError("invalid_json")
        args.update(data)
    elif ctype == "multipart/form-data":
        fields, files = parse_multipart(body, content_type)
        args.update(fields)
    elif body:
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        args.update({k: v[-1] for k, v in form.items()})
    return args, files


class StandInHTTPServer(ThreadingHTTPServer):
    """Threaded loopback server holding a reference to the workspace."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], workspace: Workspace) -> None:
        self.workspace = workspace
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: StandInHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # ----- plumbing
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json; charset=utf-8", headers)

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        url = urlsplit(self.path)
        body = self._body()
        if url.path.startswith("/api/"):
            self._api(url.path[len("/api/") :], url.query, body)
        elif url.path.startswith("/upload/") and self.command == "POST":
            self._upload(url.path[len("/upload/") :], body)
        elif url.path.startswith("/response/") and self.command == "POST":
            self._response_url(url.path[len("/response/") :], body)
        else:
            self._send(404, b"not found", "text/plain")

    # ----- Web API
    def _api(self, name: str, query: str, body: bytes) -> None:
        ws = self.server.workspace
        try:
            args, files = parse_request(query, body, self.headers.get("Content-Type", ""))
        except ApiError as exc:
            args, files = {}, {}
            self._finish_api(name, args, exc.body(), 200)
            return
        token = args.get("token")
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[len("bearer ") :].strip()
        delay = ws.latency.get(name, 0.0)
        with ws.lock:
            fault = _take_fault(ws, name)
        if fault is not None:
            if delay:
                time.sleep(delay)
            self._answer_fault(name, args, fault)
            return
        if token == ws.bot_token:
            with ws.lock:
                wait = ws.rate_limiter.take(name, str_arg(args, "channel"), time.monotonic())
            if wait:
                self._answer_rate_limited(name, args, wait)
                return
        try:
            with ws.lock:
                response = _dispatch(ws, ApiRequest(name, args, token, files))
            status = 200
        except ApiError as exc:
            response, status = exc.body(), 200
        except Exception:
            detail = traceback.format_exc()
            print(f"slack stand-in: {name} failed\n{detail}", file=sys.stderr)
            response, status = {"ok": False, "error": "internal_error", "standin_traceback": detail}, 500
        self._finish_api(name, args, response, status, delay=delay)

    def _finish_api(
        self, name: str, args: dict[str, Any], response: dict[str, Any], status: int, *, delay: float = 0.0
    ) -> None:
        """Record the call, then answer. A slow Slack (``set_latency``) has already carried the call
        out when it answers late: a client that times out cannot tell whether it happened."""
        ws = self.server.workspace
        with ws.lock:
            ws.calls.append(Call(name, loggable_args(args), response, status, time.time()))
        if delay:
            time.sleep(delay)  # outside the lock, so other calls go on
        # A client that gave up waiting is gone; the call was carried out all the same.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send_json(status, response)

    def _answer_rate_limited(self, name: str, args: dict[str, Any], wait: float) -> None:
        """Slack's answer to a call over the method's rate limit: 429, ``ratelimited`` and the
        whole seconds to wait in Retry-After. The call is not carried out."""
        data = {"ok": False, "error": "ratelimited"}
        with self.server.workspace.lock:
            self.server.workspace.calls.append(Call(name, loggable_args(args), data, 429, time.time()))
        self._send_json(429, data, {"Retry-After": retry_after_header(wait)})

    def _answer_fault(self, name: str, args: dict[str, Any], fault: Fault) -> None:
        ws = self.server.workspace
        headers: dict[str, str] = {}
        if fault.status == 429:
            headers["Retry-After"] = str(fault.retry_after if fault.retry_after is not None else 1)
            data: dict[str, Any] = {"ok": False, "error": fault.error or "ratelimited"}
        elif fault.status >= 500 and fault.error is None:
            text = f"{fault.status} stand-in injected server error"
            with ws.lock:
                ws.calls.append(
                    Call(
                        name,
                        loggable_args(args),
                        {"ok": False, "status": fault.status, "body": text},
                        fault.status,
                        time.time(),
                    )
                )
            self._send(fault.status, text.encode(), "text/plain; charset=utf-8")
            return
        else:
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            data = {"ok": False, "error": fault.error or "internal_error"}
        with ws.lock:
            ws.calls.append(Call(name, loggable_args(args), data, fault.status, time.time()))
        self._send_json(fault.status, data, headers)

    # ----- file upload (step 2) and response_url
    def _upload(self, file_id: str, body: bytes) -> None:
        """Step 2 of Slack's upload: the bytes, raw or multipart. Slack "will return HTTP 200 if the
        upload is successful; a non-200 response indicates a failure"
        (docs.slack.dev/reference/methods/files.getUploadURLExternal): an unknown or used upload
        URL answers 404, and ``fail_next("upload", status=…)`` makes it answer what a test needs."""
        ws = self.server.workspace
        with ws.lock:
            fault = _take_fault(ws, "upload")
        if fault is not None:
            self._answer_fault("upload", {"file_id": file_id, "bytes": len(body)}, fault)
            return
        content_type = self.headers.get("Content-Type", "")
        content = body
        if content_type.lower().startswith("multipart/form-data"):
            fields, files = parse_multipart(body, content_type)
            content = next(iter(files.values()), None) or fields.get("file", "").encode()
        with ws.lock:
            pending = ws.pending_uploads.get(file_id)
            if pending is not None:
                pending["content"] = content
            ok = pending is not None
            ws.calls.append(
                Call(
                    "upload",
                    {"file_id": file_id, "bytes": len(content)},
                    {"ok": ok},
                    200 if ok else 404,
                    time.time(),
                )
            )
        if ok:
            self._send(200, f"OK - {len(content)}".encode(), "text/plain")
        else:
            self._send(404, b"file_not_found", "text/plain")

    def _response_url(self, url_id: str, body: bytes) -> None:
        ws = self.server.workspace
        try:
            data = json.loads(body or b"{}")
        except json.JSONDecodeError:
            data = None
        with ws.lock:
            if not isinstance(data, dict):
                status, answer = 400, {"ok": False, "error": "invalid_payload"}
            else:
                status, answer = apply_response_url(ws, url_id, data)
            ws.calls.append(
                Call("response_url", {"url_id": url_id, **(data or {})}, answer, status, time.time())
            )
        self._send_json(status, answer)


def _take_fault(ws: Workspace, name: str) -> Fault | None:
    queue = ws.faults.get(name)
    if not queue:
        return None
    fault = queue[0]
    fault.remaining -= 1
    if fault.remaining <= 0:
        queue.pop(0)
    return fault


def _dispatch(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    spec = METHODS.get(req.method)
    if spec is None:
        raise ApiError("unknown_method")
    token = req.token
    if not token:
        raise ApiError("not_authed")
    is_app_token = token.startswith("xapp-")
    if spec.token == "app":
        if not is_app_token:
            raise ApiError("not_allowed_token_type")
        if ws.app_token is not None and token != ws.app_token:
            raise ApiError("invalid_auth")
    else:
        if is_app_token:
            raise ApiError("not_allowed_token_type")
        if token != ws.bot_token:
            raise ApiError("invalid_auth")
        if spec.scope is not None:
            require_scope(ws, spec.scope)
    if ws.invites:
        ws.refresh_invites()  # the invitations that ran out since the last call
    return spec.handler(ws, req)
