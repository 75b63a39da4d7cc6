"""golive's own request signatures, the scheme Slack signs its requests with: for the inbound deal
hook (`POST /hooks/deal`) and the events golive sends out.

    X-Golive-Request-Timestamp: 1765100000
    X-Golive-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}" keyed by the secret>

A request is accepted within five minutes of its timestamp, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

TIMESTAMP_HEADER = "X-Golive-Request-Timestamp"
SIGNATURE_HEADER = "X-Golive-Signature"
MAX_SKEW_SECONDS = 5 * 60
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")


class BadSignature(Exception):
    """Why a request's signature is refused (for the log; the sender gets a bare 401)."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + digest.hexdigest()


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two headers that sign `body` now."""
    stamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(secret, stamp, body)}


def verify(
    secret: str | None, timestamp: str | None, sent: str | None, body: bytes, *, now: float | None = None
) -> None:
    """Raise BadSignature unless `sent` signs `body` at `timestamp`, within five minutes of now."""
    if not secret:
        raise BadSignature("no secret is configured (GOLIVE_HOOK_SECRET)")
    stamp, sent = (timestamp or "").strip(), (sent or "").strip()
    if not stamp or not sent:
        raise BadSignature("the request is not signed")
    if not _TIMESTAMP.match(stamp):
        raise BadSignature("the request timestamp is not a number")
    if abs((time.time() if now is None else now) - int(stamp)) > MAX_SKEW_SECONDS:
        raise BadSignature("the request timestamp is more than five minutes off")
    if not _SIGNATURE.match(sent) or not hmac.compare_digest(signature(secret, stamp, body), sent):
        raise BadSignature("the signature does not match")
