"""Issue 23, part 1: a sign-off certifies something. A gate's request lists the items the playbook
names for it, with their state; open items (or a phase not reached) are confirmed first and shown
to the approver; nobody requests without an approver, nor the same gate twice; without a gate the
next one is offered; each decision tells the requester and the lead; changes requested stay in
sight (Home, the team's reminders) until the gate is requested again.

Signed requests over real HTTP into the bot; its Web API calls answered by the stand-in.
"""

from __future__ import annotations

from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, CONSULTANT, LEAD
from storage.models import SignoffDecision
from tests.e2e.helpers import (
    at,
    blocks_text,
    direct_messages,
    last_answer,
    mention,
    notified_by,
    posts,
    reminder_kind,
)
from tests.e2e.test_home import open_home
from tests.e2e.test_signoffs import approve, request_msg, requests
from tests.e2e.test_signoffs import engaged as engaged  # a fixture

SOLUTION_DESIGN = {  # the items the playbook names for the gate (phase 2's 2.1, 2.4, 2.5, 2.6)
    "2.1": "Outline pricing models, billing logic and revenue rules",
    "2.4": "Demo the complete solution workflow for stakeholder sign-off",
    "2.5": "Walk us through pricing, contract and billing details",
    "2.6": "Share a sample contract and customer information",
}
NOT_ITS = "Design the integration schema and process"  # 2.2, the other gate's


def requested(h) -> list[dict]:
    return [m for m in posts(h) if m["text"].startswith("Sign-off requested")]


def confirm_form(h, user=LEAD) -> dict:
    [form] = [
        v for v in h.standin.open_views(user.user_id) if v["view"].get("callback_id") == "signoff_confirm"
    ]
    return form


def test_a_request_lists_its_gates_items_and_open_ones_are_confirmed_shown_and_recorded(engaged):
    h = engaged
    h.command("done 2.1")
    h.command("signoff solution_design")
    # 3 of its 4 items are open: a form asks first, naming them; nothing is posted yet.
    form = confirm_form(h)
    text = blocks_text(form["view"]["blocks"])
    assert "3 of 4 of its items are still open" in text
    assert all(f"*{ref}*" in text for ref in ("2.4", "2.5", "2.6")) and "*2.1*" not in text
    assert form["view"]["submit"]["text"] == "Request anyway"
    assert not requested(h)
    h.driver.submit_view(form["id"], {}, user=LEAD.user_id)
    h.idle()
    [msg] = requested(h)
    shown = blocks_text(msg["blocks"])
    assert "What is being approved" in shown
    assert f":white_check_mark: 2.1 {SOLUTION_DESIGN['2.1']}" in shown
    assert all(
        f":white_square: {ref} {title}" in shown for ref, title in SOLUTION_DESIGN.items() if ref != "2.1"
    )
    assert NOT_ITS not in shown, "only the items the gate certifies"
    assert ":warning: *3 of 4 still open*" in shown  # the approver sees it on the request
    # The approver sees it again in the approve form, and the decision keeps that state.
    [req] = requests(h, "solution_design")
    h.driver.click(CHANNEL, msg["ts"], f"signoff_approve:{req.id}", user=APPROVER.user_id)
    h.idle()
    [approve_form] = h.standin.open_views(APPROVER.user_id)
    assert "3 of 4 of its items are still open" in blocks_text(approve_form["view"]["blocks"])
    h.driver.submit_view(approve_form["id"], {}, user=APPROVER.user_id)
    h.idle()
    with h.services.db.read() as session:
        [decision] = session.exec(select(SignoffDecision)).all()
    assert (decision.decision, decision.open_items, decision.total_items) == ("approved", 3, 4)
    # The requester and the lead (one person here) hear of it in the request's thread.
    [note] = [m for m in posts(h) if "approved Solution design sign-off" in m["text"] and m.get("thread_ts")]
    assert note["thread_ts"] == msg["ts"] and notified_by(h, note)[LEAD.user_id] == "mention"
    assert "with 3 of 4 of its items still open" in note["text"]


def test_a_consultants_request_tells_both_the_consultant_and_the_lead_of_the_decision(engaged):
    h = engaged
    h.command(f"role {mention(CONSULTANT)} consultant")
    h.command("done 2.1 2.4 2.5 2.6")
    h.command("signoff solution_design", user=CONSULTANT)  # all its items done: no form
    assert not h.standin.open_views(CONSULTANT.user_id)
    approve(h, "solution_design", APPROVER)
    h.idle()
    [note] = [m for m in posts(h) if "approved Solution design sign-off" in m["text"] and m.get("thread_ts")]
    told = notified_by(h, note)
    assert told[CONSULTANT.user_id] == "mention" and told[LEAD.user_id] == "mention"
    assert "still open" not in note["text"]


def test_no_request_without_an_approver(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command("signoff solution_design")
    answer = last_answer(h)
    assert "No approver is named for Solution design sign-off yet" in answer
    assert "role @person approver" in answer
    assert not requested(h) and not h.standin.open_views(LEAD.user_id)
    # Named: the request goes (after the form for a phase not reached and its open items).
    h.command(f"role {mention(APPROVER)} approver")
    h.command("signoff solution_design")
    text = blocks_text(confirm_form(h)["view"]["blocks"])
    assert "Solutioning is not reached yet" in text and "4 of 4 of its items are still open" in text


def test_without_a_gate_the_next_ones_are_offered_and_a_gate_is_never_requested_twice(engaged):
    h = engaged
    # Solutioning has two gates: a picker, with a button each.
    h.command("signoff")
    [picker] = [e for e in h.standin.ephemerals(user=LEAD.user_id) if "signoff_request:" in str(e["blocks"])]
    buttons = [el for b in picker["blocks"] for el in b.get("elements", []) if el.get("type") == "button"]
    assert [b["text"]["text"] for b in buttons][:2] == [
        "Solution design sign-off",
        "Integration workflows approval",
    ]
    h.driver.click_ephemeral(CHANNEL, picker["ts"], buttons[0]["action_id"], user=LEAD.user_id)
    h.idle()
    h.driver.submit_view(confirm_form(h)["id"], {}, user=LEAD.user_id)  # its items are open
    h.idle()
    [msg] = requested(h)
    assert "Solution design sign-off" in msg["text"]
    # Again: refused, with a link to the open request; nothing is posted, nobody pinged again.
    before = len(h.standin.notifications())
    h.command("signoff solution_design")
    answer = [e for e in h.standin.ephemerals(user=LEAD.user_id)][-1]
    assert "already waiting for a decision (version 1); it is not requested twice" in answer["text"]
    # A link Slack draws (not escaped text) to the open request.
    assert f"/archives/{CHANNEL}/p{msg['ts'].replace('.', '')}|Open the request>." in answer["text"]
    assert "&lt;" not in answer["text"]
    assert len(requested(h)) == 1 and len(h.standin.notifications()) == before
    # Without a gate now: only the other one is left, so it is asked for at once (no picker).
    h.command("signoff")
    assert "Integration workflows approval" in blocks_text(confirm_form(h)["view"]["blocks"])


def test_changes_requested_stay_on_home_and_in_the_teams_reminders_until_requested_again(engaged):
    h = engaged
    h.command("done 2.1 2.4 2.5 2.6")
    h.command("signoff solution_design")
    msg = request_msg(h, "solution_design")
    [req] = requests(h, "solution_design")
    h.driver.click(CHANNEL, msg["ts"], f"signoff_changes:{req.id}", user=APPROVER.user_id)
    h.idle()
    [form] = h.standin.open_views(APPROVER.user_id)
    h.driver.submit_view(
        form["id"], {"reason": {"value": "Usage tiers are wrong for EU"}}, user=APPROVER.user_id
    )
    h.idle()
    home = blocks_text(open_home(h, LEAD)["view"]["blocks"])
    assert "Changes requested: Solution design sign-off — request it again when it is ready" in home
    # Two business days later, the lead is reminded privately to request it again.
    at(h, "2026-12-09T10:00:00+01:00")
    h.run_sweep()
    h.idle()
    reminders = [m for m in direct_messages(h, LEAD) if reminder_kind(m) == "nudge"]
    assert any(
        "Solution design sign-off" in blocks_text(m["blocks"])
        and "changes requested" in blocks_text(m["blocks"])
        for m in reminders
    ), [blocks_text(m["blocks"]) for m in reminders]
    # Requested again (saying what changed): it leaves Home's "changes requested".
    h.command("signoff solution_design")
    h.driver.submit_view(confirm_form(h)["id"], {"note": {"value": "EU tiers fixed"}}, user=LEAD.user_id)
    h.idle()
    assert [r.version for r in requests(h, "solution_design")] == [1, 2]
    assert "Changes requested" not in blocks_text(open_home(h, LEAD)["view"]["blocks"])
