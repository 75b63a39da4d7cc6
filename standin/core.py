"""``SlackStandIn``: Slack's side of the wire on loopback, with queryable state."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .api_common import VALIDATION_ERRORS
from .connect import ConnectPolicy, SharedInvite
from .notify import Notification, Silence
from .payloads import command_payload
from .ratelimits import SLACK_RATE_LIMITS, RateLimit
from .server import StandInHTTPServer
from .socket_mode import SocketModeServer
from .state import Call, Channel, Fault, FileSettings, StandInUser, Workspace

T = TypeVar("T")


class SlackStandIn:
    """A fake Slack workspace serving the Web API at :attr:`api_url` (a ``WebClient`` base_url)."""

    def __init__(
        self,
        bot_token: str = "xoxb-test",
        signing_secret: str = "secret",
        team_id: str = "T0VENDOR",
        team_name: str = "Vendor Inc",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0GOLIVE",
        app_token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        scopes: Iterable[str] | None = None,
        rate_limits: dict[str, RateLimit] | None = SLACK_RATE_LIMITS,
    ) -> None:
        """``scopes``: the bot token's granted OAuth scopes (e.g. the app manifest's). Every Web API
        method is then checked against the scope Slack documents for it and answers
        ``missing_scope`` without it; ``None`` checks no scopes.

        ``rate_limits``: Slack's rate limits per method (by default ``SLACK_RATE_LIMITS``: Tier 3
        for chat.update, about one post a second per channel); a call over its limit answers 429
        ``ratelimited`` with Retry-After, as Slack does. ``None`` enforces none."""
        self.ws = Workspace(
            bot_token=bot_token,
            signing_secret=signing_secret,
            team_id=team_id,
            team_name=team_name,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            app_id=app_id,
            app_token=app_token,
            scopes=scopes,
            rate_limits=rate_limits,
        )
        self.host = host
        self._port = port
        self._httpd: StandInHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._socket = SocketModeServer(self.ws, host)
        self.ws.socket_url_provider = self._socket.url

    # ----- identity
    bot_token = property(lambda self: self.ws.bot_token)
    signing_secret = property(lambda self: self.ws.signing_secret)
    team_id = property(lambda self: self.ws.team_id)
    team_name = property(lambda self: self.ws.team_name)
    bot_user_id = property(lambda self: self.ws.bot_user_id)
    bot_id = property(lambda self: self.ws.bot_id)
    app_id = property(lambda self: self.ws.app_id)

    # ----- lifecycle
    def start(self, port: int | None = None) -> SlackStandIn:
        """Bind ``host:port`` (0 = a free port) and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        self._httpd = StandInHTTPServer((self.host, self._port if port is None else port), self.ws)
        self.ws.base_url = f"http://{self.host}:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the HTTP and Socket Mode servers."""
        self._socket.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the stand-in is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        self.port  # noqa: B018  (raises when not started)
        return self.ws.base_url

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:<port>/api/`` — the ``base_url`` of a slack_sdk ``WebClient``."""
        return f"{self.base_url}/api/"

    @property
    def scopes(self) -> frozenset[str] | None:
        """The bot token's granted scopes (None: not checked)."""
        return self.ws.scopes

    def set_scopes(self, scopes: Iterable[str] | None) -> None:
        """Grant exactly these scopes to the bot token (None: stop checking scopes)."""
        with self.ws.lock:
            self.ws.scopes = frozenset(scopes) if scopes is not None else None

    def set_subscriptions(self, events: Iterable[str] | None) -> None:
        """The app subscribes to exactly these events (the manifest's ``bot_events``, e.g.
        ``message.channels``); an event it did not subscribe to is withheld (None: not checked).
        Only the message events check it so far (``SlackDriver.post_message``)."""
        with self.ws.lock:
            self.ws.subscriptions = frozenset(events) if events is not None else None

    # ----- workspace setup
    def add_team(self, team_id: str, name: str) -> None:
        with self.ws.lock:
            self.ws.teams[team_id] = name

    def set_enterprise(self, enterprise_id: str | None) -> None:
        """Put the installing workspace in an Enterprise Grid org: auth.test and every payload
        say so (payloads' ``enterprise`` describes the install, not the user)."""
        with self.ws.lock:
            self.ws.enterprise_id = enterprise_id
            self.ws.users[self.ws.bot_user_id].enterprise_id = enterprise_id

    def share_within_org(self, channel_id: str, team_id: str) -> None:
        """Enterprise Grid: another workspace of the host's own org joins the channel."""

        def add(c: Channel) -> None:
            if team_id not in c.internal_teams:
                c.internal_teams.append(team_id)

        self._update_channel(channel_id, add)

    def connect_team(self, channel_id: str, team_id: str) -> None:
        """Slack Connect: another organisation joins the channel (a ``channel_shared`` happens)."""

        def add(c: Channel) -> None:
            c.is_ext_shared = c.is_shared = True
            if not c.connected_teams:
                c.connected_teams.append(c.team_id)
            if team_id not in c.connected_teams:
                c.connected_teams.append(team_id)

        self._update_channel(channel_id, add)

    def add_user(
        self,
        user_id: str,
        *,
        name: str,
        team_id: str | None = None,
        real_name: str | None = None,
        display_name: str | None = None,
        tz: str = "UTC",
        email: str | None = None,
        is_admin: bool = False,
        visible: bool = True,
        enterprise_id: str | None = None,
        guest: str | None = None,
    ) -> StandInUser:
        """Add a user; ``team_id`` is the home workspace (another team for Slack Connect guests);
        ``enterprise_id`` the Enterprise Grid org of that workspace; ``guest`` "multi" or "single"
        for a multi- or single-channel guest of their workspace."""
        if guest not in (None, "multi", "single"):
            raise ValueError("guest is None, 'multi' or 'single'")
        user = StandInUser(
            id=user_id,
            name=name,
            team_id=team_id or self.ws.team_id,
            real_name=real_name if real_name is not None else name,
            display_name=display_name if display_name is not None else name,
            tz=tz,
            email=email,
            is_admin=is_admin,
            visible=visible,
            enterprise_id=enterprise_id,
            guest=guest,
        )
        with self.ws.lock:
            if user.team_id not in self.ws.teams:
                self.ws.teams[user.team_id] = user.team_id
            self.ws.users[user_id] = user
        return copy.deepcopy(user)

    def add_usergroup(self, group_id: str, members: Iterable[str]) -> None:
        """A user group of the workspace (usergroups.users.list lists its members)."""
        with self.ws.lock:
            self.ws.usergroups[group_id] = list(members)

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str,
        members: Iterable[str] = (),
        ext_shared: bool = False,
        shared: bool = False,
        pending_ext_shared: bool = False,
        private: bool = False,
        mpim: bool = False,
        bot_member: bool = True,
        team_id: str | None = None,
        connected_teams: Iterable[str] | None = None,
        general: bool = False,
    ) -> Channel:
        """Add a channel (``mpim``: a group DM, private); the bot is a member unless
        ``bot_member=False``. A Slack Connect channel (``ext_shared``) connects the host team and,
        unless ``connected_teams`` says otherwise, the home teams of its members. ``general``: the
        workspace's #general (a mandatory channel, which cannot be shared)."""
        member_list = list(dict.fromkeys(([self.ws.bot_user_id] if bot_member else []) + list(members)))
        host = team_id or self.ws.team_id
        with self.ws.lock:
            teams = (
                list(connected_teams)
                if connected_teams is not None
                else [self.ws.users[m].team_id for m in member_list if m in self.ws.users]
            )
        connected = list(dict.fromkeys([host, *teams])) if ext_shared else []
        channel = Channel(
            id=channel_id,
            name=name,
            team_id=team_id or self.ws.team_id,
            members=member_list,
            is_private=private or mpim,
            is_mpim=mpim,
            is_ext_shared=ext_shared,
            is_shared=shared or ext_shared,
            is_pending_ext_shared=pending_ext_shared,
            connected_teams=connected,
            is_general=general,
        )
        with self.ws.lock:
            self.ws.channels[channel_id] = channel
            self.ws.messages.setdefault(channel_id, [])
        return copy.deepcopy(channel)

    def _update_channel(self, channel_id: str, fn: Callable[[Channel], None]) -> None:
        with self.ws.lock:
            if channel_id not in self.ws.channels:
                raise KeyError(f"unknown channel {channel_id!r}")
            fn(self.ws.channels[channel_id])

    def archive_channel(self, channel_id: str) -> None:
        self._update_channel(channel_id, lambda c: setattr(c, "is_archived", True))

    def add_member(self, channel_id: str, user_id: str) -> None:
        self._update_channel(
            channel_id, lambda c: c.members.append(user_id) if user_id not in c.members else None
        )

    def remove_member(self, channel_id: str, user_id: str) -> None:
        self._update_channel(
            channel_id, lambda c: c.members.remove(user_id) if user_id in c.members else None
        )

    def set_file_settings(
        self, *, uploads_disabled: bool = False, max_bytes: int | None = None, storage_full: bool = False
    ) -> None:
        """The workspace admins' file settings, refused as files.getUploadURLExternal documents:
        uploads turned off (``file_uploads_disabled``), a size limit in bytes
        (``file_upload_size_restricted``), the storage used up (``storage_limit_reached``). With no
        arguments: none of them."""
        with self.ws.lock:
            self.ws.file_settings = FileSettings(uploads_disabled, max_bytes, storage_full)

    def block_file_uploads(self, channel_id: str, blocked: bool = True) -> None:
        """Make files.completeUploadExternal to this channel fail like a Slack Connect admin block,
        with ``slack_connect_file_upload_sharing_blocked`` (see ``api_files``: a code Slack
        documents for files.upload, not for the external upload; the bot must not count on it)."""
        with self.ws.lock:
            (self.ws.blocked_uploads.add if blocked else self.ws.blocked_uploads.discard)(channel_id)

    def allow_external_dm(self, user_id: str, allowed: bool = True) -> None:
        """Let the bot open a DM with this person of another organisation (``conversations.open``
        refuses it otherwise): what Slack allows once both organisations' Slack Connect settings
        permit a DM between them (see ``api_chat.conversations_open``)."""
        with self.ws.lock:
            (self.ws.external_dms.add if allowed else self.ws.external_dms.discard)(user_id)

    # ----- Slack Connect: the workspace's policy and the invitations (standin/connect.py)
    def set_connect_refusal(self, error: str | None) -> None:
        """Make every ``conversations.inviteShared`` with valid arguments answer ``error``, as a
        workspace that cannot or may not invite does: ``"not_paid"`` (a free plan: "This feature
        is only available to paid teams"), ``"restricted_action"`` (an admin preference: "A team
        preference does not allow this authorization to send invites"), or any other code the
        method documents (``"not_allowed_for_grid_workspace"``…). ``None``: invitations go out."""
        with self.ws.lock:
            self.ws.connect.refusal = error

    def canvases(self) -> dict[str, dict[str, Any]]:
        """The channel canvases: id -> {channel, title, markdown} (the whole document)."""
        from .api_canvases import canvas_markdown

        with self.ws.lock:
            return {
                cid: {"channel": c["channel"], "title": c["title"], "markdown": canvas_markdown(c)}
                for cid, c in self.ws.canvases.items()
            }

    def canvas_sections(self, canvas_id: str) -> list[dict[str, str]]:
        """A canvas's sections in order: {id, type, markdown} (one per markdown block)."""
        with self.ws.lock:
            return [dict(s) for s in self.ws.canvases[canvas_id]["sections"]]

    def edit_canvas(self, canvas_id: str, change: dict[str, Any]) -> None:
        """Apply one ``canvases.edit`` change as a person editing the canvas in Slack would: a
        note inserted, a line rewritten or deleted. The call log does not show it."""
        from .api_canvases import apply_change

        with self.ws.lock:
            apply_change(self.ws, self.ws.canvases[canvas_id], change)

    def pinned(self, channel: str) -> list[str]:
        """The ts of the messages pinned in the channel (pins.add), oldest first."""
        with self.ws.lock:
            return list(self.ws.pins.get(channel, []))

    def set_canvas_refusal(self, error: str | None) -> None:
        """Make every ``conversations.canvases.create`` with valid arguments answer ``error``, as a
        workspace that may not have channel canvases does: ``"team_tier_cannot_create_channel_canvases"``
        (a free plan), ``"canvas_disabled_user_team"`` (canvases turned off), or any other code the
        method documents. ``None``: canvases are created."""
        with self.ws.lock:
            self.ws.canvas_refusal = error

    def set_connect_policy(
        self,
        *,
        full_invites_allowed: bool = True,
        limited_invites_allowed: bool = True,
        channel_creation_allowed: bool = True,
        max_organisations: int | None = None,
    ) -> None:
        """The admins' Slack Connect and channel settings (``ConnectPolicy``): which invitation
        types the bot may send (``restricted_action`` otherwise: ``full_invites_allowed=False``
        refuses ``external_limited=false``), whether it may create channels, and how many
        organisations a channel may connect (default 250, the host included). Keeps the refusal
        of ``set_connect_refusal``."""
        with self.ws.lock:
            self.ws.connect = ConnectPolicy(
                refusal=self.ws.connect.refusal,
                full_invites_allowed=full_invites_allowed,
                limited_invites_allowed=limited_invites_allowed,
                channel_creation_allowed=channel_creation_allowed,
                max_organisations=max_organisations or ConnectPolicy().max_organisations,
            )

    @property
    def connect_policy(self) -> ConnectPolicy:
        with self.ws.lock:
            return copy.deepcopy(self.ws.connect)

    def set_connect_clock(self, clock: Callable[[], float] | None) -> None:
        """The clock invitations are dated and run out by (epoch seconds; None: ``time.time``):
        a test that moves the bot's clock 15 days on moves this one too, and the invitations sent
        before have expired. Messages and everything else keep the real time."""
        with self.ws.lock:
            self.ws.connect_clock = clock or time.time
            self.ws.refresh_invites()

    def invites(self, channel: str | None = None, *, state: str | None = None) -> list[SharedInvite]:
        """The Slack Connect invitations the bot sent, oldest first (to ``channel``, in ``state``:
        sent, accepted, approved, declined or expired)."""
        with self.ws.lock:
            self.ws.refresh_invites()
            return copy.deepcopy(
                [
                    i
                    for i in self.ws.invites.values()
                    if (channel is None or i.channel == channel) and (state is None or i.state == state)
                ]
            )

    def invite(self, invite_id: str) -> SharedInvite:
        with self.ws.lock:
            self.ws.refresh_invites()
            return copy.deepcopy(self.ws.invites[invite_id])

    def expire_invite(self, invite_id: str) -> SharedInvite:
        """Make an invitation nobody has accepted run out now (its date_invalid passes): it can no
        longer be accepted. ValueError for one already answered."""
        with self.ws.lock:
            invite = self.ws.invites[invite_id]
            if invite.state not in ("sent", "expired"):
                raise ValueError(f"invite {invite_id} is {invite.state}; only a sent invite can run out")
            now = self.ws.connect_clock()
            invite.expires = min(invite.expires, int(now))
            self.ws.refresh_invites()
            return copy.deepcopy(invite)

    def created_channels(self) -> list[Channel]:
        """The channels the bot created with conversations.create, oldest first."""
        with self.ws.lock:
            return copy.deepcopy([c for c in self.ws.channels.values() if c.creator == self.ws.bot_user_id])

    def set_trigger_ttl(self, seconds: float) -> None:
        """How long a trigger_id stays valid (Slack: 3 s)."""
        self.ws.trigger_ttl = seconds

    # ----- state access (copies)
    def user(self, user_id: str) -> StandInUser:
        with self.ws.lock:
            return copy.deepcopy(self.ws.users[user_id])

    def channel(self, channel_id: str) -> Channel:
        with self.ws.lock:
            return copy.deepcopy(self.ws.channels[channel_id])

    def open_im(self, user_id: str) -> str:
        """The bot's DM with this user (opened if needed), as a user opening it in Slack would."""
        with self.ws.lock:
            if user_id not in self.ws.users:
                raise KeyError(f"unknown user {user_id!r}")
            return self.ws.open_im(user_id).id

    def im_channel(self, user_id: str) -> str | None:
        """The bot's IM channel id with this user, if one was opened."""
        with self.ws.lock:
            return next((c.id for c in self.ws.channels.values() if c.is_im and c.im_user == user_id), None)

    def messages(self, channel: str, *, include_deleted: bool = True) -> list[dict[str, Any]]:
        """Messages of a channel in post order (thread replies included, deleted ones flagged)."""
        with self.ws.lock:
            found = self.ws.messages.get(channel, [])
            return copy.deepcopy([m for m in found if include_deleted or not m["deleted"]])

    def top_level(self, channel: str) -> list[dict[str, Any]]:
        """The channel's top-level messages in post order (no thread replies, no deleted ones):
        what someone scrolling the channel sees."""
        return [
            m
            for m in self.messages(channel, include_deleted=False)
            if not m.get("thread_ts") or m["thread_ts"] == m["ts"] or m.get("reply_broadcast")
        ]

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The replies in a thread, oldest first (not deleted ones)."""
        return [
            m
            for m in self.messages(channel, include_deleted=False)
            if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts
        ]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self.ws.lock:
            return copy.deepcopy(self._record(channel, ts))

    def slack_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The message in the shape Slack's payloads and API answers carry it: without the
        stand-in's own bookkeeping (`message` also returns its edit history, `versions`, which
        grows with every chat.update)."""
        with self.ws.lock:
            found = self._record(channel, ts)
            return copy.deepcopy(self.ws.slack_message(found)) if found is not None else None

    def _record(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The stored message, deleted or not (call with the workspace lock held)."""
        return next((m for m in self.ws.messages.get(channel, []) if m["ts"] == ts), None)

    def last_message(self, channel: str) -> dict[str, Any] | None:
        """The newest message in the channel that is not deleted."""
        remaining = self.messages(channel, include_deleted=False)
        return remaining[-1] if remaining else None

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
        with self.ws.lock:
            return copy.deepcopy(
                [
                    e
                    for e in self.ws.ephemerals
                    if (channel is None or e["channel"] == channel) and (user is None or e["user"] == user)
                ]
            )

    # ----- who Slack notified (standin/notify.py)
    def notifications(
        self, user: str | None = None, *, channel: str | None = None, ts: str | None = None
    ) -> list[Notification]:
        """Every notification Slack would have sent, oldest first (of ``user``, in ``channel``, of
        the message ``ts``): who, by which message, and why."""
        with self.ws.lock:
            return [
                n
                for n in self.ws.notifications
                if (user is None or n.user == user)
                and (channel is None or n.channel == channel)
                and (ts is None or n.ts == ts)
            ]

    def notified_by(self, channel: str, ts: str) -> dict[str, str]:
        """{user: reason} for the people one message notified."""
        return {n.user: n.reason for n in self.notifications(channel=channel, ts=ts)}

    def activity(self, user: str) -> list[Notification]:
        """The person's Activity, as Slack's Activity tab lists it: newest first."""
        return list(reversed(self.notifications(user)))

    def silences(self, user: str | None = None) -> list[Silence]:
        """Mentions that notified nobody (an edit, an ephemeral, someone not in the channel…), and why."""
        with self.ws.lock:
            return [s for s in self.ws.silences if user is None or s.user == user]

    def unread(self, user: str) -> dict[str, int]:
        """{channel: number of unread messages} the person's sidebar shows in bold."""
        with self.ws.lock:
            return {c: len(ts) for (u, c), ts in self.ws.unread.items() if u == user and ts}

    def mark_read(self, user: str, channel: str) -> None:
        """The person opened the channel."""
        with self.ws.lock:
            self.ws.unread.pop((user, channel), None)

    def post_as(self, user: str, channel: str, text: str, *, thread_ts: str | None = None) -> str:
        """A person writes a message (a reply when ``thread_ts``), as in Slack's client: they then
        follow the thread; it notifies as any message does. Returns its ts."""
        with self.ws.lock:
            if user not in self.ws.users:
                raise KeyError(f"unknown user {user!r}")
            found = self.ws.channels.get(channel)
            if found is None or user not in found.members:
                raise KeyError(f"{user} is not a member of {channel}")
            if thread_ts is not None and self.ws.find_message(channel, thread_ts) is None:
                raise KeyError(f"no message {thread_ts} in {channel}")
            return str(
                self.ws.store_message(found, text=text, blocks=None, thread_ts=thread_ts, user=user)["ts"]
            )

    def follow_thread(self, user: str, channel: str, thread_ts: str, follow: bool = True) -> None:
        """Follow (or, with ``follow=False``, unfollow) a thread by hand."""
        with self.ws.lock:
            followers = self.ws.followers.setdefault((channel, thread_ts), set())
            (followers.add if follow else followers.discard)(user)

    def followers(self, channel: str, thread_ts: str) -> set[str]:
        """The people following a thread (who posted in it or were mentioned in a reply)."""
        with self.ws.lock:
            return set(self.ws.followers.get((channel, thread_ts), set()))

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        with self.ws.lock:
            return copy.deepcopy(self.ws.views)

    def view(self, view_id: str) -> dict[str, Any]:
        with self.ws.lock:
            return copy.deepcopy(self.ws.views[view_id])

    def open_views(self, user: str) -> list[dict[str, Any]]:
        """The user's open modals, root first."""
        with self.ws.lock:
            return copy.deepcopy([self.ws.views[v] for v in self.ws.view_stacks.get(user, [])])

    def home(self, user: str) -> dict[str, Any] | None:
        """The user's Home tab view record (``record["view"]`` is the payload last published) or None."""
        with self.ws.lock:
            view_id = self.ws.homes.get(user)
            return copy.deepcopy(self.ws.views[view_id]) if view_id else None

    @property
    def files(self) -> list[dict[str, Any]]:
        with self.ws.lock:
            return copy.deepcopy(list(self.ws.files.values()))

    @property
    def calls(self) -> list[Call]:
        with self.ws.lock:
            return copy.deepcopy(self.ws.calls)

    def _calls_where(self, keep: Callable[[Call], bool]) -> list[Call]:
        """Copies of the calls `keep` selects: chosen first, then copied (copying the whole log to
        pick a few was 4% of the end-to-end tests' CPU, py-spy)."""
        with self.ws.lock:
            return copy.deepcopy([c for c in self.ws.calls if keep(c)])

    def calls_to(self, method: str) -> list[Call]:
        return self._calls_where(lambda c: c.method == method)

    def reset_calls(self) -> None:
        with self.ws.lock:
            self.ws.calls.clear()

    def missing_scope_responses(self) -> list[Call]:
        """Every call Slack would refuse because the bot token lacks a scope (``missing_scope``)."""
        return self._calls_where(lambda c: c.response.get("error") == "missing_scope")

    def invalid_block_responses(self) -> list[Call]:
        """Every answer refusing the app's Block Kit or text (invalid_blocks, view errors, msg_too_long…)."""
        return self._calls_where(lambda c: c.response.get("error") in VALIDATION_ERRORS)

    def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,
        interval: float = 0.01,
        message: str | None = None,
    ) -> T:
        """Poll until ``predicate()`` is truthy and return it; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        last_error: BaseException | None = None
        while True:
            try:
                result = predicate()
                if result:
                    return result
            except Exception as exc:  # a predicate indexing an empty list is "not yet"
                last_error = exc
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)
        recent = (
            ", ".join(
                f"{c.method}→{'ok' if c.response.get('ok') else c.response.get('error')}"
                for c in self._calls_where(lambda c: True)[-10:]
            )
            or "none"
        )
        what = message or getattr(predicate, "__name__", repr(predicate))
        detail = f"; last error: {last_error!r}" if last_error else ""
        raise AssertionError(f"condition {what!r} not met within {timeout}s{detail}; recent calls: {recent}")

    # ----- faults
    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (HTTP ``status``; 429 adds Retry-After).
        ``"upload"`` is the POST of a file's bytes to its upload URL: give it a status other than
        200 (Slack: "a non-200 response indicates a failure")."""
        with self.ws.lock:
            self.ws.faults.setdefault(method, []).append(Fault(error, status, retry_after, times))

    def set_rate_limit(
        self, method: str, per_minute: float | None, *, burst: int = 1, per_channel: bool = False
    ) -> None:
        """Limit ``method`` to ``burst`` calls at once, then ``per_minute`` a minute (per channel with
        ``per_channel``); ``per_minute=None`` lifts its limit. Short windows for tests: e.g.
        ``per_minute=60, burst=2`` answers the third call in a second with 429, Retry-After 1."""
        with self.ws.lock:
            limit = RateLimit(per_minute, burst, per_channel) if per_minute is not None else None
            self.ws.rate_limiter.set(method, limit)

    @property
    def rate_limits(self) -> dict[str, RateLimit]:
        """The limits in force, per method."""
        with self.ws.lock:
            return dict(self.ws.rate_limiter.limits)

    def ratelimited_responses(self, method: str | None = None) -> list[Call]:
        """Every call answered 429 ``ratelimited`` (of ``method``, or of any)."""
        return self._calls_where(
            lambda c: (
                c.status == 429 and c.response.get("error") == "ratelimited" and method in (None, c.method)
            )
        )

    def set_latency(self, method: str, seconds: float) -> None:
        """Answer every call of ``method`` ``seconds`` late (0 turns it off): a slow Slack. As with
        Slack, the call is carried out at once (the message is posted) and only the answer is late,
        so a client that times out first cannot tell whether it happened."""
        with self.ws.lock:
            self.ws.latency[method] = max(0.0, seconds)

    # ----- interactivity plumbing (used by SlackDriver)
    def issue_trigger(self, user: str) -> str:
        return self.ws.issue_trigger(user)

    def issue_response_url(self, *, channel: str | None, user: str, source_ts: str | None = None) -> str:
        return self.ws.issue_response_url(channel=channel, user=user, source_ts=source_ts)

    # ----- Socket Mode
    def socket_connected(self) -> bool:
        return self._socket.connected()

    def socket_close_connections(self) -> None:
        """Drop every Socket Mode connection (as Slack does on refresh)."""
        self._socket.close_connections()

    def socket_send(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        timeout: float = 5.0,
        accepts_response_payload: bool = True,
    ) -> dict[str, Any]:
        """Send one envelope to the connected Socket Mode client; return its ack message."""
        envelope = {
            "envelope_id": str(uuid.uuid4()),
            "payload": payload,
            "type": envelope_type,
            "accepts_response_payload": accepts_response_payload,
        }
        return self._socket.send(envelope, timeout)

    def socket_send_command(
        self, command: str, text: str, user: str, channel: str, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Send a ``slash_commands`` envelope; return the ``payload`` of the client's ack ({} if none)."""
        with self.ws.lock:
            payload = command_payload(
                self.ws,
                command,
                text,
                user=user,
                channel=channel,
                response_url=self.issue_response_url(channel=channel, user=user),
                trigger_id=self.issue_trigger(user),
            )
        ack = self.socket_send("slash_commands", payload, timeout=timeout)
        return ack.get("payload") or {}
