"""The one place the core talks to Slack's Web API.

It keeps a ledger of what the bot posted (channel, ts, kind, key, engagement), so a message
is updated in place, never re-posted, and state is never read back out of message text.
Ledger writes use their own short transactions: no database lock is held during a Slack call.
Each call is counted by method, 429s apart (`stats`, see `bot.slack.call_counters`).

Listeners do not post or update messages through the gateway directly: they hand that work to
the outbox (`bot.slack.outbox`), which paces it, coalesces refreshes and retries until it lands.
"""

from __future__ import annotations

import http.client
import logging
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.clock import Clock
from bot.slack.call_counters import SLACK_CALLS, CallStats, observe
from bot.slack.sealing import seal_view
from messages import Message
from storage.db import Database
from storage.models import PostedMessage, UserProfile

log = logging.getLogger("golive.slack")

PROFILE_TTL = timedelta(hours=24)
CHANNEL_GONE = frozenset({"channel_not_found", "is_archived", "not_in_channel", "channel_is_archived"})
# Uploads (`SlackGateway.upload_file`): the method its failures name when Slack's answer does not
# say which, the POST of the bytes to the upload URL, and a step that got no answer.
UPLOAD_METHOD = "files.completeUploadExternal"
UPLOAD_STEP = "upload"
NO_ANSWER = "no_answer"


# Slack's answer to views.update / views.publish sent with a `hash` the view no longer has.
HASH_CONFLICT = "hash_conflict"


class SlackCallFailed(Exception):
    """A Web API call failed after the client's retries; `error` is Slack's error code."""

    def __init__(self, method: str, error: str, response: Any = None) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error
        self.response = response

    @property
    def channel_gone(self) -> bool:
        return self.error in CHANNEL_GONE

    @property
    def status(self) -> int | None:
        """The HTTP status of Slack's answer (200 for most errors, 429, 5xx)."""
        code = getattr(self.response, "status_code", None)
        return int(code) if code is not None else None

    @property
    def retry_after(self) -> float | None:
        """Seconds Slack asked to wait (Retry-After of a 429), if it said."""
        headers = getattr(self.response, "headers", None) or {}
        raw = headers.get("Retry-After") or headers.get("retry-after")
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        try:
            return max(0.0, float(raw)) if raw is not None else None
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Profile:
    user_id: str
    team_id: str | None
    name: str
    tz: str | None = None
    is_bot: bool = False
    found: bool = True
    enterprise_id: str | None = None
    is_guest: bool = False  # a multi- or single-channel guest of their workspace


@dataclass(frozen=True)
class ShownView:
    """A view Slack shows (a modal): its id, and its hash as Slack gave it."""

    id: str
    hash: str


class SlackGateway:
    def __init__(
        self,
        client: WebClient,
        db: Database,
        clock: Clock,
        *,
        seal_key: bytes = b"",
        stats: CallStats | None = None,
    ) -> None:
        self.client = client
        self.db = db
        self.clock = clock
        self.seal_key = seal_key
        self.stats = stats if stats is not None else SLACK_CALLS
        observe(client, self.stats)
        self._auth: dict[str, Any] | None = None

    # -- low level -------------------------------------------------------------------------
    def _call(self, method: str, **kwargs: Any) -> Any:
        fn = getattr(self.client, method.replace(".", "_"))
        try:
            return fn(**kwargs)
        except SlackApiError as exc:
            error = (
                exc.response.get("error", "unknown_error") if exc.response is not None else "unknown_error"
            )
            raise SlackCallFailed(method, str(error), exc.response) from exc

    # -- messages --------------------------------------------------------------------------
    def post(
        self,
        channel: str,
        message: Message,
        *,
        kind: str,
        key: str = "",
        engagement_id: int | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Post and record it in the ledger; returns the message ts. `metadata` is Slack message
        metadata ({event_type, event_payload}), readable later with conversations.history."""
        kwargs: dict[str, Any] = {"channel": channel, **message.as_kwargs()}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        if metadata:
            kwargs["metadata"] = metadata
        resp = self._call("chat.postMessage", **kwargs)
        ts = str(resp["ts"])
        self.record(str(resp.get("channel") or channel), ts, kind=kind, key=key, engagement_id=engagement_id)
        return ts

    def record(
        self, channel: str, ts: str, *, kind: str, key: str = "", engagement_id: int | None = None
    ) -> None:
        """Add a message the bot posted to the ledger."""
        now = self.clock.now()
        with self.db.session() as session:
            session.add(
                PostedMessage(
                    engagement_id=engagement_id,
                    channel_id=channel,
                    ts=ts,
                    kind=kind,
                    key=key,
                    created_at=now,
                    updated_at=now,
                )
            )

    def find_by_metadata(
        self, channel: str, event_type: str, key: str, *, limit: int = 100, thread_ts: str | None = None
    ) -> str | None:
        """The ts of a recent message of the bot's in the channel whose metadata names this key
        (conversations.history with include_all_metadata), or None when there is none. A reply is
        looked for in its thread (`thread_ts`, conversations.replies): history lists no replies."""
        if thread_ts:
            resp = self._call(
                "conversations.replies", channel=channel, ts=thread_ts, limit=limit, include_all_metadata=True
            )
        else:
            resp = self._call(
                "conversations.history", channel=channel, limit=limit, include_all_metadata=True
            )
        for m in resp.get("messages") or []:
            meta = m.get("metadata") or {}
            if meta.get("event_type") == event_type and (meta.get("event_payload") or {}).get("key") == key:
                return str(m.get("ts"))
        return None

    def update(self, channel: str, ts: str, message: Message) -> None:
        """chat.update. The ledger is not written: nothing reads when a message last changed, and
        a write per update would queue behind every other writer."""
        self._call("chat.update", channel=channel, ts=ts, **message.as_kwargs())

    def permalink(self, channel: str, ts: str) -> str:
        """chat.getPermalink: a link to a message (no scope needed; "hundreds a minute")."""
        return str(self._call("chat.getPermalink", channel=channel, message_ts=ts)["permalink"])

    def posted(self, engagement_id: int, kind: str, key: str | None = None) -> list[PostedMessage]:
        """Ledger entries, newest first."""
        with self.db.read() as session:
            q = select(PostedMessage).where(
                PostedMessage.engagement_id == engagement_id, PostedMessage.kind == kind
            )
            if key is not None:
                q = q.where(PostedMessage.key == key)
            return list(session.exec(q.order_by(col(PostedMessage.id).desc())).all())

    def relabel(self, ids: list[int], kind: str) -> None:
        """Give ledger entries another kind (e.g. a checklist copy that now only points to a newer
        one), in one short transaction."""
        if not ids:
            return
        now = self.clock.now()
        with self.db.session() as session:
            for row in session.exec(select(PostedMessage).where(col(PostedMessage.id).in_(ids))).all():
                row.kind, row.updated_at = kind, now
                session.add(row)

    def ephemeral(self, channel: str, user: str, message: Message) -> None:
        self._call("chat.postEphemeral", channel=channel, user=user, **message.as_kwargs())

    def dm(self, user: str, message: Message) -> str:
        resp = self._call("conversations.open", users=user)
        channel = resp["channel"]["id"]
        return str(self._call("chat.postMessage", channel=channel, **message.as_kwargs())["ts"])

    def open_dm(self, user: str) -> str:
        """The bot's direct-message channel with `user` (conversations.open)."""
        return str(self._call("conversations.open", users=user)["channel"]["id"])

    def channel_members(self, channel: str) -> set[str] | None:
        """Who is in the channel, every page of conversations.members; None when Slack will not
        say (then everyone named counts as present). A mention of someone outside the channel
        notifies nobody: reminders are for the people in it."""
        members: set[str] = set()
        cursor: str | None = None
        try:
            while True:
                resp = self._call("conversations.members", channel=channel, limit=1000, cursor=cursor)
                members.update(str(m) for m in resp.get("members") or [])
                cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    return members
        except SlackCallFailed as exc:
            log.info(
                "cannot list the members of %s (%s); counting everyone named as present", channel, exc.error
            )
            return None

    def usergroup_members(self, group: str) -> set[str] | None:
        """The user ids of a user group (usergroups.users.list); None when Slack will not say
        (the app lacks usergroups:read, the group is gone)."""
        try:
            resp = self._call("usergroups.users.list", usergroup=group)
        except SlackCallFailed as exc:
            log.warning("cannot list the members of user group %s (%s)", group, exc.error)
            return None
        return {str(u) for u in resp.get("users") or []}

    def dm_recorded(
        self, user: str, message: Message, *, kind: str, key: str = "", engagement_id: int | None = None
    ) -> tuple[str, str]:
        """A direct message recorded in the ledger, so a click on it finds its engagement; returns
        (the DM's channel, ts)."""
        channel = str(self._call("conversations.open", users=user)["channel"]["id"])
        return channel, self.post(channel, message, kind=kind, key=key, engagement_id=engagement_id)

    # -- views -----------------------------------------------------------------------------
    def seal(self, view: dict[str, Any]) -> dict[str, Any]:
        return seal_view(view, self.seal_key)

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        return self.open_view_hashed(trigger_id, view).id

    def open_view_hashed(self, trigger_id: str, view: dict[str, Any]) -> ShownView:
        """views.open, with the hash Slack gave the new view: a later views.update of it sends that
        hash, so it never replaces what the person opened in it since."""
        shown = self._call("views.open", trigger_id=trigger_id, view=self.seal(view))["view"]
        return ShownView(str(shown["id"]), str(shown.get("hash") or ""))

    def update_view(self, view_id: str, view: dict[str, Any], *, view_hash: str | None = None) -> str:
        """views.update; returns the view's new hash. With `view_hash` (the view's hash as the
        click, or the call that showed it, saw it) Slack answers `hash_conflict` (SlackCallFailed)
        instead of overwriting a newer version of the view (docs.slack.dev/reference/methods/views.update:
        "the provided hash doesn't match the current stored value")."""
        if view_hash:
            resp = self._call("views.update", view_id=view_id, view=self.seal(view), hash=view_hash)
        else:
            resp = self._call("views.update", view_id=view_id, view=self.seal(view))
        return str((resp.get("view") or {}).get("hash") or "")

    def update_view_newest(
        self, view_id: str, render: Callable[[], dict[str, Any]], *, view_hash: str | None
    ) -> str:
        """views.update with the hash the click saw; when the view changed since
        (`hash_conflict`), `render` again, from the database that knows every change, and show
        that: the view ends as it is now, never put back in time. Returns the new hash."""
        try:
            return self.update_view(view_id, render(), view_hash=view_hash)
        except SlackCallFailed as exc:
            if exc.error != HASH_CONFLICT:
                raise
            log.info("view %s changed meanwhile; shown again as it is now", view_id)
            return self.update_view(view_id, render())

    def push_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        """views.push: a form on top of the open modal (closing it shows the modal again)."""
        return str(self._call("views.push", trigger_id=trigger_id, view=self.seal(view))["view"]["id"])

    def publish_home(self, user: str, view: dict[str, Any], *, view_hash: str | None = None) -> str:
        """views.publish; returns the Home's new hash. With `view_hash` (the hash of the Home this
        one replaces) Slack answers `hash_conflict` (SlackCallFailed) when another publish changed
        it since, instead of putting an older Home over a newer one
        (docs.slack.dev/reference/methods/views.publish)."""
        if view_hash:
            resp = self._call("views.publish", user_id=user, view=self.seal(view), hash=view_hash)
        else:
            resp = self._call("views.publish", user_id=user, view=self.seal(view))
        return str((resp.get("view") or {}).get("hash") or "")

    # -- people and channels ---------------------------------------------------------------
    def cached_profile(self, user_id: str) -> Profile | None:
        """The users.info cache only, no Slack call: None when unknown or older than a day."""
        with self.db.read() as session:
            row = session.get(UserProfile, user_id)
            if row is not None and self.clock.now() - row.fetched_at < PROFILE_TTL:
                return _profile(row)
        return None

    def profile(self, user_id: str, *, fresh: bool = False) -> Profile:
        """users.info, cached in the database for a day (`fresh` asks Slack now, e.g. for the
        name recorded with a sign-off decision)."""
        now = self.clock.now()
        with self.db.read() as session:
            row = session.get(UserProfile, user_id)
            if row is not None and not fresh and now - row.fetched_at < PROFILE_TTL:
                return _profile(row)
        try:
            user = self._call("users.info", user=user_id)["user"]
        except SlackCallFailed as exc:
            log.info("users.info %s: %s", user_id, exc.error)
            if row is not None:
                return _profile(row)
            return Profile(user_id=user_id, team_id=None, name=user_id, found=False)
        prof = user.get("profile") or {}
        values: dict[str, Any] = {
            "team_id": user.get("team_id"),
            "enterprise_id": (user.get("enterprise_user") or {}).get("enterprise_id") or None,
            "name": str(user.get("name") or "")[:200],
            "real_name": str(user.get("real_name") or prof.get("real_name") or "")[:200],
            "display_name": str(prof.get("display_name") or "")[:200],
            "tz": user.get("tz"),
            "is_bot": bool(user.get("is_bot")),
            "is_guest": bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
            "fetched_at": now,
        }
        try:
            with self.db.session() as session:
                row = session.get(UserProfile, user_id) or UserProfile(user_id=user_id, fetched_at=now)
                for name, value in values.items():
                    setattr(row, name, value)
                session.add(row)
        except IntegrityError:  # two requests cached the same new person at once: theirs is as fresh
            log.info("users.info %s: cached by another request at the same moment", user_id)
        return _profile(UserProfile(user_id=user_id, **values))

    def install_enterprise(self) -> str | None:
        """The installing workspace's Enterprise Grid org (auth.test, asked once)."""
        if self._auth is None:
            try:
                self._auth = dict(self._call("auth.test").data)
            except SlackCallFailed as exc:
                log.warning("auth.test: %s", exc.error)
                return None
        return self._auth.get("enterprise_id") or None

    def install_team(self) -> str:
        """The installing workspace's id (auth.test, asked once); "" when Slack cannot say."""
        self.install_enterprise()
        return str((self._auth or {}).get("team_id") or "")

    def install_bot_user(self) -> str:
        """The bot's own user id (auth.test, asked once); "" when Slack cannot say."""
        self.install_enterprise()
        return str((self._auth or {}).get("user_id") or "")

    def user_email(self, user_id: str) -> str | None:
        """A person's email as Slack shows it to the app (users.info; needs users:read.email, and
        another organisation's admins may hide it): None when it is not shown."""
        try:
            user = self._call("users.info", user=user_id)["user"]
        except SlackCallFailed as exc:
            log.info("users.info %s: %s", user_id, exc.error)
            return None
        email = (user.get("profile") or {}).get("email")
        return str(email).lower() if email else None

    def user_by_email(self, email: str) -> str | None:
        """The vendor workspace's user with this email (users.lookupByEmail), None when there is
        none."""
        try:
            return str(self._call("users.lookupByEmail", email=email)["user"]["id"])
        except SlackCallFailed as exc:
            if exc.error == "users_not_found":
                return None
            raise

    def create_channel(self, name: str, *, private: bool) -> dict[str, Any]:
        """A new channel (conversations.create); the bot is its first member."""
        return dict(self._call("conversations.create", name=name, is_private=private)["channel"])

    def invite_users(self, channel: str, users: list[str]) -> None:
        """The vendor's people into a channel (conversations.invite, `force`: the valid ones are
        invited when one is not)."""
        self._call("conversations.invite", channel=channel, users=",".join(users), force=True)

    def invite_shared(self, channel: str, email: str, *, limited: bool) -> str:
        """A Slack Connect invitation for one email (Slack takes one per call); its invite id."""
        answer = self._call(
            "conversations.inviteShared", channel=channel, emails=[email], external_limited=limited
        )
        return str(answer.get("invite_id") or "")

    def channel_info(self, channel: str) -> dict[str, Any]:
        return dict(self._call("conversations.info", channel=channel)["channel"])

    def upload_file(
        self,
        channel: str,
        *,
        filename: str,
        content: bytes,
        title: str,
        initial_comment: str = "",
        thread_ts: str | None = None,
        alt_txt: str | None = None,
    ) -> None:
        """Slack's two-step upload (files.getUploadURLExternal, the bytes, then
        files.completeUploadExternal) shared in `channel`, in the thread of `thread_ts` when given;
        `alt_txt` describes an image for screen readers. Every failure is a SlackCallFailed naming
        the step (`method`): Slack's error code for the two methods; for the bytes, `upload_failed`
        with the upload URL's HTTP status ("a non-200 response indicates a failure",
        files.getUploadURLExternal); `no_answer` when a step got none (a timeout, a lost
        connection). `bot.slack.uploads` says which of them running it again may fix."""
        try:
            self.client.files_upload_v2(
                channel=channel,
                filename=filename,
                content=content,
                title=title,
                initial_comment=initial_comment,
                thread_ts=thread_ts,
                alt_txt=alt_txt,
            )
        except SlackApiError as exc:
            error = (
                exc.response.get("error", "unknown_error") if exc.response is not None else "unknown_error"
            )
            step = str(getattr(exc.response, "api_url", "") or "").rsplit("/", 1)[-1]
            raise SlackCallFailed(step or UPLOAD_METHOD, str(error), exc.response) from exc
        except urllib.error.HTTPError as exc:  # the upload URL answered, and not 200 (step 2)
            raise SlackCallFailed(UPLOAD_STEP, "upload_failed", HttpAnswer(exc.code, exc.headers)) from exc
        except SlackRequestError as exc:  # the upload URL answered 2xx but not 200 (step 2)
            raise SlackCallFailed(UPLOAD_STEP, "upload_failed") from exc
        except (OSError, http.client.HTTPException) as exc:  # no answer: a timeout, a lost connection
            raise SlackCallFailed(UPLOAD_METHOD, NO_ANSWER) from exc


@dataclass(frozen=True)
class HttpAnswer:
    """What a failed upload step answered (`SlackCallFailed.response`): its status and headers."""

    status_code: int
    headers: Any = None


def _profile(row: UserProfile) -> Profile:
    return Profile(
        user_id=row.user_id,
        team_id=row.team_id,
        name=row.display_name or row.real_name or row.name or row.user_id,
        tz=row.tz,
        is_bot=row.is_bot,
        enterprise_id=row.enterprise_id,
        is_guest=row.is_guest,
    )
