"""The .ics file from rows: events, statuses, the dry run's zone, text that round-trips."""

from __future__ import annotations

from datetime import UTC, date, datetime

from icalendar import Calendar

from bot.exports.calendar_ics import GateFacts, build_calendar, calendar_filename, uid
from storage.models import Engagement
from tests.unit.test_health import KICKOFF, Eng

NOW = datetime(2026, 11, 10, 9, tzinfo=UTC)


def engagement(**kw) -> Engagement:
    base = dict(
        id=7,
        team_id="T0VENDOR",
        channel_id="C1",
        customer_name="Acme; Corp, \\ Ltd\nLine two",
        size="medium",
        kickoff_on=KICKOFF,
        timezone="America/New_York",
        created_by="U1",
        created_at=NOW,
        updated_at=NOW,
    )
    return Engagement(**(base | kw))


def parse(content: bytes) -> list:
    return list(Calendar.from_ical(content).walk("VEVENT"))


def test_a_cancelled_engagement_exports_cancelled_events_with_the_same_uids():
    e = Eng("medium", KICKOFF)
    fc = e.forecast(date(2026, 11, 10))
    gates = [GateFacts("solution_design", "Solution design sign-off", 2, None, date(2026, 11, 9))]
    active = parse(
        build_calendar(
            engagement=engagement(), forecast=fc, gates=gates, dry_run_checklist=[], sequence=3, now=NOW
        )
    )
    cancelled = parse(
        build_calendar(
            engagement=engagement(status="cancelled"),
            forecast=fc,
            gates=gates,
            dry_run_checklist=[],
            sequence=4,
            now=NOW,
        )
    )
    assert [str(v["UID"]) for v in active] == [str(v["UID"]) for v in cancelled]
    assert {str(v["STATUS"]) for v in active} == {"CONFIRMED"}
    assert {str(v["STATUS"]) for v in cancelled} == {"CANCELLED"}
    assert len(active) == 5 + 1 + 1  # phases, the gate, the go-live (no dry run scheduled)
    [gate] = [v for v in active if "Sign-off" in str(v["SUMMARY"])]
    assert "Waiting for the customer's approval since Mon 9 Nov 2026." in str(gate["DESCRIPTION"])
    assert uid(engagement(), "gate-solution_design") == "t0vendor-7-gate-solution_design@golive"


def test_text_round_trips_and_the_dry_run_is_in_its_zone():
    e = Eng("medium", KICKOFF)
    fc = e.forecast(date(2026, 11, 10))
    row = engagement(dryrun_at=datetime(2026, 12, 15, 15, 0, tzinfo=UTC), dryrun_outcome="passed")
    content = build_calendar(
        engagement=row, forecast=fc, gates=[], dry_run_checklist=["Invoices match"], sequence=1, now=NOW
    )
    events = {str(v["SUMMARY"]): v for v in parse(content)}
    name = "Acme; Corp, \\ Ltd Line two"  # on one line
    dry = events[f"{name} · Go-live dry run"]
    start = dry.decoded("DTSTART")
    assert start.tzinfo.key == "America/New_York" and (start.hour, start.minute) == (10, 0)
    assert "It passed." in str(dry["DESCRIPTION"]) and "- Invoices match" in str(dry["DESCRIPTION"])
    assert b"TZID:America/New_York" in content
    assert all(len(line) <= 75 for line in content.split(b"\r\n"))  # folded as RFC 5545 asks
    assert calendar_filename(row) == "acme-corp-ltd-line-two-implementation-7.ics"
