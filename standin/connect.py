"""Slack Connect invitations in the stand-in: the invite record, the workspace's Connect policy and
the objects Slack's invite events carry.

An invitation (``conversations.inviteShared``, standin/api_connect.py) lives 14 days: Slack's
events carry ``date_created`` and ``date_invalid`` fourteen days apart (a real
``shared_channel_invite_accepted``: 1691636185 → 1692845785), and Slack's help says Slack
Connect invitations expire after 14 days. Its states:

``sent``      the bot sent it; nobody has answered yet;
``accepted``  someone of the other organisation accepted it: they are in the channel (``joined``)
              unless an admin must still approve it (``approval_required``, ``awaiting_approval``);
``approved``  accepted, then approved by an admin: the person is in the channel;
``declined``  the recipient or an admin declined it;
``expired``   ``date_invalid`` passed before anyone accepted it.

The lifecycle is driven by tests through ``SlackDriver.accept_invite``, ``approve_invite`` and
``decline_invite`` (standin/driver_connect.py); a test makes an invite run out with
``SlackStandIn.expire_invite`` or by moving the stand-in's Connect clock (``set_connect_clock``).

The event objects follow Slack's reference (docs.slack.dev/reference/events/
shared_channel_invite_accepted, _approved, _declined) and a payload Slack really sent (an
``inviting_user`` that is a bot has a ``botuser-…@slack-bots.com`` email).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INVITE_LIFETIME = 14 * 24 * 3600
INVITE_STATES = ("sent", "accepted", "approved", "declined", "expired")
# "A shared channel can hold up to 250 organisations" (Slack Connect limits), the host included.
MAX_ORGANISATIONS = 250


@dataclass
class SharedInvite:
    """One Slack Connect invitation the bot sent with ``conversations.inviteShared``."""

    id: str
    channel: str
    inviting_user: str
    created: int
    expires: int  # date_invalid
    email: str | None = None
    user_id: str | None = None  # an invitation by ``user_ids``
    external_limited: bool = True
    state: str = "sent"
    # Filled in as the invitation goes on.
    accepted_by: str | None = None
    accepting_team: str | None = None
    approval_required: bool = False
    approved_by: str | None = None
    approving_team: str | None = None
    declined_by: str | None = None
    declining_team: str | None = None
    joined: bool = False  # the accepting person is in the channel
    history: list[tuple[str, int]] = field(default_factory=list)  # (state, when)

    @property
    def date_invalid(self) -> int:
        return self.expires

    @property
    def awaiting_approval(self) -> bool:
        return self.state == "accepted" and self.approval_required and not self.joined

    def pending(self, now: float) -> bool:
        """Still waiting for someone: sent and not run out, or accepted and awaiting approval."""
        return (self.state == "sent" and now < self.expires) or self.awaiting_approval

    def move(self, state: str, now: float) -> None:
        if state not in INVITE_STATES:
            raise ValueError(f"unknown invite state {state!r}")
        self.state = state
        self.history.append((state, int(now)))


@dataclass
class ConnectPolicy:
    """What the vendor's workspace lets the bot do with Slack Connect (``SlackStandIn.set_connect_policy``).

    ``refusal``: an error every ``conversations.inviteShared`` answers once its arguments are
    valid, e.g. ``not_paid`` ("This feature is only available to paid teams"),
    ``restricted_action`` ("A team preference does not allow this authorization to send
    invites"), ``not_allowed_for_grid_workspace``; None: none.

    ``full_invites_allowed``: False when the admins do not allow invitations "with permission to
    post, invite, and more": ``external_limited=false`` then answers ``restricted_action``, as the
    method's page documents. ``limited_invites_allowed``: the same for "post only" invitations.

    ``channel_creation_allowed``: False when a workspace preference keeps the bot from creating
    channels (``conversations.create`` answers ``restricted_action``).

    ``max_organisations``: how many organisations a channel may connect, the host included
    (``connection_limit_exceeded`` beyond it).
    """

    refusal: str | None = None
    full_invites_allowed: bool = True
    limited_invites_allowed: bool = True
    channel_creation_allowed: bool = True
    max_organisations: int = MAX_ORGANISATIONS


def team_object(team_id: str, name: str, domain: str, created: int = 1480946400) -> dict[str, Any]:
    """A team as the invite events carry it (``inviting_team``, ``teams_in_channel``)."""
    return {
        "id": team_id,
        "name": name,
        "icon": {"image_default": True},
        "is_verified": False,
        "domain": domain,
        "date_created": created,
    }


def user_object(
    *,
    user_id: str,
    team_id: str,
    name: str,
    real_name: str,
    display_name: str,
    email: str | None,
) -> dict[str, Any]:
    """A user as the invite events carry it (``inviting_user``, ``accepting_user``…)."""
    profile: dict[str, Any] = {
        "real_name": real_name,
        "display_name": display_name,
        "real_name_normalized": real_name,
        "display_name_normalized": display_name,
        "team": team_id,
        "avatar_hash": "g000000000000",
    }
    if email:
        profile["email"] = email
    return {
        "id": user_id,
        "team_id": team_id,
        "name": name,
        "updated": 1700000000,
        "who_can_share_contact_card": "EVERYONE",
        "profile": profile,
    }
