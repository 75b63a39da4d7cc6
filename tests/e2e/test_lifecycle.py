"""A whole implementation, kickoff to go-live, through the channel."""

from __future__ import annotations

from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, LEAD
from storage.models import AuditEvent, EngagementPhase, Gate, Item, Reminder, SignoffRequest
from tests.e2e.helpers import (
    approve_request,
    at,
    blocks_text,
    dryrun_reminders,
    engagement,
    ephemeral_texts,
    notified_by,
    posts,
    request_signoff,
)


def walk_to_final_approval(h, leave: tuple[str, ...] = ()) -> None:
    """Tick every item (but `leave`) and approve every gate, the final one after a passed dry run."""
    h.lift_rate_limits()  # weeks of work in seconds: Slack's limits would only make it slow
    with h.services.db.session() as session:
        phases = session.exec(select(EngagementPhase).order_by(EngagementPhase.number)).all()
        gates = {
            p.number: [g.key for g in session.exec(select(Gate).where(Gate.phase_id == p.id))] for p in phases
        }
        counts = {
            p.number: len(session.exec(select(Item).where(Item.phase_id == p.id)).all()) for p in phases
        }
    assert [p.name for p in phases][-1] == "Go-Live"
    h.command("dryrun 2026-12-16 10:00")
    for number in sorted(counts):
        for n in range(1, counts[number] + 1):
            if f"{number}.{n}" not in leave:
                h.command(f"done {number}.{n}")
        for key in gates[number]:
            if key == "final_golive":
                # The final approval waits for a passed dry run, recorded on its announcement
                # once it has started.
                at(h, "2026-12-16T10:00:00+01:00")
                h.run_sweep()
                h.idle()
                assert (
                    dryrun_reminders(h)[-1]["text"].split("> ")[-1].startswith("Go-live dry run starting now")
                )
                [announcement] = [m for m in posts(h) if "Go-live dry run scheduled" in m["text"]]
                h.driver.click(CHANNEL, announcement["ts"], "dryrun_passed", user=APPROVER.user_id)
                h.idle()
            request_signoff(h, f"{key}")
            with h.services.db.session() as session:
                req = session.exec(select(SignoffRequest).order_by(SignoffRequest.id.desc())).first()
            approve_request(h, req.ts, req.id, APPROVER)
            h.idle()
        e = engagement(h)
        if number < len(phases):
            assert e.phase_index == number + 1, f"phase {number} did not complete"


def test_from_kickoff_to_live(small):
    h = small
    walk_to_final_approval(h)
    with h.services.db.session() as session:
        phases = session.exec(select(EngagementPhase).order_by(EngagementPhase.number)).all()
    # Every item ticked and every gate approved: ready for go-live, not live — that is the cutover.
    e = engagement(h)
    assert e.status == "active" and not [m for m in posts(h) if "is live!" in m["text"]]
    [cutover] = [m for m in posts(h) if "Final approval recorded" in m["text"]]
    assert "ready for the go-live cutover" in cutover["text"]
    assert notified_by(h, cutover)[LEAD.user_id] == "mention"  # the lead confirms it
    h.driver.click(CHANNEL, cutover["ts"], "golive_confirm", user=APPROVER.user_id)
    h.idle()
    assert engagement(h).status == "active"
    assert (
        "Only the implementation team confirms the go-live cutover"
        in ephemeral_texts(h, APPROVER.user_id)[-1]
    )
    h.driver.click(CHANNEL, cutover["ts"], "golive_confirm", user=LEAD.user_id)
    h.idle()
    [form] = [v for v in h.standin.open_views(LEAD.user_id) if v["view"]["callback_id"] == "golive_confirm"]
    assert "business day" in blocks_text(form["view"]["blocks"]) and "early" in blocks_text(
        form["view"]["blocks"]
    )
    h.driver.submit_view(form["id"], {}, user=LEAD.user_id)
    h.idle()
    e = engagement(h)
    assert (e.status, e.dryrun_outcome) == ("live", "passed")
    [live] = [m for m in posts(h) if m["text"].startswith("Acme Corp is live!")]
    text = blocks_text(live["blocks"])
    assert "went live on *Wed 16 Dec 2026*" in text and "after the kickoff on Mon 30 Nov" in text
    assert "ahead of the plan" in text and "sign-offs" in text.lower()
    assert notified_by(h, live)[APPROVER.user_id] == "mention"  # thanked by name
    assert "is live" in blocks_text(h.standin.message(CHANNEL, cutover["ts"])["blocks"])
    with h.services.db.session() as session:
        assert not session.exec(select(Reminder).where(Reminder.status == "pending")).all()
        kinds = [a.kind for a in session.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert kinds.count("phase.completed") == len(phases) and kinds[-1] == "engagement.live"
    # The channel is free for the next engagement; status still tells the story of this one.
    h.command("status")
    assert "Live" in ephemeral_texts(h, LEAD.user_id)[-1]
    h.command("start Acme Corp phase two")
    with h.services.db.session() as session:
        from storage.models import Engagement

        rows = session.exec(select(Engagement).order_by(Engagement.id)).all()
    assert [(x.customer_name, x.status) for x in rows] == [
        ("Acme Corp", "live"),
        ("Acme Corp phase two", "active"),
    ]


def test_after_the_final_approval_the_cutover_says_what_is_left_until_it_is_done(small):
    h = small
    with h.services.db.session() as session:
        last = session.exec(select(EngagementPhase).order_by(EngagementPhase.number.desc())).first()
        items = session.exec(select(Item).where(Item.phase_id == last.id).order_by(Item.number)).all()
    # An item no gate certifies nor the dry run settles: the final approval does not tick it.
    left = next(i for i in reversed(items) if i.settled_by is None)
    ref = f"{last.number}.{left.number}"
    walk_to_final_approval(h, leave=(ref,))
    [cutover] = [m for m in posts(h) if "Final approval recorded" in m["text"]]
    text = blocks_text(h.standin.message(CHANNEL, cutover["ts"])["blocks"])
    assert "*1 item left:*" in text and f"*{ref}* {left.title}" in text
    assert cutover["text"].endswith("1 item left before the Acme Corp go-live")
    assert engagement(h).status == "active"
    # Once it is done, the same message says the customer is ready, and offers the cutover.
    h.command(f"done {ref}")
    h.idle()
    now = h.standin.message(CHANNEL, cutover["ts"])
    assert "Nothing is left on the checklists: ready for go-live." in blocks_text(now["blocks"])
    assert "golive_confirm" in str(now["blocks"]) and engagement(h).status == "active"
