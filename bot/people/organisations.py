"""The organisations of an engagement: which connected team is the customer, and pinning it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.errors import UserError
from bot.people import audit
from bot.people.sides import Actor, is_vendor_org
from storage.models import Engagement, saved_id


def external_teams(engagement: Engagement, team_ids: list[str]) -> list[str]:
    """The channel's connected teams that are not the vendor's."""
    seen: list[str] = []
    for t in team_ids:
        if t and not is_vendor_org(engagement, t, None) and t not in seen:
            seen.append(t)
    return seen


def pin_customer(
    session: Session,
    engagement: Engagement,
    *,
    team_id: str,
    enterprise_id: str | None,
    actor: Actor,
    how: str,
    now: datetime,
) -> bool:
    """Make this organisation the engagement's customer; False when it already is."""
    if is_vendor_org(engagement, team_id, enterprise_id):
        raise UserError(
            "That person is on the implementation team's side, so their organisation can't be the customer."
        )
    if enterprise_id == engagement.vendor_enterprise_id:
        enterprise_id = None
    if engagement.customer_team_id == team_id and engagement.customer_enterprise_id == enterprise_id:
        return False
    previous = engagement.customer_team_id
    engagement.customer_team_id = team_id
    engagement.customer_enterprise_id = enterprise_id
    engagement.updated_at = now
    session.add(engagement)
    audit.record(
        session,
        saved_id(engagement),
        actor,
        "customer.pinned",
        team_id,
        {"team": team_id, "enterprise": enterprise_id, "previous": previous, "how": how},
        now=now,
    )
    return True


def connected_teams(channel_info: dict[str, Any]) -> list[str]:
    """The organisations conversations.info says are in a channel: connected and shared teams
    and the host, without workspaces of the host's own Grid org (`internal_team_ids`)."""
    internal = set(channel_info.get("internal_team_ids") or [])
    teams: list[str] = []
    for key in ("connected_team_ids", "shared_team_ids"):
        for t in channel_info.get(key) or []:
            if isinstance(t, str) and t not in teams and t not in internal:
                teams.append(t)
    host = channel_info.get("conversation_host_id")
    if isinstance(host, str) and host and host not in teams:
        teams.append(host)
    return teams


def the_customer_team(engagement: Engagement, channel_info: dict[str, Any]) -> str | None:
    """The customer's team when the channel connects exactly one organisation besides the
    vendor's; None when there is none or several (then a consultant says which)."""
    others = external_teams(engagement, connected_teams(channel_info))
    return others[0] if len(others) == 1 else None
