"""Web API methods that make a customer's channel: conversations.create, conversations.invite and
conversations.inviteShared (Slack Connect).

Each follows its page on docs.slack.dev/reference/methods, and is stricter than Slack where the
page leaves a gap:

``conversations.create`` (Tier 2; bot scope ``channels:manage``, ``groups:write`` for
``is_private``): "Channel names may only contain lowercase letters, numbers, hyphens, and
underscores, and must be 80 characters or less" — ``invalid_name_required`` (empty),
``invalid_name_maxlength`` (over 80), ``invalid_name_punctuation`` (nothing but ``-`` and
``_``), ``invalid_name_specials`` (anything else: upper case, spaces, ``#``, ``.``, and, stricter
than Slack may be, any letter outside a-z); ``name_taken`` when any conversation of the workspace
already has the name, archived or private ones included; ``restricted_action`` when a workspace
preference forbids it (``SlackStandIn.set_connect_policy(channel_creation_allowed=False)``).
``team_id`` matters only to org-level tokens and is ignored. The answer is the channel object;
the bot is a member of the channel it creates, which is neither shared nor pending.

``conversations.invite`` (Tier 3; ``channels:manage`` or ``channels:write.invites`` for a public
channel, ``groups:write`` or ``groups:write.invites`` for a private one): ``users`` is a comma
separated list, "Up to 100 users may be listed" (its argument; the usage text says 1-1000, the
stand-in takes the smaller: ``too_many_users`` beyond, a code Slack does not document).
``channel_not_found``, ``method_not_supported_for_channel_type`` (a DM), ``is_archived``,
``not_in_channel`` (the bot must be a member), ``no_user``; per user ``user_not_found``,
``cant_invite_self``, ``already_in_channel``, ``ura_max_channels`` (a single-channel guest
already in a channel) and, for a person of another organisation (who joins through
``conversations.inviteShared``, never this method, in the stand-in), ``no_external_invite_permission``
when the channel already connects their organisation and ``cant_invite`` when it does not.
"Users who can be successfully invited ... will not be invited if any of the user invites
fail": one failure refuses the call (``error`` the first failure, ``errors`` one entry per user,
as the page's example) unless ``force``; people already in the channel are no failure when
others are added (Slack answers ok with them in ``errors``), and only all of them already in is
``already_in_channel``. Slack sends ``member_joined_channel`` for each person added: the
stand-in serves the Web API only, so a test sends that event with the driver if the bot needs it.

``conversations.inviteShared`` (Tier 2; ``conversations.connect:write``): ``emails`` or
``user_ids`` (arrays, or comma separated), "only one email or one user ID may be invited at a
time" — ``too_many_emails`` for more emails, ``invalid_arguments`` for more user ids or both
arguments, ``recipients_not_specified`` ("Bots are required to specify which users to invite")
for neither. ``channel_not_found``, ``invalid_channel_type`` (a DM), ``channel_archived``,
``not_in_channel``, ``cannot_share_mandatory_channel`` (#general), ``cannot_share_cross_workspace_channel``
(an org-wide channel), ``not_owner`` (a channel another organisation hosts), ``invalid_email``,
``user_not_found`` (an unknown user id, or one whose organisation shares no channel with the
vendor: "The invited user must be known to your app"), ``already_in_channel``,
``connection_limit_exceeded`` (the channel already connects ``max_organisations``), and the
workspace's refusals (``SlackStandIn.set_connect_refusal``: ``not_paid``, ``restricted_action``…;
``restricted_action`` also for an invitation type the admins do not allow, e.g.
``external_limited=false`` under ``set_connect_policy(full_invites_allowed=False)``).
``external_limited`` defaults to true. The answer is ``{"ok": true, "invite_id": "I…",
"is_legacy_shared_channel": false}``, with ``conf_code`` and ``url`` for an email invitation
that is not ``external_limited``. The invitation is recorded (``SlackStandIn.invites``) for 14
days; a channel not yet shared becomes ``is_pending_ext_shared`` until someone joins.
"""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

from .api_common import ApiError, ApiRequest, bool_arg, method, require_scope, str_arg
from .connect import INVITE_LIFETIME, SharedInvite
from .state import Channel, Workspace

MAX_NAME = 80
_NAME_CHARS = frozenset(string.ascii_lowercase + string.digits + "-_")
MAX_INVITE_USERS = 100
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


def _any_scope(ws: Workspace, scopes: tuple[str, ...]) -> None:
    """Slack's ``missing_scope`` unless the token holds one of ``scopes`` (``needed``: the first)."""
    if not any(ws.has_scope(s) for s in scopes):
        require_scope(ws, scopes[0])


def check_channel_name(name: str | None) -> str:
    """The name, or the ``invalid_name_*`` error conversations.create answers."""
    if not name:
        raise ApiError("invalid_name_required")
    if len(name) > MAX_NAME:
        raise ApiError("invalid_name_maxlength")
    if all(c in string.punctuation for c in name):
        raise ApiError("invalid_name_punctuation")
    if any(c not in _NAME_CHARS for c in name):
        raise ApiError("invalid_name_specials")
    return name


def created_channel_object(ws: Workspace, channel: Channel) -> dict[str, Any]:
    """The channel object conversations.create answers (its page's example, fields and all)."""
    return {
        **channel.to_api(ws.bot_user_id),
        "unlinked": 0,
        "pending_shared": [],
        "last_read": "0000000000.000000",
        "latest": None,
        "unread_count": 0,
        "unread_count_display": 0,
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
        "previous_names": [],
        "priority": 0,
    }


@method("conversations.create")
def conversations_create(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    private = bool_arg(req.args, "is_private")
    require_scope(ws, "groups:write" if private else "channels:manage")
    name = check_channel_name(str_arg(req.args, "name"))
    if not ws.connect.channel_creation_allowed:
        raise ApiError("restricted_action")
    if any(c.name == name for c in ws.channels.values() if not c.is_im):
        raise ApiError("name_taken")
    channel = Channel(
        id=ws.new_id("C"),
        name=name,
        team_id=ws.team_id,
        members=[ws.bot_user_id],
        is_private=private,
        creator=ws.bot_user_id,
    )
    ws.channels[channel.id] = channel
    ws.messages.setdefault(channel.id, [])
    return {"ok": True, "channel": created_channel_object(ws, channel)}


def _listed(value: Any) -> list[str]:
    """An array argument: a JSON list, or a comma separated string (what slack_sdk sends)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(v).strip() for v in items if str(v).strip()]


def _same_organisation(ws: Workspace, user_id: str) -> bool:
    user = ws.users[user_id]
    return user.team_id == ws.team_id or (
        ws.enterprise_id is not None and user.enterprise_id == ws.enterprise_id
    )


def _invite_failure(ws: Workspace, channel: Channel, user_id: str) -> str | None:
    """Why one person cannot be added to the channel, or None."""
    user = ws.users.get(user_id)
    if user is None or user.deleted:
        return "user_not_found"
    if user_id == ws.bot_user_id:
        return "cant_invite_self"
    if user_id in channel.members:
        return "already_in_channel"
    if not _same_organisation(ws, user_id):
        connected = user.team_id in channel.connected_teams
        return "no_external_invite_permission" if connected else "cant_invite"
    if user.guest == "single" and any(user_id in c.members for c in ws.channels.values() if not c.is_im):
        return "ura_max_channels"
    return None


@method("conversations.invite")
def conversations_invite(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = ws.channels.get(str_arg(req.args, "channel") or "")
    if channel is None or (channel.is_private and ws.bot_user_id not in channel.members):
        raise ApiError("channel_not_found")
    if channel.is_im or channel.is_mpim:
        raise ApiError("method_not_supported_for_channel_type")
    if channel.is_private:
        _any_scope(ws, ("groups:write", "groups:write.invites"))
    else:
        _any_scope(ws, ("channels:manage", "channels:write.invites"))
    if channel.is_archived:
        raise ApiError("is_archived")
    if ws.bot_user_id not in channel.members:
        raise ApiError("not_in_channel")
    users = list(dict.fromkeys(_listed(req.args.get("users"))))
    if not users:
        raise ApiError("no_user")
    if len(users) > MAX_INVITE_USERS:
        raise ApiError("too_many_users", detail=f"Up to {MAX_INVITE_USERS} users may be listed")
    failures = {u: f for u in users if (f := _invite_failure(ws, channel, u)) is not None}
    errors = [{"user": u, "ok": False, "error": f} for u, f in failures.items()]
    addable = [u for u in users if u not in failures]
    hard = [f for f in failures.values() if f != "already_in_channel"]
    if not addable:
        raise ApiError(hard[0] if hard else "already_in_channel", errors=errors)
    if hard and not bool_arg(req.args, "force"):
        raise ApiError(hard[0], errors=errors)
    channel.members.extend(addable)
    body: dict[str, Any] = {"ok": True, "channel": channel.to_api(ws.bot_user_id)}
    if errors:
        body["errors"] = errors
    return body


def _shareable(ws: Workspace, ref: str | None) -> Channel:
    """The channel conversations.inviteShared may share, or the error it answers."""
    channel = ws.channels.get(ref or "")
    if channel is None or ((channel.is_private or channel.is_mpim) and ws.bot_user_id not in channel.members):
        raise ApiError("channel_not_found")
    if channel.is_im or channel.is_mpim:
        raise ApiError("invalid_channel_type")
    if channel.is_archived:
        raise ApiError("channel_archived")
    if ws.bot_user_id not in channel.members:
        raise ApiError("not_in_channel")
    if channel.is_general:
        raise ApiError("cannot_share_mandatory_channel")
    if channel.internal_teams:
        raise ApiError("cannot_share_cross_workspace_channel")
    if channel.team_id != ws.team_id:
        raise ApiError("not_owner")
    return channel


def _known_to_app(ws: Workspace, team_id: str) -> bool:
    """ "The invited user must be known to your app (i.e., a channel is already shared between the
    organization your app is installed on and the organization of the user)"."""
    return any(team_id in c.connected_teams for c in ws.channels.values())


def _recipient(ws: Workspace, channel: Channel, args: dict[str, Any]) -> tuple[str | None, str | None]:
    """(email, user id) of the one person invited, or the error Slack answers."""
    emails, user_ids = _listed(args.get("emails")), _listed(args.get("user_ids"))
    if not emails and not user_ids:
        raise ApiError("recipients_not_specified")
    if emails and user_ids:
        raise ApiError("invalid_arguments", detail="either emails or user_ids, one invitee per call")
    if len(emails) > 1:
        raise ApiError("too_many_emails")
    if len(user_ids) > 1:
        raise ApiError("invalid_arguments", detail="only one user ID may be invited at a time")
    if emails:
        email = emails[0]
        if not _EMAIL.match(email):
            raise ApiError("invalid_email")
        if any(ws.users[m].email == email for m in channel.members if m in ws.users):
            raise ApiError("already_in_channel")
        return email, None
    user = ws.users.get(user_ids[0])
    if user is None or user.deleted:
        raise ApiError("user_not_found")
    if user.id in channel.members:
        raise ApiError("already_in_channel")
    if _same_organisation(ws, user.id):
        raise ApiError("invalid_arguments", detail="people of the workspace join with conversations.invite")
    if not _known_to_app(ws, user.team_id):
        raise ApiError("user_not_found")
    return None, user.id


@method("conversations.inviteShared", scope="conversations.connect:write")
def conversations_invite_shared(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = _shareable(ws, str_arg(req.args, "channel"))
    email, user_id = _recipient(ws, channel, req.args)
    limited = bool_arg(req.args, "external_limited", default=True)
    policy = ws.connect
    if policy.refusal:
        raise ApiError(policy.refusal)
    if not (policy.limited_invites_allowed if limited else policy.full_invites_allowed):
        raise ApiError("restricted_action")
    recipient_team = ws.users[user_id].team_id if user_id else None
    if (
        len(channel.connected_teams) >= policy.max_organisations
        and recipient_team not in channel.connected_teams
    ):
        raise ApiError("connection_limit_exceeded")
    now = int(ws.connect_clock())
    invite = SharedInvite(
        id=ws.new_id("I"),
        channel=channel.id,
        inviting_user=ws.bot_user_id,
        created=now,
        expires=now + INVITE_LIFETIME,
        email=email,
        user_id=user_id,
        external_limited=limited,
        history=[("sent", now)],
    )
    ws.invites[invite.id] = invite
    if not channel.is_ext_shared:
        channel.is_pending_ext_shared = True
    body: dict[str, Any] = {"ok": True, "invite_id": invite.id, "is_legacy_shared_channel": False}
    if email and not limited:
        # "When external_limited=true, the conf_code and url fields are not returned".
        code = secrets.token_hex(6)
        body.update(conf_code=code, url=f"https://join.slack.com/share/{invite.id.lower()}-{code}")
    return body
