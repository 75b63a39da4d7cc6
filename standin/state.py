"""Workspace state of the stand-in: teams, users, channels, messages, views, files, calls.

Everything here is guarded by ``Workspace.lock``; the HTTP handlers and the test thread share it.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .connect import ConnectPolicy, SharedInvite
from .notify import Notification, Silence, on_post
from .ratelimits import RateLimit, RateLimiter

_ID_ALPHABET = string.ascii_uppercase + string.digits
_BLOCK_ID_ALPHABET = string.ascii_letters + string.digits
INTERACTIVE_CONTAINERS = ("elements", "accessory", "element")


@dataclass
class StandInUser:
    """A Slack user; ``team_id`` is the user's home workspace (differs for Slack Connect guests)."""

    id: str
    name: str
    team_id: str
    real_name: str = ""
    display_name: str = ""
    tz: str = "UTC"
    email: str | None = None
    is_bot: bool = False
    is_admin: bool = False
    deleted: bool = False
    visible: bool = True
    # Enterprise Grid: the org of the user's home workspace (users.info ``enterprise_user``).
    enterprise_id: str | None = None
    # A guest of their workspace: "multi" (users.info is_restricted: a multi-channel guest) or
    # "single" (is_restricted and is_ultra_restricted: a single-channel guest). Slack's users
    # object (docs.slack.dev/reference/objects/user-object): "is_restricted indicates the user is
    # a guest user"; "is_ultra_restricted indicates that the user is a single-channel guest".
    guest: str | None = None

    def to_api(
        self, *, installing_team: str, email_visible: bool = True, shares_channel: bool = True
    ) -> dict[str, Any]:
        """The ``user`` object of ``users.info``, as the installing workspace's bot sees it.

        Slack Connect (docs.slack.dev/apis/slack-connect, "External members"): an external member's
        ``team_id`` and ``profile.team`` are their HOME workspace; ``is_stranger`` is true when the
        bot shares no channel with them; their profile carries no locale. ``email`` needs the
        ``users:read.email`` scope besides ``users:read`` (``email_visible``).
        """
        try:
            offset = datetime.now(ZoneInfo(self.tz)).utcoffset()
            tz_offset = int(offset.total_seconds()) if offset is not None else 0
        except (ZoneInfoNotFoundError, ValueError):
            tz_offset = 0
        external = self.team_id != installing_team
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.display_name,
            "display_name_normalized": self.display_name,
            "team": self.team_id,
        }
        if self.email and email_visible:
            profile["email"] = self.email
        user: dict[str, Any] = {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": tz_offset,
            "profile": profile,
            "is_admin": self.is_admin and not external,
            "is_owner": False,
            "is_restricted": self.guest in ("multi", "single"),
            "is_ultra_restricted": self.guest == "single",
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1700000000,
        }
        if external:
            user["is_stranger"] = not shares_channel
        if self.enterprise_id:
            # Enterprise Grid: the org of the user's home workspace.
            user["enterprise_user"] = {
                "id": self.id,
                "enterprise_id": self.enterprise_id,
                "enterprise_name": self.enterprise_id,
                "is_admin": False,
                "is_owner": False,
                "teams": [self.team_id],
            }
        return user


@dataclass
class Channel:
    """A conversation: public/private channel, Slack Connect channel or an IM with the bot."""

    id: str
    name: str
    team_id: str
    members: list[str] = field(default_factory=list)
    is_private: bool = False
    is_ext_shared: bool = False
    is_shared: bool = False
    is_pending_ext_shared: bool = False
    is_archived: bool = False
    is_im: bool = False
    is_mpim: bool = False
    im_user: str | None = None
    # Slack Connect: every organisation's team in the channel, the host's first.
    connected_teams: list[str] = field(default_factory=list)
    # Enterprise Grid: other workspaces of the host's own org that share the channel.
    internal_teams: list[str] = field(default_factory=list)
    created: int = field(default_factory=lambda: int(time.time()))
    # The workspace's #general (or another mandatory channel): it cannot be shared.
    is_general: bool = False
    # Who created it: the bot for a channel it made with conversations.create, else "".
    creator: str = ""

    def to_api(self, bot_user_id: str) -> dict[str, Any]:
        """The ``channel`` object of ``conversations.info``."""
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.im_user,
                "is_user_deleted": False,
                "priority": 0,
                "is_archived": False,
            }
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_general": self.is_general,
            "is_shared": self.is_shared or self.is_ext_shared,
            "is_ext_shared": self.is_ext_shared,
            "is_pending_ext_shared": self.is_pending_ext_shared,
            "is_member": bot_user_id in self.members,
            "context_team_id": self.team_id,
            **(
                {
                    "connected_team_ids": list(self.connected_teams),
                    "shared_team_ids": [t for t in self.connected_teams if t != self.team_id],
                    "conversation_host_id": self.team_id,
                }
                if self.is_ext_shared
                else {}
            ),
            "internal_team_ids": list(self.internal_teams),
            "is_org_shared": bool(self.internal_teams),
            "created": self.created,
            "creator": self.creator,
            "num_members": len(self.members),
        }


@dataclass(frozen=True)
class Call:
    """One request the stand-in answered (Web API, ``response_url`` or a view-submission answer)."""

    method: str
    args: dict[str, Any]
    response: dict[str, Any]
    status: int
    at: float


@dataclass
class FileSettings:
    """The workspace admins' file settings that refuse an upload at files.getUploadURLExternal
    (docs.slack.dev/reference/methods/files.getUploadURLExternal, Errors): all uploads turned off
    ("file_uploads_disabled: Team has disabled all file uploads"), a size limit
    ("file_upload_size_restricted: ... the team has restricted uploads of large files"), the free
    plan's storage used up ("storage_limit_reached")."""

    uploads_disabled: bool = False
    max_bytes: int | None = None
    storage_full: bool = False


@dataclass
class Fault:
    """A pending injected failure for one Web API method."""

    error: str | None
    status: int
    retry_after: int | None
    remaining: int


class Workspace:
    """All mutable state. Callers hold ``lock`` while reading or writing."""

    def __init__(
        self,
        *,
        bot_token: str,
        signing_secret: str,
        team_id: str,
        team_name: str,
        bot_user_id: str,
        bot_id: str,
        app_id: str,
        app_token: str | None,
        scopes: Iterable[str] | None = None,
        rate_limits: dict[str, RateLimit] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        # Slack's rate limits per method (standin/ratelimits.py); None or {} enforces none.
        self.rate_limiter = RateLimiter(rate_limits)
        # The bot token's granted OAuth scopes; None checks none (every method allowed).
        self.scopes: frozenset[str] | None = frozenset(scopes) if scopes is not None else None
        # The app's event subscriptions (the manifest's bot_events); None checks none.
        self.subscriptions: frozenset[str] | None = None
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.team_name = team_name
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.app_token = app_token
        self.verification_token = "standin-verification-token"
        self.enterprise_id: str | None = None  # the installing workspace's Enterprise Grid org
        self.base_url = ""  # "http://127.0.0.1:<port>", set when the server starts
        self.teams: dict[str, str] = {team_id: team_name}
        self.users: dict[str, StandInUser] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.view_stacks: dict[str, list[str]] = {}  # user -> open modal ids, root first
        self.homes: dict[str, str] = {}  # user -> home view id
        self.files: dict[str, dict[str, Any]] = {}
        self.pending_uploads: dict[str, dict[str, Any]] = {}
        self.file_settings = FileSettings()  # standin.set_file_settings
        self.calls: list[Call] = []
        # Who Slack notified of each message, and why (standin/notify.py).
        self.notifications: list[Notification] = []
        self.silences: list[Silence] = []
        self.followers: dict[tuple[str, str], set[str]] = {}  # (channel, thread ts) -> users
        self.unread: dict[tuple[str, str], list[str]] = {}  # (user, channel) -> unread message ts
        self.triggers: dict[str, dict[str, Any]] = {}
        self.response_urls: dict[str, dict[str, Any]] = {}
        self.blocked_uploads: set[str] = set()
        # People of another organisation the bot may open a DM with (standin.allow_external_dm).
        self.external_dms: set[str] = set()
        self.usergroups: dict[str, list[str]] = {}  # user group id (S…) -> its members
        self.faults: dict[str, list[Fault]] = {}
        # Slack Connect (standin/connect.py): invitations by id, the workspace's policy, and the
        # clock invitations are dated and run out by (time.time unless a test moves it).
        self.invites: dict[str, SharedInvite] = {}
        self.connect = ConnectPolicy()
        # Channel canvases (standin/api_canvases.py): canvas id -> {channel, title, sections}; the
        # pinned messages per channel; and the refusal a test sets (standin.set_canvas_refusal).
        self.canvases: dict[str, dict[str, Any]] = {}
        self.pins: dict[str, list[str]] = {}
        self.canvas_refusal: str | None = None
        self.connect_clock: Callable[[], float] = time.time
        self.latency: dict[str, float] = {}
        self.trigger_ttl = 3.0
        self.socket_url_provider: Callable[[], str] | None = None
        self._last_ts_us = 0
        self._seq = itertools.count(1)
        self.users[bot_user_id] = StandInUser(
            id=bot_user_id,
            name="golive",
            team_id=team_id,
            real_name="golive",
            display_name="golive",
            is_bot=True,
        )

    # ----- Slack Connect invitations
    def refresh_invites(self) -> None:
        """Invitations past their date_invalid before anyone accepted them run out; a channel
        whose invitations are all answered or run out is no longer ``is_pending_ext_shared``."""
        now = self.connect_clock()
        for invite in self.invites.values():
            if invite.state == "sent" and now >= invite.expires:
                invite.move("expired", now)
        for channel_id in {i.channel for i in self.invites.values()}:
            channel = self.channels.get(channel_id)
            if channel is not None and not channel.is_ext_shared:
                channel.is_pending_ext_shared = any(
                    i.pending(now) for i in self.invites.values() if i.channel == channel_id
                )

    # ----- scopes
    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    def granted(self, scope: str) -> bool:
        """Explicitly granted: for scopes that widen what a call may do (``chat:write.public``)."""
        return self.scopes is not None and scope in self.scopes

    # ----- ids and timestamps
    def next_ts(self) -> str:
        """A message ts, strictly increasing: ``"1700000000.000100"``."""
        with self.lock:
            now_us = int(time.time() * 1_000_000)
            self._last_ts_us = max(now_us, self._last_ts_us + 1)
            us = self._last_ts_us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def new_id(self, prefix: str, length: int = 10) -> str:
        """A Slack-style id such as ``F07ABCDE123``."""
        return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))

    def seq(self) -> int:
        return next(self._seq)

    def domain(self, team_id: str) -> str:
        name = self.teams.get(team_id, team_id)
        return "".join(c for c in name.lower() if c.isalnum()) or team_id.lower()

    # ----- lookups
    def find_channel(self, ref: str | None) -> Channel | None:
        """A channel by id, ``#name`` or name; a user id resolves to the bot's IM with that user."""
        if not ref:
            return None
        if ref in self.channels:
            return self.channels[ref]
        if ref in self.users:
            return self.open_im(ref)
        name = ref.lstrip("#")
        return next((c for c in self.channels.values() if c.name == name and not c.is_im), None)

    def open_im(self, user_id: str) -> Channel:
        for channel in self.channels.values():
            if channel.is_im and channel.im_user == user_id:
                return channel
        channel_id = self.new_id("D")
        channel = Channel(
            id=channel_id,
            name=channel_id,
            team_id=self.team_id,
            members=[self.bot_user_id, user_id],
            is_im=True,
            im_user=user_id,
        )
        self.channels[channel_id] = channel
        self.messages.setdefault(channel_id, [])
        return channel

    def find_message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        return next(
            (m for m in self.messages.get(channel_id, []) if m["ts"] == ts and not m["deleted"]), None
        )

    # ----- messages
    def store_message(
        self,
        channel: Channel,
        *,
        text: str,
        blocks: list[Any] | None,
        thread_ts: str | None = None,
        extra: dict[str, Any] | None = None,
        user: str | None = None,
    ) -> dict[str, Any]:
        """Store a new message (the bot's, or ``user``'s) and notify as Slack would."""
        ts = self.next_ts()
        poster = user or self.bot_user_id
        by_bot = poster == self.bot_user_id
        record: dict[str, Any] = {
            "ts": ts,
            "channel": channel.id,
            "user": poster,
            "bot_id": self.bot_id if by_bot else None,
            "app_id": self.app_id if by_bot else None,
            "team": self.team_id if by_bot else self.users[poster].team_id,
            "text": text,
            "blocks": copy.deepcopy(blocks or []),
            "thread_ts": thread_ts,
            "edited": False,
            "versions": [],
            "deleted": False,
        }
        if extra:
            record.update(extra)
        self.messages.setdefault(channel.id, []).append(record)
        on_post(self, channel, record)
        return record

    def replies_to(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """The replies in the thread of a top-level message, oldest first (not deleted ones)."""
        return [
            m
            for m in self.messages.get(record["channel"], [])
            if m.get("thread_ts") == record["ts"] and m["ts"] != record["ts"] and not m["deleted"]
        ]

    def _parent_user(self, record: dict[str, Any]) -> str:
        parent = self.find_message(record["channel"], record["thread_ts"])
        return str(parent["user"]) if parent is not None else record["user"]

    @staticmethod
    def filled_blocks(record: dict[str, Any]) -> list[Any]:
        """A message's blocks as Slack serves them: missing block_id/action_id generated (stable per version)."""
        return fill_ids(
            record["blocks"], seed=f"{record['channel']}:{record['ts']}:{len(record['versions'])}"
        )

    def slack_message(self, record: dict[str, Any]) -> dict[str, Any]:
        """A stored message in the shape Slack's API and payloads use."""
        msg: dict[str, Any] = {
            "type": "message",
            "user": record["user"],
            "bot_id": record["bot_id"],
            "app_id": record["app_id"],
            "team": record["team"],
            "text": record["text"],
            "ts": record["ts"],
            "blocks": self.filled_blocks(record),
            "bot_profile": {
                "id": record["bot_id"],
                "app_id": record["app_id"],
                "name": "golive",
                "team_id": record["team"],
                "deleted": False,
            },
        }
        if not record["bot_id"]:  # a person's message
            for key in ("bot_id", "app_id", "bot_profile"):
                msg.pop(key)
        if record.get("reply_broadcast"):
            msg["subtype"] = "thread_broadcast"
        if record.get("thread_ts"):
            msg["thread_ts"] = record["thread_ts"]
            if record["thread_ts"] != record["ts"]:
                msg["parent_user_id"] = self._parent_user(record)
        else:
            replies = self.replies_to(record)
            if replies:
                # A parent message, as Slack serves it once its thread has replies.
                msg["thread_ts"] = record["ts"]
                msg["reply_count"] = len(replies)
                msg["reply_users"] = sorted({r["user"] for r in replies})
                msg["latest_reply"] = replies[-1]["ts"]
        if record["edited"]:
            msg["edited"] = {"user": record["user"], "ts": record.get("edited_ts", record["ts"])}
        for key in ("metadata", "files"):
            if record.get(key):
                msg[key] = copy.deepcopy(record[key])
        return msg

    # ----- triggers and response urls
    def issue_trigger(self, user: str) -> str:
        trigger_id = f"{int(time.time())}.{self.seq()}.{secrets.token_hex(16)}"
        with self.lock:
            self.triggers[trigger_id] = {"issued_at": time.monotonic(), "user": user, "used": False}
        return trigger_id

    def check_trigger(self, trigger_id: str | None) -> str | None:
        """The error for a views.open/views.push ``trigger_id``, or None (and mark it used)."""
        if not trigger_id:
            return "invalid_arguments"
        trigger = self.triggers.get(trigger_id)
        if trigger is None:
            return "invalid_trigger_id"
        if time.monotonic() - trigger["issued_at"] > self.trigger_ttl:
            return "expired_trigger_id"
        if trigger["used"]:
            return "exchanged_trigger_id"
        trigger["used"] = True
        return None

    def issue_response_url(self, *, channel: str | None, user: str, source_ts: str | None = None) -> str:
        url_id = secrets.token_hex(12)
        with self.lock:
            self.response_urls[url_id] = {
                "channel": channel,
                "user": user,
                "source_ts": source_ts,
                "uses": 0,
                "created": time.monotonic(),
            }
        return f"{self.base_url}/response/{url_id}"


def _short_id(seed: str) -> str:
    digest = hashlib.sha1(seed.encode()).digest()
    return "".join(_BLOCK_ID_ALPHABET[b % len(_BLOCK_ID_ALPHABET)] for b in digest[:5])


def fill_ids(blocks: list[Any] | None, *, seed: str) -> list[Any]:
    """Copy of ``blocks`` with a ``block_id`` on every block and an ``action_id`` on every interactive
    element, generated as Slack does when the app leaves them out (deterministic per ``seed``)."""
    out = copy.deepcopy(blocks or [])
    for i, block in enumerate(out):
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", _short_id(f"{seed}:{i}"))
        if block.get("type") == "context":
            continue
        for j, element in enumerate(iter_elements(block)):
            if element.get("type") not in ("image", "mrkdwn", "plain_text"):
                element.setdefault("action_id", _short_id(f"{seed}:{i}:{j}"))
    return out


def iter_elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    """Interactive element dicts of a block: actions elements, a section accessory, an input element."""
    found: list[dict[str, Any]] = []
    for key in INTERACTIVE_CONTAINERS:
        value = block.get(key)
        if isinstance(value, dict):
            found.append(value)
        elif isinstance(value, list) and block.get("type") == "actions":
            found.extend(v for v in value if isinstance(v, dict))
    return found
