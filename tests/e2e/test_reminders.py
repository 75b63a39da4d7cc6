"""Issue 5: nudges and dry-run reminders on the customer's clock, surviving restarts and failures."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import select

from bot.reminders.sweep import LEASE, Sweeper
from sandbox.harness import APPROVER, CHANNEL, CONTRIBUTOR, LEAD, SPONSOR
from storage.models import AuditEvent, Item, Reminder, ReminderAttempt
from tests.e2e.helpers import (
    at,
    blocks_text,
    count,
    direct_messages,
    engagement,
    ephemeral_texts,
    mention,
    notified_by,
    nudges,
    posts,
    reminder_payload,
    request_signoff,
)
from tests.e2e.test_checklist import checklist_msg, item


def sent_nudges(h) -> int:
    """How many nudge reminders went out."""
    with h.services.db.session() as session:
        return len(
            session.exec(select(Reminder).where(Reminder.kind == "nudge", Reminder.status == "sent")).all()
        )


def test_a_due_item_is_nudged_once_in_the_checklist_thread_then_again_by_a_reply_that_notifies(small):
    h = small
    at(h, "2026-12-02T09:30:00+01:00")  # Wed, 1.5 and 1.6 were due Tue
    h.run_sweep()
    h.run_sweep()  # same minute again
    at(h, "2026-12-02T15:00:00+01:00")
    h.run_sweep()  # later the same day
    [nudge] = nudges(h)
    text = blocks_text(nudge["blocks"])
    assert "*1.5* Walk us through your current setup" in text and "*1.6* Name your approvers" in text
    assert f"<@{CONTRIBUTOR.user_id}>" in text  # unassigned customer items go to the contributors
    assert nudge["thread_ts"] == checklist_msg(h, 1)["ts"]  # in the checklist's thread
    assert notified_by(h, nudge) == {CONTRIBUTOR.user_id: "mention"}
    at(h, "2026-12-03T10:00:00+01:00")  # one business day later: cadence is 2
    h.run_sweep()
    assert len(nudges(h)) == 1 and not h.standin.message(CHANNEL, nudge["ts"])["edited"]
    at(h, "2026-12-04T10:00:00+01:00")  # two business days later: reminded again, by a new reply
    h.run_sweep()
    first, second = nudges(h)
    assert "3 days overdue · reminder 2" in blocks_text(second["blocks"])
    assert notified_by(h, second) == {CONTRIBUTOR.user_id: "mention"}  # an edit would notify nobody
    collapsed = h.standin.message(CHANNEL, first["ts"])
    assert "replaced by a newer one" in blocks_text(collapsed["blocks"])
    assert sent_nudges(h) == 2
    with h.services.db.session() as session:
        assert session.exec(select(Item).where(Item.number == 5)).first().nudge_count == 2


@pytest.mark.parametrize(
    "moment, why",
    [
        ("2026-12-05T10:00:00+01:00", "Saturday"),
        ("2026-12-02T08:59:00+01:00", "before 09:00 Berlin"),
        ("2026-12-02T17:00:00+01:00", "17:00 Berlin is closing time"),
        ("2026-12-25T10:00:00+01:00", "Christmas Day, a German public holiday"),
    ],
)
def test_no_nudge_outside_the_customers_working_time(small, moment, why):
    at(small, moment)
    report = small.run_sweep()
    assert nudges(small) == [], why
    assert not report.sent or all("nudge" not in s for s in report.sent)


def test_customer_clock_not_the_hosts(harness):
    h = harness
    # Auckland is UTC+13 in December: Sunday evening in UTC is Monday morning there.
    h.command("start Kiwi Ltd size=small kickoff=2026-11-30 tz=Pacific/Auckland")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    at(h, "2026-12-06T21:30:00+00:00")  # Sunday 21:30 UTC = Monday 7 Dec 10:30 NZDT
    h.run_sweep()
    assert sent_nudges(h) == 1
    h.clock.set(datetime(2026, 12, 7, 22, 0, tzinfo=UTC))  # Tue 8 Dec 11:00 NZDT: only 1 business day later
    h.run_sweep()
    assert sent_nudges(h) == 1
    h.clock.set(datetime(2026, 12, 9, 5, 0, tzinfo=UTC))  # Wed 9 Dec 18:00 NZDT: after hours there
    h.run_sweep()
    assert sent_nudges(h) == 1
    h.clock.set(datetime(2026, 12, 9, 20, 0, tzinfo=UTC))  # Thu 10 Dec 09:00 NZDT, though Wednesday in UTC
    h.run_sweep()
    assert sent_nudges(h) == 2
    assert len(nudges(h)) == 2  # the second reminder is a reply that notifies again


def test_timing_stays_right_across_dst(harness):
    h = harness
    # New York leaves daylight time on Sun 1 Nov 2026: 09:00 local is 13:00 UTC before, 14:00 after.
    h.clock.set(datetime(2026, 10, 26, 12, 0, tzinfo=UTC))
    h.command("start Gotham Inc size=small kickoff=2026-10-26 tz=America/New_York")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.clock.set(datetime(2026, 11, 2, 13, 30, tzinfo=UTC))  # Mon 08:30 EST: closed
    h.run_sweep()
    assert nudges(h) == []
    h.clock.set(datetime(2026, 11, 2, 14, 0, tzinfo=UTC))  # Mon 09:00 EST: open
    h.run_sweep()
    assert len(nudges(h)) == 1


def test_one_nudge_per_thread_with_buttons_mentioning_the_assignee_only(small):
    h = small
    h.command(f"assign 1.5 {mention(APPROVER)}")
    at(h, "2026-12-02T10:00:00+01:00")
    h.run_sweep()
    [nudge] = nudges(h)
    blocks = nudge["blocks"]
    actions = [b for b in blocks if b["type"] == "actions"]
    assert len(actions) == 2  # one message for the thread, an action row per item
    ids = [e["action_id"].split(":")[0] for e in actions[0]["elements"]]
    assert ids == ["nudge_done", "nudge_snooze", "nudge_blocked"]
    assert f"<@{APPROVER.user_id}>" in blocks_text(blocks)  # the assignee is mentioned
    # Nudges without progress never name the lead or the sponsor in the channel (the lead is told
    # privately: test_quiet_channel.py).
    for day in ("2026-12-04", "2026-12-08", "2026-12-10"):
        at(h, f"{day}T10:00:00+01:00")
        h.run_sweep()
    shown = "\n".join(blocks_text(m["blocks"]) for m in nudges(h))
    assert f"<@{LEAD.user_id}>" not in shown and f"<@{SPONSOR.user_id}>" not in shown
    assert item(h, "1.5").nudge_count == 4
    # Progress (a reassignment) restarts the ladder.
    h.command(f"assign 1.5 {mention(CONTRIBUTOR)}")
    assert item(h, "1.5").nudge_count == 0


def test_mark_done_from_the_nudge(small):
    h = small
    at(h, "2026-12-02T10:00:00+01:00")
    h.run_sweep()
    [nudge] = nudges(h)
    it = item(h, "1.5")
    h.driver.click(CHANNEL, nudge["ts"], f"nudge_done:{it.id}", user=CONTRIBUTOR.user_id)
    h.idle()
    assert item(h, "1.5").status == "done" and item(h, "1.5").done_by == CONTRIBUTOR.user_id
    updated = h.standin.message(CHANNEL, nudge["ts"])
    assert updated["edited"] and "done by Cody Contributor" in blocks_text(updated["blocks"])
    assert not [b for b in updated["blocks"] if b.get("block_id") == f"nudge_act:{it.id}"]


def test_snooze_one_day_three_days_and_a_chosen_date(small):
    h = small
    h.command("add 1 Send the logo owner=customer")
    at(h, "2026-12-02T10:00:00+01:00")
    h.run_sweep()
    [nudge] = nudges(h)
    i5, i6, i7 = (item(h, r) for r in ("1.5", "1.6", "1.7"))
    h.driver.click(
        CHANNEL, nudge["ts"], f"nudge_snooze:{i5.id}", user=CONTRIBUTOR.user_id, selected_option=f"1:{i5.id}"
    )
    h.driver.click(
        CHANNEL, nudge["ts"], f"nudge_snooze:{i6.id}", user=CONTRIBUTOR.user_id, selected_option=f"3:{i6.id}"
    )
    h.driver.click(
        CHANNEL,
        nudge["ts"],
        f"nudge_snooze:{i7.id}",
        user=CONTRIBUTOR.user_id,
        selected_option=f"pick:{i7.id}",
    )
    h.idle()
    [view] = h.standin.open_views(CONTRIBUTOR.user_id)
    h.driver.submit_view(view["id"], {"until": {"value": "2026-12-14"}}, user=CONTRIBUTOR.user_id)
    h.idle()
    assert [str(item(h, r).snoozed_until) for r in ("1.5", "1.6", "1.7")] == [
        "2026-12-03",
        "2026-12-07",
        "2026-12-14",
    ]
    assert "snoozed until Thu 3 Dec" in blocks_text(h.standin.message(CHANNEL, nudge["ts"])["blocks"])
    at(h, "2026-12-04T10:00:00+01:00")  # cadence allows a nudge; only 1.5 is awake
    h.run_sweep()
    _first, again = nudges(h)  # a new reply for 1.5, which notifies; the snoozed ones stay asleep
    acts = {b["block_id"] for b in again["blocks"] if b["type"] == "actions"}
    # 1.5 is awake again (Solutioning's early items came due meanwhile); 1.6 and 1.7 still sleep.
    assert f"nudge_act:{i5.id}" in acts and not acts & {f"nudge_act:{i6.id}", f"nudge_act:{i7.id}"}
    assert "*1.6*" not in blocks_text(again["blocks"]) and "*1.7*" not in blocks_text(again["blocks"])
    assert notified_by(h, again) == {CONTRIBUTOR.user_id: "mention"}
    assert [item(h, r).nudge_count for r in ("1.5", "1.6", "1.7")] == [2, 1, 1]
    # When 1.6's snooze ends (Mon 7 Dec) its person hears of it again, though 1.5 was reminded on
    # Friday and the cadence would hold a reminder until Tuesday.
    at(h, "2026-12-07T10:00:00+01:00")
    h.run_sweep()
    woke = nudges(h)[-1]
    assert "*1.6*" in blocks_text(woke["blocks"]) and notified_by(h, woke) == {CONTRIBUTOR.user_id: "mention"}
    # 1.5 is listed (carried over from the nudge this one replaces) but not reminded again: not
    # two reminders for one item within two business days.
    subjects = reminder_payload(woke)["subjects"]
    assert f"item:{i6.id}" in subjects and f"item:{i5.id}" not in subjects


def test_blocked_tells_the_lead_and_pauses_until_cleared(small):
    h = small
    at(h, "2026-12-02T10:00:00+01:00")
    h.run_sweep()
    [nudge] = nudges(h)
    it = item(h, "1.6")
    h.driver.click(CHANNEL, nudge["ts"], f"nudge_blocked:{it.id}", user=CONTRIBUTOR.user_id)
    h.idle()
    [view] = h.standin.open_views(CONTRIBUTOR.user_id)
    h.driver.submit_view(
        view["id"],
        {"reason": {"value": "Our legal team has to approve names first"}},
        user=CONTRIBUTOR.user_id,
    )
    h.idle()
    assert item(h, "1.6").blocked_reason == "Our legal team has to approve names first"
    notice = next(m for m in posts(h) if "is blocked" in m["text"])
    assert "Lena Lead is told" in blocks_text(notice["blocks"])  # named in the thread, not pinged…
    [told] = [m for m in direct_messages(h, LEAD) if "is blocked" in m["text"]]
    assert notified_by(h, told) == {LEAD.user_id: "direct message"}  # …told privately, with the button
    assert "nudge_unblock" in str(told["blocks"])
    for day in ("2026-12-04", "2026-12-08"):
        at(h, f"{day}T10:00:00+01:00")
        h.run_sweep()
    assert all("*1.6*" not in blocks_text(m["blocks"]) for m in nudges(h)[1:])  # blocked: not carried
    # A customer cannot clear it; a consultant can.
    h.driver.click(CHANNEL, notice["ts"], f"nudge_unblock:{it.id}", user=CONTRIBUTOR.user_id)
    h.idle()
    assert item(h, "1.6").blocked_reason
    h.driver.click(CHANNEL, notice["ts"], f"nudge_unblock:{it.id}", user=LEAD.user_id)
    h.idle()
    assert item(h, "1.6").blocked_reason is None
    assert "block cleared" in blocks_text(h.standin.message(CHANNEL, notice["ts"])["blocks"])
    at(h, "2026-12-10T10:00:00+01:00")
    h.run_sweep()
    assert "*1.6*" in blocks_text(nudges(h)[-1]["blocks"])


def test_down_for_a_day_sends_one_catch_up_nudge(small):
    h = small
    at(h, "2026-12-07T11:00:00+01:00")  # the bot was down since Tuesday: one sweep now
    h.run_sweep()
    [nudge] = nudges(h)
    assert blocks_text(nudge["blocks"]).count("*1.5*") == 1
    with h.services.db.session() as session:
        assert len(session.exec(select(Reminder).where(Reminder.kind == "nudge")).all()) == 1


def test_sign_off_pending_more_than_two_business_days_nudges_the_approvers(small):
    h = small
    request_signoff(h, "solution_design")
    at(h, "2026-12-02T10:00:00+01:00")  # 2 business days: not yet
    h.run_sweep()
    assert all("Sign-off:" not in blocks_text(m["blocks"]) for m in nudges(h))
    at(h, "2026-12-03T10:00:00+01:00")
    h.run_sweep()
    text = blocks_text(nudges(h)[-1]["blocks"])
    assert "*Sign-off:* Solution design sign-off" in text and f"<@{APPROVER.user_id}>" in text


def test_rate_limit_waits_and_a_5xx_retries_on_a_later_sweep(small, monkeypatch):
    h = small
    at(h, "2026-12-02T10:00:00+01:00")
    # The sweep's client waits a 429 out in slack_sdk's RateLimitErrorRetryHandler: record the
    # waits it asks for (and still wait them), rather than timing the gap between the calls.
    import slack_sdk.http_retry.builtin_handlers as builtin_handlers

    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(builtin_handlers, "time", SimpleNamespace(sleep=sleep))
    h.standin.fail_next("chat.postMessage", status=429, retry_after=1)
    report = h.run_sweep()
    calls = [c for c in h.standin.calls_to("chat.postMessage") if c.args.get("channel") == CHANNEL]
    assert [c.status for c in calls[-2:]] == [429, 200]
    assert len(waits) == 1 and waits[0] >= 1.0, f"waited {waits} for a Retry-After of 1 s"
    assert len([s for s in report.sent if s.startswith("nudge")]) == 1
    posted_in_channel = len(
        [c for c in h.standin.calls_to("chat.postMessage") if c.args.get("channel") == CHANNEL]
    )
    h.standin.fail_next("chat.postMessage", status=503)  # the reminder two days later
    at(h, "2026-12-04T10:00:00+01:00")
    report = h.run_sweep()
    assert report.retried and not [s for s in report.sent if s.startswith("nudge")]
    with h.services.db.session() as session:
        r = session.exec(select(Reminder).where(Reminder.dedupe_key.like("nudge:%:2026-12-04"))).one()
        assert (r.status, r.attempts) == ("pending", 1) and r.next_attempt_at > h.clock.now()

    def channel_posts() -> int:
        return len([c for c in h.standin.calls_to("chat.postMessage") if c.args.get("channel") == CHANNEL])

    posts_now = channel_posts()
    assert posts_now == posted_in_channel + 1  # the refused one
    h.run_sweep()  # too early for the backoff: nothing tried
    assert channel_posts() == posts_now
    h.clock.advance(timedelta(minutes=3))
    report = h.run_sweep()
    assert [s for s in report.sent if s.startswith("nudge")]
    with h.services.db.session() as session:
        outcomes = [
            a.outcome
            for a in session.exec(select(ReminderAttempt).where(ReminderAttempt.reminder_id == r.id))
        ]
    assert outcomes == ["retry", "sent"]


def test_archived_channel_flags_the_engagement_and_tells_the_lead(small):
    h = small
    h.standin.archive_channel(CHANNEL)
    at(h, "2026-12-02T10:00:00+01:00")
    report = h.run_sweep()
    assert report.failed and "is_archived" in report.failed[0]
    assert engagement(h).flagged == "the channel is archived"
    dm = h.standin.messages(h.standin.im_channel(LEAD.user_id))
    assert dm and "I stopped sending reminders for *Acme Corp*" in blocks_text(dm[-1]["blocks"])
    before = len(h.standin.calls_to("chat.postMessage"))
    for day in ("2026-12-03", "2026-12-04", "2026-12-07"):
        at(h, f"{day}T10:00:00+01:00")
        h.run_sweep()
    assert len(h.standin.calls_to("chat.postMessage")) == before  # no crash loop, no retries
    with h.services.db.session() as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.kind == "engagement.flagged")).one()


def test_dry_run_sweep_changes_nothing(small, tmp_path):
    h = small
    at(h, "2026-12-02T10:00:00+01:00")
    before_rows = count(h, Reminder), count(h, ReminderAttempt), count(h, AuditEvent)
    before_calls = len(h.standin.calls)
    report = h.run_sweep(dry_run=True)
    assert any(line.startswith("nudge") and "1.5" in line for line in report.would_send)
    assert (count(h, Reminder), count(h, ReminderAttempt), count(h, AuditEvent)) == before_rows
    assert len(h.standin.calls) == before_calls


def test_settings_typed_and_in_the_modal_and_pause(small):
    h = small
    h.command("settings tz=America/Chicago hours=08:00-16:00 days=mon-thu cadence=3")
    e = engagement(h)
    assert (e.timezone, e.country, e.work_start, e.work_end, e.work_days, e.cadence_days) == (
        "America/Chicago",
        "US",
        "08:00",
        "16:00",
        "0,1,2,3",
        3,
    )
    h.command("settings hours=17:00-09:00")
    assert "must end after they start" in ephemeral_texts(h, LEAD.user_id)[-1]
    h.command("settings")
    [view] = h.standin.open_views(LEAD.user_id)
    bad = h.driver.submit_view(
        view["id"],
        {
            "tz": {"value": "Mars/Base"},
            "hours": {"value": "09:00-17:00"},
            "days": {"value": ["mon", "tue"]},
            "cadence": {"value": "2"},
        },
        user=LEAD.user_id,
    )
    assert bad.json["response_action"] == "errors" and "tz" in bad.json["errors"]
    h.driver.submit_view(
        view["id"],
        {
            "tz": {"value": "Europe/Berlin"},
            "country": {"value": ""},
            "hours": {"value": "09:00-17:00"},
            "days": {"value": ["mon", "tue", "wed", "thu", "fri"]},
            "cadence": {"value": "2"},
        },
        user=LEAD.user_id,
    )
    h.idle()
    e = engagement(h)
    assert (e.timezone, e.country, e.work_days) == ("Europe/Berlin", "DE", "0,1,2,3,4")
    h.command("nudges pause")
    at(h, "2026-12-02T10:00:00+01:00")
    h.run_sweep()
    assert nudges(h) == []
    h.command("nudges")
    assert "Paused" in ephemeral_texts(h, LEAD.user_id)[-1]
    h.command("nudges resume")
    h.command("nudges")
    preview = ephemeral_texts(h, LEAD.user_id)[-1]
    assert "Next nudge:" in preview and "1.5" in preview and "Go-live day message" in preview
    h.run_sweep()
    assert len(nudges(h)) == 1


def test_a_killed_sweep_loses_no_reminder(small):
    h = small
    at(h, "2026-12-02T10:00:00+01:00")
    dead = Sweeper(h.services, worker="dead-process")
    with h.services.db.session() as session:
        dead.plan(session, h.clock.now())
    claimed = dead.claim(h.clock.now())
    assert claimed  # ...and the process dies before sending
    h.run_sweep()
    assert nudges(h) == []  # still leased to the dead process
    h.clock.advance(LEASE + timedelta(seconds=1))
    h.run_sweep()
    assert len(nudges(h)) == 1


def test_scheduler_runs_the_sweep_in_process(small):
    from golive.sweep_clock import start_scheduler

    h = small
    at(h, "2026-12-02T10:00:00+01:00")
    scheduler = start_scheduler(h.services, seconds=1)
    try:
        h.standin.wait_for(lambda: nudges(h), timeout=10, message="a nudge from the scheduler")
    finally:
        scheduler.shutdown(wait=True)
    assert len(nudges(h)) == 1
