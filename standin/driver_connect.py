"""Slack Connect side of ``SlackDriver``: the other organisation answers the bot's invitations.

An invitation the bot sent with ``conversations.inviteShared`` goes on as Slack's does, and Slack's
events reach the bot as signed Events API requests:

``accept_invite(invite_id, user, …)``
    Someone of the customer's organisation accepts: ``shared_channel_invite_accepted``. Unless an
    admin must approve (``approval_required=True``) they then join: the first time their
    organisation connects the channel becomes ``is_ext_shared`` with it and ``channel_shared``
    follows; then they are a member and ``member_joined_channel`` follows (``team``: their home
    workspace).
``approve_invite(invite_id, …)``
    An admin approves an accepted invitation: ``shared_channel_invite_approved``, then the join as
    above.
``decline_invite(invite_id, …)``
    The recipient or an admin declines: ``shared_channel_invite_declined``.

An invitation past its date_invalid (``SlackStandIn.expire_invite``, ``set_connect_clock``)
cannot be accepted: ``InviteError``, as anything Slack's own screens would not let a person do.

Slack sends an event only to an app that may receive it. When the stand-in checks scopes (a test
gave it the manifest's), an event the bot's scopes do not cover is withheld, and the
``Delivery`` says which scope was missing: the invite events need ``conversations.connect:read``
("Receive Slack Connect invite events sent to the channels your slack app is in", the Slack
Connect API reference; the events' own pages say "No scopes required", the stand-in takes the
strict reading), ``channel_shared`` and ``member_joined_channel`` need ``channels:read`` (a public
channel) or ``groups:read`` (a private one). Whether the app subscribed to an event is the
manifest's business: the stand-in does not read it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .connect import SharedInvite, team_object, user_object
from .driver_events import EventsMixin
from .state import Channel, StandInUser

if TYPE_CHECKING:
    from .driver import DriverResponse

CONNECT_READ = "conversations.connect:read"


class InviteError(ValueError):
    """An answer to an invitation Slack would not take (expired, already answered, wrong person)."""


@dataclass(frozen=True)
class Delivery:
    """One event Slack sends the bot, and the bot's answer; ``response`` is None when Slack would
    not send it (``withheld``: the scope the bot lacks)."""

    type: str
    event: dict[str, Any]
    response: DriverResponse | None
    withheld: str | None = None


class ConnectMixin(EventsMixin):
    """Slack Connect invitations answered by the other organisation; mixed into ``SlackDriver``."""

    # ----- the objects the events carry
    def _team(self, team_id: str) -> dict[str, Any]:
        return team_object(team_id, self.ws.teams.get(team_id, team_id), self.ws.domain(team_id))

    def _user(self, user_id: str) -> dict[str, Any]:
        ws = self.ws
        user = ws.users[user_id]
        email = user.email
        if user_id == ws.bot_user_id:
            email = f"botuser-{ws.team_id}-{ws.bot_id}@slack-bots.com"
        return user_object(
            user_id=user.id,
            team_id=user.team_id,
            name=user.name,
            real_name=user.real_name,
            display_name=user.display_name,
            email=email,
        )

    def _invite_object(self, invite: SharedInvite) -> dict[str, Any]:
        found: dict[str, Any] = {
            "id": invite.id,
            "date_created": invite.created,
            "date_invalid": invite.expires,
            "inviting_team": self._team(self.ws.team_id),
            "inviting_user": self._user(invite.inviting_user),
        }
        if invite.email:
            found["recipient_email"] = invite.email
        if invite.user_id:
            found["recipient_user_id"] = invite.user_id
        return found

    @staticmethod
    def _channel_object(channel: Channel) -> dict[str, Any]:
        return {"id": channel.id, "is_private": channel.is_private, "is_im": False, "name": channel.name}

    def _teams_in_channel(self, channel: Channel, joining: str | None = None) -> list[dict[str, Any]]:
        teams = list(channel.connected_teams) if channel.is_ext_shared else [channel.team_id]
        if joining and joining not in teams:
            teams.append(joining)
        return [self._team(t) for t in teams]

    # ----- who answers
    def _outsider(self, user: str, team_id: str | None, name: str | None, email: str | None) -> StandInUser:
        """A person of another organisation: a known one (a customer persona), or a new one of
        ``team_id`` who signs in to answer the invitation (then known to users.info)."""
        ws = self.ws
        found = ws.users.get(user)
        if found is None:
            if not team_id:
                raise InviteError(
                    f"{user} is unknown to the stand-in: give the team_id of their organisation"
                )
            local = (email or user).split("@", 1)[0]
            found = StandInUser(
                id=user,
                name=name or local,
                team_id=team_id,
                real_name=name or local,
                display_name=name or local,
                email=email,
            )
            ws.teams.setdefault(team_id, team_id)
            ws.users[user] = found
        elif team_id and found.team_id != team_id:
            raise InviteError(f"{user} belongs to {found.team_id}, not {team_id}")
        if found.team_id == ws.team_id or (ws.enterprise_id and found.enterprise_id == ws.enterprise_id):
            raise InviteError(
                f"{user} is of the vendor's own organisation; Slack Connect invites another one"
            )
        return found

    def _approver(self, user: str | None, team_id: str) -> StandInUser:
        """Who approves for ``team_id``: ``user``, else the team's first admin, else its first person."""
        ws = self.ws
        if user is not None:
            if user not in ws.users:
                raise InviteError(f"unknown user {user!r}")
            if ws.users[user].team_id != team_id:
                raise InviteError(f"{user} belongs to {ws.users[user].team_id}, not {team_id}")
            return ws.users[user]
        people = [u for u in ws.users.values() if u.team_id == team_id and not u.is_bot]
        people.sort(key=lambda u: not u.is_admin)
        if not people:
            raise InviteError(f"nobody of {team_id} is known to the stand-in: add_user one or pass user=")
        return people[0]

    def _invite(self, invite_id: str) -> SharedInvite:
        self.ws.refresh_invites()
        invite = self.ws.invites.get(invite_id)
        if invite is None:
            raise KeyError(f"unknown invite {invite_id!r}")
        return invite

    # ----- sending
    def _deliver(self, event: dict[str, Any], scope: str) -> Delivery:
        event["event_ts"] = f"{time.time():.6f}"
        with self.ws.lock:
            withheld = scope if self.ws.scopes is not None and not self.ws.has_scope(scope) else None
        if withheld:
            return Delivery(event["type"], event, None, withheld)
        return Delivery(event["type"], event, self.event(event))

    @staticmethod
    def _read_scope(channel: Channel) -> str:
        return "groups:read" if channel.is_private else "channels:read"

    def _join(self, invite_id: str) -> list[Delivery]:
        """The accepting person joins: channel_shared when their organisation is new to the
        channel, then member_joined_channel."""
        with self.ws.lock:
            ws = self.ws
            invite = ws.invites[invite_id]
            channel = ws.channels[invite.channel]
            person = ws.users[str(invite.accepted_by)]
            first = person.team_id not in channel.connected_teams
            if first:
                channel.is_ext_shared = channel.is_shared = True
                if not channel.connected_teams:
                    channel.connected_teams.append(channel.team_id)
                channel.connected_teams.append(person.team_id)
            channel.is_pending_ext_shared = False
            if person.id not in channel.members:
                channel.members.append(person.id)
            invite.joined = True
            scope = self._read_scope(channel)
            events: list[dict[str, Any]] = []
            if first:
                events.append(
                    {"type": "channel_shared", "connected_team_id": person.team_id, "channel": channel.id}
                )
            events.append(
                {
                    "type": "member_joined_channel",
                    "user": person.id,
                    "channel": channel.id,
                    "channel_type": "G" if channel.is_private else "C",
                    "team": person.team_id,
                }
            )
        return [self._deliver(e, scope) for e in events]

    # ----- the lifecycle
    def accept_invite(
        self,
        invite_id: str,
        user: str,
        *,
        team_id: str | None = None,
        name: str | None = None,
        approval_required: bool = False,
    ) -> list[Delivery]:
        """``user`` (a known person of another organisation, or a new one of ``team_id`` named
        ``name``) accepts the invitation. Returns the events sent, in order:
        shared_channel_invite_accepted, then — unless ``approval_required`` — channel_shared (the
        first time their organisation connects) and member_joined_channel."""
        with self.ws.lock:
            invite = self._invite(invite_id)
            if invite.state == "expired":
                raise InviteError(f"invite {invite_id} ran out at {invite.expires}: it cannot be accepted")
            if invite.state != "sent":
                raise InviteError(f"invite {invite_id} is {invite.state}, not waiting for an answer")
            person = self._outsider(user, team_id, name, invite.email)
            if invite.user_id and invite.user_id != person.id:
                raise InviteError(f"invite {invite_id} is for {invite.user_id}, not {person.id}")
            channel = self.ws.channels[invite.channel]
            invite.accepted_by, invite.accepting_team = person.id, person.team_id
            invite.approval_required = approval_required
            invite.move("accepted", self.ws.connect_clock())
            event = {
                "type": "shared_channel_invite_accepted",
                "approval_required": approval_required,
                "invite": self._invite_object(invite),
                "channel": self._channel_object(channel),
                "teams_in_channel": self._teams_in_channel(channel, person.team_id),
                "accepting_user": self._user(person.id),
            }
        deliveries = [self._deliver(event, CONNECT_READ)]
        if not approval_required:
            deliveries += self._join(invite_id)
        return deliveries

    def approve_invite(
        self, invite_id: str, *, approving_team_id: str | None = None, user: str | None = None
    ) -> list[Delivery]:
        """An admin of ``approving_team_id`` (default: the vendor's workspace; ``user``: who, else
        the team's first admin) approves an accepted invitation that awaits approval:
        shared_channel_invite_approved, then channel_shared (first time) and member_joined_channel."""
        with self.ws.lock:
            invite = self._invite(invite_id)
            if not invite.awaiting_approval:
                raise InviteError(f"invite {invite_id} is {invite.state} and awaits no approval")
            team = approving_team_id or (
                self.ws.users[user].team_id if user in self.ws.users else self.ws.team_id
            )
            approver = self._approver(user, team)
            channel = self.ws.channels[invite.channel]
            invite.approved_by, invite.approving_team = approver.id, team
            invite.move("approved", self.ws.connect_clock())
            event = {
                "type": "shared_channel_invite_approved",
                "invite": self._invite_object(invite),
                "channel": self._channel_object(channel),
                "approving_team_id": team,
                "teams_in_channel": self._teams_in_channel(channel, invite.accepting_team),
                "approving_user": self._user(approver.id),
            }
        return [self._deliver(event, CONNECT_READ), *self._join(invite_id)]

    def decline_invite(
        self,
        invite_id: str,
        user: str | None = None,
        *,
        team_id: str | None = None,
        name: str | None = None,
    ) -> list[Delivery]:
        """The invitation is declined — by ``user`` (a known person, or a new one of ``team_id``),
        by default by whoever accepted it (an admin then refused the approval) or the person a
        ``user_ids`` invitation named: shared_channel_invite_declined."""
        with self.ws.lock:
            invite = self._invite(invite_id)
            if not (invite.state == "sent" or invite.awaiting_approval):
                raise InviteError(f"invite {invite_id} is {invite.state}: there is nothing left to decline")
            ws = self.ws
            who = user or invite.accepted_by or invite.user_id
            if who is None:
                raise InviteError(f"say who declines {invite_id}: user= (and team_id= for someone new)")
            if who in ws.users and ws.users[who].team_id == ws.team_id:
                decliner = ws.users[who]  # an admin of the vendor's workspace
            else:
                decliner = self._outsider(who, team_id, name, invite.email)
            channel = ws.channels[invite.channel]
            invite.declined_by, invite.declining_team = decliner.id, decliner.team_id
            invite.move("declined", ws.connect_clock())
            ws.refresh_invites()
            event = {
                "type": "shared_channel_invite_declined",
                "invite": self._invite_object(invite),
                "channel": self._channel_object(channel),
                "declining_team_id": decliner.team_id,
                "teams_in_channel": self._teams_in_channel(channel),
                "declining_user": self._user(decliner.id),
            }
        return [self._deliver(event, CONNECT_READ)]
