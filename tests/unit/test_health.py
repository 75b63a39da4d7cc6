from datetime import date

from bot.engagement.business_days import BusinessCalendar
from bot.engagement.health import AT_RISK, LATE, ON_TRACK, assess
from storage.models import EngagementPhase, Item

CAL = BusinessCalendar(None)


def phases():
    return [
        EngagementPhase(
            id=1,
            engagement_id=1,
            number=1,
            key="a",
            name="Discovery",
            planned_start=date(2026, 11, 30),
            planned_end=date(2026, 12, 4),
        ),
        EngagementPhase(
            id=2,
            engagement_id=1,
            number=2,
            key="b",
            name="Build",
            planned_start=date(2026, 12, 7),
            planned_end=date(2026, 12, 18),
        ),
    ]


def items(open_in_1=4, done_in_1=0, open_in_2=6, due1=date(2026, 12, 4), due2=date(2026, 12, 18)):
    out, n = [], 0
    for status, count, phase, due in (
        ("open", open_in_1, 1, due1),
        ("done", done_in_1, 1, due1),
        ("open", open_in_2, 2, due2),
    ):
        for _ in range(count):
            n += 1
            out.append(
                Item(
                    id=n,
                    engagement_id=1,
                    phase_id=phase,
                    number=n,
                    key=f"k{n}",
                    title="t",
                    owner_side="customer",
                    status=status,
                    due_on=due,
                )
            )
    return out


def run(today, its=None, current=1):
    return assess(
        phases=phases(),
        items=its if its is not None else items(),
        current_phase=current,
        golive=date(2026, 12, 18),
        today=today,
        calendar=CAL,
    )


def test_on_track_at_the_start():
    h = run(date(2026, 11, 30))
    assert h.level == ON_TRACK
    assert h.reason == "0 of 10 items done; Discovery is planned to end Fri 4 Dec."


def test_at_risk_when_the_phase_ends_soon_with_most_work_open():
    h = run(date(2026, 12, 3))
    assert h.level == AT_RISK
    assert h.reason == "Discovery ends Fri 4 Dec with 4 of 4 items still open."


def test_at_risk_when_the_needed_pace_outruns_the_plan():
    # Phase 1 finished, all of phase 2 open with three business days left.
    its = items(open_in_1=0, done_in_1=4)
    h = run(date(2026, 12, 16), its, current=2)
    assert h.level == AT_RISK
    assert "6 items are open with 3 business days to go-live" in h.reason


def test_late_when_items_are_overdue():
    h = run(date(2026, 12, 7))
    assert h.level == LATE
    assert h.reason == "4 items are overdue; the oldest, 1.1, was due Fri 4 Dec."


def test_late_when_go_live_passed():
    its = items(open_in_1=0, done_in_1=4, due2=date(2026, 12, 31))
    h = run(date(2026, 12, 21), its, current=2)
    assert h.level == LATE and "planned go-live (Fri 18 Dec) has passed with 6 items open" in h.reason


def test_everything_done_is_on_track():
    its = items(open_in_1=0, done_in_1=4, open_in_2=0)
    assert run(date(2026, 12, 21), its).reason == "All 4 items are done."
