"""People writing in a channel, and the message events Slack sends the app for it.

``post_message(user, channel, text, thread_ts=…, broadcast=…)`` stores the message as Slack's
client would (``SlackStandIn.post_as``: a reply when ``thread_ts``; ``broadcast``: also sent to the
channel) and delivers its event as the Events API does (https://docs.slack.dev/reference/events/message.channels):

- ``{"type": "message", "channel", "user", "text", "ts", "event_ts", "channel_type", "team"}``,
  ``channel_type`` ``channel`` for a public channel (the ``message.channels`` subscription) and
  ``group`` for a private one (``message.groups``);
- a reply carries ``thread_ts`` (its parent's ts) and ``parent_user_id``; one also sent to the
  channel is subtype ``thread_broadcast`` with the parent as ``root``
  (https://docs.slack.dev/reference/events/message/thread_broadcast/).

Slack sends it only to an app that subscribed to the channel type's event and holds its scope
(``channels:history`` / ``groups:history``, the events' "Required Scopes"); otherwise the
``Delivery`` is withheld, naming what was missing. Like the other event helpers, the message is
sent once, when the test calls this: the bot's own posts (which Slack also sends the app, with
``bot_id``) are not sent back to it; a test sends one with ``event()`` when it wants to.
"""

from __future__ import annotations

import copy
from typing import Any

from .driver_connect import Delivery
from .driver_events import EventsMixin


class MessagesMixin(EventsMixin):
    """Messages people write, and their events; mixed into ``SlackDriver``."""

    standin: Any

    def post_message(
        self,
        user: str,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        broadcast: bool = False,
        **kw: Any,
    ) -> Delivery:
        broadcast = broadcast and bool(thread_ts)
        with self.ws.lock:
            if not broadcast:
                ts = self.standin.post_as(user, channel, text, thread_ts=thread_ts)
            else:  # as post_as, also shown in the channel (notified as Slack does: standin/notify.py)
                chan = self.ws.channels.get(channel)
                if chan is None or user not in chan.members or user not in self.ws.users:
                    raise KeyError(f"{user} is not a member of {channel}")
                if self.ws.find_message(channel, str(thread_ts)) is None:
                    raise KeyError(f"no message {thread_ts} in {channel}")
                ts = str(
                    self.ws.store_message(
                        chan,
                        text=text,
                        blocks=None,
                        thread_ts=thread_ts,
                        user=user,
                        extra={"reply_broadcast": True},
                    )["ts"]
                )
            chan = self.ws.channels[channel]
            event: dict[str, Any] = {
                "type": "message",
                "channel": channel,
                "user": user,
                "text": text,
                "ts": ts,
                "event_ts": ts,
                "channel_type": "group" if chan.is_private else "channel",
                "team": self.ws.users[user].team_id,
            }
            if thread_ts:
                parent = self.ws.find_message(channel, thread_ts) or {}
                event["thread_ts"] = thread_ts
                event["parent_user_id"] = parent.get("user")
                if broadcast:
                    event["subtype"] = "thread_broadcast"
                    event["root"] = {
                        k: copy.deepcopy(v)
                        for k, v in parent.items()
                        if k in ("type", "user", "text", "ts", "thread_ts", "bot_id", "team")
                    }
            subscription = "message.groups" if chan.is_private else "message.channels"
            scope = "groups:history" if chan.is_private else "channels:history"
            subs, scopes = self.ws.subscriptions, self.ws.scopes
            if subs is not None and subscription not in subs:
                withheld: str | None = subscription
            elif scopes is not None and scope not in scopes:
                withheld = scope
            else:
                withheld = None
        if withheld:
            return Delivery("message", event, None, withheld)
        return Delivery("message", event, self.event(event, **kw))
