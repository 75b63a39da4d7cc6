"""The sandbox's Activity pane and unread marker over real HTTP (urllib, no browser).

The pane lists what the stand-in says Slack notified the viewed person of (standin/notify.py),
newest first, with why and where; the channel's unread marker is the stand-in's `unread`, and
viewing the channel marks it read. Which notifications a person has seen in Activity is kept by
the sandbox, per person.

The bot's own mentions today are in its blocks only (not in the push `text`), so they notify
nobody: the pane is driven here through the stand-in's Web API (`chat.postMessage` with the bot's
token, as the bot would post) and `post_as` (a person writing); the unread marker through the real
bot's commands.
"""

from __future__ import annotations

from slack_sdk import WebClient

from sandbox.harness import APPROVER, CHANNEL, CONSULTANT, CONTRIBUTOR, LEAD
from sandbox.main import SandboxServer
from tests.browser.htmltools import Node
from tests.browser.test_sandbox_web import Browser


def items(page: Node) -> list[Node]:
    return page.find("section", cls="activity").find_all("li", cls="activity-item")


def tab(page: Node, name: str) -> Node:
    found = [t for t in page.find("nav", cls="tabs").find_all(cls="tab") if t.text.startswith(name)]
    assert len(found) == 1, f"no single {name!r} tab"
    return found[0]


def channel_item(page: Node) -> Node:
    return page.find("nav", cls="nav").find("a", cls="nav-item", href="/")


def test_activity_lists_the_persons_notifications_newest_first_with_why_and_where(
    web: Browser, sandbox_server: SandboxServer, slack: WebClient
):
    standin = sandbox_server.sandbox.h.standin
    ada = f"<@{APPROVER.user_id}>"

    def post(text: str, channel: str = CHANNEL, **kw: str) -> str:
        return str(slack.chat_postMessage(channel=channel, text=text, **kw)["ts"])

    asked = post(f"{ada} please review the data mapping")
    post(f"{ada} the mapping is attached", thread_ts=asked)  # she follows the thread now
    post("One more column was added", thread_ts=asked)
    everyone = post("<!channel> the kickoff call moved to 10:00")
    # A DM with the customer's person, as Slack allows once both organisations permit it (the
    # stand-in refuses a DM across organisations otherwise): this is about the Activity view.
    standin.allow_external_dm(APPROVER.user_id)
    direct = post(
        "You have *2* sign-offs waiting", slack.conversations_open(users=APPROVER.user_id)["channel"]["id"]
    )
    carl = standin.post_as(CONSULTANT.user_id, CHANNEL, f"{ada} can you check 1.6?")

    page = web.be(APPROVER)
    page = web.get("/?view=activity")
    assert page.find("h1").text == "Activity"
    assert [t.text for t in page.find_all(cls="tab") if "active" in t.classes] == ["Activity"]
    assert page.find("a", cls="tab", href="/?view=activity").attrs.get("aria-current") == "page"

    shown = items(page)
    expected = standin.activity(APPROVER.user_id)
    assert [li.attrs["data-ts"] for li in shown] == [n.ts for n in expected], "newest first, as the stand-in"
    assert [li.attrs["data-reason"] for li in shown] == [
        "mention",
        "direct message",
        "@channel",
        "following the thread",
        "mention",
        "mention",
    ]
    heads = [li.find(cls="activity-head").text for li in shown]
    assert heads[0].startswith("Mention in #acme-implementation")
    assert heads[1].startswith("Direct message") and "#acme" not in heads[1]
    assert heads[2].startswith("@channel in #acme-implementation")
    assert heads[3].startswith("Thread you follow in #acme-implementation · in a thread")
    assert heads[4].startswith("Mention in #acme-implementation · in a thread")
    assert heads[5].startswith("Mention in #acme-implementation") and "in a thread" not in heads[5]
    assert all(li.find("time").attrs["title"].endswith(("CET", "CEST")) for li in shown), "Ada's own zone"

    # Who wrote it, and the text as the sandbox renders mrkdwn (mentions as names, *bold*).
    assert shown[0].find(cls="author").text == "Carl Consultant" and not shown[0].find_all(cls="app-badge")
    assert shown[0].find(cls="activity-text").text == "@Ada Approver can you check 1.6?"
    assert shown[0].find(cls="mention").text == "@Ada Approver"
    assert shown[1].find(cls="author").text == "golive" and shown[1].find(cls="app-badge").text == "APP"
    assert shown[1].find(cls="activity-text").find("b").text == "2"

    # Each entry leads to its message: the channel (thread replies are shown there), or the DM.
    links = [li.find("a", cls="activity-open").attrs["href"] for li in shown]
    assert links[0] == f"/#m-{carl}" and links[1] == f"/?view=messages#m-{direct}"
    assert links[2] == f"/#m-{everyone}" and links[5] == f"/#m-{asked}"
    articles = {a.attrs.get("id"): a for a in web.get("/").find_all("article", cls="msg")}
    channel_ids = set(articles)
    by_carl = articles[f"m-{carl}"]  # a person's message in the channel is shown as theirs
    assert by_carl.find(cls="author").text == "Carl Consultant" and not by_carl.find_all(cls="app-badge")
    assert {link.split("#")[1] for link in links if link.startswith("/#")} <= channel_ids
    assert f"m-{direct}" in {a.attrs.get("id") for a in web.get("/?view=messages").find_all("article")}

    # Another person's Activity has only what notified them: the @channel.
    web.be(CONTRIBUTOR)
    shown = items(web.get("/?view=activity"))
    assert [(li.attrs["data-reason"], li.attrs["data-ts"]) for li in shown] == [("@channel", everyone)]


def test_activity_escapes_message_text(web: Browser, sandbox_server: SandboxServer, slack: WebClient):
    ada = f"<@{APPROVER.user_id}>"
    slack.chat_postMessage(
        channel=CHANNEL, text=f"{ada} <script>alert(1)</script> <img src=x onerror=alert(2)>"
    )
    slack.chat_postMessage(channel=CHANNEL, text=f"{ada} &lt;b&gt;not bold&lt;/b&gt; &amp; *bold*")
    web.be(APPROVER)
    with web.opener.open(web.base + "/?view=activity", timeout=15) as resp:
        raw = resp.read().decode("utf-8")
    section = raw[
        raw.index('<section class="activity"') : raw.index(
            "</section>", raw.index('<section class="activity"')
        )
    ]
    assert "<script" not in section and "<img" not in section
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(2)&gt;" in section
    assert "&lt;b&gt;not bold&lt;/b&gt; &amp; <b>bold</b>" in section, (
        "Slack's entities shown as text; mrkdwn applied"
    )
    shown = [li.find(cls="activity-text").text for li in items(web.get("/?view=activity"))]
    assert shown == [
        "@Ada Approver <b>not bold</b> & bold",
        "@Ada Approver <script>alert(1)</script> <img src=x onerror=alert(2)>",
    ]


def test_the_activity_badge_counts_what_the_person_has_not_seen(
    web: Browser, sandbox_server: SandboxServer, slack: WebClient
):
    ada, cody = f"<@{APPROVER.user_id}>", f"<@{CONTRIBUTOR.user_id}>"
    web.be(APPROVER)
    assert tab(web.get("/"), "Activity").text == "Activity", "no badge without notifications"
    assert "Nothing here yet" in web.get("/?view=activity").find("section", cls="activity").text

    slack.chat_postMessage(channel=CHANNEL, text=f"{ada} first")
    slack.chat_postMessage(channel=CHANNEL, text=f"{ada} {cody} second")
    page = web.get("/")
    assert tab(page, "Activity").text == "Activity 2 new"
    assert tab(page, "Activity").find(cls="count").text == "2"

    page = web.get("/?view=activity")
    assert tab(page, "Activity").text == "Activity", "opening Activity sees everything in it"
    assert [li.find(cls="activity-new").text for li in items(page)] == ["New", "New"]
    page = web.get("/?view=activity")
    assert not page.find_all(cls="activity-new"), "seen on the last visit"

    slack.chat_postMessage(channel=CHANNEL, text=f"{ada} third")
    assert tab(web.get("/?view=home"), "Activity").text == "Activity 1 new"
    page = web.get("/?view=activity")
    assert ["new" in li.classes for li in items(page)] == [True, False, False]
    assert items(page)[0].find(cls="activity-text").text == "@Ada Approver third"

    # "Seen" is per person: Cody has not opened his Activity.
    assert tab(web.be(CONTRIBUTOR), "Activity").text == "Activity 1 new"
    assert tab(web.be(APPROVER), "Activity").text == "Activity"


def test_the_unread_marker_shows_on_the_channel_and_clears_when_the_person_views_it(
    web: Browser, sandbox_server: SandboxServer
):
    standin = sandbox_server.sandbox.h.standin
    web.be(LEAD)
    page = web.command("/golive start Acme Corp")  # the bot's welcome and checklist, top level
    assert "unread" not in channel_item(page).classes, "Lena is looking at the channel"
    assert standin.unread(LEAD.user_id) == {}

    # Ada is on another view: the channel is bold, with the stand-in's count, in the sidebar and tabs.
    page = web.get(f"/?as={APPROVER.user_id}&view=activity")
    count = standin.unread(APPROVER.user_id)[CHANNEL]
    assert count >= 2
    item = channel_item(page)
    assert "unread" in item.classes and item.find(cls="count").text == str(count)
    assert item.text.endswith(f"{count} unread messages")
    assert tab(page, "Channel").text == f"Channel {count} unread"

    # Viewing the channel marks it read: the marker is gone, there and on the next page.
    page = web.get("/")
    assert standin.unread(APPROVER.user_id) == {}
    assert "unread" not in channel_item(page).classes and not channel_item(page).find_all(cls="count")
    page = web.get("/?view=activity")
    assert "unread" not in channel_item(page).classes and tab(page, "Channel").text == "Channel"

    # The bot posts again at the top level: unread again for Ada; Lena is back on the channel.
    web.be(LEAD)
    web.command("/golive checklist")
    page = web.get(f"/?as={APPROVER.user_id}&view=messages")
    assert channel_item(page).find(cls="count").text == str(standin.unread(APPROVER.user_id)[CHANNEL])
    assert standin.unread(LEAD.user_id) == {}
