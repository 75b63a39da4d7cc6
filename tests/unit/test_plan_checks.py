"""Impossible plans are refused, doubtful ones warned about (issue 13)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.engagement.business_days import BusinessCalendar
from bot.engagement.lifecycle import build_start_options
from bot.engagement.plan import (
    MIN_PHASE_DAYS,
    applicable_phases,
    business_day_warning,
    check_feasible,
    earliest_golive,
    plan_phases,
    plan_warnings,
)
from bot.engagement.playbook import default_playbook
from bot.user_input import ValueProblem

PB = default_playbook()
PHASES = applicable_phases(PB, pilot=False, ingest="warehouse")
DE = BusinessCalendar("DE")
NOW = datetime(2026, 11, 30, 8, tzinfo=UTC)


def test_a_target_the_day_after_kickoff_is_refused_with_the_earliest_possible():
    kickoff = date(2026, 11, 30)
    with pytest.raises(ValueProblem) as info:
        check_feasible(PHASES, kickoff=kickoff, target=date(2026, 12, 1), calendar=DE)
    text = str(info.value)
    earliest = earliest_golive(PHASES, kickoff=kickoff, calendar=DE)
    assert DE.count(kickoff, earliest) == MIN_PHASE_DAYS * len(PHASES) == 10
    assert "leaves the 5 phases 2 business days" in text and "need at least 10 business days" in text
    assert f"The earliest target go-live is Fri 11 Dec 2026 ({earliest.isoformat()})" in text
    check_feasible(PHASES, kickoff=kickoff, target=earliest, calendar=DE)  # the earliest is accepted
    # ...and planned so that every phase has its minimum and the last ends on go-live
    windows = plan_phases(PHASES, playbook=PB, size="small", kickoff=kickoff, target=earliest, calendar=DE)
    assert all(DE.count(w.start, w.end) >= MIN_PHASE_DAYS for w in windows)
    assert windows[-1].end == earliest


def test_a_pilot_counts_its_fixed_length():
    phases = applicable_phases(PB, pilot=True, ingest="warehouse")
    with pytest.raises(ValueProblem, match="15 for the Pilot"):
        check_feasible(phases, kickoff=date(2026, 11, 30), target=date(2026, 12, 18), calendar=DE)


def test_start_refuses_an_impossible_target_before_anything_is_written():
    with pytest.raises(ValueProblem, match="earliest target go-live"):
        build_start_options(
            name="Acme",
            size="enterprise",
            kickoff="2026-11-30",
            target="2026-12-01",
            tz="Europe/Berlin",
            country=None,
            pilot=None,
            ingest=None,
            now=NOW,
            default_tz="UTC",
            playbook=PB,
        )


def test_a_short_target_and_dates_off_business_days_are_warned_with_the_next_business_day():
    opts = build_start_options(
        name="Acme",
        size="enterprise",
        kickoff="2026-12-25",  # Christmas Day, a Friday
        target="2027-01-16",  # a Saturday, three weeks later
        tz="Europe/Berlin",
        country=None,
        pilot=None,
        ingest=None,
        now=NOW,
        default_tz="UTC",
        playbook=PB,
    )
    texts = [w.text for w in opts.warnings]
    assert texts[0] == (
        "The kickoff, Fri 25 Dec 2026, is a public holiday (Christmas Day); the next business day is Mon 28 Dec 2026."
    )
    assert opts.warnings[0].fix == "plan kickoff=2026-12-28"
    assert texts[1] == (
        "The target go-live, Sat 16 Jan 2027, is a Saturday, not a working day; the next business day is Mon 18 Jan 2027."
    )
    assert opts.warnings[1].fix == "target 2027-01-18"
    assert "enterprise implementations usually take 8–16 weeks" in texts[2]


def test_a_plan_in_the_usual_range_on_business_days_has_no_warning():
    warnings = plan_warnings(
        PHASES,
        playbook=PB,
        size="medium",
        kickoff=date(2026, 11, 30),
        target=date(2027, 1, 29),
        calendar=DE,
    )
    assert warnings == []


def test_holidays_of_the_engagements_country_only():
    assert business_day_warning(BusinessCalendar(None), date(2026, 12, 25), "The kickoff", "x {date}") is None
    w = business_day_warning(
        BusinessCalendar("US"), date(2026, 11, 26), "The target go-live", "target {date}"
    )
    assert w is not None and "Thanksgiving" in w.text and w.fix == "target 2026-11-27"
