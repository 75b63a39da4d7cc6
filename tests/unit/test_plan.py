import itertools
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.engagement.business_days import BusinessCalendar
from bot.engagement.plan import applicable_phases, plan_phases
from bot.engagement.playbook import default_playbook

PB = default_playbook()


def plan(size="medium", kickoff=date(2026, 11, 2), target=None, country=None, pilot=False):
    phases = applicable_phases(PB, pilot=pilot, ingest="warehouse")
    return plan_phases(
        phases, playbook=PB, size=size, kickoff=kickoff, target=target, calendar=BusinessCalendar(country)
    )


@pytest.mark.parametrize("size, weeks", [("small", 3), ("medium", 7), ("enterprise", 12)])
def test_each_tier_plans_its_midpoint_in_business_days(size, weeks):
    windows = plan(size)
    cal = BusinessCalendar(None)
    assert [w.name for w in windows] == [
        "Discovery",
        "Solutioning",
        "Configurations",
        "Testing & Validation",
        "Go-Live",
    ]
    assert windows[0].start == date(2026, 11, 2)
    assert cal.count(windows[0].start, windows[-1].end) == weeks * 5
    for a, b in itertools.pairwise(windows):
        assert cal.add(a.end, 1) == b.start  # back to back, no gaps, no overlap
    for w in windows:
        assert w.start.weekday() < 5 and w.end.weekday() < 5


def test_shares_split_the_timeline():
    windows = plan("enterprise")  # 60 business days: 15/20/30/25/10 percent
    cal = BusinessCalendar(None)
    assert [cal.count(w.start, w.end) for w in windows] == [9, 12, 18, 15, 6]


def test_weekend_kickoff_starts_on_monday():
    assert plan(kickoff=date(2026, 11, 7))[0].start == date(2026, 11, 9)


def test_country_holidays_are_skipped():
    # Germany: 25 and 26 Dec and 1 Jan are public holidays.
    de = plan("small", kickoff=date(2026, 12, 14), country="DE")
    none = plan("small", kickoff=date(2026, 12, 14), country=None)
    assert none[-1].end == date(2027, 1, 1)
    assert de[-1].end == date(2027, 1, 5)  # 25 Dec and 1 Jan (Fridays) skipped
    days = BusinessCalendar("DE").days(date(2026, 12, 14), 15)
    assert date(2026, 12, 25) not in days and date(2027, 1, 1) not in days


def test_target_date_fixes_go_live():
    windows = plan(kickoff=date(2026, 11, 2), target=date(2026, 12, 18))
    assert windows[-1].end == date(2026, 12, 18)
    # A weekend target ends on the Friday before.
    assert plan(target=date(2026, 12, 20))[-1].end == date(2026, 12, 18)


def test_pilot_comes_first_with_its_fixed_length():
    windows = plan(pilot=True)
    assert windows[0].name == "Pilot"
    assert BusinessCalendar(None).count(windows[0].start, windows[0].end) == 15
    assert windows[1].start == date(2026, 11, 23)


def test_dst_change_is_crossed_without_shifting_dates():
    # Europe/Berlin leaves summer time on 25 Oct 2026; the plan is in local dates.
    windows = plan("small", kickoff=date(2026, 10, 19), country="DE")
    assert windows[0].start == date(2026, 10, 19)
    assert BusinessCalendar("DE").count(windows[0].start, windows[-1].end) == 15
    tz = ZoneInfo("Europe/Berlin")
    before = datetime.combine(windows[0].start, time(17), tz)
    after = datetime.combine(windows[-1].end, time(17), tz)
    assert before.utcoffset().total_seconds() == 7200 and after.utcoffset().total_seconds() == 3600
