"""Clicks on ephemeral messages ("Only visible to you") for ``SlackDriver``.

Slack sends such a click as `block_actions` with `container.is_ephemeral` true and no
`message`. Its `response_url` points at the ephemeral message, so the bot's
`replace_original` / `delete_original` answers act on it, as in Slack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .payloads import (
    action_object,
    enterprise_object,
    find_element,
    list_action_ids,
    state_values,
    team_object,
    user_object,
)
from .signing import SIGN
from .state import fill_ids

if TYPE_CHECKING:
    from .driver import DriverResponse
    from .state import Workspace

FORM = "application/x-www-form-urlencoded"
_STATELESS = ("button", "workflow_button", "overflow")


def ephemeral_blocks(record: Mapping[str, Any]) -> list[Any]:
    """An ephemeral message's blocks with block and action ids filled in, as Slack serves them."""
    return fill_ids(record.get("blocks") or [], seed=f"{record.get('channel')}:{record.get('ts')}:ephemeral")


class EphemeralMixin:
    """``click_ephemeral``; mixed into ``SlackDriver``."""

    ws: Workspace

    def send(self, body: str, content_type: str, **kw: Any) -> DriverResponse:
        raise NotImplementedError

    def click_ephemeral(
        self,
        channel: str,
        ts: str,
        action_id: str,
        *,
        user: str,
        value: Any = None,
        has_value: bool | None = None,
        block_id: str | None = None,
        signature: Any = SIGN,
    ) -> DriverResponse:
        """Click an element of the user's ephemeral message `ts` in `channel`.

        `value` is the element's value as for ``click`` (an option value, a list of them, a date,
        a user id); buttons need none."""
        ws = self.ws
        with ws.lock:
            record = next(
                (
                    e
                    for e in ws.ephemerals
                    if e["ts"] == ts
                    and e["user"] == user
                    and e.get("channel") == channel
                    and not e.get("deleted")
                ),
                None,
            )
            if record is None:
                raise LookupError(f"no ephemeral message {ts} for {user} in {channel}")
            blocks = ephemeral_blocks(record)
            found = find_element(blocks, action_id, block_id)
            if found is None:
                raise LookupError(
                    f"no element {action_id!r} in ephemeral {ts}; elements: {list_action_ids(blocks)}"
                )
            block, element = found
            given = value is not None if has_value is None else has_value
            stateful = given and element.get("type") not in _STATELESS
            overrides = {str(block["block_id"]): {str(element["action_id"]): value}} if stateful else {}
            response_url = ws.issue_response_url(channel=channel, user=user)
            ws.response_urls[response_url.rsplit("/", 1)[-1]]["last_ephemeral"] = record
            chan = ws.channels[channel]
            payload = {
                "type": "block_actions",
                "user": user_object(ws, user),
                "api_app_id": ws.app_id,
                "token": ws.verification_token,
                "container": {
                    "type": "message",
                    "message_ts": ts,
                    "channel_id": channel,
                    "is_ephemeral": True,
                },
                "trigger_id": ws.issue_trigger(user),
                "team": team_object(ws),
                "enterprise": enterprise_object(ws),
                "is_enterprise_install": False,
                "channel": {"id": channel, "name": "directmessage" if chan.is_im else chan.name},
                "state": {"values": state_values(blocks, overrides)},
                "response_url": response_url,
                "actions": [action_object(dict(block), dict(element), value, given)],
            }
        return self.send(urlencode({"payload": json.dumps(payload)}), FORM, signature=signature)
