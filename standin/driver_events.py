"""Events API side of ``SlackDriver``: event_callback envelopes and helpers for common events."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from .api_views import slack_view
from .payloads import event_envelope
from .signing import SIGN

if TYPE_CHECKING:
    from .driver import DriverResponse
    from .state import Workspace


class EventsMixin:
    """Events API requests; mixed into ``SlackDriver``."""

    ws: Workspace

    def send(
        self,
        body: str,
        content_type: str,
        *,
        signature: Any = SIGN,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> DriverResponse:
        raise NotImplementedError

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        signature: Any = SIGN,
        timestamp: int | None = None,
    ) -> DriverResponse:
        """An ``event_callback``; pass the same ``event_id`` with ``retry_num`` to simulate a retry."""
        event = dict(event)
        event.setdefault("event_ts", f"{time.time():.6f}")
        with self.ws.lock:
            envelope = event_envelope(self.ws, event, event_id or self.ws.new_id("Ev"), int(time.time()))
        headers: dict[str, str] = {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return self.send(
            json.dumps(envelope),
            "application/json",
            signature=signature,
            timestamp=timestamp,
            headers=headers,
        )

    def app_home_opened(self, user: str, *, tab: str = "home", **kw: Any) -> DriverResponse:
        with self.ws.lock:
            event: dict[str, Any] = {
                "type": "app_home_opened",
                "user": user,
                "channel": self.ws.open_im(user).id,
                "tab": tab,
            }
            home_id = self.ws.homes.get(user)
            if home_id:
                event["view"] = slack_view(self.ws, self.ws.views[home_id])
        return self.event(event, **kw)

    def member_joined_channel(
        self, user: str, channel: str, *, inviter: str | None = None, **kw: Any
    ) -> DriverResponse:
        """Adds the user to the channel in the stand-in, then sends the event."""
        with self.ws.lock:
            chan = self.ws.channels[channel]
            if user not in chan.members:
                chan.members.append(user)
            event: dict[str, Any] = {
                "type": "member_joined_channel",
                "user": user,
                "channel": channel,
                "channel_type": "G" if chan.is_private else "C",
                "team": self.ws.users[user].team_id if user in self.ws.users else self.ws.team_id,
            }
        if inviter:
            event["inviter"] = inviter
        return self.event(event, **kw)

    def member_left_channel(self, user: str, channel: str, **kw: Any) -> DriverResponse:
        """Removes the user from the channel in the stand-in, then sends the event (Slack's
        member_left_channel: user, channel, channel_type, team)."""
        with self.ws.lock:
            chan = self.ws.channels[channel]
            if user in chan.members:
                chan.members.remove(user)
            event: dict[str, Any] = {
                "type": "member_left_channel",
                "user": user,
                "channel": channel,
                "channel_type": "G" if chan.is_private else "C",
                "team": self.ws.users[user].team_id if user in self.ws.users else self.ws.team_id,
            }
        return self.event(event, **kw)

    def url_verification(self, challenge: str = "standin-challenge") -> DriverResponse:
        body = {"token": self.ws.verification_token, "challenge": challenge, "type": "url_verification"}
        return self.send(json.dumps(body), "application/json")
