"""The project page (issue 28, part 5), end to end: with GOLIVE_PROJECT_CANVAS on, starting an
engagement creates a canvas tab in its channel (the plan, the team, the sign-off record), a change
edits only the lines that changed (what people wrote on the canvas stays), and a workspace that
refuses canvases gets a pinned message instead, kept current with chat.update. Off (the default),
the bot makes no page at all."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from bot.slack.project_page import page_markdown, page_sections
from sandbox.harness import APPROVER, CHANNEL
from standin.api_canvases import join_blocks
from storage.models import Engagement, Gate, PostedMessage, ProjectPageCanvas, SignoffRequest
from tests.e2e.helpers import approve_request, blocks_text, request_signoff

ON = {"GOLIVE_PROJECT_CANVAS": "true"}
START = "start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin"


def mention(p: Any) -> str:
    return f"<@{p.user_id}|{p.name.split()[0].lower()}>"


def calls(h: Any, method: str) -> list[Any]:
    return [c for c in h.standin.calls if c.method == method]


def only_canvas(h: Any) -> dict[str, Any]:
    [canvas] = h.standin.canvases().values()
    return canvas


def ledger(h: Any) -> list[PostedMessage]:
    with h.services.db.read() as session:
        return list(session.exec(select(PostedMessage).where(PostedMessage.kind == "project_page")).all())


def ask_for_solution_design(h: Any) -> None:
    h.command(f"role {mention(APPROVER)} approver")
    for phase, items in ((1, 6), (2, 9)):
        for n in range(1, items + 1):
            h.command(f"done {phase}.{n}")
    request_signoff(h, "solution_design")
    h.idle()


def decide_solution_design(h: Any) -> None:
    with h.services.db.read() as session:
        gate = session.exec(select(Gate).where(Gate.key == "solution_design")).one()
        req = session.exec(select(SignoffRequest).where(SignoffRequest.gate_id == gate.id)).one()
    approve_request(h, req.ts, req.id, APPROVER)
    h.idle()


def approve_solution_design(h: Any) -> None:
    ask_for_solution_design(h)
    decide_solution_design(h)


def fresh_page(h: Any) -> str:
    """The whole page rendered from the database now, as the bot writes a new canvas."""
    with h.services.db.read() as session:
        engagement = session.exec(select(Engagement)).one()
        return page_markdown(f"{engagement.customer_name}: project page", page_sections(session, engagement))


def section_id(h: Any, shows: str) -> str:
    """The id of the one section of the canvas whose markdown has `shows`."""
    [canvas_id] = h.standin.canvases()
    [found] = [s["id"] for s in h.standin.canvas_sections(canvas_id) if shows in s["markdown"]]
    return found


def person_edits(h: Any, change: dict[str, Any]) -> None:
    """Someone edits the canvas in Slack (not through the bot)."""
    [canvas_id] = h.standin.canvases()
    h.standin.edit_canvas(canvas_id, change)


def without(h: Any, *texts: str) -> str:
    """The canvas's document without the sections that show any of `texts` (what people wrote)."""
    [canvas_id] = h.standin.canvases()
    kept = [s for s in h.standin.canvas_sections(canvas_id) if not any(t in s["markdown"] for t in texts)]
    return join_blocks([(s["type"], s["markdown"]) for s in kept])


def note(text: str) -> dict[str, str]:
    return {"type": "markdown", "markdown": text + "\n"}


def whole_replaces(edits: list[Any]) -> list[Any]:
    return [c for c in edits if any("section_id" not in ch for ch in c.args["changes"])]


def test_the_canvas_is_created_at_the_start_and_rewritten_after_an_approval(harness_factory):
    h = harness_factory(env=ON)
    h.command(START)
    h.idle()
    canvas = only_canvas(h)
    assert canvas["channel"] == CHANNEL and canvas["title"] == "Acme Corp: project page"
    page = canvas["markdown"]
    assert "## Plan and dates" in page and "## Team and roles" in page and "## Sign-offs" in page
    # The plan with its dates, each phase's checklist linked once it is posted.
    # (The phase's number escaped: "- 1. …" would open a numbered list inside the item.)
    assert "- 1\\. Discovery: Mon 30 Nov 2026 to" in page
    assert f"(checklist](https://slack.com/archives/{CHANNEL}/p" in page.replace("([", "(")
    assert "Solution design sign-off: not requested yet" in page
    [entry] = ledger(h)
    assert entry.key == "canvas" and entry.ts in h.standin.canvases()
    assert not h.standin.pinned(CHANNEL)  # a canvas: nothing pinned

    approve_solution_design(h)
    page = only_canvas(h)["markdown"]
    assert "Solution design sign-off: approved by Ada Approver" in page
    assert "approver (customer): Ada Approver" in page
    assert f"(request](https://slack.com/archives/{CHANNEL}/p" in page.replace("([", "(")
    assert len(calls(h, "conversations.canvases.create")) == 1  # one canvas, edited in place
    edits = calls(h, "canvases.edit")
    # One change a call, each on one section (a line): the page is never replaced whole.
    assert edits and all(len(c.args["changes"]) == 1 for c in edits) and not whole_replaces(edits)
    # Only changes the page shows are written: 15 ticks, a role, a request and a decision asked
    # for a refresh; the ticks inside a phase change nothing on it.
    assert len(edits) < 12
    assert page == fresh_page(h)  # line by line, the canvas became the page the database gives


def test_a_decided_sign_off_is_a_few_line_edits_and_the_canvas_equals_a_full_render(harness_factory):
    h = harness_factory(env=ON)
    h.command(START)
    ask_for_solution_design(h)
    before = len(calls(h, "canvases.edit"))
    assert "Solution design sign-off: waiting for sign-off" in only_canvas(h)["markdown"]

    decide_solution_design(h)
    edits = calls(h, "canvases.edit")[before:]
    # The decision changes the gate's line (and the phase it closes, done): a line or two.
    assert 1 <= len(edits) <= 3, [c.args for c in edits]
    for c in edits:
        [change] = c.args["changes"]
        assert change["operation"] in {"replace", "delete", "insert_after", "insert_before"}
        assert change["section_id"]
    assert only_canvas(h)["markdown"] == fresh_page(h)
    assert "Solution design sign-off: approved by Ada Approver" in only_canvas(h)["markdown"]
    # Each line was found by the text it shows, as one section.
    lookups = calls(h, "canvases.sections.lookup")
    assert lookups and all(c.response["sections"] for c in lookups)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request) -> str | None:
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else None


def test_notes_people_add_to_the_canvas_survive_later_refreshes(harness_factory, database):
    h = harness_factory(database, env=ON)
    h.command(START)
    h.idle()
    # Two notes: one under the Team heading, one under the sign-off line the decision will change.
    person_edits(
        h,
        {
            "operation": "insert_after",
            "section_id": section_id(h, "## Team and roles"),
            "document_content": note("Ada is back from leave on 3 December."),
        },
    )
    person_edits(
        h,
        {
            "operation": "insert_after",
            "section_id": section_id(h, "Solution design sign-off"),
            "document_content": note("Legal reads the design first."),
        },
    )
    approve_solution_design(h)
    page = only_canvas(h)["markdown"]
    assert "Ada is back from leave on 3 December." in page and "Legal reads the design first." in page
    assert "Solution design sign-off: approved by Ada Approver" in page
    assert not whole_replaces(calls(h, "canvases.edit"))
    # Everything but the notes is exactly the page the database gives, and the notes stay where
    # they were written: right under the Team heading, right under the sign-off's line.
    assert without(h, "Ada is back", "Legal reads") == fresh_page(h)
    assert "## Team and roles\n\nAda is back from leave on 3 December.\n\n- " in page
    assert (
        "Solution design sign-off: approved by Ada Approver" in page.split("Legal reads")[0].split("\n")[-3]
    )
    # What the bot wrote is in the database, for the next refresh, a restart or another replica.
    with h.services.db.read() as session:
        [row] = session.exec(select(ProjectPageCanvas)).all()
    assert "approved by Ada Approver" in row.written and row.canvas_id == next(iter(h.standin.canvases()))


def test_a_line_someone_rewrote_is_theirs_and_the_section_is_written_again(harness_factory):
    h = harness_factory(env=ON)
    h.command(START)
    h.idle()
    person_edits(
        h,
        {
            "operation": "replace",
            "section_id": section_id(h, "Solution design sign-off: not requested yet"),
            "document_content": note("- SD sign-off: chase Ada on Friday"),
        },
    )
    person_edits(
        h, {"operation": "insert_at_end", "document_content": note("Our own notes, kept by the customer.")}
    )
    approve_solution_design(h)
    page = only_canvas(h)["markdown"]
    # The lookup of the old line found nothing: the Sign-offs section was written again after its
    # heading, the rewritten line left as the person made it, the rest of the page untouched.
    assert not whole_replaces(calls(h, "canvases.edit"))
    assert "SD sign-off: chase Ada on Friday" in page and "Our own notes, kept by the customer." in page
    assert without(h, "SD sign-off", "Our own notes") == fresh_page(h)
    assert page.index("## Sign-offs\n- Solution design sign-off: approved by Ada Approver") < page.index(
        "SD sign-off"
    )


def test_a_copied_line_makes_the_lookup_ambiguous_and_the_whole_page_is_written_again(harness_factory):
    h = harness_factory(env=ON)
    h.command(START)
    h.idle()
    person_edits(
        h,
        {
            "operation": "insert_at_end",
            "document_content": note("Reminder: Solution design sign-off: not requested yet"),
        },
    )
    approve_solution_design(h)
    # Two sections show the old line's text: neither may be deleted on a guess, so the canvas
    # is replaced whole, once, and is exactly the page again.
    assert len(whole_replaces(calls(h, "canvases.edit"))) == 1
    assert only_canvas(h)["markdown"] == fresh_page(h)
    h.command("plan kickoff=2026-12-07")
    h.idle()
    assert len(whole_replaces(calls(h, "canvases.edit"))) == 1  # then line edits again
    assert only_canvas(h)["markdown"] == fresh_page(h)


def test_edits_cut_short_by_a_429_go_on_from_what_landed(harness_factory):
    h = harness_factory(env=ON)
    h.command(START)
    h.idle()
    # Two edits at once, then one a second: moving the plan (five lines) meets 429s on the way.
    h.standin.set_rate_limit("canvases.edit", 60, burst=2)
    before = len(calls(h, "canvases.edit"))
    h.command("plan kickoff=2026-12-07")
    h.idle()
    h.standin.wait_for(lambda: only_canvas(h)["markdown"] == fresh_page(h), timeout=15)
    assert h.standin.ratelimited_responses("canvases.edit")
    # What landed before each 429 was kept: the rest went on from there, each of the five plan
    # lines replaced once (a run that forgot would not find the lines already moved).
    edits = [c for c in calls(h, "canvases.edit")[before:] if c.status == 200]
    assert [c.args["changes"][0]["operation"] for c in edits] == ["replace"] * 5
    assert only_canvas(h)["markdown"].count("Mon 7 Dec 2026 to") == 1


def test_an_edit_whose_answer_is_lost_makes_the_next_run_replace_the_page(harness_factory):
    h = harness_factory(env=ON)
    h.command(START)
    h.idle()
    h.standin.fail_next("canvases.edit", error="internal_error", status=500)
    h.command("plan kickoff=2026-12-07")
    h.idle()
    h.standin.wait_for(lambda: only_canvas(h)["markdown"] == fresh_page(h), timeout=15)
    # A 5xx may hide an edit that landed: what the canvas holds is not known, so it is replaced.
    assert len(whole_replaces(calls(h, "canvases.edit"))) == 1


def test_an_app_not_yet_reinstalled_with_canvases_read_replaces_the_page_as_before(harness_factory):
    h = harness_factory(env=ON)
    h.command(START)
    h.idle()
    scopes = h.standin.ws.scopes
    assert scopes is not None
    h.standin.set_scopes(scopes - {"canvases:read"})  # installed before this version asked for it
    h.command("plan kickoff=2026-12-07")
    h.idle()
    refused = [c for c in calls(h, "canvases.sections.lookup") if c.response.get("error") == "missing_scope"]
    assert len(refused) == 1  # one lookup refused, then the page replaced in one change
    assert len(whole_replaces(calls(h, "canvases.edit"))) == 1
    assert only_canvas(h)["markdown"] == fresh_page(h)
    h.standin.reset_calls()  # the refusal was the point: not a call outside the manifest


def test_a_canvas_with_nothing_kept_is_replaced_whole_once_then_edited_by_line(harness_factory):
    h = harness_factory(env=ON)
    h.command(START)
    h.idle()
    with h.services.db.session() as session:  # as a canvas made before the table was
        for row in session.exec(select(ProjectPageCanvas)).all():
            session.delete(row)
    h.command("plan kickoff=2026-12-07")
    h.idle()
    assert len(whole_replaces(calls(h, "canvases.edit"))) == 1
    assert only_canvas(h)["markdown"] == fresh_page(h)
    h.command("plan kickoff=2026-12-14")
    h.idle()
    assert len(whole_replaces(calls(h, "canvases.edit"))) == 1
    assert "Mon 14 Dec 2026" in only_canvas(h)["markdown"] and only_canvas(h)["markdown"] == fresh_page(h)


def test_a_workspace_that_refuses_canvases_gets_a_pinned_message_kept_current(harness_factory):
    h = harness_factory(env=ON)
    h.standin.set_canvas_refusal("team_tier_cannot_create_channel_canvases")
    h.command(START)
    h.idle()
    assert not h.standin.canvases()
    [entry] = ledger(h)
    assert entry.key == "pin" and h.standin.pinned(CHANNEL) == [entry.ts]
    shown = blocks_text(h.standin.message(CHANNEL, entry.ts)["blocks"])
    assert "Acme Corp: project page" in shown and "Solution design sign-off: not requested yet" in shown

    approve_solution_design(h)
    shown = blocks_text(h.standin.message(CHANNEL, entry.ts)["blocks"])
    assert "Solution design sign-off: approved by Ada Approver" in shown
    assert h.standin.pinned(CHANNEL) == [entry.ts]  # the same message, updated, not posted again
    assert [e.ts for e in ledger(h)] == [entry.ts]


def test_off_by_default_no_page(harness):
    h = harness
    h.command(START)
    h.idle()
    assert not h.standin.canvases() and not h.standin.pinned(CHANNEL) and not ledger(h)
    assert not calls(h, "conversations.canvases.create")


def test_a_plan_change_moves_the_dates_on_the_canvas(harness_factory):
    h = harness_factory(env=ON)
    h.command(START)
    h.idle()
    assert "Mon 30 Nov 2026" in only_canvas(h)["markdown"]
    h.command("plan kickoff=2026-12-07")
    h.idle()
    page = only_canvas(h)["markdown"]
    assert "Mon 7 Dec 2026" in page and "Mon 30 Nov 2026" not in page
    assert len(calls(h, "conversations.canvases.create")) == 1


def test_the_manifest_asks_for_the_page_scopes_only_when_it_is_on():
    from bot.slack.manifest import build_manifest

    def bot_scopes(**kw: Any) -> list[str]:
        return build_manifest(url="https://golive.example.com", socket=False, **kw)["oauth_config"]["scopes"][
            "bot"
        ]

    assert not {"canvases:read", "canvases:write", "pins:write"} & set(bot_scopes())
    assert {"canvases:read", "canvases:write", "pins:write"} <= set(bot_scopes(project_canvas=True))


def test_a_deleted_canvas_is_made_again_at_the_next_change(harness_factory):
    h = harness_factory(env=ON)
    h.command(START)
    h.idle()
    [first] = h.standin.canvases()
    with h.standin.ws.lock:
        del h.standin.ws.canvases[first]  # someone deleted the canvas tab
    h.command("plan kickoff=2026-12-07")
    h.idle()
    [second] = h.standin.canvases()
    assert second != first and "Mon 7 Dec 2026" in h.standin.canvases()[second]["markdown"]
    assert [e.ts for e in ledger(h)] == [second]  # the old one is relabelled, not written again


def test_a_deals_engagement_gets_its_page_when_the_customer_joins_not_before(harness_factory):
    from sandbox.harness import CUSTOMER_TEAM
    from tests.e2e.test_deals import ENV as DEAL_ENV
    from tests.e2e.test_deals import deal, send_deal, wait_state

    h = harness_factory(env={**DEAL_ENV, **ON})
    status, _answer = send_deal(h, deal())
    assert status == 202
    row = wait_state(h, "waiting")
    h.idle()
    assert not h.standin.canvases()  # the channel is still being set up: no page yet
    invites = {i.email: i for i in h.standin.invites(row.channel_id)}
    h.driver.accept_invite(invites["ada@globex.example"].id, APPROVER.user_id, team_id=CUSTOMER_TEAM)
    h.standin.wait_for(lambda: h.standin.canvases(), timeout=10)
    h.idle()
    canvas = only_canvas(h)
    assert canvas["channel"] == row.channel_id and canvas["title"] == "Globex Corp: project page"
    assert "approver (customer): Ada" in canvas["markdown"]  # the role the deal gave her
