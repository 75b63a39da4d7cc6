"""The planner looks up which of today's nudges and this week's digests exist before it plans:
a second look the same day (a change asked for one) finds them and asks for no reminder that
exists, rather than inserting it again and leaving it to the unique key to refuse."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

import bot.reminders.planning as planning
from bot.reminders.planning import Planner
from storage.models import Engagement, Reminder


def test_a_second_look_the_same_day_asks_for_no_reminder_that_exists(harness, monkeypatch):
    h = harness  # Monday 30 Nov 2026, 09:00 in Berlin
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    planner = Planner(h.services)
    planner.plan_all(h.clock.now())
    # Wednesday 09:00 in Berlin: Discovery's items were due Tuesday; today's nudge and this
    # week's digest are planned.
    h.clock.set(datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
    planner.plan_all(h.clock.now())
    with h.services.db.read() as session:
        keys = set(session.exec(select(Reminder.dedupe_key)).all())
        first = session.exec(select(Engagement)).one().next_check_at
    assert {"nudge:1:2026-12-02", "digest:1:2026-W49"} <= keys

    asked: list[str] = []
    ensure_all = planning.ensure_all

    def recording(session, rows, now):  # type: ignore[no-untyped-def]
        asked.extend(key for _e, _kind, key, _due, _payload in rows)
        return ensure_all(session, rows, now)

    monkeypatch.setattr(planning, "ensure_all", recording)
    with h.services.db.session() as session:
        planner._plan_engagements(session, [session.exec(select(Engagement)).one()], h.clock.now())
    assert not set(asked) & keys
    with h.services.db.read() as session:
        assert session.exec(select(Engagement)).one().next_check_at == first
