"""People's messages and the message events Slack sends the app for them
(docs.slack.dev/reference/events/message.channels, /message/thread_broadcast): a top-level
message, a reply in a thread, a reply also sent to the channel, a private channel's; withheld
when the app did not subscribe to the channel type's event or lacks its history scope."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from standin import SlackDriver, SlackStandIn

from .helpers import RecordingBot, recording_bot
from .ids import CUSTOMER, CUSTOMER_USER, LEAD, SHARED

PRIVATE = "G0SECRET"


@pytest.fixture
def bot() -> Iterator[RecordingBot]:
    with recording_bot() as recorder:
        yield recorder


@pytest.fixture
def driver(standin: SlackStandIn, bot: RecordingBot) -> SlackDriver:
    standin.add_channel(PRIVATE, name="secret", private=True, members=[LEAD])
    return SlackDriver(standin, bot_url=bot.url)


def events(bot: RecordingBot) -> list[dict[str, Any]]:
    return [json.loads(r.body)["event"] for r in bot.requests]


def test_a_reply_in_a_thread_is_sent_with_its_thread(standin, client: WebClient, driver, bot):
    parent = str(client.chat_postMessage(channel=SHARED, text="Checklist")["ts"])
    top = driver.post_message(CUSTOMER_USER, SHARED, "hello all")
    reply = driver.post_message(CUSTOMER_USER, SHARED, "done on our side", thread_ts=parent)
    assert top.response is not None and top.response.status == 200
    assert reply.response is not None and reply.withheld is None
    first, second = events(bot)
    assert first["type"] == "message" and "thread_ts" not in first and first["channel_type"] == "channel"
    assert first["user"] == CUSTOMER_USER and first["team"] == CUSTOMER and "subtype" not in first
    assert second["thread_ts"] == parent and second["ts"] != parent
    assert second["parent_user_id"] == standin.bot_user_id and "subtype" not in second
    # what the stand-in stores: the reply is in the thread
    assert [m["text"] for m in standin.replies(SHARED, parent)][-1] == "done on our side"


def test_a_reply_also_sent_to_the_channel_is_a_thread_broadcast(client: WebClient, driver, bot):
    parent = str(client.chat_postMessage(channel=SHARED, text="Checklist")["ts"])
    driver.post_message(CUSTOMER_USER, SHARED, "FYI everyone", thread_ts=parent, broadcast=True)
    [event] = events(bot)
    assert event["subtype"] == "thread_broadcast" and event["thread_ts"] == parent
    assert event["root"]["ts"] == parent and event["root"]["text"] == "Checklist"


def test_a_private_channels_message_needs_message_groups_and_groups_history(standin, driver, bot):
    standin.set_subscriptions(["message.channels"])
    held = driver.post_message(LEAD, PRIVATE, "secret")
    assert held.response is None and held.withheld == "message.groups"
    standin.set_subscriptions(["message.channels", "message.groups"])
    standin.set_scopes(["channels:history", "chat:write"])
    held = driver.post_message(LEAD, PRIVATE, "secret")
    assert held.response is None and held.withheld == "groups:history"
    standin.set_scopes(["channels:history", "groups:history", "chat:write"])
    sent = driver.post_message(LEAD, PRIVATE, "secret")
    assert sent.response is not None and events(bot)[-1]["channel_type"] == "group"
    assert len(bot.requests) == 1


def test_a_public_channels_message_needs_message_channels_and_channels_history(standin, driver, bot):
    standin.set_subscriptions(["app_home_opened"])
    assert driver.post_message(LEAD, SHARED, "hi").withheld == "message.channels"
    standin.set_subscriptions(["message.channels"])
    standin.set_scopes(["chat:write"])
    assert driver.post_message(LEAD, SHARED, "hi").withheld == "channels:history"
    assert bot.requests == []
