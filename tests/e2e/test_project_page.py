"""The project page (issue 28, part 5), end to end: with GOLIVE_PROJECT_CANVAS on, starting an
engagement creates a canvas tab in its channel (the plan, the team, the sign-off record), a change
rewrites it, and a workspace that refuses canvases gets a pinned message instead, kept current
with chat.update. Off (the default), the bot makes no page at all."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL
from storage.models import Gate, PostedMessage, SignoffRequest
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


def approve_solution_design(h: Any) -> None:
    h.command(f"role {mention(APPROVER)} approver")
    for phase, items in ((1, 6), (2, 9)):
        for n in range(1, items + 1):
            h.command(f"done {phase}.{n}")
    request_signoff(h, "solution_design")
    with h.services.db.read() as session:
        gate = session.exec(select(Gate).where(Gate.key == "solution_design")).one()
        req = session.exec(select(SignoffRequest).where(SignoffRequest.gate_id == gate.id)).one()
    approve_request(h, req.ts, req.id, APPROVER)
    h.idle()


def test_the_canvas_is_created_at_the_start_and_rewritten_after_an_approval(harness_factory):
    h = harness_factory(env=ON)
    h.command(START)
    h.idle()
    canvas = only_canvas(h)
    assert canvas["channel"] == CHANNEL and canvas["title"] == "Acme Corp: project page"
    page = canvas["markdown"]
    assert "## Plan and dates" in page and "## Team and roles" in page and "## Sign-offs" in page
    # The plan with its dates, each phase's checklist linked once it is posted.
    assert "1\\. Kickoff" in page or "1. " in page
    assert "Mon 30 Nov 2026" in page
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
    assert len(calls(h, "conversations.canvases.create")) == 1  # one canvas, rewritten in place
    edits = calls(h, "canvases.edit")
    assert edits and all(c.args["changes"][0]["operation"] == "replace" for c in edits)
    # Only changes the page shows are written: 15 ticks, a role, a request and a decision asked
    # for a refresh; the ticks inside a phase change nothing on it.
    assert len(edits) < 8


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

    assert "canvases:write" not in bot_scopes() and "pins:write" not in bot_scopes()
    assert {"canvases:write", "pins:write"} <= set(bot_scopes(project_canvas=True))


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
