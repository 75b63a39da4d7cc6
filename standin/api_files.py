"""Web API methods: the two-step file upload and apps.connections.open.

Slack's upload is three steps: files.getUploadURLExternal gives an upload URL and a file id, the
bytes are POSTed to that URL (``server._upload``: 200, or "a non-200 response indicates a
failure"), files.completeUploadExternal shares the file. Each method refuses what its reference
documents under Errors, as far as the stand-in models it:
- docs.slack.dev/reference/methods/files.getUploadURLExternal — the workspace's file settings
  (``file_uploads_disabled``, ``file_upload_size_restricted``, ``storage_limit_reached``; see
  ``SlackStandIn.set_file_settings``) and a bad request (``invalid_arguments``,
  ``missing_argument`` for a length of 0, ``alt_txt_too_large`` past 1000 characters,
  ``snippet_too_large`` past 1 MB);
- docs.slack.dev/reference/methods/files.completeUploadExternal — the channel (``channel_not_found``,
  ``not_in_channel``, ``is_archived``), the thread (``thread_not_found``,
  ``cannot_reply_to_message``), a bad request (``invalid_arguments``, ``file_not_found``,
  ``channels_limit_exceeded`` past 100 channels, ``invalid_blocks``).
A Slack Connect admin's block on files (``SlackStandIn.block_file_uploads``) answers
``slack_connect_file_upload_sharing_blocked``, which Slack documents for the retired files.upload
(and chat.postMessage) but not for the external upload, whose table ends "other errors can be
returned": a bot must fall back on any refusal, not on this code. Codes the stand-in does not
model (``posting_to_channel_denied``, an undocumented one) come from ``fail_next``; ``ratelimited``
from the rate limits (Tier 4, both methods).
"""

from __future__ import annotations

import json
import mimetypes
import time
from typing import Any

from .api_common import ApiError, ApiRequest, json_arg, method, str_arg
from .state import Workspace

# The limits behind documented errors: "alt_txt_too_large: Description for the image is longer than
# the limit of 1000 character"; "snippet_too_large: ... snippets, which are limited to 1MB";
# "channels_limit_exceeded: ... A maximum of 100 channels is allowed per request".
ALT_TXT_MAX = 1000
SNIPPET_MAX = 1024 * 1024
CHANNELS_MAX = 100


@method("files.getUploadURLExternal", scope="files:write")
def files_get_upload_url_external(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    filename = str_arg(req.args, "filename")
    length = str_arg(req.args, "length")
    if not filename or not length or not length.isdigit():
        raise ApiError("invalid_arguments")
    size = int(length)
    if size == 0:  # "missing_argument: ... Typically only occurs when the length provided is 0."
        raise ApiError("missing_argument")
    alt_txt = str_arg(req.args, "alt_txt")
    if alt_txt and len(alt_txt) > ALT_TXT_MAX:
        raise ApiError("alt_txt_too_large")
    if str_arg(req.args, "snippet_type") and size > SNIPPET_MAX:
        raise ApiError("snippet_too_large")
    settings = ws.file_settings
    if settings.uploads_disabled:
        raise ApiError("file_uploads_disabled")
    if settings.max_bytes is not None and size > settings.max_bytes:
        raise ApiError("file_upload_size_restricted")
    if settings.storage_full:
        raise ApiError("storage_limit_reached")
    file_id = ws.new_id("F")
    ws.pending_uploads[file_id] = {
        "filename": filename,
        "length": size,
        "content": None,
        "alt_txt": alt_txt,
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
    if len(channel_ids) > CHANNELS_MAX:
        raise ApiError("channels_limit_exceeded")
    # "If the initial_comment field is provided, the blocks field is ignored"
    if not str_arg(req.args, "initial_comment") and not _blocks_ok(req.args.get("blocks")):
        raise ApiError("invalid_blocks")
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


def _blocks_ok(raw: Any) -> bool:
    """files.completeUploadExternal's ``blocks``: "A JSON-based array of structured rich text
    blocks" (absent is fine); anything else is ``invalid_blocks``."""
    if raw in (None, ""):
        return True
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return False
    return isinstance(raw, list) and all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in raw)


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
