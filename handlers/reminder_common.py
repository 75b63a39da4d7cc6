"""Helpers shared by the reminder listeners."""

from __future__ import annotations

import re

from sqlmodel import Session

from bot.engagements import active_in_channel
from bot.errors import UserError
from handlers.base import Request
from storage.models import Engagement


def active_engagement(req: Request, session: Session) -> Engagement:
    """The active engagement of the channel the click came from."""
    engagement = active_in_channel(session, req.channel_id or "")
    if engagement is None:
        raise UserError("This engagement is no longer active.")
    return engagement


def action_number(pattern: re.Pattern[str], req: Request) -> int:
    """The number in the action id, e.g. 12 in `nudge_done:12`."""
    return int(pattern.match(req.action["action_id"]).group(1))  # type: ignore[union-attr]
