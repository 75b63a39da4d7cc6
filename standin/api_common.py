"""Shared plumbing of the Web API method handlers: the registry, errors and argument parsing."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .state import Channel, Workspace

JSON_ARGS = ("blocks", "attachments", "view", "files", "metadata")
# Error codes that mean "the app sent Block Kit (or text) Slack refuses" — a bug in the app.
VALIDATION_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_blocks_too_long",
        "msg_too_long",
        "view_too_large",
        "invalid_arguments",
        "invalid_metadata_format",
        "invalid_metadata_schema",
    }
)


class ApiError(Exception):
    """Answer ``{"ok": false, "error": code, **extra}`` (HTTP 200)."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, **self.extra}


def invalid_blocks(errors: list[str], code: str = "invalid_blocks") -> ApiError:
    """Slack's answer to blocks it refuses."""
    return ApiError(code, errors=errors, response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})


def invalid_view(errors: list[str]) -> ApiError:
    """Slack's answer to a view it refuses (views.* answer ``invalid_arguments``)."""
    return ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})


@dataclass
class ApiRequest:
    """What a handler sees: merged arguments, the token and uploaded multipart files."""

    method: str
    args: dict[str, Any]
    token: str | None
    files: dict[str, bytes] = field(default_factory=dict)


Handler = Callable[[Workspace, ApiRequest], dict[str, Any]]


@dataclass(frozen=True)
class MethodSpec:
    handler: Handler
    token: str  # "bot" (xoxb/xoxp) or "app" (xapp)
    scope: str | None = None  # the bot scope Slack documents for the method, if one fixed scope


METHODS: dict[str, MethodSpec] = {}


def method(name: str, *, token: str = "bot", scope: str | None = None) -> Callable[[Handler], Handler]:
    """Register a Web API method handler; ``scope`` is checked before the handler runs. Methods whose
    scope depends on the conversation type check it themselves (``require_scope``)."""

    def register(fn: Handler) -> Handler:
        METHODS[name] = MethodSpec(fn, token, scope)
        return fn

    return register


def require_scope(ws: Workspace, scope: str) -> None:
    """Slack's ``missing_scope`` answer unless the bot token was granted ``scope``."""
    if not ws.has_scope(scope):
        raise ApiError("missing_scope", needed=scope, provided=",".join(sorted(ws.scopes or ())))


def conversation_scope(channel: Channel, family: str) -> str:
    """The scope a ``conversations.*`` method needs for this kind of conversation: ``family`` is
    ``read``, ``history`` or ``write`` (public → channels:, private → groups:, DM → im:, group DM → mpim:)."""
    if channel.is_im:
        prefix = "im"
    elif channel.is_mpim:
        prefix = "mpim"
    elif channel.is_private:
        prefix = "groups"
    else:
        prefix = "channels"
    return f"{prefix}:{family}"


def json_arg(args: dict[str, Any], key: str, *, error: str = "invalid_arguments") -> Any:
    """A JSON-valued argument: already parsed (JSON body) or a JSON string (form/query)."""
    value = args.get(key)
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ApiError(error) from exc
    return value


def bool_arg(args: dict[str, Any], key: str, default: bool = False) -> bool:
    value = args.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes")


def str_arg(args: dict[str, Any], key: str) -> str | None:
    value = args.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def loggable_args(args: dict[str, Any]) -> dict[str, Any]:
    """Arguments as recorded in the call log: no token, JSON strings parsed."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if key == "token":
            continue
        if key in JSON_ARGS and isinstance(value, str):
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        out[key] = value
    return out
