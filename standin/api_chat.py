"""Web API methods: auth.test, chat.*, conversations.*, users.*."""

from __future__ import annotations

import base64
import copy
import re
from dataclasses import dataclass
from typing import Any

from .api_common import (
    ApiError,
    ApiRequest,
    bool_arg,
    conversation_scope,
    invalid_blocks,
    json_arg,
    method,
    require_scope,
    str_arg,
)
from .notify import on_edit, on_ephemeral
from .state import Channel, Workspace
from .validate import MAX_MESSAGE_BLOCKS_TEXT, MAX_UPDATE_TEXT, blocks_text_length, validate_message_blocks


def _channel(
    ws: Workspace, ref: str | None, *, for_posting: bool = False, public_without_joining: bool = False
) -> Channel:
    """The conversation ``ref`` names, as the bot may see it.

    A private conversation the bot is not in does not exist for it (``channel_not_found``). Posting
    needs membership (``not_in_channel``), except that ``chat.postMessage`` may post to a PUBLIC
    channel without joining when the token has ``chat:write.public`` (``public_without_joining``);
    private channels, DMs and group DMs always need membership.
    """
    channel = ws.find_channel(ref)
    if channel is None:
        raise ApiError("channel_not_found")
    if (channel.is_private or channel.is_mpim) and ws.bot_user_id not in channel.members:
        raise ApiError("channel_not_found")
    if for_posting:
        if channel.is_archived:
            raise ApiError("is_archived")
        if ws.bot_user_id not in channel.members:
            public = not (channel.is_private or channel.is_im or channel.is_mpim)
            if not (public_without_joining and public and ws.granted("chat:write.public")):
                raise ApiError("not_in_channel")
    return channel


_EVENT_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MAX_EVENT_TYPE = 255


def message_metadata(args: dict[str, Any]) -> dict[str, Any] | None:
    """The ``metadata`` argument: a JSON object ``{"event_type": …, "event_payload": {…}}``.

    Slack answers ``invalid_metadata_format`` to metadata that is not a JSON object and
    ``invalid_metadata_schema`` to one without a string ``event_type`` and an object
    ``event_payload``. ``event_type`` must also follow Slack's metadata naming rule (a letter, then
    letters, digits and underscores): Slack recommends it, the stand-in insists.
    """
    if args.get("metadata") in (None, ""):
        return None
    metadata = json_arg(args, "metadata", error="invalid_metadata_format")
    if not isinstance(metadata, dict):
        raise ApiError("invalid_metadata_format")
    event_type = metadata.get("event_type")
    if (
        not isinstance(event_type, str)
        or len(event_type) > MAX_EVENT_TYPE
        or not _EVENT_TYPE.match(event_type)
    ):
        raise ApiError("invalid_metadata_schema", detail="event_type: a letter, then letters, digits, _")
    if not isinstance(metadata.get("event_payload"), dict):
        raise ApiError("invalid_metadata_schema", detail="event_payload must be an object")
    return {"event_type": event_type, "event_payload": copy.deepcopy(metadata["event_payload"])}


def message_content(args: dict[str, Any], *, required: bool = True) -> tuple[str | None, list[Any] | None]:
    """``text`` and ``blocks`` of a message request, validated as Slack does."""
    text = str_arg(args, "text")
    blocks = json_arg(args, "blocks", error="invalid_blocks_format")
    if blocks is not None:
        if not isinstance(blocks, list):
            raise ApiError("invalid_blocks_format")
        errors = validate_message_blocks(blocks)
        if errors:
            raise invalid_blocks(errors)
        if blocks_text_length(blocks) > MAX_MESSAGE_BLOCKS_TEXT:
            raise ApiError("msg_blocks_too_long")
    if required and not text and not blocks and not args.get("attachments"):
        raise ApiError("no_text")
    return text, blocks


@method("auth.test")
def auth_test(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    return {
        "ok": True,
        "url": f"https://{ws.domain(ws.team_id)}.slack.com/",
        "team": ws.team_name,
        "user": ws.users[ws.bot_user_id].name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "app_id": ws.app_id,
        "is_enterprise_install": False,
        **({"enterprise_id": ws.enterprise_id} if ws.enterprise_id else {}),
    }


def thread_parent(ws: Workspace, channel: Channel, thread_ts: str | None) -> str | None:
    """The ``thread_ts`` of a post: the ts of a message of this channel that starts a thread.

    Slack's reference: "Provide another message's ts value to make this message a reply. Avoid
    using a reply's ts value; use its parent instead." The stand-in is stricter than Slack may be:
    a ts that names no message of the channel is refused with ``thread_not_found``, and a reply's
    ts with ``cannot_reply_to_message`` (threads are one level deep), so a bot that threads
    under the wrong message fails its tests.
    """
    if not thread_ts:
        return None
    parent = ws.find_message(channel.id, thread_ts)
    if parent is None:
        raise ApiError("thread_not_found")
    if parent.get("thread_ts") and parent["thread_ts"] != parent["ts"]:
        raise ApiError("cannot_reply_to_message", detail="thread_ts names a reply; use its parent's ts")
    return thread_ts


@method("chat.postMessage", scope="chat:write")
def chat_post_message(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = _channel(ws, str_arg(req.args, "channel"), for_posting=True, public_without_joining=True)
    text, blocks = message_content(req.args)
    thread_ts = thread_parent(ws, channel, str_arg(req.args, "thread_ts"))
    extra: dict[str, Any] = {}
    metadata = message_metadata(req.args)
    if metadata:
        extra["metadata"] = metadata
    if thread_ts and bool_arg(req.args, "reply_broadcast"):
        extra["reply_broadcast"] = True  # also shown in the channel (standin/notify.py)
    record = ws.store_message(channel, text=text or "", blocks=blocks, thread_ts=thread_ts, extra=extra)
    return {"ok": True, "channel": channel.id, "ts": record["ts"], "message": ws.slack_message(record)}


def update_message(ws: Workspace, channel: Channel, ts: str | None, args: dict[str, Any]) -> dict[str, Any]:
    """Apply a chat.update (also used by response_url ``replace_original``)."""
    record = ws.find_message(channel.id, ts or "")
    if record is None:
        raise ApiError("message_not_found")
    text = str_arg(args, "text")
    if text is not None and len(text) > MAX_UPDATE_TEXT:
        raise ApiError("msg_too_long")
    text, blocks = message_content(args, required=False)
    if text is None and blocks is None and not args.get("attachments"):
        raise ApiError("no_text")
    metadata = message_metadata(args)
    before_text, before_blocks = record["text"], record["blocks"]
    record["versions"].append(
        {"text": record["text"], "blocks": record["blocks"], "ts": record.get("edited_ts")}
    )
    if text is not None:
        record["text"] = text
    if blocks is not None:
        record["blocks"] = copy.deepcopy(blocks)
    if metadata is not None:
        record["metadata"] = metadata
    record["edited"] = True
    record["edited_ts"] = ws.next_ts()
    on_edit(ws, record, before_text, before_blocks)
    return record


@method("chat.update", scope="chat:write")
def chat_update(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = _channel(ws, str_arg(req.args, "channel"))
    record = update_message(ws, channel, str_arg(req.args, "ts"), req.args)
    message = ws.slack_message(record)
    return {"ok": True, "channel": channel.id, "ts": record["ts"], "text": record["text"], "message": message}


def record_ephemeral(
    ws: Workspace,
    *,
    channel: str,
    user: str,
    text: str | None,
    blocks: list[Any] | None,
    thread_ts: str | None = None,
    source: str = "api",
) -> dict[str, Any]:
    ephemeral = {
        "channel": channel,
        "user": user,
        "text": text or "",
        "blocks": blocks or [],
        "ts": ws.next_ts(),
        "thread_ts": thread_ts,
        "source": source,
    }
    ws.ephemerals.append(ephemeral)
    on_ephemeral(ws, ephemeral)
    return ephemeral


@method("chat.postEphemeral", scope="chat:write")
def chat_post_ephemeral(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = _channel(ws, str_arg(req.args, "channel"), for_posting=True)
    user = str_arg(req.args, "user")
    if not user or user not in ws.users:
        raise ApiError("user_not_found")
    if user not in channel.members:
        raise ApiError("user_not_in_channel")
    text, blocks = message_content(req.args)
    eph = record_ephemeral(
        ws, channel=channel.id, user=user, text=text, blocks=blocks, thread_ts=str_arg(req.args, "thread_ts")
    )
    return {"ok": True, "message_ts": eph["ts"]}


@method("chat.delete", scope="chat:write")
def chat_delete(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = _channel(ws, str_arg(req.args, "channel"))
    record = ws.find_message(channel.id, str_arg(req.args, "ts") or "")
    if record is None:
        raise ApiError("message_not_found")
    record["deleted"] = True
    return {"ok": True, "channel": channel.id, "ts": record["ts"]}


@method("chat.getPermalink")
def chat_get_permalink(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = _channel(ws, str_arg(req.args, "channel"))
    record = ws.find_message(channel.id, str_arg(req.args, "message_ts") or "")
    if record is None:
        raise ApiError("message_not_found")
    link = f"https://{ws.domain(ws.team_id)}.slack.com/archives/{channel.id}/p{record['ts'].replace('.', '')}"
    if record.get("thread_ts") and record["thread_ts"] != record["ts"]:
        link += f"?thread_ts={record['thread_ts']}&cid={channel.id}"
    return {"ok": True, "channel": channel.id, "permalink": link}


@method("users.info", scope="users:read")
def users_info(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    user = ws.users.get(str_arg(req.args, "user") or "")
    if user is None:
        raise ApiError("user_not_found")
    if not user.visible:
        raise ApiError("user_not_visible")
    shares = any(
        ws.bot_user_id in c.members and user.id in c.members and not c.is_archived
        for c in ws.channels.values()
    )
    answer = user.to_api(
        installing_team=ws.team_id,
        email_visible=ws.has_scope("users:read.email"),
        shares_channel=shares,
    )
    if bool_arg(req.args, "include_locale") and user.team_id == ws.team_id:
        answer["locale"] = "en-US"  # external members' profiles carry no locale
    return {"ok": True, "user": answer}


@method("users.lookupByEmail", scope="users:read.email")
def users_lookup_by_email(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    """The workspace's member with this email (docs.slack.dev/reference/methods/users.lookupByEmail:
    `users_not_found` for an email nobody of the workspace has; people of other organisations are
    not found by it)."""
    email = (str_arg(req.args, "email") or "").strip().lower()
    if not email:
        raise ApiError("invalid_arguments")
    for user in ws.users.values():
        if user.email and user.email.lower() == email and user.team_id == ws.team_id and not user.deleted:
            return {"ok": True, "user": user.to_api(installing_team=ws.team_id)}
    raise ApiError("users_not_found")


def _readable(ws: Workspace, ref: str | None, family: str) -> Channel:
    """A conversation for a ``conversations.*`` read method, after its type-dependent scope check."""
    channel = _channel(ws, ref)
    require_scope(ws, conversation_scope(channel, family))
    return channel


@method("conversations.info")
def conversations_info(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = _readable(ws, str_arg(req.args, "channel"), "read")
    return {"ok": True, "channel": channel.to_api(ws.bot_user_id)}


@method("conversations.members")
def conversations_members(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = _readable(ws, str_arg(req.args, "channel"), "read")
    limit = int(str_arg(req.args, "limit") or 100) or 100
    cursor = str_arg(req.args, "cursor")
    try:
        start = int(base64.b64decode(cursor).decode().split(":", 1)[1]) if cursor else 0
    except (ValueError, IndexError) as exc:
        raise ApiError("invalid_cursor") from exc
    page = channel.members[start : start + limit]
    end = start + len(page)
    next_cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(channel.members) else ""
    return {"ok": True, "members": list(page), "response_metadata": {"next_cursor": next_cursor}}


@method("usergroups.users.list", scope="usergroups:read")
def usergroups_users_list(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    """docs.slack.dev/reference/methods/usergroups.users.list: the members of a User Group
    (`usergroup`, required); `no_such_subteam` for an unknown one."""
    group = str_arg(req.args, "usergroup")
    if not group:
        raise ApiError("invalid_arguments")
    if group not in ws.usergroups:
        raise ApiError("no_such_subteam")
    return {"ok": True, "users": list(ws.usergroups[group])}


EXTERNAL_DM_REFUSED = "invalid_user_combination"


def _same_organisation(ws: Workspace, user_id: str) -> bool:
    """The installing workspace's own people: its members, and on Enterprise Grid the members of
    the org's other workspaces."""
    user = ws.users[user_id]
    if user.team_id == ws.team_id:
        return True
    return ws.enterprise_id is not None and user.enterprise_id == ws.enterprise_id


@method("conversations.open")
def conversations_open(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    """Open (or find) the bot's DM with one person.

    A person of another organisation (a Slack Connect customer) is refused with
    ``invalid_user_combination`` unless a test allowed it (``SlackStandIn.allow_external_dm``).
    Slack documents that error for conversations.open as "To message people from multiple
    organizations, those organizations must be in at least one channel together"
    (docs.slack.dev/reference/methods/conversations.open), and DMs across organisations are a Slack
    Connect feature each organisation's admins can turn off or limit to some members, or to
    accepted DM invitations (slack.com/help/articles/360060326994, "Manage settings and permissions
    for Slack Connect direct messages"). The bot cannot see the other organisation's settings, so
    the stand-in takes the strict side: no DM with another organisation's people by default, and
    the bot must reach them another way (in the channel they share).
    """
    # Opening a 1:1 DM needs im:write (a group DM would need mpim:write; the stand-in opens 1:1 only).
    require_scope(ws, "im:write")
    channel_ref = str_arg(req.args, "channel")
    if channel_ref:
        channel = ws.channels.get(channel_ref)
        if channel is None or not channel.is_im:
            raise ApiError("channel_not_found")
        return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": channel.id}}
    users = [u.strip() for u in (str_arg(req.args, "users") or "").split(",") if u.strip()]
    if not users:
        raise ApiError("users_list_not_supplied")
    if len(users) > 1:
        raise ApiError("not_supported", detail="the stand-in only opens 1:1 IMs")
    if users[0] not in ws.users:
        raise ApiError("user_not_found")
    if not _same_organisation(ws, users[0]) and users[0] not in ws.external_dms:
        raise ApiError(EXTERNAL_DM_REFUSED)
    existed = any(c.is_im and c.im_user == users[0] for c in ws.channels.values())
    channel = ws.open_im(users[0])
    body: dict[str, Any] = {"ok": True, "channel": {"id": channel.id}}
    if str_arg(req.args, "return_im") in ("1", "true", "True"):
        body["channel"] = channel.to_api(ws.bot_user_id)
    if existed:
        body.update(no_op=True, already_open=True)
    return body


def _ts_key(ts: str) -> tuple[int, int]:
    """A message ts ("1700000000.000100") as a sortable pair; ValueError when malformed."""
    seconds, _, micros = ts.partition(".")
    return int(seconds), int((micros + "000000")[:6])


def _bound(args: dict[str, Any], key: str, error: str) -> tuple[int, int] | None:
    raw = str_arg(args, key)
    if raw in (None, ""):
        return None
    try:
        return _ts_key(str(raw))
    except ValueError as exc:
        raise ApiError(error) from exc


@dataclass(frozen=True)
class _Paging:
    """The bounds and paging arguments conversations.history and .replies share."""

    oldest: tuple[int, int] | None
    latest: tuple[int, int] | None
    inclusive: bool
    with_metadata: bool
    limit: int
    cursor: tuple[int, int] | None  # the ts the cursor names
    cursor_kind: str

    @classmethod
    def of(cls, args: dict[str, Any], *, default_limit: int, max_limit: int, cursor_kind: str) -> _Paging:
        try:
            limit = min(max(int(str_arg(args, "limit") or default_limit), 1), max_limit)
        except ValueError as exc:
            raise ApiError("invalid_limit") from exc
        cursor: tuple[int, int] | None = None
        if raw := str_arg(args, "cursor"):
            try:
                kind, _, value = base64.b64decode(raw).decode().partition(":")
                if kind != cursor_kind:
                    raise ValueError(kind)
                cursor = _ts_key(value)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ApiError("invalid_cursor") from exc
        return cls(
            oldest=_bound(args, "oldest", "invalid_ts_oldest"),
            latest=_bound(args, "latest", "invalid_ts_latest"),
            inclusive=bool_arg(args, "inclusive"),
            with_metadata=bool_arg(args, "include_all_metadata"),
            limit=limit,
            cursor=cursor,
            cursor_kind=cursor_kind,
        )

    def in_bounds(self, key: tuple[int, int]) -> bool:
        if self.oldest is not None and (key < self.oldest or (key == self.oldest and not self.inclusive)):
            return False
        return not (
            self.latest is not None and (key > self.latest or (key == self.latest and not self.inclusive))
        )

    def page(self, ws: Workspace, found: list[dict[str, Any]]) -> dict[str, Any]:
        """The first `limit` of `found` as Slack shows them, and the cursor to the rest."""
        page, more = found[: self.limit], len(found) > self.limit
        messages = []
        for record in page:
            message = ws.slack_message(record)
            if not self.with_metadata:
                message.pop("metadata", None)
            messages.append(message)
        cursor = base64.b64encode(f"{self.cursor_kind}:{page[-1]['ts']}".encode()).decode() if more else ""
        return {"messages": messages, "has_more": more, "response_metadata": {"next_cursor": cursor}}


@method("conversations.history")
def conversations_history(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    """A conversation's messages, newest first: top-level messages (no thread replies but those
    broadcast to the channel with ``reply_broadcast``), not deleted.

    ``oldest``/``latest`` bound the ts (exclusive unless ``inclusive``); ``limit`` (default 100, at
    most 999) and ``cursor`` page through them. ``metadata`` is only in the answer with
    ``include_all_metadata``. A bot reads only conversations it is a member of (``not_in_channel``).
    """
    channel = _readable(ws, str_arg(req.args, "channel"), "history")
    if ws.bot_user_id not in channel.members:
        raise ApiError("not_in_channel")
    paging = _Paging.of(req.args, default_limit=100, max_limit=999, cursor_kind="next_ts")

    def wanted(record: dict[str, Any]) -> bool:
        key = _ts_key(record["ts"])
        reply = record.get("thread_ts") and record["thread_ts"] != record["ts"]
        if record["deleted"] or (reply and not record.get("reply_broadcast")):
            return False
        if paging.cursor is not None and key >= paging.cursor:
            return False
        return paging.in_bounds(key)

    found = sorted(
        (m for m in ws.messages.get(channel.id, []) if wanted(m)),
        key=lambda m: _ts_key(m["ts"]),
        reverse=True,
    )
    return {
        "ok": True,
        **paging.page(ws, found),
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
    }


@method("conversations.replies")
def conversations_replies(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    """A thread: its parent message, then its replies, oldest first (not deleted ones).

    ``ts`` names the parent or any message of the thread; a ts that names no message is
    ``thread_not_found``. Scopes and membership as for conversations.history (channels:history on
    a public channel, groups:history on a private one). ``oldest``/``latest``/``inclusive`` bound
    the ts, ``limit`` (default 1000) and ``cursor`` page, ``include_all_metadata`` adds metadata.
    """
    channel = _readable(ws, str_arg(req.args, "channel"), "history")
    if ws.bot_user_id not in channel.members:
        raise ApiError("not_in_channel")
    ts = str_arg(req.args, "ts")
    if not ts:
        raise ApiError("invalid_arguments", detail="ts is required")
    named = ws.find_message(channel.id, ts)
    if named is None:
        raise ApiError("thread_not_found")
    root = named["thread_ts"] if named.get("thread_ts") else named["ts"]
    paging = _Paging.of(req.args, default_limit=1000, max_limit=1000, cursor_kind="after_ts")

    def wanted(record: dict[str, Any]) -> bool:
        if record["deleted"] or not (record["ts"] == root or record.get("thread_ts") == root):
            return False
        key = _ts_key(record["ts"])
        if paging.cursor is not None and key <= paging.cursor:
            return False
        return paging.in_bounds(key)

    found = sorted((m for m in ws.messages.get(channel.id, []) if wanted(m)), key=lambda m: _ts_key(m["ts"]))
    return {"ok": True, **paging.page(ws, found)}
