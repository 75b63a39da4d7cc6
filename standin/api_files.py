"""Web API methods: the two-step file upload and apps.connections.open."""

from __future__ import annotations

import mimetypes
import time
from typing import Any

from .api_common import ApiError, ApiRequest, json_arg, method, str_arg
from .state import Workspace


@method("files.getUploadURLExternal", scope="files:write")
def files_get_upload_url_external(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    filename = str_arg(req.args, "filename")
    length = str_arg(req.args, "length")
    if not filename or not length or not length.isdigit():
        raise ApiError("invalid_arguments")
    file_id = ws.new_id("F")
    ws.pending_uploads[file_id] = {
        "filename": filename,
        "length": int(length),
        "content": None,
        "alt_txt": str_arg(req.args, "alt_txt"),
    }
    return {"ok": True, "upload_url": f"{ws.base_url}/upload/{file_id}", "file_id": file_id}


@method("files.completeUploadExternal", scope="files:write")
def files_complete_upload_external(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    items = json_arg(req.args, "files")
    if (
        not isinstance(items, list)
        or not items
        or not all(isinstance(i, dict) and i.get("id") for i in items)
    ):
        raise ApiError("invalid_arguments")
    for item in items:
        pending = ws.pending_uploads.get(item["id"])
        if pending is None or pending["content"] is None:
            raise ApiError("file_not_found")
    channel_ids = [c for c in (str_arg(req.args, "channels") or "").split(",") if c]
    if str_arg(req.args, "channel_id"):
        channel_ids.insert(0, str_arg(req.args, "channel_id") or "")
    channels = []
    for channel_id in channel_ids:
        channel = ws.find_channel(channel_id)
        if channel is None:
            raise ApiError("channel_not_found")
        if channel.id in ws.blocked_uploads:
            raise ApiError("slack_connect_file_upload_sharing_blocked")
        if channel.is_archived:
            raise ApiError("is_archived")
        if ws.bot_user_id not in channel.members:
            raise ApiError("not_in_channel")
        channels.append(channel)

    comment = str_arg(req.args, "initial_comment")
    thread_ts = _thread_parent(ws, channels, str_arg(req.args, "thread_ts"))
    answered = []
    for item in items:
        pending = ws.pending_uploads.pop(item["id"])
        title = item.get("title") or pending["filename"]
        mimetype = mimetypes.guess_type(pending["filename"])[0] or "application/octet-stream"
        record = {
            "id": item["id"],
            "filename": pending["filename"],
            "title": title,
            "content": pending["content"],
            "channel_id": channels[0].id if channels else None,
            "channels": [c.id for c in channels],
            "initial_comment": comment,
            "thread_ts": thread_ts,
            "user": ws.bot_user_id,
            "size": len(pending["content"]),
            "mimetype": mimetype,
            "alt_txt": pending.get("alt_txt"),
            "created": int(time.time()),
        }
        ws.files[item["id"]] = record
        answered.append(
            {
                "id": item["id"],
                "name": pending["filename"],
                "title": title,
                "mimetype": mimetype,
                "size": record["size"],
                "user": ws.bot_user_id,
                "permalink": f"https://{ws.domain(ws.team_id)}.slack.com/files/{ws.bot_user_id}/"
                f"{item['id']}/{pending['filename']}",
            }
        )
    shared = [{"id": f["id"], "name": f["name"], "title": f["title"]} for f in answered]
    for channel in channels:
        ws.store_message(
            channel, text=comment or "", blocks=None, thread_ts=thread_ts, extra={"files": shared}
        )
    return {"ok": True, "files": answered}


def _thread_parent(ws: Workspace, channels: list[Any], thread_ts: str | None) -> str | None:
    """A file shared as a reply: Slack's reference says to "provide only one channel when using
    thread_ts" and never a reply's ts ("use its parent instead"). The stand-in refuses the rest:
    several channels (`invalid_arguments`), a ts that names no message of the channel
    (`thread_not_found`), a reply's ts (`cannot_reply_to_message`)."""
    if not thread_ts:
        return None
    if len(channels) != 1:
        raise ApiError("invalid_arguments")
    parent = ws.find_message(channels[0].id, thread_ts)
    if parent is None:
        raise ApiError("thread_not_found")
    if parent.get("thread_ts") and parent["thread_ts"] != parent["ts"]:
        raise ApiError("cannot_reply_to_message")
    return thread_ts


@method("files.upload", scope="files:write")
def files_upload(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    raise ApiError("method_deprecated")


@method("apps.connections.open", token="app")
def apps_connections_open(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    if ws.socket_url_provider is None:
        raise ApiError("internal_error")
    return {"ok": True, "url": ws.socket_url_provider()}
