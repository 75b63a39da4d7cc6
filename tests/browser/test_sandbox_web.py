"""The sandbox page over real HTTP without a browser (urllib): personas, commands, ticks, modals, time."""

from __future__ import annotations

import http.cookiejar
import socket
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import urlencode

import pytest

from sandbox.harness import APPROVER, CHANNEL, CONSULTANT, CONTRIBUTOR, LEAD, OUTSIDER, Persona
from sandbox.main import SandboxServer, run
from tests.browser.htmltools import Node, parse


class Browser:
    """A cookie-keeping HTTP client that follows the page's POST-redirect-GET."""

    def __init__(self, server: SandboxServer) -> None:
        self.base = server.url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str = "/") -> Node:
        with self.opener.open(self.base + path, timeout=15) as resp:
            assert resp.status == 200
            return parse(resp.read().decode("utf-8"))

    def post(
        self, path: str, fields: dict[str, str | list[str]], headers: dict[str, str] | None = None
    ) -> Node:
        data = urlencode(fields, doseq=True).encode()
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {}, method="POST")
        with self.opener.open(req, timeout=15) as resp:  # follows the 303 back to the page
            assert resp.status == 200
            return parse(resp.read().decode("utf-8"))

    def be(self, persona: Persona) -> Node:
        node = self.get(f"/?as={persona.user_id}")
        assert node.find(cls="me-name").text == persona.name
        return node

    def command(self, text: str) -> Node:
        return self.post("/command", {"text": text})

    def submit_form(self, form: Node, **values: str | list[str]) -> Node:
        return self.post(form.attrs.get("action", "/action"), {**form.form_fields(), **values})


def messages(node: Node) -> list[Node]:
    return node.find_all("article", cls="msg")


def newest(node: Node, text: str) -> Node:
    found = [m for m in messages(node) if text in m.text]
    assert found, f"no message with {text!r}"
    return found[-1]


def tick_form(node: Node, ref: str) -> Node:
    """The checkbox form of item `ref` in the newest checklist: its description starts with the ref."""
    checklist = newest(node, "— checklist")
    for form in checklist.find_all("form", cls="el-checkboxes"):
        if form.find(cls="choice-desc").text.startswith(ref + " · "):
            return form
    raise AssertionError(f"no item {ref}")


def test_personas_commands_ticks_and_the_slack_connect_note(web: Browser, sandbox_server: SandboxServer):
    standin = sandbox_server.sandbox.h.standin
    page = web.be(LEAD)
    assert page.find(cls="me-role").text == "Lead consultant · Vendor Inc"
    assert page.find(cls="badge-shared").text == "Shared with Acme Corp"
    assert page.find("form", action="/command").find("input", name="text")

    page = web.command("/golive start Acme Corp")
    headers = [h.text for h in page.find_all(cls="b-header")]
    assert headers == ["🚀 Acme Corp implementation kicked off", "1. Discovery — checklist"]
    assert "@Lena Lead leads it" in newest(page, "kicked off").text
    assert all(
        m.find(cls="author").text == "golive" and m.find(cls="app-badge").text == "APP"
        for m in messages(page)
    )

    page = web.be(CONTRIBUTOR)
    assert page.find(cls="ws-name").text == "Acme Corp"
    assert page.find(cls="badge-shared").text == "Shared with Vendor Inc"
    assert not page.find_all("form", action="/command"), "customers get no composer"
    assert "not shared in a Slack Connect channel" in page.find(cls="connect-note").text

    page = web.submit_form(tick_form(page, "1.5"), values="5")
    checklist = newest(page, "— checklist")
    assert checklist.find(cls="edited").text == "(edited)"
    assert "✅ 1 done" in checklist.text, "done items are folded into one line"
    with pytest.raises(AssertionError):
        tick_form(page, "1.5")

    record = next(m for m in standin.messages(CHANNEL) if "checklist:" in m["text"])
    assert record["edited"] and not [
        b for b in record["blocks"] if b.get("block_id", "").startswith("item:5:")
    ]

    # Show all lists it ticked; unticking there (no box checked) is sent as an empty selection.
    show_all = checklist.find("form", cls="el-button")
    assert show_all.find("button").text == "Show all"
    page = web.submit_form(show_all)
    dialog = page.find("dialog", cls="modal")
    box = dialog.find("form", cls="el-checkboxes")
    assert "checked" in box.find("input", type="checkbox").attrs
    page = web.submit_form(box)
    assert (
        "checked"
        not in page.find("dialog", cls="modal")
        .find("form", cls="el-checkboxes")
        .find("input", type="checkbox")
        .attrs
    )
    assert tick_form(page, "1.5"), "back on the checklist"


def test_ephemerals_are_only_visible_to_their_user(web: Browser):
    web.be(LEAD)
    web.command("/golive start Acme Corp")
    page = web.command("/golive status")
    status = newest(page, "implementation status")
    assert "ephemeral" in status.classes and status.find(cls="only-you").text == "Only visible to you"
    page = web.be(CONSULTANT)
    assert not [m for m in messages(page) if "implementation status" in m.text]


def test_buttons_on_ephemeral_messages_reach_the_bot(web: Browser, sandbox_server: SandboxServer):
    web.be(LEAD)
    web.command("/golive start Acme Corp")
    page = web.command("/golive cancel")
    ephemeral = [
        m for m in messages(page) if "ephemeral" in m.classes and m.find_all("form", cls="el-button")
    ]
    if not ephemeral:
        pytest.skip("the bot sends no ephemeral message with a button for /golive cancel")
    form = ephemeral[-1].find("form", cls="el-button")
    assert form.form_fields()["where"] == "ephemeral"
    page = web.submit_form(form)
    assert not page.find_all(cls="notes"), "the click went through"
    assert "cancelled" in messages(page)[-1].text


def test_composer_refuses_what_is_not_the_bots_command(web: Browser):
    web.be(LEAD)
    page = web.command("/giphy cats")
    assert "/giphy is not a valid command" in page.find(cls="notes").text
    page = web.command("hello everyone")
    assert "Only slash commands reach the bot" in page.find(cls="notes").text
    assert not messages(page)
    assert not web.get().find_all(cls="notes"), "notes are shown once"


def test_modal_validation_errors_stay_open_then_submit(web: Browser, sandbox_server: SandboxServer):
    standin = sandbox_server.sandbox.h.standin
    web.be(LEAD)
    page = web.command("/golive start")
    dialog = page.find("dialog", cls="modal")
    assert dialog.find("h2").text == "Start an engagement"
    form_id = dialog.find("form", action="/view/submit").attrs["id"]
    fields = {n.attrs["name"] for n in dialog.iter() if n.attrs.get("form") == form_id and "name" in n.attrs}
    assert {
        "in:customer/value",
        "in:size/value",
        "in:kickoff/value",
        "in:tz/value",
        "in:pilot/value",
    } <= fields
    view_id = dialog.find("form", action="/view/submit").form_fields()["view_id"]

    # A required field left empty is caught before anything is sent, as Slack does.
    page = web.post("/view/submit", {"view_id": view_id, "in:customer/value": ""})
    assert page.find("dialog").find(cls="b-error").text == "Please complete this required field."

    # The bot's own validation: `response_action: errors` shows under the field; the modal stays.
    submit = {
        "view_id": view_id,
        "in:customer/value": "Acme Corp",
        "in:size/value": "small",
        "in:kickoff/value": "2026-11-30",
        "in:tz/value": "Mars/Base",
        "in:ingest/value": "api",
    }
    page = web.post("/view/submit", submit)
    dialog = page.find("dialog", cls="modal")
    errors = dialog.find_all(cls="b-error")
    assert len(errors) == 1 and "Mars/Base" in errors[0].text and "time zone" in errors[0].text
    assert dialog.find("input", name="in:tz/value").attrs["value"] == "Mars/Base", "typed values stay"
    assert standin.open_views(LEAD.user_id), "the modal stays open"

    page = web.post("/view/close", {"view_id": view_id})
    assert not page.find_all("dialog") and not standin.open_views(LEAD.user_id)

    page = web.command("/golive start")
    view_id = page.find("dialog").find("form", action="/view/submit").form_fields()["view_id"]
    page = web.post("/view/submit", {**submit, "view_id": view_id, "in:tz/value": "Europe/Berlin"})
    assert not page.find_all("dialog")
    welcome = newest(page, "kicked off").text
    assert "Europe/Berlin" in welcome and "Small" in welcome


def test_item_menu_opens_a_modal_and_users_select_offers_the_personas(
    web: Browser, sandbox_server: SandboxServer
):
    web.be(LEAD)
    web.command("/golive start Acme Corp")
    page = web.be(APPROVER)
    menu = [d for d in newest(page, "— checklist").find_all("details", cls="el-overflow")][1]
    page = web.submit_form(menu.find("form"), value=menu.find("button").attrs["value"])  # "Assign…" on 1.6
    dialog = page.find("dialog", cls="modal")
    assert dialog.find("h2").text == "Assign item"
    select = dialog.find("select")
    assert [o.attrs["value"] for o in select.find_all("option")][1:] == [
        "U0LEAD",
        "U0CONS",
        "U0OTHER",
        "U0APPR",
        "U0CONTRIB",
        "U0SPONSOR",
    ]
    view_id = dialog.find("form", action="/view/submit").form_fields()["view_id"]
    page = web.post("/view/submit", {"view_id": view_id, select.attrs["name"]: APPROVER.user_id})
    assert not page.find_all("dialog")
    assert "Ada Approver" in tick_form(page, "1.6").find(cls="choice-desc").text


def test_home_tab_sends_app_home_opened_for_vendor_people_only(web: Browser, sandbox_server: SandboxServer):
    standin = sandbox_server.sandbox.h.standin
    web.be(LEAD)
    web.command("/golive start Acme Corp")
    page = web.post("/home", {})
    assert [t.text for t in page.find_all(cls="tab") if "active" in t.classes] == ["Home"]
    home = page.find(cls="home-view")
    assert "Your engagements" in home.text and "Acme Corp" in home.text and "riskiest first" in home.text
    assert standin.home(LEAD.user_id) is not None
    web.be(CONTRIBUTOR)
    page = web.post("/home", {})
    assert "App Home of an app your organisation has not installed" in page.find(cls="home").text
    assert standin.home(CONTRIBUTOR.user_id) is None


def test_clock_moves_and_reports_the_sweep(web: Browser, sandbox_server: SandboxServer):
    sandbox = sandbox_server.sandbox
    start = sandbox.clock.now()
    web.be(LEAD)
    page = web.post("/clock", {"op": "day"})
    assert sandbox.clock.now() == start + timedelta(days=1)
    assert page.find(cls="clock-local").text == "Tue 01 Dec 2026, 09:00 CET Berlin"
    assert page.find(cls="clock-utc").text == "Tue 01 Dec 2026, 08:00 UTC"
    report = page.find(cls="sweep").text
    if hasattr(sandbox.h, "run_sweep"):
        assert "No sweep available yet" not in report
    else:
        assert "No sweep available yet" in report
    web.post("/clock", {"op": "hour"})
    assert sandbox.clock.now() == start + timedelta(days=1, hours=1)
    web.post("/clock", {"op": "monday"})
    assert sandbox.clock.now().isoformat() == "2026-12-07T08:00:00+00:00"
    web.post("/clock", {"op": "set", "at": "2026-12-24T17:30"})
    assert sandbox.clock.now().isoformat() == "2026-12-24T16:30:00+00:00"


def test_cross_site_posts_are_refused(web: Browser):
    with pytest.raises(urllib.error.HTTPError) as exc:
        web.post("/command", {"text": "/golive help"}, headers={"Origin": "https://evil.example"})
    assert exc.value.code == 403


def test_static_files_and_unknown_paths(web: Browser):
    with web.opener.open(web.base + "/static/sandbox.css", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/css") and b".sidebar" in resp.read()
    for path in ("/static/../session.py", "/nope"):
        with pytest.raises(urllib.error.HTTPError) as exc:
            web.opener.open(web.base + path, timeout=5)
        assert exc.value.code == 404


def test_run_exits_2_when_the_port_is_taken(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exc:
            run("127.0.0.1", port, tmp_path)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"127.0.0.1:{port}" in err
    assert not (tmp_path / "sandbox.sqlite3").exists(), "nothing starts when the port is taken"


def test_the_audit_csv_shared_in_the_channel_can_be_downloaded(web: Browser, sandbox_server: SandboxServer):
    web.be(LEAD)
    web.command("/golive start Acme Corp")
    page = web.command("/golive audit")
    [link] = newest(page, "Audit trail of the Acme Corp implementation").find_all("a", cls="file")
    assert link.attrs["download"].startswith("golive-audit-") and link.attrs["download"].endswith(".csv")
    assert link.find(cls="file-title").text == "Audit trail — Acme Corp"
    with web.opener.open(web.base + link.attrs["href"], timeout=15) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Disposition"] == f'attachment; filename="{link.attrs["download"]}"'
        assert resp.headers["Content-Type"].startswith("text/csv")
        body = resp.read().decode("utf-8")
    assert body.splitlines()[0].startswith('"') and "engagement.started" in body
    # The customer sees the same file; a file that does not exist is a 404.
    assert newest(web.be(CONTRIBUTOR), "Audit trail of").find_all("a", cls="file")
    with pytest.raises(urllib.error.HTTPError) as missing:
        web.opener.open(web.base + "/files/F0NOPE", timeout=15)
    assert missing.value.code == 404


def test_deal_won_posts_the_signed_deal_and_commands_go_to_the_channel_shown(
    web: Browser, sandbox_server: SandboxServer
):
    """Deal won reaches the bot's /hooks/deal (its answer in the note, `unchanged` the second
    time); a bot-made channel is shown only to its members, and the composer's commands go to
    the channel on the page."""
    h = sandbox_server.sandbox.h
    web.be(LEAD)
    page = web.post("/deal", {"back": "/"})
    note = page.find(cls="notes").text
    assert "SANDBOX-INITECH-1 (Initech)" in note and "202 created" in note, note
    [made] = h.standin.created_channels()
    deals = [c for c in h.standin.calls_to("conversations.create") if c.response.get("ok")]
    assert len(deals) == 1
    assert "unchanged" in web.post("/deal", {"back": "/"}).find(cls="notes").text
    assert len(h.standin.created_channels()) == 1 and len(h.standin.invites()) == 2

    # The lead's page on the new channel: its name, private, the composer bound to it.
    page = web.get(f"/?channel={made.id}")
    assert page.find("h1", cls="main-title").text == "#ext-initech-implementation"
    assert page.find(cls="badge-private").text == "Private"
    composer = page.find("form", action="/command")
    assert composer.form_fields()["channel"] == made.id
    assert composer.form_fields()["back"] == f"/?channel={made.id}"
    links = {a.attrs.get("data-channel"): a for a in page.find_all("a", cls="channel-item")}
    assert list(links) == [CHANNEL, made.id]
    assert links[made.id].attrs.get("aria-current") == "page"
    page = web.submit_form(composer, text="/golive status")
    answered = h.standin.ephemerals(made.id, LEAD.user_id)
    # Before the customer joins, the deal's engagement answers that it starts when they do.
    assert answered and "The Initech engagement was made from a deal won in the CRM" in answered[-1]["text"]
    assert not h.standin.ephemerals(CHANNEL), "nothing went to the shared channel"
    assert page.find("h1", cls="main-title").text == "#ext-initech-implementation", "back where it was"

    # Olaf (vendor, not invited) is shown the shared channel, and cannot command the other one.
    page = web.be(OUTSIDER)
    page = web.get(f"/?channel={made.id}")
    assert page.find("h1", cls="main-title").text == "#acme-implementation"
    assert [a.attrs.get("data-channel") for a in page.find_all("a", cls="channel-item")] == [CHANNEL]
    page = web.post("/command", {"text": "/golive status", "channel": made.id, "back": "/"})
    assert "You are not in that channel" in page.find(cls="notes").text

    # Cody, a contact, has an invitation (and no Deal won button); a stale one is refused politely.
    page = web.be(CONTRIBUTOR)
    assert not page.find_all("form", action="/deal")
    [invitation] = page.find_all("form", cls="invitation")
    assert "Invitation to #ext-initech-implementation from Vendor Inc" in invitation.text
    page = web.post("/invite/accept", {"invite_id": "I0NOPE", "back": "/"})
    assert "not waiting for you" in page.find(cls="notes").text
    page = web.post("/deal", {"back": "/"})
    assert "switch to a Vendor Inc persona" in page.find(cls="notes").text
