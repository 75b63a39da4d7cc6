"""Slack request signing (``X-Slack-Signature`` / ``X-Slack-Request-Timestamp``)."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGN = object()  # ``signature=`` default of SlackDriver methods: sign correctly


def compute_signature(signing_secret: str, timestamp: int | str, body: str | bytes) -> str:
    """Return ``"v0=" + hex(HMAC_SHA256(secret, "v0:{ts}:{body}"))`` as Slack computes it."""
    raw = body.decode("utf-8") if isinstance(body, bytes) else body
    base = f"v0:{timestamp}:{raw}".encode()
    digest = hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def signed_headers(signing_secret: str, body: str | bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack adds to every request it sends to an app."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": compute_signature(signing_secret, ts, body),
    }
