"""Which message events are worth a database read (`handlers.events.is_thread_reply`): a person's
reply in a thread, plain or also sent to the channel, in a channel or private channel. Everything
else a `message.channels` / `message.groups` subscription brings is answered from the payload
alone. The shapes are Slack's reference examples (docs.slack.dev/reference/events/message.channels,
/message/thread_broadcast, /message/message_changed, /message/bot_message, /message/channel_join)."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.events import is_thread_reply

PARENT = "1673464730.703009"
REPLY: dict[str, Any] = {
    "type": "message",
    "channel": "C123ABC456",
    "user": "U123ABC456",
    "text": "done on our side",
    "ts": "1673464745.620769",
    "thread_ts": PARENT,
    "parent_user_id": "U0BOT",
    "event_ts": "1673464745.620769",
    "channel_type": "channel",
}


def test_a_reply_and_a_broadcast_reply_are_read_in_channels_and_private_channels() -> None:
    assert is_thread_reply(REPLY)
    assert is_thread_reply(REPLY | {"channel_type": "group"})
    assert is_thread_reply(REPLY | {"subtype": "thread_broadcast", "root": {"ts": PARENT}})


@pytest.mark.parametrize(
    "event",
    [
        {k: v for k, v in REPLY.items() if k not in ("thread_ts", "parent_user_id")},  # top level
        REPLY | {"ts": PARENT},  # a thread's parent carries thread_ts = ts
        REPLY | {"bot_id": "B0BOT"},  # a bot's reply (the bot's own too)
        REPLY | {"subtype": "bot_message", "bot_id": "B0OTHER"},
        REPLY | {"subtype": "channel_join"},
        REPLY | {"subtype": "file_share"},
        REPLY | {"channel_type": "im"},
        REPLY | {"channel_type": "mpim"},
        {k: v for k, v in REPLY.items() if k != "user"},
        {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": "C123ABC456",
            "ts": "1673464800.000100",
            "message": REPLY | {"text": "edited"},
            "channel_type": "channel",
        },
        {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "channel": "C123ABC456",
            "ts": "1673464800.000200",
            "deleted_ts": REPLY["ts"],
            "previous_message": REPLY,
            "channel_type": "channel",
        },
    ],
)
def test_everything_else_is_answered_from_the_payload(event: dict[str, Any]) -> None:
    assert not is_thread_reply(event)
