"""Message metadata, conversations.history, and a Slack too slow for its client.

chat.postMessage's ``metadata`` is "a JSON object with event_type and event_payload fields" (method
reference; errors invalid_metadata_format / invalid_metadata_schema); the metadata guide asks for an
event_type that starts with a letter and holds only letters, digits and underscores.
conversations.history returns a conversation's messages newest first, bounded by oldest/latest
(``inclusive``), paged by limit/cursor, with metadata only when ``include_all_metadata`` is set.
"""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standin import SlackStandIn

from .ids import CUSTOMER_USER, LEAD, SHARED

NUDGE = {"event_type": "golive_reminder_sent", "event_payload": {"reminder_id": 42, "kind": "nudge"}}


def refused(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    return info.value.response.data


def test_post_message_stores_metadata(standin: SlackStandIn, client: WebClient) -> None:
    posted = client.chat_postMessage(channel=SHARED, text="Reminder", metadata=NUDGE)
    assert standin.message(SHARED, posted["ts"])["metadata"] == NUDGE
    assert posted["message"]["metadata"] == NUDGE
    client.chat_update(channel=SHARED, ts=posted["ts"], text="Reminder (done)")
    assert standin.message(SHARED, posted["ts"])["metadata"] == NUDGE  # an update without metadata keeps it


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ("not json", "invalid_metadata_format"),
        ('["a list"]', "invalid_metadata_format"),
        ({"event_payload": {"id": 1}}, "invalid_metadata_schema"),
        ({"event_type": "reminder sent!", "event_payload": {}}, "invalid_metadata_schema"),
        ({"event_type": "1st_reminder", "event_payload": {}}, "invalid_metadata_schema"),
        ({"event_type": "reminder_sent", "event_payload": "42"}, "invalid_metadata_schema"),
        ({"event_type": "reminder_sent"}, "invalid_metadata_schema"),
    ],
)
def test_malformed_metadata_is_refused(
    standin: SlackStandIn, client: WebClient, metadata: Any, error: str
) -> None:
    params: dict[str, Any] = {"channel": SHARED, "text": "x", "metadata": metadata}
    data = refused(client.api_call, api_method="chat.postMessage", json=params)
    assert data["error"] == error
    assert standin.messages(SHARED) == []
    assert [c.method for c in standin.invalid_block_responses()] == ["chat.postMessage"]


@pytest.fixture
def unlimited(standin: SlackStandIn) -> SlackStandIn:
    """These tests post a few messages at once to set up a history; posting's rate limit (one a
    second per channel, short bursts) has its own tests in test_rate_limits.py."""
    standin.set_rate_limit("chat.postMessage", None)
    return standin


def post(client: WebClient, text: str, **kw: Any) -> str:
    return str(client.chat_postMessage(channel=SHARED, text=text, **kw)["ts"])


def test_history_newest_first_with_metadata_on_request(unlimited: SlackStandIn, client: WebClient) -> None:
    first = post(client, "one", metadata=NUDGE)
    second = post(client, "two")
    post(client, "a reply", thread_ts=first)
    gone = post(client, "deleted")
    client.chat_delete(channel=SHARED, ts=gone)
    client.chat_postEphemeral(channel=SHARED, user=CUSTOMER_USER, text="only you")
    plain = client.conversations_history(channel=SHARED)
    assert [m["text"] for m in plain["messages"]] == ["two", "one"]
    assert plain["has_more"] is False and plain["response_metadata"]["next_cursor"] == ""
    assert all("metadata" not in m for m in plain["messages"])
    full = client.conversations_history(channel=SHARED, include_all_metadata=True)["messages"]
    assert full[1]["ts"] == first and full[1]["metadata"] == NUDGE
    assert "metadata" not in full[0] and full[0]["ts"] == second


def test_history_bounds_and_paging(unlimited: SlackStandIn, client: WebClient) -> None:
    ts = [post(client, f"m{i}") for i in range(5)]
    texts = lambda answer: [m["text"] for m in answer["messages"]]  # noqa: E731
    assert texts(client.conversations_history(channel=SHARED, oldest=ts[1], latest=ts[3])) == ["m2"]
    inclusive = client.conversations_history(channel=SHARED, oldest=ts[1], latest=ts[3], inclusive=True)
    assert texts(inclusive) == ["m3", "m2", "m1"]
    assert texts(client.conversations_history(channel=SHARED, oldest=ts[4], inclusive=True)) == ["m4"]
    page1 = client.conversations_history(channel=SHARED, limit=2)
    assert texts(page1) == ["m4", "m3"] and page1["has_more"] is True
    page2 = client.conversations_history(
        channel=SHARED, limit=2, cursor=page1["response_metadata"]["next_cursor"]
    )
    page3 = client.conversations_history(
        channel=SHARED, limit=2, cursor=page2["response_metadata"]["next_cursor"]
    )
    assert texts(page2) == ["m2", "m1"] and texts(page3) == ["m0"] and page3["has_more"] is False
    assert refused(client.conversations_history, channel=SHARED, oldest="yesterday")["error"] == (
        "invalid_ts_oldest"
    )
    assert (
        refused(client.conversations_history, channel=SHARED, cursor="bm9wZQ==")["error"] == "invalid_cursor"
    )


def test_history_needs_the_bot_in_the_conversation(standin: SlackStandIn, client: WebClient) -> None:
    standin.add_channel("C0LOBBY", name="lobby", members=[LEAD], bot_member=False)
    assert refused(client.conversations_history, channel="C0LOBBY")["error"] == "not_in_channel"
    assert refused(client.conversations_history, channel="C0NOPE")["error"] == "channel_not_found"


def test_a_slow_slack_posts_even_when_the_client_times_out(standin: SlackStandIn) -> None:
    """Slack may carry out a call whose answer the client never gets: the message is in the channel."""
    impatient = WebClient(base_url=standin.api_url, token="xoxb-test", timeout=1)
    standin.set_latency("chat.postMessage", 2.0)
    with pytest.raises(TimeoutError):  # the client gave up before Slack answered
        impatient.chat_postMessage(channel=SHARED, text="Did this land?", metadata=NUDGE)
    [landed] = standin.messages(SHARED)
    assert landed["text"] == "Did this land?" and landed["metadata"] == NUDGE
    # Looking before re-sending finds it.
    standin.set_latency("chat.postMessage", 0)
    patient = WebClient(base_url=standin.api_url, token="xoxb-test", timeout=5)
    history = patient.conversations_history(channel=SHARED, include_all_metadata=True)["messages"]
    assert [m["metadata"]["event_payload"]["reminder_id"] for m in history] == [42]
    [call] = standin.calls_to("chat.postMessage")
    assert call.response["ok"] is True  # recorded as carried out, answered late


def test_slack_message_is_the_payload_shape_without_the_edit_history(
    unlimited: SlackStandIn, client: WebClient
) -> None:
    ts = client.chat_postMessage(channel=SHARED, text="v0")["ts"]
    for n in range(1, 4):
        client.chat_update(channel=SHARED, ts=ts, text=f"v{n}")
    record = unlimited.message(SHARED, ts)
    shown = unlimited.slack_message(SHARED, ts)
    assert record is not None and len(record["versions"]) == 3  # the stand-in's own bookkeeping
    assert shown is not None
    assert shown["text"] == "v3" and shown["ts"] == ts and shown["type"] == "message"
    assert "versions" not in shown and "deleted" not in shown
    assert unlimited.slack_message(SHARED, "1.000001") is None
