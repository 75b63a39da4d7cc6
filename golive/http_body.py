"""Reading a request's body on the HTTP server, within a size limit, before anything else looks
at it: Slack's requests (`golive.server`) and the deal hooks (`golive.hooks`)."""

from __future__ import annotations

from typing import Any

MAX_BODY = 1024 * 1024  # Slack's requests are a few KB; a deal a few more


class Refused(Exception):
    """A request answered before Bolt sees it: HTTP status and the reason for the log."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def read_body(environ: dict[str, Any], max_body: int = MAX_BODY) -> bytes:
    """The body, refused with 413 before it is read when its Content-Length is over `max_body`;
    a body without one is read only up to the limit (and one byte more, to tell)."""
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    stream = environ.get("wsgi.input")
    if raw:
        if not raw.isascii() or not raw.isdigit():
            raise Refused("400 Bad Request", "the Content-Length is not a number")
        if len(raw) > 12 or int(raw) > max_body:
            raise Refused("413 Content Too Large", f"a body of {raw[:20]} bytes is over the limit")
        wanted = int(raw)
    else:
        wanted = max_body + 1  # no length: read no more than one byte past the limit
    body = _read_up_to(stream, wanted) if stream is not None else b""
    if len(body) > max_body:
        raise Refused("413 Content Too Large", "a body without a length ran over the limit")
    return body


def _read_up_to(stream: Any, limit: int) -> bytes:
    """Read until `limit` bytes or the end of the stream."""
    chunks: list[bytes] = []
    got = 0
    while got < limit:
        chunk = stream.read(min(64 * 1024, limit - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
