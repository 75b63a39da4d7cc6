"""Errors users see: short, friendly, saying what to do."""

from __future__ import annotations

import uuid


class UserError(Exception):
    """Something the user asked for cannot be done; the message tells them what to do instead."""

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


def new_reference() -> str:
    """A short id shown to the user and written to the log next to the traceback."""
    return uuid.uuid4().hex[:10]
