"""Threads: replies posted with ``thread_ts``, the parent as Slack serves it, conversations.replies.

chat.postMessage's ``thread_ts`` is "another message's ts value to make this message a reply.
Avoid using a reply's ts value; use its parent instead" (method reference). The stand-in is
stricter than Slack may be: a ts that names no message of the channel is ``thread_not_found``, a
reply's ts ``cannot_reply_to_message``. A parent with replies carries ``thread_ts`` (its own ts),
``reply_count``, ``reply_users`` and ``latest_reply``; replies carry ``thread_ts`` and
``parent_user_id``. conversations.history lists top-level messages only; conversations.replies a
thread, parent first, with metadata only when ``include_all_metadata`` is set.
"""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standin import SlackStandIn

from .ids import INTERNAL, LEAD, SHARED

MARK = {"event_type": "golive_post", "event_payload": {"key": "abc"}}


def refused(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    return info.value.response.data


@pytest.fixture
def unlimited(standin: SlackStandIn) -> SlackStandIn:
    standin.set_rate_limit("chat.postMessage", None)
    return standin


def test_a_reply_goes_in_the_thread_and_the_parent_shows_it(
    unlimited: SlackStandIn, client: WebClient
) -> None:
    parent = client.chat_postMessage(channel=SHARED, text="Checklist")["ts"]
    first = client.chat_postMessage(channel=SHARED, text="Reminder", thread_ts=parent)
    second = client.chat_postMessage(channel=SHARED, text="Another", thread_ts=parent)
    assert first["message"]["thread_ts"] == parent and first["message"]["parent_user_id"] == "U0BOT"
    shown = client.conversations_history(channel=SHARED)["messages"]
    assert [m["text"] for m in shown] == ["Checklist"]  # replies stay in their thread
    assert shown[0]["thread_ts"] == parent and shown[0]["reply_count"] == 2
    assert shown[0]["latest_reply"] == second["ts"] and shown[0]["reply_users"] == ["U0BOT"]
    assert [m["text"] for m in unlimited.top_level(SHARED)] == ["Checklist"]
    assert [m["text"] for m in unlimited.replies(SHARED, parent)] == ["Reminder", "Another"]


def test_thread_ts_must_name_a_top_level_message_of_the_channel(
    unlimited: SlackStandIn, client: WebClient
) -> None:
    parent = client.chat_postMessage(channel=SHARED, text="Checklist")["ts"]
    reply = client.chat_postMessage(channel=SHARED, text="Reminder", thread_ts=parent)["ts"]
    other = client.chat_postMessage(channel=INTERNAL, text="Elsewhere")["ts"]
    post = client.chat_postMessage
    assert (
        refused(post, channel=SHARED, text="x", thread_ts="1700000000.000001")["error"] == "thread_not_found"
    )
    assert refused(post, channel=SHARED, text="x", thread_ts=other)["error"] == "thread_not_found"
    assert refused(post, channel=SHARED, text="x", thread_ts=reply)["error"] == "cannot_reply_to_message"
    client.chat_delete(channel=SHARED, ts=parent)
    assert refused(post, channel=SHARED, text="x", thread_ts=parent)["error"] == "thread_not_found"
    assert len(unlimited.messages(SHARED)) == 2  # nothing was posted by the refused calls


def test_replies_lists_the_thread_with_metadata_on_request(
    unlimited: SlackStandIn, client: WebClient
) -> None:
    parent = client.chat_postMessage(channel=SHARED, text="Checklist")["ts"]
    client.chat_postMessage(channel=SHARED, text="Top level, later")
    reply = client.chat_postMessage(channel=SHARED, text="Reminder", thread_ts=parent, metadata=MARK)["ts"]
    gone = client.chat_postMessage(channel=SHARED, text="Deleted reply", thread_ts=parent)["ts"]
    client.chat_delete(channel=SHARED, ts=gone)
    plain = client.conversations_replies(channel=SHARED, ts=parent)["messages"]
    assert [m["text"] for m in plain] == ["Checklist", "Reminder"]
    assert all("metadata" not in m for m in plain)
    full = client.conversations_replies(channel=SHARED, ts=reply, include_all_metadata=True)["messages"]
    assert [m["ts"] for m in full] == [parent, reply] and full[1]["metadata"] == MARK
    paged = client.conversations_replies(channel=SHARED, ts=parent, limit=1)
    assert paged["has_more"] is True
    rest = client.conversations_replies(
        channel=SHARED, ts=parent, cursor=paged["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["Reminder"] and rest["has_more"] is False
    assert refused(client.conversations_replies, channel=SHARED, ts="1700000000.000009")["error"] == (
        "thread_not_found"
    )


def test_replies_needs_the_history_scope_and_the_bot_in_the_channel(standin: SlackStandIn) -> None:
    narrow = SlackStandIn(
        bot_token="xoxb-narrow",
        signing_secret="s",
        team_id="T0NARROW",
        team_name="Narrow",
        bot_user_id="U0BOT",
        bot_id="B0BOT",
        scopes=["chat:write"],
    )
    narrow.add_user(LEAD, name="lena", team_id="T0NARROW")
    narrow.add_channel("C0PUB", name="pub", members=[LEAD])
    with narrow:
        client = WebClient(base_url=narrow.api_url, token="xoxb-narrow")
        parent = client.chat_postMessage(channel="C0PUB", text="Checklist")["ts"]
        data = refused(client.conversations_replies, channel="C0PUB", ts=parent)
        assert data["error"] == "missing_scope" and data["needed"] == "channels:history"
    standin.add_channel("C0LOBBY", name="lobby", members=[LEAD], bot_member=False)
    wide = WebClient(base_url=standin.api_url, token="xoxb-test")
    assert refused(wide.conversations_replies, channel="C0LOBBY", ts="1.2")["error"] == "not_in_channel"
