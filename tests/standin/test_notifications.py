"""Whom Slack notifies (standin/notify.py), with Slack's default preferences.

A direct message notifies its person; a mention of a channel member notifies them; a top-level
message without a mention only marks the channel unread; a thread reply notifies the mentioned and
the thread's followers (who posted in it or were mentioned in a reply); ``reply_broadcast`` also
shows the reply in the channel; an edit or an ephemeral notifies nobody, nor does a mention of
someone outside the channel; a push shows ``text``, so a mention counts only when both the text
and the blocks carry it.
"""

from __future__ import annotations

from slack_sdk import WebClient

from standin import SlackStandIn

from .ids import CUSTOMER_USER, ENGINEER, INTERNAL, LEAD, SHARED


def section(text: str) -> list[dict]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def post(client: WebClient, text: str, *, blocks: bool = True, **kw) -> str:
    return client.chat_postMessage(
        channel=kw.pop("channel", SHARED), text=text, blocks=section(text) if blocks else None, **kw
    )["ts"]


def test_a_top_level_message_without_a_mention_notifies_nobody_and_marks_the_channel_unread(
    standin: SlackStandIn, client: WebClient
) -> None:
    ts = post(client, "Discovery checklist")
    assert standin.notified_by(SHARED, ts) == {}
    assert standin.unread(CUSTOMER_USER) == {SHARED: 1} and standin.unread(LEAD) == {SHARED: 1}
    standin.mark_read(CUSTOMER_USER, SHARED)
    assert standin.unread(CUSTOMER_USER) == {} and standin.unread(LEAD) == {SHARED: 1}


def test_a_mention_of_a_member_notifies_them_and_of_an_outsider_nobody(
    standin: SlackStandIn, client: WebClient
) -> None:
    ts = post(client, f"<@{CUSTOMER_USER}> and <@{ENGINEER}|eli>, please review")
    assert standin.notified_by(SHARED, ts) == {CUSTOMER_USER: "mention", ENGINEER: "mention"}
    # ENGINEER is not in the internal channel: the mention notifies nobody, and says why.
    other = post(client, f"<@{ENGINEER}> see this", channel=INTERNAL)
    assert standin.notified_by(INTERNAL, other) == {}
    [silence] = [s for s in standin.silences(ENGINEER) if s.ts == other]
    assert silence.why == "not a member of the channel"


def test_a_direct_message_notifies_its_person(standin: SlackStandIn, client: WebClient) -> None:
    dm = client.conversations_open(users=LEAD)["channel"]["id"]
    ts = client.chat_postMessage(channel=dm, text="3 items are stuck")["ts"]
    assert standin.notified_by(dm, ts) == {LEAD: "direct message"}
    [n] = standin.activity(LEAD)
    assert n.text == "3 items are stuck" and not n.in_thread


def test_a_thread_reply_notifies_only_the_mentioned_and_the_followers(
    standin: SlackStandIn, client: WebClient
) -> None:
    parent = post(client, f"Checklist for <@{LEAD}>")  # a mention in the parent: not a follower
    quiet = post(client, "Friendly reminder: 1.5 is overdue", thread_ts=parent)
    assert standin.notified_by(SHARED, quiet) == {}, "nobody follows a thread the bot started"
    assert standin.unread(ENGINEER) == {SHARED: 1}, "a reply does not mark the channel unread"
    first = post(client, f"<@{CUSTOMER_USER}> 1.5 is overdue", thread_ts=parent)
    assert standin.notified_by(SHARED, first) == {CUSTOMER_USER: "mention"}
    assert standin.followers(SHARED, parent) == {CUSTOMER_USER}
    # The customer is now following: a later reply that mentions nobody reaches them.
    later = post(client, "1.5 is still open", thread_ts=parent)
    assert standin.notified_by(SHARED, later) == {CUSTOMER_USER: "following the thread"}
    # Someone who writes in the thread follows it too; their own reply does not notify them.
    own = standin.post_as(ENGINEER, SHARED, "I will look at it", thread_ts=parent)
    assert standin.notified_by(SHARED, own) == {CUSTOMER_USER: "following the thread"}
    again = post(client, "Reminder", thread_ts=parent)
    assert standin.notified_by(SHARED, again) == {
        CUSTOMER_USER: "following the thread",
        ENGINEER: "following the thread",
    }
    standin.follow_thread(CUSTOMER_USER, SHARED, parent, follow=False)
    last = post(client, "Reminder", thread_ts=parent)
    assert standin.notified_by(SHARED, last) == {ENGINEER: "following the thread"}


def test_a_broadcast_reply_shows_in_the_channel_and_pushes_only_for_mentions(
    standin: SlackStandIn, client: WebClient
) -> None:
    parent = post(client, "Dry run announcement")
    standin.mark_read(ENGINEER, SHARED)
    ts = post(client, f"<@{LEAD}> the dry run is in 1 hour", thread_ts=parent, reply_broadcast=True)
    assert standin.notified_by(SHARED, ts) == {LEAD: "mention"}
    assert standin.unread(ENGINEER) == {SHARED: 1}
    assert [m["ts"] for m in standin.top_level(SHARED)] == [parent, ts]
    shown = client.conversations_history(channel=SHARED)["messages"]
    assert [m["ts"] for m in shown] == [ts, parent] and shown[0]["subtype"] == "thread_broadcast"


def test_an_edit_notifies_nobody_even_when_it_adds_a_mention(
    standin: SlackStandIn, client: WebClient
) -> None:
    ts = post(client, "Friendly reminder")
    text = f"<@{CUSTOMER_USER}> friendly reminder"
    client.chat_update(channel=SHARED, ts=ts, text=text, blocks=section(text))
    assert standin.notifications(CUSTOMER_USER) == []
    [silence] = standin.silences(CUSTOMER_USER)
    assert silence.ts == ts and silence.why == "an edit notifies nobody"


def test_an_ephemeral_message_notifies_nobody(standin: SlackStandIn, client: WebClient) -> None:
    client.chat_postEphemeral(
        channel=SHARED, user=CUSTOMER_USER, text=f"<@{CUSTOMER_USER}> only you see this"
    )
    assert standin.notifications(CUSTOMER_USER) == []
    assert [s.why for s in standin.silences(CUSTOMER_USER)] == ["an ephemeral message notifies nobody"]


def test_a_mention_in_only_the_text_or_only_the_blocks_says_so(
    standin: SlackStandIn, client: WebClient
) -> None:
    only_blocks = client.chat_postMessage(
        channel=SHARED, text="Friendly reminder", blocks=section(f"<@{CUSTOMER_USER}> 1.5 is overdue")
    )["ts"]
    only_text = client.chat_postMessage(
        channel=SHARED, text=f"<@{ENGINEER}> reminder", blocks=section("1.5 is overdue")
    )["ts"]
    in_plain_text = client.chat_postMessage(
        channel=SHARED,
        text="reminder",
        blocks=[{"type": "header", "text": {"type": "plain_text", "text": f"<@{LEAD}>"}}],
    )["ts"]
    rich = client.chat_postMessage(
        channel=SHARED,
        text=f"<@{LEAD}> reminder",
        blocks=[
            {
                "type": "rich_text",
                "elements": [{"type": "rich_text_section", "elements": [{"type": "user", "user_id": LEAD}]}],
            }
        ],
    )["ts"]
    # Both still notify (and make a thread followed); the reason says which half is missing.
    assert standin.notified_by(SHARED, only_blocks) == {CUSTOMER_USER: "mention only in blocks"}
    assert standin.notified_by(SHARED, only_text) == {ENGINEER: "mention only in text"}
    assert standin.notified_by(SHARED, in_plain_text) == {}, "plain_text shows a mention as typed"
    assert standin.notified_by(SHARED, rich) == {LEAD: "mention"}


def test_at_channel_notifies_every_member_and_nobody_of_their_own_message(
    standin: SlackStandIn, client: WebClient
) -> None:
    ts = post(client, "<!channel> go-live is today")
    assert standin.notified_by(SHARED, ts) == {
        LEAD: "@channel",
        ENGINEER: "@channel",
        CUSTOMER_USER: "@channel",
    }
    own = standin.post_as(LEAD, SHARED, f"<@{LEAD}> note to self, <@{CUSTOMER_USER}> FYI")
    assert standin.notified_by(SHARED, own) == {CUSTOMER_USER: "mention"}
