"""Web API methods: views.open, views.update, views.push, views.publish."""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any

from .api_common import ApiError, ApiRequest, invalid_view, json_arg, method, str_arg
from .state import Workspace, fill_ids
from .validate import MAX_VIEW_BYTES, validate_view, view_size

MAX_STACK = 3


def new_hash() -> str:
    return f"{int(time.time())}.{secrets.token_hex(4)}"


def checked_view(args: dict[str, Any], view_type: str | None) -> dict[str, Any]:
    """The ``view`` argument, validated; raises Slack's error otherwise."""
    view = json_arg(args, "view")
    if not isinstance(view, dict):
        raise ApiError(
            "invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: view"]}
        )
    return check_view_payload(view, view_type)


def check_view_payload(view: dict[str, Any], view_type: str | None) -> dict[str, Any]:
    if view_type is not None and view.get("type") != view_type:
        raise invalid_view([f"view type must be {view_type!r} [json-pointer:/view/type]"])
    if view_size(view) > MAX_VIEW_BYTES:
        raise ApiError("view_too_large")
    errors = validate_view(view)
    if errors:
        raise invalid_view(errors)
    return view


def slack_view(ws: Workspace, record: dict[str, Any]) -> dict[str, Any]:
    """A stored view in the shape of Slack's ``view`` object (API answers and payloads)."""
    view = record["view"]
    return {
        "id": record["id"],
        "team_id": ws.team_id,
        "type": view.get("type"),
        "blocks": fill_ids(view.get("blocks"), seed=record["id"]),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "state": copy.deepcopy(record["state"]),
        "hash": record["hash"],
        "title": copy.deepcopy(view.get("title")),
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "close": copy.deepcopy(view.get("close")),
        "submit": copy.deepcopy(view.get("submit")),
        "previous_view_id": record["previous_view_id"],
        "root_view_id": record["root_view_id"],
        "app_id": ws.app_id,
        "external_id": record.get("external_id") or "",
        "app_installed_team_id": ws.team_id,
        "bot_id": ws.bot_id,
    }


def _check_external_id(ws: Workspace, view: dict[str, Any], own_id: str | None = None) -> None:
    external_id = view.get("external_id")
    if not external_id:
        return
    for rec in ws.views.values():
        if rec["id"] != own_id and not rec["closed"] and rec.get("external_id") == external_id:
            raise ApiError("duplicate_external_id")


def new_view_record(
    ws: Workspace,
    view: dict[str, Any],
    *,
    user: str,
    trigger_id: str | None,
    previous: str | None,
    root: str | None,
) -> dict[str, Any]:
    view_id = ws.new_id("V")
    record = {
        "id": view_id,
        "user": user,
        "type": view.get("type"),
        "view": copy.deepcopy(view),
        "state": {"values": {}},
        "trigger_id": trigger_id,
        "previous_view_id": previous,
        "root_view_id": root or view_id,
        "hash": new_hash(),
        "closed": False,
        "external_id": view.get("external_id"),
        # What the user sees under the input blocks: {block_id: message}, from the app's answer
        # ``{"response_action": "errors"}`` to a submission; a new view (an update) shows none.
        "errors": {},
    }
    ws.views[view_id] = record
    return record


def close_stack(ws: Workspace, user: str) -> None:
    for view_id in ws.view_stacks.pop(user, []):
        ws.views[view_id]["closed"] = True


@method("views.open")
def views_open(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    view = checked_view(req.args, "modal")
    trigger_id = str_arg(req.args, "trigger_id")
    error = ws.check_trigger(trigger_id)
    if error:
        raise ApiError(error)
    _check_external_id(ws, view)
    user = ws.triggers[trigger_id or ""]["user"]
    close_stack(ws, user)
    record = new_view_record(ws, view, user=user, trigger_id=trigger_id, previous=None, root=None)
    ws.view_stacks[user] = [record["id"]]
    return {"ok": True, "view": slack_view(ws, record)}


@method("views.push")
def views_push(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    view = checked_view(req.args, "modal")
    trigger_id = str_arg(req.args, "trigger_id")
    error = ws.check_trigger(trigger_id)
    if error:
        raise ApiError(error)
    user = ws.triggers[trigger_id or ""]["user"]
    return {"ok": True, "view": slack_view(ws, push_view(ws, user, view, trigger_id))}


def push_view(ws: Workspace, user: str, view: dict[str, Any], trigger_id: str | None) -> dict[str, Any]:
    stack = ws.view_stacks.get(user) or []
    if not stack:
        raise ApiError(
            "invalid_arguments", response_metadata={"messages": ["[ERROR] no open modal to push onto"]}
        )
    if len(stack) >= MAX_STACK:
        raise ApiError("push_limit_reached")
    _check_external_id(ws, view)
    record = new_view_record(ws, view, user=user, trigger_id=trigger_id, previous=stack[-1], root=stack[0])
    stack.append(record["id"])
    return record


def find_view(ws: Workspace, view_id: str | None, external_id: str | None) -> dict[str, Any]:
    record = ws.views.get(view_id or "")
    if record is None and external_id:
        record = next(
            (r for r in ws.views.values() if r.get("external_id") == external_id and not r["closed"]),
            None,
        )
    if record is None or record["closed"]:
        raise ApiError("not_found")
    return record


def replace_view(ws: Workspace, record: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    _check_external_id(ws, view, own_id=record["id"])
    record["view"] = copy.deepcopy(view)
    record["type"] = view.get("type")
    if view.get("external_id"):
        record["external_id"] = view["external_id"]
    record["hash"] = new_hash()
    record["errors"] = {}
    return record


@method("views.update")
def views_update(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    """Any open view of a stack, not only the one on top ("update an existing view within that
    stack — including the currently visible view", docs.slack.dev/surfaces/modals): the person
    goes on seeing the top one. With `hash`, the view as the app last knew it: `hash_conflict`
    when it changed since ("the provided hash doesn't match the current stored value")."""
    view_id, external_id = str_arg(req.args, "view_id"), str_arg(req.args, "external_id")
    if not view_id and not external_id:
        raise ApiError(
            "invalid_arguments", response_metadata={"messages": ["[ERROR] view_id or external_id"]}
        )
    record = find_view(ws, view_id, external_id)
    view = checked_view(req.args, record["type"])
    expected = str_arg(req.args, "hash")
    if expected and expected != record["hash"]:
        raise ApiError("hash_conflict")
    return {"ok": True, "view": slack_view(ws, replace_view(ws, record, view))}


@method("views.publish")
def views_publish(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    """The user's Home, replaced whole. With `hash` (the Home's hash from the last views.publish
    answer, an `app_home_opened` event or a click on the Home), `hash_conflict` when another
    publish changed it since, as Slack answers (docs.slack.dev/reference/methods/views.publish);
    without, whatever is there is replaced."""
    user = str_arg(req.args, "user_id")
    if not user or user not in ws.users:
        raise ApiError("user_not_found")
    view = checked_view(req.args, "home")
    expected = str_arg(req.args, "hash")
    home_id = ws.homes.get(user)
    if home_id is None:
        record = new_view_record(ws, view, user=user, trigger_id=None, previous=None, root=None)
        ws.homes[user] = record["id"]
    else:
        record = ws.views[home_id]
        if expected and expected != record["hash"]:
            raise ApiError("hash_conflict")
        replace_view(ws, record, view)
    return {"ok": True, "view": slack_view(ws, record)}
