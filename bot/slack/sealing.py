"""Sealed `private_metadata`: a modal's metadata carries an HMAC, so a view submission can only
name the channel, engagement and item the bot itself put in the form it opened.

Slack returns `private_metadata` untouched and signs every request, so this only matters for a
forged payload; it costs one HMAC per form.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SEPARATOR = "."
SIGNATURE_CHARS = 32


def _signature(key: bytes, body: str) -> str:
    return hmac.new(key, b"golive-view:" + body.encode("utf-8"), hashlib.sha256).hexdigest()[:SIGNATURE_CHARS]


def seal(body: str, key: bytes) -> str:
    return f"{_signature(key, body)}{SEPARATOR}{body}"


def unseal(raw: str, key: bytes) -> dict[str, Any] | None:
    """The metadata dict when the seal is ours; None when it is missing or wrong."""
    sig, sep, body = raw.partition(SEPARATOR)
    if not sep or not hmac.compare_digest(sig, _signature(key, body)):
        return None
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def seal_view(view: dict[str, Any], key: bytes) -> dict[str, Any]:
    """A copy of the view with its private_metadata sealed (left alone when it has none)."""
    raw = view.get("private_metadata")
    if not raw:
        return view
    return {**view, "private_metadata": seal(str(raw), key)}
