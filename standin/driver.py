"""``SlackDriver``: sends signed requests into the bot the way Slack does."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .api_views import slack_view
from .driver_connect import ConnectMixin
from .driver_ephemeral import EphemeralMixin
from .driver_messages import MessagesMixin
from .interactions import apply_command_ack, apply_view_submission_response
from .payloads import (
    action_object,
    command_payload,
    enterprise_object,
    find_element,
    list_action_ids,
    missing_required,
    state_values,
    team_object,
    user_object,
)
from .signing import SIGN, signed_headers

if TYPE_CHECKING:
    from .core import SlackStandIn

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class DriverResponse:
    """The bot's HTTP answer."""

    status: int
    headers: dict[str, str]
    body: str
    json: dict[str, Any] | None


class SlackDriver(ConnectMixin, MessagesMixin, EphemeralMixin):
    """Sends slash commands, block actions, view submissions and events to ``bot_url``; answers
    the bot's Slack Connect invitations as the other organisation (standin/driver_connect.py);
    people write messages and thread replies, and the app gets their message events
    (standin/driver_messages.py)."""

    def __init__(self, standin: SlackStandIn, bot_url: str, *, timeout: float = 10.0) -> None:
        self.standin = standin
        self.ws = standin.ws
        self.bot_url = bot_url
        self.timeout = timeout

    # ----- transport
    def send(
        self,
        body: str,
        content_type: str,
        *,
        signature: Any = SIGN,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> DriverResponse:
        """POST ``body`` to the bot. ``signature``: SIGN (correct), None (no headers) or a literal value;
        ``timestamp``: the request timestamp (e.g. 10 minutes ago for a stale request)."""
        all_headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        if signature is not None:
            signed = signed_headers(self.ws.signing_secret, body, timestamp)
            if signature is not SIGN:
                signed["X-Slack-Signature"] = str(signature)
            all_headers.update(signed)
        all_headers.update(headers or {})
        request = urllib.request.Request(
            self.bot_url, data=body.encode("utf-8"), headers=all_headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                status, resp_headers, raw = resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            status, resp_headers, raw = exc.code, dict(exc.headers.items()), exc.read()
        text = raw.decode("utf-8", "replace")
        parsed: dict[str, Any] | None = None
        if text.strip().startswith("{"):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
        return DriverResponse(status, resp_headers, text, parsed)

    def _send_payload(self, payload: dict[str, Any], **sign: Any) -> DriverResponse:
        return self.send(urlencode({"payload": json.dumps(payload)}), FORM, **sign)

    # ----- slash commands
    def command(
        self,
        command: str,
        text: str = "",
        *,
        user: str,
        channel: str,
        signature: Any = SIGN,
        timestamp: int | None = None,
    ) -> DriverResponse:
        """A slash command; its ``trigger_id`` and ``response_url`` are served by the stand-in."""
        fields = self.command_fields(command, text, user=user, channel=channel)
        resp = self.send(urlencode(fields), FORM, signature=signature, timestamp=timestamp)
        apply_command_ack(self.ws, channel, user, resp.status, resp.json, resp.body)
        return resp

    def command_fields(self, command: str, text: str = "", *, user: str, channel: str) -> dict[str, str]:
        """The form fields of a slash command, without sending it (benchmarks build requests
        ahead of time and send them with `send`)."""
        with self.ws.lock:
            return command_payload(
                self.ws,
                command,
                text,
                user=user,
                channel=channel,
                response_url=self.ws.issue_response_url(channel=channel, user=user),
                trigger_id=self.ws.issue_trigger(user),
            )

    # ----- block actions
    @staticmethod
    def _given(**candidates: Any) -> tuple[Any, bool]:
        given = [v for v in candidates.values() if v is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of {', '.join(candidates)}")
        return (given[0], True) if given else (None, False)

    def click(
        self,
        channel: str,
        ts: str,
        action_id: str,
        *,
        user: str,
        value: Any = None,
        selected_option: Any = None,
        selected_options: list[Any] | None = None,
        selected_user: str | None = None,
        selected_date: str | None = None,
        block_id: str | None = None,
        expect_missing: bool = False,
        signature: Any = SIGN,
        timestamp: int | None = None,
    ) -> DriverResponse | None:
        """Click/select an element of a stored message. With ``expect_missing`` the element must be gone
        (returns None; AssertionError if it is there)."""
        payload = self.click_payload(
            channel,
            ts,
            action_id,
            user=user,
            value=value,
            selected_option=selected_option,
            selected_options=selected_options,
            selected_user=selected_user,
            selected_date=selected_date,
            block_id=block_id,
            expect_missing=expect_missing,
        )
        if payload is None:
            return None
        return self._send_payload(payload, signature=signature, timestamp=timestamp)

    def click_payload(
        self,
        channel: str,
        ts: str,
        action_id: str,
        *,
        user: str,
        value: Any = None,
        selected_option: Any = None,
        selected_options: list[Any] | None = None,
        selected_user: str | None = None,
        selected_date: str | None = None,
        block_id: str | None = None,
        expect_missing: bool = False,
    ) -> dict[str, Any] | None:
        """The block_actions payload `click` sends, without sending it."""
        raw, has_value = self._given(
            value=value,
            selected_option=selected_option,
            selected_options=selected_options,
            selected_user=selected_user,
            selected_date=selected_date,
        )
        with self.ws.lock:
            record = self.ws.find_message(channel, ts)
            if record is None:
                raise LookupError(f"no message {ts} in {channel} (deleted or never posted)")
            blocks = self.ws.filled_blocks(record)
            found = find_element(blocks, action_id, block_id)
            if expect_missing:
                if found is not None:
                    raise AssertionError(f"element {action_id!r} is still in message {ts}")
                return None
            if found is None:
                raise LookupError(
                    f"no element {action_id!r} (block {block_id!r}) in message {ts}; "
                    f"elements: {list_action_ids(blocks)}"
                )
            chan = self.ws.channels[channel]
            if user not in chan.members:
                raise PermissionError(f"user {user} is not a member of {channel} and cannot see the message")
            block, element = found
            action = action_object(block, element, raw, has_value)
            overrides = {block["block_id"]: {action_id: raw}} if has_value else {}
            payload = {
                "type": "block_actions",
                "user": user_object(self.ws, user),
                "api_app_id": self.ws.app_id,
                "token": self.ws.verification_token,
                "container": {
                    "type": "message",
                    "message_ts": ts,
                    "channel_id": channel,
                    "is_ephemeral": False,
                },
                "trigger_id": self.ws.issue_trigger(user),
                "team": team_object(self.ws),
                "enterprise": enterprise_object(self.ws),
                "is_enterprise_install": False,
                "channel": {"id": channel, "name": "directmessage" if chan.is_im else chan.name},
                "message": self.ws.slack_message(record),
                "state": {"values": state_values(blocks, _stateful(overrides, element))},
                "response_url": self.ws.issue_response_url(channel=channel, user=user, source_ts=ts),
                "actions": [action],
            }
            if record.get("thread_ts"):
                payload["container"]["thread_ts"] = record["thread_ts"]
        return payload

    def _view_for(self, view_id: str, user: str | None) -> tuple[dict[str, Any], str]:
        record = self.ws.views.get(view_id)
        if record is None or record["closed"]:
            raise LookupError(f"view {view_id} is not open")
        if user is not None and user != record["user"]:
            raise PermissionError(f"view {view_id} belongs to {record['user']}, not {user}")
        return record, record["user"]

    def click_view(
        self,
        view_id: str,
        action_id: str,
        *,
        user: str | None = None,
        value: Any = None,
        selected_option: Any = None,
        selected_options: list[Any] | None = None,
        selected_user: str | None = None,
        selected_date: str | None = None,
        block_id: str | None = None,
        values: dict[str, dict[str, Any]] | None = None,
        expect_missing: bool = False,
        signature: Any = SIGN,
        timestamp: int | None = None,
    ) -> DriverResponse | None:
        """A block action inside a modal or Home tab; ``values`` are inputs typed so far."""
        raw, has_value = self._given(
            value=value,
            selected_option=selected_option,
            selected_options=selected_options,
            selected_user=selected_user,
            selected_date=selected_date,
        )
        with self.ws.lock:
            record, owner = self._view_for(view_id, user)
            view = slack_view(self.ws, record)
            found = find_element(view["blocks"], action_id, block_id)
            if expect_missing:
                if found is not None:
                    raise AssertionError(f"element {action_id!r} is still in view {view_id}")
                return None
            if found is None:
                raise LookupError(
                    f"no element {action_id!r} in view {view_id}; elements: {list_action_ids(view['blocks'])}"
                )
            block, element = found
            action = action_object(block, element, raw, has_value)
            overrides = {k: dict(v) for k, v in (values or {}).items()}
            if has_value:
                overrides.setdefault(block["block_id"], {})[action_id] = raw
            state = state_values(view["blocks"], _stateful(overrides, element), record["state"].get("values"))
            record["state"] = {"values": state}
            view["state"] = {"values": state}
            payload = {
                "type": "block_actions",
                "user": user_object(self.ws, owner),
                "api_app_id": self.ws.app_id,
                "token": self.ws.verification_token,
                "container": {"type": "view", "view_id": view_id},
                "trigger_id": self.ws.issue_trigger(owner),
                "team": team_object(self.ws),
                "enterprise": enterprise_object(self.ws),
                "is_enterprise_install": False,
                "view": view,
                "state": {"values": state},
                "actions": [action],
            }
        return self._send_payload(payload, signature=signature, timestamp=timestamp)

    # ----- modals
    def submit_view(
        self,
        view_id: str,
        values: dict[str, dict[str, Any]] | None = None,
        *,
        user: str | None = None,
        enforce_required: bool = True,
        signature: Any = SIGN,
        timestamp: int | None = None,
    ) -> DriverResponse:
        """Submit a modal with ``values`` = {block_id: {action_id: value}}; applies the bot's answer."""
        payload = self.submit_payload(view_id, values, user=user, enforce_required=enforce_required)
        resp = self._send_payload(payload, signature=signature, timestamp=timestamp)
        apply_view_submission_response(self.ws, view_id, resp.status, resp.json, resp.body)
        return resp

    def submit_payload(
        self,
        view_id: str,
        values: dict[str, dict[str, Any]] | None = None,
        *,
        user: str | None = None,
        enforce_required: bool = True,
    ) -> dict[str, Any]:
        """The view_submission payload `submit_view` sends, without sending it (to send the same
        submission several times at once: a double click on Submit, a retry)."""
        with self.ws.lock:
            record, owner = self._view_for(view_id, user)
            view = slack_view(self.ws, record)
            state = state_values(view["blocks"], values, record["state"].get("values"))
            missing = missing_required(view["blocks"], state)
            if enforce_required and missing:
                raise ValueError(f"Slack would not submit: required inputs are empty: {missing}")
            record["state"] = {"values": state}
            view["state"] = {"values": state}
            return {
                "type": "view_submission",
                "team": team_object(self.ws),
                "user": user_object(self.ws, owner),
                "api_app_id": self.ws.app_id,
                "token": self.ws.verification_token,
                "trigger_id": self.ws.issue_trigger(owner),
                "view": view,
                "response_urls": [],
                "is_enterprise_install": False,
                "enterprise": enterprise_object(self.ws),
            }

    def close_view(
        self,
        view_id: str,
        user: str | None = None,
        *,
        is_cleared: bool = False,
        signature: Any = SIGN,
        timestamp: int | None = None,
    ) -> DriverResponse | None:
        """The user closes a modal; ``view_closed`` is sent only if the view has ``notify_on_close``."""
        with self.ws.lock:
            record, owner = self._view_for(view_id, user)
            view = slack_view(self.ws, record)
            stack = self.ws.view_stacks.get(owner, [])
            doomed = (
                list(stack) if is_cleared else ([*stack[stack.index(view_id) :]] if view_id in stack else [])
            )
            for closed in doomed or [view_id]:
                self.ws.views[closed]["closed"] = True
            remaining = [v for v in stack if v not in doomed]
            if remaining:
                self.ws.view_stacks[owner] = remaining
            else:
                self.ws.view_stacks.pop(owner, None)
            if not view["notify_on_close"]:
                return None
            payload = {
                "type": "view_closed",
                "team": team_object(self.ws),
                "user": user_object(self.ws, owner),
                "api_app_id": self.ws.app_id,
                "token": self.ws.verification_token,
                "view": view,
                "is_cleared": is_cleared,
                "is_enterprise_install": False,
                "enterprise": enterprise_object(self.ws),
            }
        return self._send_payload(payload, signature=signature, timestamp=timestamp)


def _stateful(overrides: dict[str, dict[str, Any]], element: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Drop overrides for a clicked element that keeps no state (buttons, overflow menus)."""
    if element.get("type") in ("button", "overflow", "workflow_button"):
        action_id = element.get("action_id")
        return {b: {a: v for a, v in acts.items() if a != action_id} for b, acts in overrides.items()}
    return overrides
