"""Issue 13, part 1, through the stand-in: a forecast and a health people can trust.

The cases of the issue's "Why": an engagement five weeks ahead with three hand-set dates late is
not Late; an enterprise engagement squeezed into two weeks is not On track; a failed dry run is
not On track; not-applicable items are counted apart from done ones. And impossible plans are
refused, doubtful ones warned about with the next business day offered.
"""

from __future__ import annotations

from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, LEAD
from storage.models import DryRunAttempt, Engagement, EngagementPhase, Gate, Item, SignoffRequest
from tests.e2e.helpers import (
    approve_request,
    at,
    blocks_text,
    count,
    dryrun_reminders,
    engagement,
    ephemeral_texts,
    mention,
    request_signoff,
    shown,
)


def last_answer(h) -> str:
    return shown(ephemeral_texts(h, LEAD.user_id)[-1])


def status(h) -> str:
    h.command("status")
    return last_answer(h)


def health_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("*Health:*"))


def finish_phase(h, number: int, items: int) -> None:
    """Tick every item of the phase and have the customer's approver approve its gates."""
    for n in range(1, items + 1):
        h.command(f"done {number}.{n}")
    with h.services.db.read() as session:
        phase = session.exec(select(EngagementPhase).where(EngagementPhase.number == number)).one()
        keys = [g.key for g in session.exec(select(Gate).where(Gate.phase_id == phase.id)).all()]
    for key in keys:
        request_signoff(h, f"{key}")
        with h.services.db.read() as session:
            req = session.exec(select(SignoffRequest).order_by(SignoffRequest.id.desc())).first()
        approve_request(h, req.ts, req.id, APPROVER)
        h.idle()
    assert engagement(h).phase_index == number + 1, f"phase {number} did not complete"


def test_five_weeks_ahead_with_three_hand_set_dates_late_is_on_track(harness):
    h = harness
    h.lift_rate_limits()  # two phases' work in seconds
    h.command("start Acme Corp size=enterprise kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    finish_phase(h, 1, 6)  # Discovery, planned for two weeks, done on day one
    at(h, "2026-12-02T10:00:00+01:00")
    finish_phase(h, 2, 8)  # Solutioning, planned for two and a half weeks, done on day three
    for ref in ("3.1", "3.2", "3.3"):  # dates set by hand, well before the phase's planned end
        h.command(f"due {ref} 2026-12-03")
    for ref in ("3.4", "3.5", "3.6"):
        h.command(f"done {ref}")
    at(h, "2026-12-08T10:00:00+01:00")
    text = status(h)
    assert ":large_green_circle: *On track*" in health_line(text)
    assert "weeks ahead of the planned go-live" in health_line(text)
    assert "3 items are overdue; the oldest, 3.1, was due Thu 3 Dec (vendor 3)" in text
    assert "Well ahead of plan, so not a risk yet." in text
    # Actual dates are shown beside the planned ones, and the forecast go-live beside the plan's.
    assert "*1. Discovery* · planned 30 Nov – 10 Dec · done 30 Nov" in text
    assert "*3. Configurations* · planned" in text and "started 2 Dec, forecast end" in text
    assert "*Forecast go-live*" in text and "business days ahead" in text


def test_a_squeezed_enterprise_target_is_accepted_with_a_warning_and_shown_at_risk(harness):
    h = harness
    h.command("start Acme Corp size=enterprise kickoff=2026-11-30 target=2026-12-11 tz=Europe/Berlin")
    warned = last_answer(h)
    assert "Started. Worth a look:" in warned
    assert "enterprise implementations usually take 8–16 weeks" in warned
    text = status(h)
    assert ":large_yellow_circle: *At risk*" in health_line(text)
    assert "The plan gives 2 weeks; enterprise implementations usually take 8–16 weeks." in text


def test_an_impossible_target_is_refused_and_nothing_is_written(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 target=2026-12-01 tz=Europe/Berlin")
    refused = last_answer(h)
    assert "leaves the 5 phases 2 business days" in refused
    assert "The earliest target go-live is Fri 11 Dec 2026 (2026-12-11)" in refused
    assert count(h, Engagement) == 0
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    before = engagement(h)
    h.command("target 2026-12-03")
    assert "The earliest target go-live is Fri 11 Dec 2026" in last_answer(h)
    after = engagement(h)
    assert after.target_on is None and after.updated_at == before.updated_at


def test_a_target_on_a_weekend_is_warned_and_the_next_business_day_offered(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command("target 2027-01-30")  # a Saturday
    answer = last_answer(h)
    assert "Plan updated" in answer
    assert "The target go-live, Sat 30 Jan 2027, is a Saturday, not a working day" in answer
    assert "the next business day is Mon 1 Feb 2027. To change it: `/golive target 2027-02-01`" in answer
    assert engagement(h).target_on.isoformat() == "2027-01-30"  # a warning, not a refusal
    h.command("plan kickoff=2026-12-25")  # Christmas Day
    assert "is a public holiday (Christmas Day)" in last_answer(h)
    assert "`/golive plan kickoff=2026-12-28`" in last_answer(h)


def test_a_failed_dry_run_is_not_on_track_and_late_days_before_go_live(small):
    h = small  # small: go-live Fri 18 Dec
    h.lift_rate_limits()
    for number, items in ((1, 6), (2, 8), (3, 7), (4, 8)):
        finish_phase(h, number, items)
    h.command("dryrun 2026-12-10 10:00")
    h.command("done 5.1 5.4")  # what the dry run needs (due the day before it) is ready
    at(h, "2026-12-10T09:00:00+01:00")
    h.run_sweep()
    assert "*On track*" in health_line(status(h))
    assert dryrun_reminders(h)
    # The outcome is recorded on the announcement once the dry run has started.
    at(h, "2026-12-10T12:00:00+01:00")
    h.run_sweep()
    h.idle()
    with h.services.db.read() as session:
        [attempt] = session.exec(select(DryRunAttempt)).all()
    h.driver.click(CHANNEL, attempt.ts, "dryrun_issues", user=APPROVER.user_id)
    h.idle()
    [view] = h.standin.open_views(APPROVER.user_id)
    h.driver.submit_view(view["id"], {"notes": {"value": "Tax rounding differs"}}, user=APPROVER.user_id)
    h.idle()
    text = status(h)
    assert ":large_yellow_circle: *At risk*" in health_line(text)
    assert "The dry run found issues; schedule another before go-live." in text
    at(h, "2026-12-16T10:00:00+01:00")
    text = status(h)
    assert ":red_circle: *Late*" in health_line(text)
    assert "The dry run found issues and go-live (Fri 18 Dec) is 2 business days away" in health_line(text)


def test_a_dry_run_on_a_saturday_and_a_due_date_on_a_holiday_after_its_phase_are_warned(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command("dryrun 2026-12-12 10:00")  # a Saturday
    answer = last_answer(h)
    assert "Dry run scheduled for Sat 12 Dec 10:00" in answer
    assert "The dry run, Sat 12 Dec 2026, is a Saturday, not a working day" in answer
    assert "To move it: `/golive dryrun 2026-12-14 10:00`" in answer
    h.command("dryrun 2026-12-14 10:00")  # taken: no warning any more
    assert "not a working day" not in last_answer(h)
    h.command("due 1.1 1.2 2026-12-25")  # Christmas Day, after Discovery is planned to end
    answer = last_answer(h)
    assert "The due date, Fri 25 Dec 2026, is a public holiday (Christmas Day)" in answer
    assert "`/golive due 1.1 1.2 2026-12-28`" in answer
    assert "1.1 is now due after Discovery is planned to end" in answer
    assert "1.2 is now due after Discovery is planned to end" in answer
    with h.services.db.read() as session:
        discovery = session.exec(select(EngagementPhase).where(EngagementPhase.number == 1)).one()
        items = session.exec(select(Item).where(Item.phase_id == discovery.id).order_by(Item.number)).all()
        assert [str(i.due_on) for i in items[:2]] == ["2026-12-25", "2026-12-25"]  # set: a warning only
    h.command("due 1.1 2026-12-01")
    assert ":warning:" not in ephemeral_texts(h, LEAD.user_id)[-1]


def test_not_applicable_items_are_counted_apart_from_done_ones(harness):
    """ "63/86 with 16 N/A" must not read as 63 done of 86."""
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    for n in (1, 2, 3):
        h.command(f"done 1.{n}")
    for n in (4, 5):
        h.command(f"na 1.{n} Not part of this rollout")
    h.command("status")
    raw = h.standin.ephemerals(channel=CHANNEL, user=LEAD.user_id)[-1]
    assert raw["text"].startswith(
        "Acme Corp: phase 1 of 5 (Discovery), 3 of 33 items done (2 not applicable)"
    )
    text = shown(blocks_text(raw["blocks"]))
    progress = text.split("*Progress*\n")[1].splitlines()[0]
    assert progress == "`█░░░░░░░░░ 9%` 3/33 items done · 2 not applicable"
    assert "· 3/4 (+2 n/a)" in text  # Discovery: 3 of its 4 applicable items done, 2 not applicable
