"""The forecast and the health behind `/golive status`: the cases of issue 13's "Why".

Engagements are built from rows (phases with planned dates and completion times, items with
their status and due dates) exactly as the database holds them; no Slack here (the same cases
run end to end in tests/e2e/test_plan_health.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from bot.engagement.business_days import BusinessCalendar
from bot.engagement.forecast import DONE, UPCOMING, business_days_between, forecast, remaining_days
from bot.engagement.health import AT_RISK, LATE, ON_TRACK, DryRun, Waiting, assess
from bot.engagement.plan import applicable_phases, plan_phases
from bot.engagement.playbook import default_playbook
from storage.models import EngagementPhase, Item

PB = default_playbook()
CAL = BusinessCalendar(None)
TZ = "UTC"


class Eng:
    """An engagement as rows: phases planned from the playbook, six items per phase."""

    def __init__(self, size: str, kickoff: date, target: date | None = None, per_phase: int = 6) -> None:
        self.size, self.kickoff, self.target = size, kickoff, target
        windows = plan_phases(
            applicable_phases(PB, pilot=False, ingest="warehouse"),
            playbook=PB,
            size=size,
            kickoff=kickoff,
            target=target,
            calendar=CAL,
        )
        self.phases = [
            EngagementPhase(
                id=w.number,
                engagement_id=1,
                number=w.number,
                key=w.key,
                name=w.name,
                planned_start=w.start,
                planned_end=w.end,
            )
            for w in windows
        ]
        self.items: list[Item] = []
        for p in self.phases:
            for n in range(1, per_phase + 1):
                self.items.append(
                    Item(
                        id=len(self.items) + 1,
                        engagement_id=1,
                        phase_id=p.id,
                        number=n,
                        key=f"k{p.number}_{n}",
                        title="t",
                        owner_side="customer" if n % 2 else "vendor",
                        status="open",
                        due_on=p.planned_end,
                    )
                )
        self.current = 1
        self.dryrun = DryRun(None, None)
        self.waiting: list[Waiting] = []

    def item(self, ref: str) -> Item:
        phase, number = (int(x) for x in ref.split("."))
        return next(i for i in self.items if i.phase_id == phase and i.number == number)

    def finish(self, number: int, on: date) -> None:
        """Every item of phase `number` done and the phase completed on `on`."""
        for i in self.items:
            if i.phase_id == number:
                i.status = "done"
        self.phases[number - 1].completed_at = datetime.combine(on, time(15), tzinfo=UTC)
        self.current = number + 1

    def forecast(self, today: date):
        return forecast(
            phases=self.phases,
            items=self.items,
            current=self.current,
            live=self.current > len(self.phases),
            kickoff=self.kickoff,
            target=self.target,
            today=today,
            timezone=TZ,
            calendar=CAL,
        )

    def health(self, today: date):
        sizes = PB.sizes[self.size]  # type: ignore[index]
        return assess(
            forecast=self.forecast(today),
            items=self.items,
            phase_numbers={p.id: p.number for p in self.phases},
            waiting=self.waiting,
            dryrun=self.dryrun,
            size=self.size,
            min_weeks=sizes.min_weeks,
            max_weeks=sizes.max_weeks,
            today=today,
            timezone=TZ,
            calendar=CAL,
        )


KICKOFF = date(2026, 11, 2)  # a Monday


# -- the forecast ---------------------------------------------------------------------------
def test_on_the_first_day_the_forecast_is_the_plan():
    e = Eng("medium", KICKOFF)
    fc = e.forecast(KICKOFF)
    assert [(p.start, p.end) for p in fc.phases] == [(p.planned_start, p.planned_end) for p in e.phases]
    assert fc.golive == fc.planned_golive == e.phases[-1].planned_end and fc.slip == 0
    assert e.health(KICKOFF).level == ON_TRACK


def test_a_phase_finished_early_pulls_the_rest_in():
    e = Eng("medium", KICKOFF)
    planned = e.forecast(KICKOFF)
    e.finish(1, on=date(2026, 11, 3))  # Discovery planned to Fri 6 Nov (5 business days), done in 2
    fc = e.forecast(date(2026, 11, 3))
    assert fc.phases[0].state == DONE and fc.phases[0].finished_on == date(2026, 11, 3)
    assert fc.phases[0].slip == -3
    # Solutioning is current from the day Discovery completed, and on its first day runs to plan:
    second = fc.phases[1]
    assert second.started_on == date(2026, 11, 3)
    assert CAL.count(second.start, second.end) == CAL.count(
        e.phases[1].planned_start, e.phases[1].planned_end
    )
    shift = business_days_between(CAL, e.phases[1].planned_end, second.end)
    assert shift == -4
    # The rest keep their planned lengths and move as much.
    for before, after in zip(planned.phases[2:], fc.phases[2:], strict=True):
        assert after.state == UPCOMING
        assert business_days_between(CAL, before.start, after.start) == shift
        assert CAL.count(after.start, after.end) == CAL.count(before.start, before.end)
    assert fc.slip == shift and fc.golive < fc.planned_golive


def test_open_items_and_a_slow_pace_push_the_forecast_out():
    e = Eng("medium", KICKOFF)
    # Eight business days into Discovery (planned 5) with 1 of 6 items done.
    e.item("1.1").status = "done"
    today = date(2026, 11, 12)
    fc = e.forecast(today)
    current = fc.phases[0]
    assert current.state == "current" and current.started_on == KICKOFF
    # pace (1 + 6) / (8 + 5) = 0.54 a day: 5 open items take 10 business days from today
    assert remaining_days(open_items=5, done=1, applicable=6, planned_days=5, elapsed=8) == 10
    assert current.end == CAL.add(today, 9)
    assert fc.slip == business_days_between(CAL, e.phases[0].planned_end, current.end) > 5
    assert e.health(today).level == LATE


def test_the_pace_is_weighed_with_the_plan():
    # One tick on day one does not make the phase end tomorrow.
    assert remaining_days(open_items=5, done=1, applicable=6, planned_days=5, elapsed=0) == 4
    # A steady pace on plan keeps the plan.
    assert remaining_days(open_items=3, done=3, applicable=6, planned_days=6, elapsed=3) == 3
    # Two idle days of seven: two days later; four idle days: much later.
    assert remaining_days(open_items=6, done=0, applicable=6, planned_days=7, elapsed=2) == 9
    assert remaining_days(open_items=6, done=0, applicable=6, planned_days=7, elapsed=4) == 11
    # Twice the planned pace: early.
    assert remaining_days(open_items=5, done=5, applicable=10, planned_days=10, elapsed=2) == 4


def test_business_days_between_is_signed():
    assert business_days_between(CAL, date(2026, 11, 6), date(2026, 11, 9)) == 1  # Fri -> Mon
    assert business_days_between(CAL, date(2026, 11, 9), date(2026, 11, 6)) == -1
    assert business_days_between(CAL, date(2026, 11, 7), date(2026, 11, 6)) == 0  # Sat -> Fri


# -- health: the cases of the issue ----------------------------------------------------------
def test_ahead_of_plan_with_three_hand_set_dates_late_is_not_late():
    """It said Late because of three hand-set dates while five weeks ahead of plan."""
    e = Eng(
        "enterprise", KICKOFF, per_phase=10
    )  # 12 weeks: Discovery 9 days, Solutioning 12, Configurations 18
    e.finish(1, on=date(2026, 11, 4))
    e.finish(2, on=date(2026, 11, 10))
    for ref in ("3.1", "3.2", "3.3"):  # dates set by hand, earlier than the phase
        e.item(ref).due_on = date(2026, 11, 11)
    for n in range(4, 10):
        e.item(f"3.{n}").status = "done"
    today = date(2026, 11, 16)
    h = e.health(today)
    fc = e.forecast(today)
    assert fc.slip <= -23, fc.slip  # five weeks ahead
    assert h.level == ON_TRACK, h.factors
    assert h.reason.startswith("Forecast go-live") and "5 weeks ahead of the planned go-live" in h.reason
    overdue = next(f for f in h.factors if "overdue" in f.text)
    assert overdue.watch and "3 items are overdue; the oldest, 3.1" in overdue.text
    assert "customer 2 · vendor 1" in overdue.text


def test_the_same_overdue_items_on_plan_are_a_risk():
    e = Eng("enterprise", KICKOFF)
    for ref in ("1.1", "1.2"):
        e.item(ref).due_on = date(2026, 11, 3)
    for ref in ("1.3", "1.4"):
        e.item(ref).status = "done"
    h = e.health(date(2026, 11, 5))
    assert h.level == AT_RISK
    assert any(f.text.startswith("2 items are overdue") and not f.watch for f in h.factors)


def test_a_squeezed_enterprise_target_is_not_on_track():
    """It said On track for an enterprise engagement squeezed into two weeks."""
    e = Eng("enterprise", KICKOFF, target=date(2026, 11, 13))
    h = e.health(KICKOFF)
    assert e.forecast(KICKOFF).slip == 0  # the dates themselves hold, on paper
    assert h.level == AT_RISK
    assert any(
        f.text == "The plan gives 2 weeks; enterprise implementations usually take 8–16 weeks."
        for f in h.factors
    )


def test_a_failed_dry_run_is_not_on_track_and_late_close_to_go_live():
    """It said On track after a failed dry run."""
    e = Eng("small", KICKOFF)  # three weeks: go-live Fri 20 Nov
    for n in range(1, 5):
        e.finish(n, on=e.phases[n - 1].planned_end)
    e.dryrun = DryRun(date(2026, 11, 16), "issues")
    h = e.health(date(2026, 11, 16))  # four business days before go-live
    assert h.level == AT_RISK and any("found issues" in f.text for f in h.factors)
    h = e.health(date(2026, 11, 17))  # three
    assert h.level == LATE and "found issues and go-live (Fri 20 Nov)" in h.reason


def test_no_dry_run_close_to_go_live_is_a_risk_and_a_passed_one_is_said():
    e = Eng("small", KICKOFF)
    for n in range(1, 4):
        e.finish(n, on=e.phases[n - 1].planned_end)
    today = date(2026, 11, 12)
    h = e.health(today)
    assert h.level == AT_RISK
    assert "No dry run is scheduled and go-live (Fri 20 Nov) is 6 business days away." in [
        f.text for f in h.factors
    ]
    e.dryrun = DryRun(date(2026, 11, 18), "passed")
    h = e.health(today)
    assert h.level == ON_TRACK and "The dry run passed." in [f.text for f in h.factors]


def test_a_dry_run_without_a_result_is_a_risk():
    e = Eng("small", KICKOFF)
    for n in range(1, 4):
        e.finish(n, on=e.phases[n - 1].planned_end)
    e.dryrun = DryRun(date(2026, 11, 11), None)
    h = e.health(date(2026, 11, 12))
    assert h.level == AT_RISK and "The dry run of Wed 11 Nov has no result recorded." in [
        f.text for f in h.factors
    ]


def test_sign_offs_waiting_too_long_are_a_risk():
    e = Eng("medium", KICKOFF)
    for i in e.items:
        if i.phase_id == 1:
            i.status = "done"
    e.waiting = [Waiting("Solution design sign-off", datetime(2026, 11, 3, 9, tzinfo=UTC))]
    assert e.health(date(2026, 11, 4)).level == ON_TRACK  # one business day: said, not a risk
    h = e.health(date(2026, 11, 6))
    assert h.level == AT_RISK
    assert "Solution design sign-off waiting for approval for 3 business days." in [f.text for f in h.factors]


def test_the_go_live_passed_with_work_open_is_late():
    e = Eng("small", KICKOFF)
    h = e.health(date(2026, 11, 23))
    assert h.level == LATE and h.reason.startswith(
        "The planned go-live (Fri 20 Nov) has passed with 30 items open"
    )


def test_live_says_when():
    e = Eng("small", KICKOFF)
    for n in range(1, 6):
        e.finish(n, on=e.phases[n - 1].planned_end)
    h = e.health(date(2026, 11, 25))
    assert h.level == ON_TRACK and h.reason == "Went live Fri 20 Nov, on time (Fri 20 Nov)."


def test_not_applicable_items_are_neither_done_nor_open():
    e = Eng("medium", KICKOFF)
    e.item("1.1").status = "na"
    e.item("1.2").status = "done"
    fc = e.forecast(KICKOFF)
    first = fc.phases[0]
    assert (first.items, first.done, first.na, first.open, first.applicable) == (6, 1, 1, 4, 5)


def test_a_long_sign_off_wait_while_well_ahead_is_watched_not_a_risk():
    e = Eng("enterprise", KICKOFF)
    e.finish(1, on=date(2026, 11, 3))
    for i in e.items:
        if i.phase_id == 2:
            i.status = "done"
    e.waiting = [Waiting("Solution design sign-off", datetime(2026, 11, 4, 9, tzinfo=UTC))]
    h = e.health(date(2026, 11, 10))
    assert e.forecast(date(2026, 11, 10)).slip <= -5
    waiting = next(f for f in h.factors if "waiting for approval" in f.text)
    assert waiting.watch and waiting.text.endswith("Well ahead of plan, so not a risk yet.")
    assert h.level == ON_TRACK
