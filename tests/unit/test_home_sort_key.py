"""App Home's sort key per engagement (issue 25, part 5): valid until the engagement's next local
midnight, when items fall overdue, and computed again then by the sweep's planner, whatever the
engagement's next check says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.engagement.health import RANK
from bot.engagement.portfolio import risk_until
from bot.reminders.planning import Planner
from storage.models import Engagement, Reminder


@pytest.mark.parametrize(
    ("now", "tz", "until"),
    [
        # Monday 09:00 in Berlin (CET, +1): Tuesday 00:00 there.
        (
            datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
            "Europe/Berlin",
            datetime(2026, 11, 30, 23, 0, tzinfo=UTC),
        ),
        # 23:59 on the Saturday before summer time ends (CEST, +2): Sunday 00:00 is still +2.
        (
            datetime(2026, 10, 24, 21, 59, tzinfo=UTC),
            "Europe/Berlin",
            datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
        ),
        # That Sunday, after the clocks went back (CET, +1): Monday 00:00 is +1.
        (
            datetime(2026, 10, 25, 12, 0, tzinfo=UTC),
            "Europe/Berlin",
            datetime(2026, 10, 25, 23, 0, tzinfo=UTC),
        ),
        # Already Tuesday in Tokyo (+9) while Monday in UTC.
        (datetime(2026, 11, 30, 16, 0, tzinfo=UTC), "Asia/Tokyo", datetime(2026, 12, 1, 15, 0, tzinfo=UTC)),
        # Exactly midnight in New York: the next one, a day later.
        (
            datetime(2026, 12, 1, 5, 0, tzinfo=UTC),
            "America/New_York",
            datetime(2026, 12, 2, 5, 0, tzinfo=UTC),
        ),
    ],
)
def test_a_key_is_valid_until_the_next_local_midnight(now, tz, until):
    got = risk_until(now, tz)
    assert got == until
    assert got > now and got - now <= timedelta(hours=25)
    assert got.astimezone(ZoneInfo(tz)).time().hour == 0


def reminders(h) -> list[str]:  # type: ignore[no-untyped-def]
    with h.services.db.read() as session:
        return sorted(session.exec(select(Reminder.dedupe_key)).all())


def stored(h) -> Engagement:  # type: ignore[no-untyped-def]
    with h.services.db.read() as session:
        return session.exec(select(Engagement)).one()


def test_the_planner_computes_the_key_again_when_the_local_date_rolls_over(harness):
    h = harness  # Monday 30 Nov 2026, 09:00 in Berlin
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    planner = Planner(h.services)
    planner.plan_all(h.clock.now())
    e = stored(h)
    # Discovery's items are due Tuesday: none overdue yet. The next check is Wednesday 09:00 (a
    # nudge could be planned then); the key is valid until Tuesday 00:00 in Berlin.
    assert (e.risk_rank, e.risk_overdue) == (RANK["on_track"], 0)
    assert e.risk_until == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert e.next_check_at == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    checked, planned = e.next_check_at, reminders(h)

    h.clock.set(datetime(2026, 11, 30, 22, 59, tzinfo=UTC))  # 23:59 in Berlin: nothing to do yet
    with h.services.db.read() as session:
        assert not planner._anything_to_plan(session, h.clock.now())

    # Wednesday 00:30 in Berlin, hours before any working window: Tuesday's items fell overdue at
    # midnight. The key is due (its own index), not the next check.
    h.clock.set(datetime(2026, 12, 1, 23, 30, tzinfo=UTC))
    with h.services.db.read() as session:
        assert planner._anything_to_plan(session, h.clock.now())
    assert planner.plan_all(h.clock.now()) == 1
    e = stored(h)
    assert e.risk_overdue is not None and e.risk_overdue > 0
    assert e.risk_rank is not None and e.risk_rank > RANK["on_track"]
    assert e.risk_until == datetime(2026, 12, 2, 23, 0, tzinfo=UTC)  # Thursday 00:00 in Berlin
    assert e.next_check_at == checked  # the reminders' plan is as it was
    assert reminders(h) == planned  # out of hours: no nudge, no health message planned
    with h.services.db.read() as session:
        assert not planner._anything_to_plan(session, h.clock.now())  # planned: due again Thursday
