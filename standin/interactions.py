"""What Slack does with an app's answers: ``response_url`` posts and ``view_submission`` responses."""

from __future__ import annotations

import time
from typing import Any

from .api_chat import message_content, record_ephemeral, update_message
from .api_common import ApiError, invalid_view
from .api_views import check_view_payload, close_stack, push_view, replace_view
from .state import Call, Workspace, fill_ids

RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL = 30 * 60


def apply_response_url(ws: Workspace, url_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Apply a POST to ``/response/<id>``; returns (HTTP status, JSON answer). Caller holds the lock."""
    ctx = ws.response_urls.get(url_id)
    if ctx is None:
        return 404, {"ok": False, "error": "invalid_url"}
    ctx["uses"] += 1
    if ctx["uses"] > RESPONSE_URL_MAX_USES:
        return 404, {"ok": False, "error": "used_url"}
    if time.monotonic() - ctx["created"] > RESPONSE_URL_TTL:
        return 404, {"ok": False, "error": "expired_url"}
    channel = ws.channels.get(ctx["channel"] or "")
    source_ts = ctx.get("source_ts")
    try:
        if body.get("delete_original"):
            return _delete_original(ws, ctx, channel)
        if body.get("replace_original") and source_ts and channel is not None:
            update_message(ws, channel, source_ts, body)
            return 200, {"ok": True}
        text, blocks = message_content(body)
        previous = ctx.get("last_ephemeral")
        if body.get("replace_original") and previous is not None:
            previous.update(text=text or "", blocks=blocks or [], replaced=True)
            return 200, {"ok": True}
        if channel is None:
            return 404, {"ok": False, "error": "channel_not_found"}
        if body.get("response_type") == "in_channel":
            ws.store_message(channel, text=text or "", blocks=blocks, thread_ts=body.get("thread_ts"))
        else:
            ctx["last_ephemeral"] = record_ephemeral(
                ws,
                channel=channel.id,
                user=ctx["user"],
                text=text,
                blocks=blocks,
                thread_ts=body.get("thread_ts"),
                source="response_url",
            )
        return 200, {"ok": True}
    except ApiError as exc:
        return (404 if exc.code == "message_not_found" else 400), exc.body()


def _delete_original(ws: Workspace, ctx: dict[str, Any], channel: Any) -> tuple[int, dict[str, Any]]:
    if ctx.get("source_ts") and channel is not None:
        record = ws.find_message(channel.id, ctx["source_ts"])
        if record is None:
            return 404, {"ok": False, "error": "message_not_found"}
        record["deleted"] = True
        return 200, {"ok": True}
    if ctx.get("last_ephemeral") is not None:
        ctx["last_ephemeral"]["deleted"] = True
        return 200, {"ok": True}
    return 404, {"ok": False, "error": "message_not_found"}


def apply_view_submission_response(
    ws: Workspace, view_id: str, status: int, answer: dict[str, Any] | None, body: str
) -> None:
    """Apply the app's HTTP answer to a ``view_submission`` to the stored views; records a call."""
    with ws.lock:
        record = ws.views[view_id]
        user = record["user"]
        action = (answer or {}).get("response_action")
        result: dict[str, Any] = {"ok": True, "response_action": action}
        if status != 200:
            result = {"ok": False, "error": "app_error", "status": status}
        elif action == "errors":
            errors = (answer or {}).get("errors")
            problems = view_errors_problems(record, errors)
            if problems:
                result = invalid_view(problems).body()  # the modal stays as it was
            else:
                record["errors"] = dict(errors)  # the modal stays open and shows them
        elif action in ("update", "push"):
            try:
                view = check_view_payload((answer or {}).get("view") or {}, "modal")
                if action == "update":
                    replace_view(ws, record, view)
                else:
                    push_view(ws, user, view, None)
            except ApiError as exc:
                result = exc.body()
        elif action == "clear":
            close_stack(ws, user)
        elif action is None and not body.strip():
            _close_one(ws, user, view_id)
        else:
            result = {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": [f"[ERROR] unexpected answer: {body[:200]!r}"]},
            }
        if result.get("ok") and action != "errors":
            record["errors"] = {}
        ws.calls.append(
            Call(
                "view_submission.response",
                {"view_id": view_id, "answer": answer or body},
                result,
                status,
                time.time(),
            )
        )


def view_errors_problems(record: dict[str, Any], errors: Any) -> list[str]:
    """What Slack refuses in ``{"response_action": "errors", "errors": ...}`` answering a submission.

    Slack's modals guide: "errors: a key-value map where the key is the block_id of an input block
    and the value is the error message". A key naming another kind of block (a section, actions…)
    or no block of the submitted view is refused: the user sees Slack's generic "We had some
    trouble connecting" and the modal stays as it was, without any error under its fields.
    """
    if not isinstance(errors, dict):
        return ["errors must be an object mapping input block_ids to messages [json-pointer:/errors]"]
    blocks = fill_ids(record["view"].get("blocks"), seed=record["id"])  # as the payload had them
    kinds = {b.get("block_id"): b.get("type") for b in blocks if isinstance(b, dict)}
    problems: list[str] = []
    for key, message in errors.items():
        pointer = "[json-pointer:/errors/" + str(key).replace("~", "~0").replace("/", "~1") + "]"
        kind = kinds.get(key)
        if kind is None:
            problems.append(f"{key!r} is not the block_id of a block in the submitted view {pointer}")
        elif kind != "input":
            article = "an" if str(kind)[:1] in "aeiou" else "a"
            problems.append(
                f"{key!r} is the block_id of {article} {kind!r} block, not of an input block {pointer}"
            )
        if not isinstance(message, str):
            problems.append(f"the error for {key!r} must be a string message {pointer}")
    return problems


def _close_one(ws: Workspace, user: str, view_id: str) -> None:
    """Submitting without a response_action closes the submitted view (and any pushed above it)."""
    ws.views[view_id]["closed"] = True
    stack = ws.view_stacks.get(user) or []
    if view_id in stack:
        for closed in stack[stack.index(view_id) :]:
            ws.views[closed]["closed"] = True
        del stack[stack.index(view_id) :]
    if not stack:
        ws.view_stacks.pop(user, None)


def apply_command_ack(
    ws: Workspace, channel_id: str, user: str, status: int, answer: dict[str, Any] | None, body: str
) -> None:
    """Show a slash command's immediate answer (``ack(text)``) as Slack does: ephemeral or in channel."""
    if status != 200 or not body.strip():
        return
    data = answer if isinstance(answer, dict) else {"text": body}
    if not data.get("text") and not data.get("blocks"):
        return
    with ws.lock:
        try:
            text, blocks = message_content(data)
            channel = ws.channels.get(channel_id)
            if channel is None:
                raise ApiError("channel_not_found")
            if data.get("response_type") == "in_channel":
                ws.store_message(channel, text=text or "", blocks=blocks)
            else:
                record_ephemeral(
                    ws, channel=channel_id, user=user, text=text, blocks=blocks, source="command_ack"
                )
            result: dict[str, Any] = {"ok": True}
        except ApiError as exc:
            result = exc.body()
        ws.calls.append(
            Call("command.ack", {"channel": channel_id, "user": user, **data}, result, status, time.time())
        )
