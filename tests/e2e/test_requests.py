"""Issue 10: what reaches `POST /slack/events` that is not a request Slack sent.

Over real HTTP against the harness's server (the same WSGI app gunicorn runs): bodies over
1 MB are refused with 413 before they are read; unsigned, badly signed or stale requests get
401; correctly signed bodies that cannot be read get 400. Each refusal is one log line with no
traceback, nothing reaches the bot, and the next real request is answered normally.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import socket
import time
from urllib.parse import urlencode, urlsplit

import pytest

from sandbox.harness import CHANNEL, LEAD, SIGNING_SECRET
from storage.models import Engagement
from tests.e2e.helpers import count, ephemeral_texts

MB = 1024 * 1024
FORM = "application/x-www-form-urlencoded"


def _address(h) -> tuple[str, int, str]:
    url = urlsplit(h.server.events_url)
    return url.hostname, url.port, url.path  # type: ignore[return-value]


def post(
    h,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    declared: int | None = None,
    send: int | None = None,
) -> tuple[int, bytes]:
    """POST `body` (only its first `send` bytes when given, with Content-Length `declared`)."""
    host, port, path = _address(h)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest("POST", path, skip_accept_encoding=True)
    conn.putheader("Content-Length", str(len(body) if declared is None else declared))
    for k, v in (headers or {}).items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(body if send is None else body[:send])
    resp = conn.getresponse()
    status, data = resp.status, resp.read()
    conn.close()
    return status, data


def post_without_length(h, body: bytes, headers: dict[str, str]) -> int:
    """An HTTP/1.0 POST with no Content-Length: the body ends when the client stops sending."""
    host, port, path = _address(h)
    with socket.create_connection((host, port), timeout=10) as sock:
        head = f"POST {path} HTTP/1.0\r\nHost: {host}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()
        )
        sock.sendall(head.encode() + b"\r\n" + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def signed(body: bytes, content_type: str = FORM, timestamp: int | None = None) -> dict[str, str]:
    """Slack's headers for `body`, signed over its raw bytes (which need not be UTF-8)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": "v0=" + mac.hexdigest(),
    }


def command_body(text: str = "status") -> bytes:
    return urlencode(
        {
            "command": "/golive",
            "text": text,
            "team_id": "T0VENDOR",
            "channel_id": CHANNEL,
            "user_id": LEAD.user_id,
            "user_name": "lena",
            "response_url": "",
            "trigger_id": "1.2.3",
        }
    ).encode()


def server_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "golive.server" and "refused" in r.getMessage()]


def nothing_reached_the_bot(h) -> None:
    h.idle()
    assert count(h, Engagement) == 0
    assert [c.method for c in h.standin.calls] == ["auth.test"]  # only the start-up check


def still_answers(h) -> None:
    h.command("start Acme Corp")
    assert count(h, Engagement) == 1
    h.command("status")
    assert "Acme Corp" in ephemeral_texts(h, LEAD.user_id)[-1]


def one_clean_line(caplog, fragment: str, status: int) -> None:
    [line] = server_lines(caplog)
    assert fragment in line.getMessage() and str(status) in line.getMessage()
    assert line.exc_info is None and line.levelno == logging.WARNING
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize("size", [6 * MB, 30 * MB, MB + 1])
@pytest.mark.parametrize("is_signed", [True, False], ids=["signed", "unsigned"])
def test_a_body_over_1mb_is_refused_before_it_is_read(harness, caplog, size, is_signed):
    h = harness
    body = b"command=%2Fgolive&text=" + b"a" * (size - 23)
    headers = signed(body) if is_signed else {"Content-Type": FORM}
    with caplog.at_level(logging.INFO):
        # Only 64 KB of the body is ever sent: the answer can only come if nobody waits for the rest.
        status, _ = post(h, body, headers=headers, send=64 * 1024)
    assert status == 413
    one_clean_line(caplog, "over the limit", 413)
    nothing_reached_the_bot(h)
    still_answers(h)


def test_a_body_without_a_length_is_read_only_up_to_the_limit(harness, caplog):
    h = harness
    too_big = b"command=%2Fgolive&text=" + b"a" * MB  # one byte past 1 MB once the prefix counts
    with caplog.at_level(logging.INFO):
        assert post_without_length(h, too_big, signed(too_big)) == 413
    one_clean_line(caplog, "without a length ran over the limit", 413)
    nothing_reached_the_bot(h)
    # A normal request without a length is read to its end and handled.
    ok = command_body("start Acme Corp")
    assert post_without_length(h, ok, signed(ok)) == 200
    h.idle()
    assert count(h, Engagement) == 1


NOW = "<now>"  # filled in when the test runs: collected minutes earlier, it would be stale

UNSIGNED = [
    ("payload=notjson", {"Content-Type": FORM}, "not signed"),
    ("payload=notjson", {"Content-Type": FORM, "X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=ab"}, "not a number"),
    ("command=%2Fgolive&text=start+Evil", {"X-Slack-Request-Timestamp": "1e9", "X-Slack-Signature": "v0=" + "0" * 64}, "not a number"),
    ("command=%2Fgolive&text=start+Evil", {"X-Slack-Request-Timestamp": NOW, "X-Slack-Signature": "v0=" + "0" * 64}, "does not match"),
    ("command=%2Fgolive&text=start+Evil", {"X-Slack-Request-Timestamp": NOW, "X-Slack-Signature": "sha1=oops"}, "does not match"),
    ("command=%2Fgolive&text=start+Evil", {"X-Slack-Request-Timestamp": "99999999999999999999", "X-Slack-Signature": "v0=" + "0" * 64}, "not a number"),
]  # fmt: skip


@pytest.mark.parametrize(
    "body, headers, reason", UNSIGNED, ids=[f"{u[2]}-{i}" for i, u in enumerate(UNSIGNED)]
)
def test_unsigned_or_badly_signed_requests_get_401(harness, caplog, body, headers, reason):
    h = harness
    headers = {k: str(int(time.time())) if v == NOW else v for k, v in headers.items()}
    with caplog.at_level(logging.INFO):
        status, _ = post(h, body.encode(), headers={"Content-Type": FORM, **headers})
    assert status == 401
    one_clean_line(caplog, reason, 401)
    nothing_reached_the_bot(h)
    still_answers(h)


def test_a_stale_but_correctly_signed_request_gets_401(harness, caplog):
    h = harness
    body = command_body("start Acme Corp")
    with caplog.at_level(logging.INFO):
        status, _ = post(h, body, headers=signed(body, timestamp=int(time.time()) - 6 * 60))
    assert status == 401
    one_clean_line(caplog, "more than five minutes off", 401)
    nothing_reached_the_bot(h)


SIGNED_JUNK = [
    (b"payload=notjson", FORM, "not the JSON Slack sends"),
    (b"payload=%5B1%2C2%5D", FORM, "not an object"),  # payload=[1,2]
    (b"payload=%7B%22type%22", FORM, "not the JSON Slack sends"),  # payload={"type"
    (b"[1, 2]", "application/json", "not an object"),
    (b'{"type": "event_callback", ', "application/json", "not the JSON Slack sends"),
    (b"command=%2Fgolive&text=\xff\xfe", FORM, "not UTF-8"),
]


@pytest.mark.parametrize("body, content_type, reason", SIGNED_JUNK, ids=[j[2] for j in SIGNED_JUNK])
def test_signed_but_unreadable_bodies_get_400(harness, caplog, body, content_type, reason):
    h = harness
    with caplog.at_level(logging.INFO):
        status, _ = post(h, body, headers=signed(body, content_type))
    assert status == 400
    one_clean_line(caplog, reason, 400)
    nothing_reached_the_bot(h)
    still_answers(h)


def test_a_content_length_that_is_not_a_number_gets_400(harness, caplog):
    h = harness
    host, port, path = _address(h)
    with caplog.at_level(logging.INFO), socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.0\r\nHost: x\r\nContent-Length: lots\r\n\r\n".encode())
        sock.shutdown(socket.SHUT_WR)
        answer = sock.recv(4096)
    assert answer.split(b" ", 2)[1] == b"400"
    one_clean_line(caplog, "Content-Length is not a number", 400)
    nothing_reached_the_bot(h)


def test_slacks_ssl_check_is_still_answered(harness, caplog):
    h = harness
    status, _ = post(h, b"ssl_check=1&token=abc", headers={"Content-Type": FORM})
    assert status == 200
    status, _ = post(h, b"ssl_check=1&payload=notjson", headers={"Content-Type": FORM})
    assert status == 400  # unsigned, so it must at least be readable
    nothing_reached_the_bot(h)


def test_a_real_request_is_untouched_by_the_checks(harness, caplog):
    h = harness
    body = command_body("start Acme Corp")
    with caplog.at_level(logging.INFO):
        status, data = post(h, body, headers=signed(body))
    h.idle()
    assert status == 200 and count(h, Engagement) == 1
    assert server_lines(caplog) == []
    event = json.dumps({"type": "url_verification", "challenge": "abc", "token": "x"}).encode()
    status, data = post(h, event, headers=signed(event, "application/json"))
    assert status == 200 and json.loads(data) == {"challenge": "abc"}


def test_gunicorn_refuses_the_same_way(tmp_path):
    """`golive serve` (gunicorn's threaded worker) runs the same app: the same answers, and
    its log has one line per refusal and no traceback."""
    from sandbox.harness import start_standin
    from sandbox.harness.processes import spawn_serve, stop, wait_http

    standin = start_standin()
    proc, port = spawn_serve(standin, tmp_path, f"sqlite:///{tmp_path / 'serve.sqlite3'}", LOG_LEVEL="INFO")
    try:
        assert wait_http(f"http://127.0.0.1:{port}/healthz", proc) == 200

        class Served:  # what post() needs of a harness
            class server:
                events_url = f"http://127.0.0.1:{port}/slack/events"

        huge = b"command=%2Fgolive&text=" + b"a" * (30 * MB)
        assert post(Served, huge, headers=signed(huge), send=64 * 1024)[0] == 413
        assert post(Served, b"payload=notjson", headers={"Content-Type": FORM})[0] == 401
        assert post(Served, b"payload=notjson", headers=signed(b"payload=notjson"))[0] == 400
        ok = command_body("status")
        assert post(Served, ok, headers=signed(ok))[0] == 200
    finally:
        code, out = stop(proc)
        standin.stop()
    assert code == 0, out
    assert "Traceback" not in out
    refusals = [line for line in out.splitlines() if "refused a request" in line]
    assert len(refusals) == 3, out
    assert ["413" in refusals[0], "401" in refusals[1], "400" in refusals[2]] == [True, True, True]
