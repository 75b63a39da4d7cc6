"""A reminder whose post timed out may have been posted all the same: the next try looks for it
(message metadata; conversations.replies for a nudge, which is a reply in the checklist's thread)
before sending, so a slow Slack never doubles it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, CONTRIBUTOR
from storage.models import PostedMessage, Reminder
from tests.e2e.helpers import at, mention, nudges

SLOW = 1.6  # seconds Slack takes; the bot's client gives up after 1


@pytest.fixture
def impatient(harness_factory):
    h = harness_factory(env={"GOLIVE_SLACK_TIMEOUT": "1"})
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.command(f"role {mention(APPROVER)} approver")
    at(h, "2026-12-02T10:00:00+01:00")  # 1.5 and 1.6 are overdue: a nudge is due
    return h


def nudge_row(h) -> Reminder:
    with h.services.db.session() as session:
        return session.exec(select(Reminder).where(Reminder.kind == "nudge")).one()


def test_a_nudge_that_timed_out_but_landed_is_not_sent_again(impatient):
    h = impatient
    h.standin.set_latency("chat.postMessage", SLOW)
    report = h.run_sweep()
    assert report.retried and not report.sent
    row = nudge_row(h)
    assert row.status == "pending" and row.unconfirmed_since is not None
    # Slack did post it, after the client had given up.
    [landed] = h.standin.wait_for(lambda: nudges(h), timeout=5, message="the slow post lands")
    assert landed["metadata"]["event_type"] == "golive_reminder"
    assert landed["metadata"]["event_payload"]["key"] == row.dedupe_key
    h.standin.set_latency("chat.postMessage", 0)
    h.clock.advance(timedelta(minutes=5))  # past the backoff

    def channel_posts() -> int:  # the lead's private reminder of the team's own items goes on
        return len([c for c in h.standin.calls_to("chat.postMessage") if c.args.get("channel") == CHANNEL])

    posts_before = channel_posts()
    h.run_sweep()
    assert len(nudges(h)) == 1, "the nudge was sent twice"
    assert channel_posts() == posts_before
    looked = h.standin.calls_to("conversations.replies")
    assert looked and looked[-1].args.get("include_all_metadata") in (True, "true", "1", 1)
    assert looked[-1].args.get("ts") == landed["thread_ts"]  # in the nudge's thread
    row = nudge_row(h)
    assert (row.status, row.sent_ts, row.unconfirmed_since) == ("sent", landed["ts"], None)
    with h.services.db.session() as session:  # in the ledger, so it is updated in place later
        assert session.exec(select(PostedMessage).where(PostedMessage.ts == landed["ts"])).first() is not None


def test_a_nudge_that_timed_out_and_never_landed_is_sent_once(impatient):
    h = impatient
    h.standin.set_latency("chat.postMessage", SLOW)
    h.standin.fail_next("chat.postMessage", status=500)  # slow, then lost: nothing was posted
    h.run_sweep()
    assert nudges(h) == []
    h.standin.set_latency("chat.postMessage", 0)
    h.clock.advance(timedelta(minutes=5))
    report = h.run_sweep()
    assert len([s for s in report.sent if s.startswith("nudge")]) == 1
    assert len(nudges(h)) == 1
    assert h.standin.calls_to("conversations.replies"), "it looked in the thread before sending again"
    assert nudge_row(h).status == "sent"


def test_a_nudge_sent_first_time_carries_its_metadata_and_needs_no_look(impatient):
    h = impatient
    h.run_sweep()
    [nudge] = nudges(h)
    assert nudge["metadata"]["event_payload"]["key"] == nudge_row(h).dedupe_key
    assert (
        h.standin.calls_to("conversations.replies") == []
        and h.standin.calls_to("conversations.history") == []
    )
    assert nudge["channel"] == CHANNEL
