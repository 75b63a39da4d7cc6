"""Builders for the payloads Slack sends to an app: commands, block actions, view state, events."""

from __future__ import annotations

import copy
import time
from typing import Any

from .state import Workspace, iter_elements

# Element type -> (state key, initial-value key). ``None`` state key means "not stateful".
# Element type -> the key of its current value in view state and of its initial value.
STATE_KEYS: dict[str, tuple[str, str]] = {
    "plain_text_input": ("value", "initial_value"),
    "email_text_input": ("value", "initial_value"),
    "url_text_input": ("value", "initial_value"),
    "number_input": ("value", "initial_value"),
    "rich_text_input": ("rich_text_value", "initial_value"),
    "file_input": ("files", "initial_files"),
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
    "datetimepicker": ("selected_date_time", "initial_date_time"),
    "users_select": ("selected_user", "initial_user"),
    "multi_users_select": ("selected_users", "initial_users"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "channels_select": ("selected_channel", "initial_channel"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
    "static_select": ("selected_option", "initial_option"),
    "external_select": ("selected_option", "initial_option"),
    "radio_buttons": ("selected_option", "initial_option"),
    "checkboxes": ("selected_options", "initial_options"),
    "multi_static_select": ("selected_options", "initial_options"),
    "multi_external_select": ("selected_options", "initial_options"),
}
_LIST_KEYS = frozenset(
    {"selected_users", "selected_conversations", "selected_channels", "selected_options", "files"}
)
_OPTION_ELEMENTS = frozenset(
    {
        "static_select",
        "external_select",
        "radio_buttons",
        "checkboxes",
        "multi_static_select",
        "multi_external_select",
        "overflow",
    }
)


def user_object(ws: Workspace, user_id: str) -> dict[str, Any]:
    """``user`` of an interaction payload; ``team_id`` is the user's HOME workspace."""
    user = ws.users.get(user_id)
    if user is None:
        raise LookupError(f"unknown user {user_id!r}: add it with SlackStandIn.add_user first")
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id}


def team_object(ws: Workspace) -> dict[str, Any]:
    """``team`` of an interaction payload: the installing workspace."""
    return {"id": ws.team_id, "domain": ws.domain(ws.team_id)}


def enterprise_object(ws: Workspace) -> dict[str, Any] | None:
    """``enterprise`` of an interaction payload: the install's Grid org, or None."""
    return {"id": ws.enterprise_id, "name": ws.enterprise_id} if ws.enterprise_id else None


def command_payload(
    ws: Workspace, command: str, text: str, *, user: str, channel: str, response_url: str, trigger_id: str
) -> dict[str, str]:
    """Fields of a slash-command request (form-encoded over HTTP; a dict in Socket Mode)."""
    user_obj = user_object(ws, user)
    chan = ws.channels.get(channel)
    return {
        "token": ws.verification_token,
        "team_id": ws.team_id,
        "team_domain": ws.domain(ws.team_id),
        "channel_id": channel,
        "channel_name": ("directmessage" if chan.is_im else chan.name) if chan else channel,
        "user_id": user,
        "user_name": user_obj["name"],
        "command": command,
        "text": text,
        "api_app_id": ws.app_id,
        "is_enterprise_install": "false",
        **(
            {"enterprise_id": ws.enterprise_id, "enterprise_name": ws.enterprise_id}
            if ws.enterprise_id
            else {}
        ),
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def find_element(
    blocks: list[Any], action_id: str, block_id: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The (block, element) with this action_id (and block_id when given), or None."""
    for block in blocks:
        if not isinstance(block, dict) or (block_id is not None and block.get("block_id") != block_id):
            continue
        for element in iter_elements(block):
            if element.get("action_id") == action_id:
                return block, element
    return None


def list_action_ids(blocks: list[Any]) -> list[str]:
    return [
        f"{b.get('block_id')}/{e.get('action_id')}"
        for b in blocks
        if isinstance(b, dict)
        for e in iter_elements(b)
    ]


def _all_options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def _option(element: dict[str, Any], value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return copy.deepcopy(value)
    options = _all_options(element)
    if not options and element.get("type") in ("external_select", "multi_external_select"):
        return {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)}
    for option in options:
        if option.get("value") == value:
            return copy.deepcopy(option)
    available = [o.get("value") for o in options]
    raise ValueError(f"option {value!r} is not in {element.get('action_id')!r}; available: {available}")


def element_state(
    element: dict[str, Any], value: Any = None, *, use_value: bool = False
) -> dict[str, Any] | None:
    """The ``state.values`` entry of a stateful element: its initial value, or ``value`` if ``use_value``."""
    etype = element.get("type", "")
    keys = STATE_KEYS.get(etype)
    if keys is None:
        return None
    state_key, initial_key = keys
    raw = value if use_value else copy.deepcopy(element.get(initial_key))
    if use_value and etype in _OPTION_ELEMENTS:
        if state_key == "selected_options":
            raw = [_option(element, v) for v in (raw or [])]
        elif raw is not None:
            raw = _option(element, raw)
    if state_key in _LIST_KEYS and raw is None:
        raw = []
    if etype == "datetimepicker" and raw is not None:
        raw = int(raw)
    return {"type": etype, state_key: raw}


def state_values(
    blocks: list[Any],
    overrides: dict[str, dict[str, Any]] | None = None,
    previous: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """``state.values``: every stateful element, from ``overrides`` (raw values), then ``previous``
    (state entries), then the element's initial value."""
    values: dict[str, dict[str, Any]] = {}
    overrides = overrides or {}
    previous = previous or {}
    known: set[tuple[str, str]] = set()
    for block in blocks:
        if not isinstance(block, dict):
            continue
        block_id = block.get("block_id", "")
        for element in iter_elements(block):
            action_id = element.get("action_id", "")
            known.add((block_id, action_id))
            if action_id in overrides.get(block_id, {}):
                entry = element_state(element, overrides[block_id][action_id], use_value=True)
            elif action_id in previous.get(block_id, {}):
                entry = copy.deepcopy(previous[block_id][action_id])
            else:
                entry = element_state(element)
            if entry is not None:
                values.setdefault(block_id, {})[action_id] = entry
    for block_id, actions in overrides.items():
        for action_id in actions:
            if (block_id, action_id) not in known:
                raise KeyError(
                    f"no element {block_id}/{action_id}; available: {sorted('/'.join(k) for k in known)}"
                )
    return values


def action_object(
    block: dict[str, Any], element: dict[str, Any], value: Any, has_value: bool
) -> dict[str, Any]:
    """``actions[0]`` of a block_actions payload for this element."""
    etype = element.get("type")
    action: dict[str, Any] = {
        "type": etype,
        "action_id": element.get("action_id"),
        "block_id": block.get("block_id"),
        "action_ts": f"{time.time():.6f}",
    }
    if etype in ("button", "workflow_button"):
        if has_value and value != element.get("value"):
            raise ValueError(
                f"button {element.get('action_id')!r} has value {element.get('value')!r}, not {value!r}"
            )
        action["text"] = copy.deepcopy(element.get("text"))
        for key in ("value", "style", "url"):
            if key in element:
                action[key] = element[key]
        return action
    if etype == "overflow":
        if not has_value:
            raise ValueError("clicking an overflow menu needs selected_option")
        action["selected_option"] = _option(element, value)
        return action
    if not has_value:
        raise ValueError(
            f"clicking a {etype} needs a value (selected_option(s), selected_user, selected_date…)"
        )
    entry = element_state(element, value, use_value=True) or {}
    entry.pop("type", None)
    action.update(entry)
    for key in ("initial_date", "initial_option", "initial_user", "placeholder"):
        if key in element:
            action[key] = copy.deepcopy(element[key])
    return action


def missing_required(blocks: list[Any], values: dict[str, dict[str, Any]]) -> list[str]:
    """Input blocks that are required (``optional`` false) but have no value."""
    missing = []
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "input" or block.get("optional"):
            continue
        element = block.get("element") or {}
        entry = values.get(block.get("block_id", ""), {}).get(element.get("action_id", ""))
        if entry is None:
            continue
        filled = [v for k, v in entry.items() if k != "type"]
        if not filled or filled[0] in (None, "", []):
            missing.append(f"{block.get('block_id')}/{element.get('action_id')}")
    return missing


def event_envelope(ws: Workspace, event: dict[str, Any], event_id: str, event_time: int) -> dict[str, Any]:
    """An Events API ``event_callback`` envelope."""
    ref = event.get("channel", "")
    if isinstance(ref, dict):  # the Slack Connect invite events carry a channel object
        ref = ref.get("id", "")
    channel = ws.channels.get(str(ref))
    return {
        "token": ws.verification_token,
        "team_id": ws.team_id,
        "api_app_id": ws.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [
            {
                "enterprise_id": ws.enterprise_id,
                "team_id": ws.team_id,
                "user_id": ws.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": bool(channel and channel.is_ext_shared),
        "event_context": f"4-standin-{event_id}",
    }
