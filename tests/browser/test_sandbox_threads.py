"""Threads, pictures, confirm dialogs and where an action comes back to, over real HTTP (urllib).

Threads come from the real bot: naming the customer's approver posts a note in the welcome's
thread, assigning an item posts one in the checklist's thread. A reply sent to the channel too
(`reply_broadcast`) and a deleted parent come through the stand-in's Web API with the bot's token,
as the bot would post them.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
from urllib.parse import urlencode, urlsplit

import pytest
from slack_sdk import WebClient

from sandbox.files import PNG_SIGNATURE, picture
from sandbox.harness import APPROVER, CHANNEL, CONTRIBUTOR, LEAD
from sandbox.main import SandboxServer
from tests.browser.htmltools import Node
from tests.browser.test_sandbox_web import Browser, messages, newest


def channel(page: Node) -> list[Node]:
    """The messages shown in the channel itself (not in the thread pane)."""
    return page.find("section", cls="timeline").find_all("article", cls="msg")


def pane(page: Node) -> Node:
    return page.find("aside", cls="thread-pane")


def started(web: Browser, sandbox_server: SandboxServer) -> dict[str, str]:
    """An engagement with two threads made by the bot; {"welcome": ts, "checklist": ts}."""
    web.be(LEAD)
    web.command("/golive start Acme Corp")
    web.command("/golive role @ada approver")  # a note to Ada in the welcome's thread
    web.command("/golive assign 1.5 @cody")  # a note to Cody in the checklist's thread
    standin = sandbox_server.sandbox.h.standin
    top = standin.top_level(CHANNEL)
    return {
        "welcome": next(m["ts"] for m in top if "kicked off" in m["text"]),
        "checklist": next(m["ts"] for m in top if "checklist:" in m["text"]),
    }


def raw_post(server: SandboxServer, path: str, fields: dict[str, str], cookie: str = "") -> tuple[int, str]:
    """POST without following the redirect: (status, Location)."""
    host, port = urlsplit(server.url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
        conn.request("POST", path, urlencode(fields), headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("Location") or ""
    finally:
        conn.close()


# ----- threads folded under their parent


def test_thread_replies_are_folded_under_their_parent_with_a_replies_line(
    web: Browser, sandbox_server: SandboxServer
):
    standin = sandbox_server.sandbox.h.standin
    threads = started(web, sandbox_server)
    page = web.be(APPROVER)

    replies = [m for m in standin.messages(CHANNEL) if m.get("thread_ts") not in (None, m["ts"])]
    assert len(replies) >= 2
    shown = {a.attrs["data-ts"] for a in channel(page)}
    assert shown == {m["ts"] for m in standin.top_level(CHANNEL)}, "the channel shows top-level messages"
    assert not shown & {r["ts"] for r in replies}, "no reply drawn inline in the channel"
    assert not page.find_all("aside", cls="thread-pane"), "no thread open"

    welcome = next(a for a in channel(page) if a.attrs["data-ts"] == threads["welcome"])
    summary = welcome.find("a", cls="thread-summary")
    count = len(standin.replies(CHANNEL, threads["welcome"]))
    assert summary.find(cls="thread-count").text == f"{count} repl{'y' if count == 1 else 'ies'}"
    assert summary.attrs["href"] == f"/?thread={threads['welcome']}"
    assert summary.find(cls="thread-last").text.startswith("Last reply ")
    assert summary.find(cls="thread-last").find("time").attrs["title"].endswith(("CET", "CEST"))
    assert [f.text for f in summary.find_all(cls="face")] == ["g"], "golive replied"
    assert "›" in summary.text
    assert "from golive" in summary.find(cls="sr-only").text


def test_the_thread_pane_shows_the_parent_then_its_replies_and_actions_come_back_to_it(
    web: Browser, sandbox_server: SandboxServer
):
    standin = sandbox_server.sandbox.h.standin
    threads = started(web, sandbox_server)
    web.be(CONTRIBUTOR)
    ts = threads["checklist"]
    page = web.get(f"/?thread={ts}")

    shown = pane(page)
    assert shown.attrs["data-thread"] == ts and shown.attrs["aria-labelledby"] == "thread-title"
    assert shown.find("h2").text == "Thread #acme-implementation"
    assert shown.find("a", cls="thread-close").attrs["href"] == "/"
    articles = shown.find_all("article", cls="msg")
    assert articles[0].attrs["id"] == f"t-{ts}" and "— checklist" in articles[0].text, "the parent first"
    expected = [m["ts"] for m in standin.replies(CHANNEL, ts)]
    assert [a.attrs["data-ts"] for a in articles[1:]] == expected
    assert [a.attrs["id"] for a in articles[1:]] == [f"m-{r}" for r in expected]
    assert "1.5" in articles[1].text and "Cody Contributor" in articles[1].text
    summary = next(a for a in channel(page) if a.attrs["data-ts"] == ts).find("a", cls="thread-summary")
    assert "open" in summary.classes and summary.attrs["aria-current"] == "true"

    # No id twice, though the parent is shown in the channel and in the pane.
    ids = [n.attrs["id"] for n in page.iter() if "id" in n.attrs]
    assert len(ids) == len(set(ids))

    # The pane's forms (and the composer, the clock) come back to this page, the pane open, at the
    # acted-on message (the fragment is for browsers without JavaScript).
    form = articles[0].find("form", cls="el-button")
    assert form.form_fields()["back"] == f"/?thread={ts}#a-t-{ts}"
    reply_form = articles[1].find("form", cls="el-button")
    assert reply_form.form_fields()["back"] == f"/?thread={ts}#a-m-{expected[0]}"
    assert page.find("form", cls="clock-buttons").form_fields()["back"] == f"/?thread={ts}"

    # Ticking the checklist in the pane: sent to the bot, and the pane is still open after it.
    tick = next(f for f in articles[0].find_all("form", cls="el-checkboxes") if "1.5 ·" in f.text)
    page = web.submit_form(tick, values="5")
    assert pane(page).attrs["data-thread"] == ts
    assert "✅ 1 done" in pane(page).find("article", cls="msg").text
    record = standin.message(CHANNEL, ts)
    assert record is not None and record["edited"]

    # A button of a reply that opens a modal: the modal opens over the page, the pane stays.
    button = next(
        f for a in pane(page).find_all("article", cls="msg")[1:] for f in a.find_all("form", cls="el-button")
    )
    page = web.submit_form(button)
    assert page.find("dialog", cls="modal") and pane(page).attrs["data-thread"] == ts
    assert page.find("dialog", cls="modal").find("form", action="/view/close").form_fields()["back"] == (
        f"/?thread={ts}"
    )

    # Closing the pane: the channel alone.
    assert not web.get("/").find_all("aside", cls="thread-pane")


def test_a_vendor_command_keeps_the_open_thread(web: Browser, sandbox_server: SandboxServer):
    threads = started(web, sandbox_server)
    page = web.get(f"/?thread={threads['welcome']}")
    composer = page.find("form", action="/command")
    assert composer.form_fields()["back"] == f"/?thread={threads['welcome']}"
    page = web.post("/command", {**composer.form_fields(), "text": "/golive status"})
    assert pane(page).attrs["data-thread"] == threads["welcome"]
    status = [a for a in channel(page) if "implementation status" in a.text]
    assert status and "ephemeral" in status[-1].classes, "the answer shows in the channel"


def test_unknown_threads_open_no_pane(web: Browser, sandbox_server: SandboxServer):
    standin = sandbox_server.sandbox.h.standin
    threads = started(web, sandbox_server)
    reply = standin.replies(CHANNEL, threads["welcome"])[0]["ts"]
    for thread in ("nope", "1.2", reply):
        page = web.get("/?" + urlencode({"thread": thread}))
        assert not page.find_all("aside", cls="thread-pane"), thread
        assert channel(page), "the channel is shown as usual"


def test_a_broadcast_reply_shows_in_the_channel_and_in_its_thread(
    web: Browser, sandbox_server: SandboxServer, slack: WebClient
):
    threads = started(web, sandbox_server)
    parent = threads["checklist"]
    also = str(
        slack.chat_postMessage(
            channel=CHANNEL, thread_ts=parent, text="Heads-up for all", reply_broadcast=True
        )["ts"]
    )
    quiet = str(slack.chat_postMessage(channel=CHANNEL, thread_ts=parent, text="Only in the thread")["ts"])
    page = web.be(APPROVER)

    shown = {a.attrs["data-ts"]: a for a in channel(page)}
    assert also in shown and quiet not in shown
    assert "broadcast" in shown[also].classes and shown[also].attrs["id"] == f"m-{also}"
    link = shown[also].find("a", cls="thread-link")
    assert link.text == "replied to a thread" and link.attrs["href"] == f"/?thread={parent}"
    count = len(sandbox_server.sandbox.h.standin.replies(CHANNEL, parent))
    assert shown[parent].find(cls="thread-count").text == f"{count} replies", "counted in its thread too"

    page = web.get(f"/?thread={parent}")
    in_pane = {a.attrs["data-ts"]: a for a in pane(page).find_all("article", cls="msg")}
    assert also in in_pane and quiet in in_pane
    assert in_pane[also].attrs["id"] == f"m-{also}" and "also sent to the channel" in in_pane[also].text
    copy = next(a for a in channel(page) if a.attrs["data-ts"] == also)
    assert copy.attrs["id"] == f"c-{also}", "the pane's copy is the one a link opens"


def test_a_deleted_parent_keeps_its_thread(web: Browser, sandbox_server: SandboxServer, slack: WebClient):
    parent = str(slack.chat_postMessage(channel=CHANNEL, text="Kickoff moved")["ts"])
    slack.chat_postMessage(channel=CHANNEL, thread_ts=parent, text="To 10:00")
    oops = str(
        slack.chat_postMessage(channel=CHANNEL, thread_ts=parent, text="Oops", reply_broadcast=True)["ts"]
    )
    alone = str(slack.chat_postMessage(channel=CHANNEL, text="Typo")["ts"])
    for ts in (parent, oops, alone):
        slack.chat_delete(channel=CHANNEL, ts=ts)
    page = web.be(LEAD)
    shown = {a.attrs["data-ts"]: a for a in channel(page)}
    assert alone not in shown and oops not in shown, "deleted messages without replies are gone"
    assert shown[parent].find(cls="b-text").text == "This message was deleted."
    assert "Kickoff" not in shown[parent].text and not shown[parent].find_all(cls="author")
    assert shown[parent].find(cls="thread-count").text == "1 reply"
    assert "To 10:00" in pane(web.get(f"/?thread={parent}")).text


def test_activity_links_to_a_reply_open_its_thread(web: Browser, sandbox_server: SandboxServer):
    standin = sandbox_server.sandbox.h.standin
    threads = started(web, sandbox_server)
    reply = standin.post_as(
        LEAD.user_id, CHANNEL, f"<@{APPROVER.user_id}> see 1.6", thread_ts=threads["checklist"]
    )
    web.be(APPROVER)
    entries = web.get("/?view=activity").find("section", cls="activity").find_all("li", cls="activity-item")
    entry = next(li for li in entries if li.attrs["data-ts"] == reply)
    href = entry.find("a", cls="activity-open").attrs["href"]
    assert href == f"/?thread={threads['checklist']}#m-{reply}"
    page = web.get(href.split("#")[0])
    assert pane(page).find("article", id=f"m-{reply}").find(cls="author").text == "Lena Lead"

    # An older link to the reply (`/#m-<ts>`): the page knows its thread, for the script to open it.
    index = json.loads(page.find("script", id="thread-index").text)
    assert index[reply] == threads["checklist"]


# ----- pictures shown inline


def test_the_timeline_picture_is_shown_inline_and_served_as_an_image(
    web: Browser, sandbox_server: SandboxServer
):
    web.be(LEAD)
    web.command("/golive start Acme Corp")
    page = web.command("/golive timeline")
    files = [f for f in sandbox_server.sandbox.h.standin.files if f["filename"].endswith(".png")]
    if not files:
        pytest.skip("the bot shared no timeline picture here (files blocked?)")
    record = files[-1]
    shown = next(a for a in messages(page) if a.find_all("figure", cls="file-picture"))
    figure = shown.find("figure", cls="file-picture")
    img = figure.find("img")
    size = picture(record["content"])
    assert size is not None
    assert img.attrs["src"] == f"/files/{record['id']}/preview"
    assert (img.attrs["width"], img.attrs["height"]) == (str(size.width), str(size.height))
    assert img.attrs["alt"] == (record.get("alt_txt") or record["title"])
    download = figure.find("a", cls="file-download")
    assert (
        download.attrs["href"] == f"/files/{record['id']}"
        and download.attrs["download"] == record["filename"]
    )
    assert figure.find(cls="file-title").text == record["title"]
    assert not shown.find_all("a", cls="file"), "a picture, not a download card"

    with web.opener.open(web.base + img.attrs["src"], timeout=15) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/png"
        assert resp.headers["Content-Disposition"] == "inline"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.read() == record["content"]
    with web.opener.open(web.base + download.attrs["href"], timeout=15) as resp:
        assert resp.headers["Content-Disposition"].startswith("attachment;")


def test_files_that_are_not_pictures_have_no_preview(web: Browser, sandbox_server: SandboxServer):
    web.be(LEAD)
    web.command("/golive start Acme Corp")
    page = web.command("/golive audit")
    card = newest(page, "Audit trail of the Acme Corp implementation")
    link = card.find("a", cls="file")
    assert not card.find_all("img")
    for path in (link.attrs["href"] + "/preview", "/files/F0NOPE/preview"):
        with pytest.raises(urllib.error.HTTPError) as missing:
            web.opener.open(web.base + path, timeout=15)
        assert missing.value.code == 404


def test_picture_reads_png_and_jpeg_sizes_from_their_bytes():
    png = (
        PNG_SIGNATURE + b"\x00\x00\x00\rIHDR" + (640).to_bytes(4, "big") + (480).to_bytes(4, "big") + b"\x08"
    )
    assert picture(png) == picture(png + b"more")
    found = picture(png)
    assert found is not None and (found.mimetype, found.width, found.height) == ("image/png", 640, 480)
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = (
        b"\xff\xc0\x00\x11\x08" + (300).to_bytes(2, "big") + (400).to_bytes(2, "big") + b"\x03" + b"\x00" * 9
    )
    found = picture(b"\xff\xd8" + app0 + sof0)
    assert found is not None and (found.mimetype, found.width, found.height) == ("image/jpeg", 400, 300)
    for junk in (b"", b"GIF89a....", b"<svg onload=alert(1)>", PNG_SIGNATURE, b"\xff\xd8\xff\xda\x00\x02"):
        assert picture(junk) is None, junk


# ----- confirm dialogs and where actions come back to


def test_confirm_buttons_get_the_pages_modal_dialog_not_the_browsers(
    web: Browser, sandbox_server: SandboxServer
):
    web.be(LEAD)
    web.command("/golive start Acme Corp")
    page = web.command("/golive cancel")
    forms = [f for f in page.find_all("form") if "data-confirm-dialog" in f.attrs]
    if not forms:
        pytest.skip("the bot has no confirmed button on /golive cancel")
    form = forms[-1]
    dialog = page.find("dialog", id=form.attrs["data-confirm-dialog"])
    assert "confirm" in dialog.classes and "open" not in dialog.attrs
    assert dialog.attrs["role"] == "dialog" and dialog.attrs["aria-modal"] == "true"
    assert page.find(id=dialog.attrs["aria-labelledby"]).text == "Cancel the engagement?"
    assert "cannot be undone" in page.find(id=dialog.attrs["aria-describedby"]).text
    assert [b.text for b in dialog.find_all("button")] == ["Keep it", "Cancel it"]
    assert dialog.find("form").attrs["method"] == "dialog"

    with web.opener.open(web.base + "/static/sandbox.js", timeout=5) as resp:
        script = resp.read().decode("utf-8")
    code = re.sub(r"//[^\n]*", "", script)  # without its comments
    assert "showModal()" in code and not re.search(r"\bconfirm\s*\(", code), "no window.confirm()"


def test_back_is_only_ever_a_local_address(web: Browser, sandbox_server: SandboxServer):
    web.be(LEAD)
    cookie = f"golive_as={LEAD.user_id}"
    status, location = raw_post(
        sandbox_server, "/clock", {"op": "hour", "back": "/?thread=1.2#a-m-1.2"}, cookie
    )
    assert (status, location) == (303, "/?thread=1.2#a-m-1.2")
    for bad in ("//evil.example/", "/\\evil.example", "https://evil.example/", "/\r\nSet-Cookie: x=1", "/é"):
        status, location = raw_post(sandbox_server, "/clock", {"op": "hour", "back": bad}, cookie)
        assert (status, location) == (303, "/"), bad
