"""Issue 23, part 5: the weekly digest tells the truth.

What is coming up next week per side, the open sign-offs with their state, blocked items shown as
blocked (mentioning nobody: they wait on the team), and the milestone that is actually next. Read
from the messages the stand-in received and its notification log; the bot behind real HTTP.

The `small` engagement (tests/e2e/conftest.py): Acme, from Mon 30 Nov 2026 in Berlin; Discovery
ends Tue 1 Dec, Solutioning Fri 4 Dec, Configurations Fri 11 Dec, Testing Wed 16 Dec, Go-Live
Fri 18 Dec; each item is due at its phase's end. Cody Contributor is named contributor, so the
customer's items nobody took are his.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, CONTRIBUTOR, Harness
from storage.models import Gate, SignoffRequest
from tests.e2e.helpers import (
    at,
    blocks_text,
    mention,
    notified_by,
    nudges,
    posts,
    reminder_kind,
    request_signoff,
)
from tests.e2e.test_checklist import item


def digest_of(h: Harness, when: str) -> dict[str, Any]:
    """The week's digest, sent by the sweep at `when` (a Monday morning, Berlin time)."""
    at(h, when)
    h.run_sweep()
    h.idle()
    week = [m for m in posts(h) if reminder_kind(m) == "digest"]
    assert week, "no digest was sent"
    return week[-1]


def field(digest: dict[str, Any], heading: str) -> str:
    """The text of the digest's field (Phase, Progress, Next milestone, Health) headed `heading`."""
    [text] = [
        f["text"]
        for b in digest["blocks"]
        for f in b.get("fields", [])
        if f["text"].startswith(f"*{heading}*")
    ]
    return text


def sections(digest: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in digest["blocks"] if b.get("type") == "section" and b.get("text")]


def headed(digest: dict[str, Any], heading: str) -> str:
    """The text of the digest's one section that starts with `*heading`."""
    [text] = [t for t in sections(digest) if t.startswith(f"*{heading}")]
    return text


# -- (a) coming up next week ----------------------------------------------------------------------
def test_items_due_next_week_are_coming_up_per_side_and_nothing_is_not_thanked_for(small):
    h = small
    # Acme finished everything due this week and before it (on their behalf, by the lead)…
    h.command("done 1.5 1.6 2.5 2.6 2.7 2.8 3.6 3.7")
    h.command("due 4.6 2026-12-15")  # …and owes 4.6 next Tuesday
    digest = digest_of(h, "2026-12-07T09:30:00+01:00")
    owes = headed(digest, "Acme Corp owes this week")
    assert "Nothing — thank you!" not in blocks_text(digest["blocks"])
    assert "Nothing due this week." in owes and "coming up next week (below)" in owes
    customer = headed(digest, "Coming up next week — Acme Corp")
    team = headed(digest, "Coming up next week — the implementation team")
    lines = customer.splitlines()
    assert (
        lines[1].startswith("*4.6* Generate this cycle") and "due Tue 15 Dec · Cody Contributor" in lines[1]
    )
    assert "*4.7*" in customer and "*5.4*" in customer and "*4.1*" not in customer
    assert "*4.1*" in team and "*5.1*" in team and "*4.6*" not in team
    # This week's items are where they were: what the team owes this week, not "coming up".
    assert "*3.1*" in headed(digest, "The implementation team owes this week") and "*3.1*" not in team
    # Next week's owners are named, not mentioned: the digest spends nobody's budget on them.
    assert f"<@{CONTRIBUTOR.user_id}>" not in str(digest["blocks"]) + digest["text"]
    assert CONTRIBUTOR.user_id not in notified_by(h, digest)


def test_coming_up_is_next_week_only_and_thanks_only_when_nothing_is_owed(harness):
    h = harness
    # Medium: Discovery ends Fri 4 Dec, Solutioning Tue 15 Dec, Configurations Thu 31 Dec.
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.command("done 1.1 1.2 1.3 1.4 1.5 1.6")
    # (Dated by hand: the playbook spreads a phase's items over it.)
    h.command("due 2.5 2.6 2.7 2.8 2026-12-15")
    h.command("due 3.6 3.7 2026-12-31")
    digest = digest_of(h, "2026-12-07T09:30:00+01:00")
    # Acme owes nothing this week, but 2.5 to 2.8 next week; 3.6 (Thu 31 Dec) is later: not yet.
    customer = headed(digest, "Coming up next week — Acme Corp")
    assert all(f"*2.{n}*" in customer for n in (5, 6, 7, 8)) and "due Tue 15 Dec" in customer
    assert "*3.6*" not in blocks_text(digest["blocks"])
    assert headed(digest, "Acme Corp owes this week").splitlines()[1] == (
        "Nothing due this week. 4 items coming up next week (below)."
    )
    assert field(digest, "Next milestone") == "*Next milestone*\nSolutioning ends Tue 15 Dec"
    # Done: nothing owed this week, nothing overdue, nothing next week. Then, thank you.
    h.command("done 2.5 2.6 2.7 2.8")
    digest = digest_of(h, "2026-12-14T09:30:00+01:00")
    assert "Week of 14 December" in blocks_text(digest["blocks"])
    assert headed(digest, "Acme Corp owes this week").splitlines()[1] == "Nothing — thank you!"
    assert headed(digest, "Coming up next week") == "*Coming up next week*\nNothing is due next week."
    assert "*2.1*" in headed(digest, "The implementation team owes this week")


# -- (b) open gates with their state --------------------------------------------------------------
def request_of(h: Harness, gate_key: str) -> SignoffRequest:
    with h.services.db.session() as session:
        gate = session.exec(select(Gate).where(Gate.key == gate_key)).one()
        return session.exec(
            select(SignoffRequest).where(SignoffRequest.gate_id == gate.id).order_by(SignoffRequest.version)
        ).all()[-1]


REASON = (
    "Usage tiers are wrong for EU customers: the volume discount must apply per legal entity, "
    "not per account, and the minimum commitment is quarterly"
)


def test_a_gate_with_changes_requested_and_one_waiting_show_with_their_state(small):
    h = small
    h.command("done 1.1 1.2 1.3 1.4 1.5 1.6")  # Solutioning now, all its items done
    h.command("done 2.1 2.2 2.3 2.4 2.5 2.6 2.7 2.8")
    at(h, "2026-12-02T10:00:00+01:00")
    request_signoff(h, "solution_design")
    h.idle()
    req = request_of(h, "solution_design")
    at(h, "2026-12-03T11:00:00+01:00")
    h.driver.click(CHANNEL, req.ts, f"signoff_changes:{req.id}", user=APPROVER.user_id)
    h.idle()
    [view] = h.standin.open_views(APPROVER.user_id)
    h.driver.submit_view(view["id"], {"reason": {"value": REASON}}, user=APPROVER.user_id)
    h.idle()
    assert request_of(h, "solution_design").status == "changes_requested"
    at(h, "2026-12-03T14:00:00+01:00")
    request_signoff(h, "integration_workflows")
    h.idle()
    digest = digest_of(h, "2026-12-07T09:30:00+01:00")
    gates = headed(digest, "Sign-offs").splitlines()
    [changes] = [g for g in gates if "*Solution design sign-off*" in g]
    assert changes.startswith(
        ":leftwards_arrow_with_hook: *Solution design sign-off* — changes requested by Ada Approver"
        " on Thu 3 Dec: “Usage tiers are wrong for EU customers: the volume discount"
    )
    assert "…”" in changes and "quarterly" not in changes  # the reason, cut
    assert changes.endswith("· back with the implementation team")
    [waiting] = [g for g in gates if "*Integration workflows approval*" in g]
    assert waiting == (
        ":hourglass_flowing_sand: *Integration workflows approval* — requested on Thu 3 Dec by Lena Lead,"
        " waiting 2 business days on Ada Approver"
    )
    # Configurations is not reached: its gate is not news yet.
    assert "Alerts, access" not in blocks_text(digest["blocks"])
    # Named, not mentioned: the sign-offs' own reminders notify their approvers.
    assert APPROVER.user_id not in notified_by(h, digest)


# -- (c) blocked items ----------------------------------------------------------------------------
def test_a_blocked_item_shows_as_blocked_and_notifies_nobody(small):
    h = small
    h.command(f"assign 1.6 {mention(APPROVER)}")  # Ada's only item
    at(h, "2026-12-02T10:00:00+01:00")
    h.run_sweep()
    h.idle()
    nudge = next(m for m in nudges(h) if "*1.6*" in blocks_text(m["blocks"]))
    six = item(h, "1.6")
    h.driver.click(CHANNEL, nudge["ts"], f"nudge_blocked:{six.id}", user=CONTRIBUTOR.user_id)
    h.idle()
    [view] = h.standin.open_views(CONTRIBUTOR.user_id)
    h.driver.submit_view(
        view["id"],
        {"reason": {"value": "Our legal team has to approve names first"}},
        user=CONTRIBUTOR.user_id,
    )
    h.idle()
    assert item(h, "1.6").blocked_reason
    digest = digest_of(h, "2026-12-07T09:30:00+01:00")
    blocked = headed(digest, "Blocked — waiting on the implementation team")
    assert blocked.splitlines()[1] == (
        ":no_entry: *1.6* Name your approvers and executive sponsor for sign-offs (Acme Corp)"
        " — blocked: Our legal team has to approve names first · reported by Cody Contributor"
    )
    # Not owed, not overdue, and its assignee is neither mentioned nor notified because of it.
    assert "*1.6*" not in headed(digest, "Acme Corp owes this week")
    assert f"<@{APPROVER.user_id}>" not in str(digest["blocks"]) + digest["text"]
    assert APPROVER.user_id not in notified_by(h, digest)
    # The others still are: Cody for 1.5, overdue.
    assert notified_by(h, digest).get(CONTRIBUTOR.user_id) == "mention"


# -- (d) the next milestone -----------------------------------------------------------------------
def test_a_late_phase_is_the_next_milestone_not_a_later_one(small):
    h = small
    h.command("dryrun 2026-12-16 10:00")  # ahead, and earlier than go-live: still not "next"
    h.command("done 1.1 1.2 1.3 1.4 1.5 1.6 2.1 2.2 2.3 2.4 2.5")  # Solutioning: 2.6 to 2.8 open
    digest = digest_of(h, "2026-12-07T09:30:00+01:00")
    milestone = field(digest, "Next milestone")
    assert milestone == "*Next milestone*\nSolutioning was due Fri 4 Dec: 3 items and 2 sign-offs open"
