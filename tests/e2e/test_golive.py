"""Issue 5, the go-live side: dry-run reminders and outcome, go-live day, the weekly digest, cancelling."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, LEAD
from storage.models import Engagement, Reminder
from tests.e2e.helpers import (
    at,
    blocks_text,
    button_payload,
    dryrun_reminders,
    ephemeral_texts,
    mention,
    notified_by,
    posts,
    send_payload,
)


def test_dry_run_reminders_in_the_announcements_thread(small):
    h = small
    h.command("dryrun")
    assert "two business days before go-live" in ephemeral_texts(h, LEAD.user_id)[-1]
    h.command("dryrun 2026-12-16 10:00")
    [announcement] = [m for m in h.standin.top_level(CHANNEL) if "dry run scheduled" in m["text"].lower()]
    assert "Invoices for the sample customers match the parallel run" in blocks_text(announcement["blocks"])
    with h.services.db.session() as session:
        due = {
            r.dedupe_key.rsplit(":", 1)[1]: r.due_at
            for r in session.exec(select(Reminder).where(Reminder.kind == "dryrun"))
        }
    assert due == {
        "t-7d": datetime(2026, 12, 9, 9, 0, tzinfo=UTC),  # Wed 9 Dec 10:00 Berlin
        "t-1bd": datetime(2026, 12, 15, 9, 0, tzinfo=UTC),  # Tue 15 Dec 10:00 Berlin
        "t-1h": datetime(2026, 12, 16, 8, 0, tzinfo=UTC),  # Wed 16 Dec 09:00 Berlin
        "t0": datetime(2026, 12, 16, 9, 0, tzinfo=UTC),  # when it starts: the outcome can be recorded
    }
    texts = []
    for moment in (
        "2026-12-09T10:00:00+01:00",
        "2026-12-15T10:00:00+01:00",
        "2026-12-16T09:00:00+01:00",
        "2026-12-16T10:00:00+01:00",
    ):
        at(h, moment)
        h.run_sweep()
        texts.append(dryrun_reminders(h)[-1]["text"])
    assert [t.split("> ")[-1].split(" for ")[0] for t in texts] == [
        "Go-live dry run in 7 days",
        "Go-live dry run tomorrow",
        "Go-live dry run in 1 hour",
        "Go-live dry run starting now",
    ]
    assert all(m.get("thread_ts") == announcement["ts"] for m in dryrun_reminders(h))
    # Each one mentions the people taking part (by default the lead and the approvers), in its
    # text too: a thread reply notifies nobody it does not mention.
    for m in dryrun_reminders(h):
        assert notified_by(h, m) == {LEAD.user_id: "mention", APPROVER.user_id: "mention"}


def test_rescheduling_cancels_the_old_reminders(small):
    h = small
    h.command("dryrun 2026-12-16 10:00")
    h.command("dryrun 2026-12-17 11:00")
    with h.services.db.session() as session:
        rows = session.exec(select(Reminder).where(Reminder.kind == "dryrun")).all()
    assert sorted(r.status for r in rows) == ["cancelled"] * 4 + ["pending"] * 4
    at(h, "2026-12-09T10:00:00+01:00")  # the old T-7d moment
    h.run_sweep()
    assert not dryrun_reminders(h)
    h.command("target 2027-01-15")
    with h.services.db.session() as session:
        golive = session.exec(select(Reminder).where(Reminder.kind == "golive")).all()
    assert {(r.dedupe_key.rsplit(":", 1)[1], r.status) for r in golive} == {
        ("2026-12-18", "cancelled"),
        ("2027-01-15", "pending"),
    }


def test_go_live_day_message(small):
    at(small, "2026-12-18T09:05:00+01:00")
    small.run_sweep()
    assert [m for m in posts(small) if m["text"] == "Today is go-live day for Acme Corp."]


def test_weekly_digest_on_monday_morning_customer_time(small):
    h = small
    h.command(f"assign 2.6 {mention(APPROVER)}")
    at(h, "2026-12-07T08:59:00+01:00")
    h.run_sweep()
    assert not [m for m in posts(h) if "Weekly digest" in m["text"]]
    at(h, "2026-12-07T09:01:00+01:00")
    h.run_sweep()
    h.run_sweep()
    [digest] = [
        m for m in posts(h) if "Weekly digest" in m["text"] and "7 December" in blocks_text(m["blocks"])
    ]
    text = blocks_text(digest["blocks"])
    assert "Acme Corp owes this week" in text and "*2.6* Share a sample contract" in text
    assert "The implementation team owes this week" in text and "*1.1* Understand pricing" in text
    assert "Next milestone" in text and "Health" in text


def test_cancel_needs_a_consultant_and_cancels_all_reminders(small):
    h = small
    h.command("dryrun 2026-12-16 10:00")
    h.command("cancel")
    eph = h.standin.ephemerals(channel=CHANNEL, user=LEAD.user_id)[-1]
    button = eph["blocks"][1]["elements"][0]
    assert button["confirm"]["title"]["text"] == "Cancel the engagement?"
    # Only a consultant may cancel: a forged click by the customer's approver is refused. (A click
    # on an ephemeral message: Slack says so in `container` and sends no `message`.)
    forged = button_payload(h, eph, "cancel_engagement", APPROVER.user_id)
    forged["container"]["is_ephemeral"] = True
    del forged["message"]
    send_payload(h, forged)
    h.idle()
    with h.services.db.session() as session:
        assert session.exec(select(Engagement)).one().status == "active"
    assert "Only the implementation team cancels" in ephemeral_texts(h, APPROVER.user_id)[-1]
    h.driver.click_ephemeral(CHANNEL, eph["ts"], "cancel_engagement", user=LEAD.user_id)
    h.idle()
    with h.services.db.session() as session:
        assert session.exec(select(Engagement)).one().status == "cancelled"
        assert {r.status for r in session.exec(select(Reminder))} == {"cancelled"}
    at(h, "2026-12-09T10:00:00+01:00")
    report = h.run_sweep()
    assert report.sent == []
