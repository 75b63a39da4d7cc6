"""Web API methods: auth.test, chat.*, conversations.*, users.*."""

from __future__ import annotations

import base64
import copy
from typing import Any

from .api_common import ApiError, ApiRequest, invalid_blocks, json_arg, method, str_arg
from .state import Channel, Workspace
from .validate import MAX_MESSAGE_BLOCKS_TEXT, MAX_UPDATE_TEXT, blocks_text_length, validate_message_blocks


def _channel(ws: Workspace, ref: str | None, *, for_posting: bool = False) -> Channel:
    channel = ws.find_channel(ref)
    if channel is None:
        raise ApiError("channel_not_found")
    if channel.is_private and ws.bot_user_id not in channel.members:
        raise ApiError("channel_not_found")
    if for_posting:
        if channel.is_archived:
            raise ApiError("is_archived")
        if ws.bot_user_id not in channel.members:
            raise ApiError("not_in_channel")
    return channel


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


@method("chat.postMessage")
def chat_post_message(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = _channel(ws, str_arg(req.args, "channel"), for_posting=True)
    text, blocks = message_content(req.args)
    extra: dict[str, Any] = {}
    metadata = json_arg(req.args, "metadata")
    if metadata:
        extra["metadata"] = metadata
    record = ws.store_message(
        channel, text=text or "", blocks=blocks, thread_ts=str_arg(req.args, "thread_ts"), extra=extra
    )
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
    record["versions"].append(
        {"text": record["text"], "blocks": record["blocks"], "ts": record.get("edited_ts")}
    )
    if text is not None:
        record["text"] = text
    if blocks is not None:
        record["blocks"] = copy.deepcopy(blocks)
    record["edited"] = True
    record["edited_ts"] = ws.next_ts()
    return record


@method("chat.update")
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
    return ephemeral


@method("chat.postEphemeral")
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


@method("chat.delete")
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


@method("users.info")
def users_info(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    user = ws.users.get(str_arg(req.args, "user") or "")
    if user is None:
        raise ApiError("user_not_found")
    if not user.visible:
        raise ApiError("user_not_visible")
    return {"ok": True, "user": user.to_api()}


@method("conversations.info")
def conversations_info(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = _channel(ws, str_arg(req.args, "channel"))
    return {"ok": True, "channel": channel.to_api(ws.bot_user_id)}


@method("conversations.members")
def conversations_members(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = _channel(ws, str_arg(req.args, "channel"))
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


@method("conversations.open")
def conversations_open(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
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
    existed = any(c.is_im and c.im_user == users[0] for c in ws.channels.values())
    channel = ws.open_im(users[0])
    body: dict[str, Any] = {"ok": True, "channel": {"id": channel.id}}
    if str_arg(req.args, "return_im") in ("1", "true", "True"):
        body["channel"] = channel.to_api(ws.bot_user_id)
    if existed:
        body.update(no_op=True, already_open=True)
    return body
