"""Step 1 of the sweep: planning.

For each active engagement whose next check has come (an index on status and `next_check_at`),
that changed since it was last planned (a `NextCheckRequest`, written by the audit trail with every
change) or whose App Home sort key went stale (its local midnight passed: an index on status and
`risk_until`): compute its outlook and keep its sort key (`portfolio.keep_risk`, whatever the
hour); make the fixed reminders match it (dry run, go-live day) and, inside the customer's working
hours, make today's consolidated nudge and this week's digest exist (unique dedupe keys: a
reminder exists once) and tell the lead privately when its health changed level; then compute its
next check (`next_check`). The sweep's cost follows what is due, not how many engagements exist:
the outlooks of a batch are read in a few queries for the whole batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, or_, select, update
from sqlmodel import Session, col

from bot.engagement.health import ON_TRACK
from bot.engagement.outlook import Outlook
from bot.engagement.portfolio import keep_risk
from bot.events.emit import HEALTH_CHANGED
from bot.events.emit import emit as emit_event
from bot.reminders.digest import digest_week
from bot.reminders.milestones import sync_schedules
from bot.reminders.next_check import next_check, next_digest_at, next_nudge_at
from bot.reminders.nudges import ready_dates
from bot.reminders.working_hours import clock_of
from bot.services import Services
from storage.models import ACTIVE, Engagement, NextCheckRequest, Reminder, saved_id
from storage.reminder_rows import ensure_all

log = logging.getLogger("golive.sweep")

# Engagements planned per write transaction: short enough that requests waiting for the write
# lock (SQLite) or for an engagement row (PostgreSQL) wait little.
PLAN_BATCH = 20
PLAN_RETRY = timedelta(minutes=5)  # an engagement whose planning failed is tried again after this
DIGEST_WEEKS_LOOKED_UP = 3  # this week's digest key and the next weeks', looked up with today's nudge


@dataclass
class _PlanProgress:
    """One planning pass: the engagements already looked at, the next-check requests read."""

    seen: set[int] = field(default_factory=set)
    cursor: int = 0
    planned: int = 0


def nudge_key(engagement: Engagement, day: date) -> str:
    return f"nudge:{engagement.id}:{day.isoformat()}"


def _digest_key(engagement: Engagement, week: str) -> str:
    return f"digest:{engagement.id}:{week}"


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


class Planner:
    """Plans engagements for the sweep (`plan` in a caller's transaction, `plan_all` in its own)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def plan(self, session: Session, now: datetime) -> int:
        """Plan, in this session's transaction, every active engagement whose next check has
        come or that changed since it was last planned; returns how many were planned."""
        progress = _PlanProgress()
        while self._plan_batch(session, now, progress):
            pass
        return progress.planned

    def plan_all(self, now: datetime) -> int:
        """`plan` in short transactions of at most PLAN_BATCH engagements each, after a read-only
        look that finds nothing to do in two index look-ups (the usual minute)."""
        with self.services.db.read() as session:
            if not self._anything_to_plan(session, now):
                return 0
        progress = _PlanProgress()
        while True:
            with self.services.db.session() as session:
                more = self._plan_batch(session, now, progress)
            if not more:
                return progress.planned

    def _anything_to_plan(self, session: Session, now: datetime) -> bool:
        """One statement, three index look-ups: a next check come, a sort key stale, a request."""
        return bool(
            session.execute(
                select(
                    or_(
                        exists().where(
                            col(Engagement.status) == ACTIVE, col(Engagement.next_check_at) <= now
                        ),
                        exists().where(col(Engagement.status) == ACTIVE, col(Engagement.risk_until) <= now),
                        exists(select(col(NextCheckRequest.id))),
                    )
                )
            ).scalar()
        )

    def _lock(self, stmt: Any) -> Any:
        """PostgreSQL: lock the engagements being planned, skipping those another sweep (or a
        change) holds, so two processes plan disjoint sets. SQLite runs one writer at a time."""
        return stmt if self.services.db.is_sqlite else stmt.with_for_update(skip_locked=True, key_share=True)

    def _plan_batch(self, session: Session, now: datetime, progress: _PlanProgress) -> bool:
        """Plan up to PLAN_BATCH engagements: those whose next check has come (the index on
        status and next_check_at), then those with a next-check request. False when nothing
        was left to look at."""
        due = [
            e
            for e in session.exec(
                self._lock(
                    select(Engagement)
                    .where(col(Engagement.status) == ACTIVE, col(Engagement.next_check_at) <= now)
                    .order_by(col(Engagement.next_check_at))
                    .limit(PLAN_BATCH)
                )
            ).scalars()
            if e.id not in progress.seen
        ]
        if len(due) < PLAN_BATCH:
            # Sort keys gone stale at a local midnight (overdue counts change then), however far
            # the next check is.
            taken = {e.id for e in due}
            due += [
                e
                for e in session.exec(
                    self._lock(
                        select(Engagement)
                        .where(col(Engagement.status) == ACTIVE, col(Engagement.risk_until) <= now)
                        .order_by(col(Engagement.risk_until))
                        .limit(PLAN_BATCH - len(due))
                    )
                ).scalars()
                if e.id not in progress.seen and e.id not in taken
            ]
        changed: list[int] = []
        read_requests = False
        if len(due) < PLAN_BATCH:
            # Requests in id order from a cursor: each is looked at once per pass, and one of an
            # engagement planned earlier in this pass waits for the next pass.
            taken = {e.id for e in due}
            for request_id, engagement_id in session.execute(
                select(col(NextCheckRequest.id), col(NextCheckRequest.engagement_id))
                .where(col(NextCheckRequest.id) > progress.cursor)
                .order_by(col(NextCheckRequest.id))
                .limit(PLAN_BATCH * 4)
            ):
                read_requests = True
                if engagement_id not in progress.seen and engagement_id not in taken:
                    if len(due) + len(changed) >= PLAN_BATCH:
                        break
                    changed.append(engagement_id)
                    taken.add(engagement_id)
                progress.cursor = request_id
        locked = list(due)
        if changed:
            locked += session.exec(
                self._lock(select(Engagement).where(col(Engagement.id).in_(changed)))
            ).scalars()
        progress.seen.update(e.id for e in due)
        progress.seen.update(changed)  # those another process holds are left to it, or the next pass
        if not locked:
            return read_requests
        ids = [e.id for e in locked]
        # Read before planning: a change committed after this read keeps its request for the next pass.
        requests = list(
            session.execute(
                select(col(NextCheckRequest.id)).where(col(NextCheckRequest.engagement_id).in_(ids))
            ).scalars()
        )
        active = [e for e in locked if e.status == "active"]
        for e in locked:
            if e.status != "active":
                e.next_check_at = None
                session.add(e)
        try:
            with session.begin_nested():
                self._plan_engagements(session, active, now)
        except Exception:
            log.exception("planning %d engagements failed; planning them one by one", len(active))
            for e in active:
                try:
                    with session.begin_nested():
                        self._plan_engagements(session, [e], now)
                except Exception:
                    log.exception("planning engagement %s failed; trying again in %s", e.id, PLAN_RETRY)
                    session.execute(
                        update(Engagement)
                        .where(col(Engagement.id) == e.id)
                        .values(next_check_at=now + PLAN_RETRY, risk_until=now + PLAN_RETRY)
                    )
        if requests:
            session.execute(delete(NextCheckRequest).where(col(NextCheckRequest.id).in_(requests)))
        session.flush()
        progress.planned += len(active)
        return True

    def _plan_engagements(self, session: Session, engagements: list[Engagement], now: datetime) -> None:
        """For each engagement: keep its sort key (App Home's order), at any hour; make the fixed
        reminders match it (dry run, go-live day); inside the customer's working hours, make
        today's nudge (when something is due) and this week's digest exist and tell the lead when
        its health changed; then compute its next check. A few queries for the whole list."""
        if not engagements:
            return
        outlooks = {
            c.engagement.id: c.outlook
            for c in keep_risk(
                session, engagements, self.services.playbook, now, playbooks=self.services.playbooks
            )
        }
        clocks = {e.id: clock_of(e) for e in engagements}
        todays = {e.id: clocks[e.id].today(now) for e in engagements}
        looked_up: list[str] = []
        for e in engagements:
            looked_up.append(nudge_key(e, todays[e.id]))
            for weeks in range(DIGEST_WEEKS_LOOKED_UP):
                looked_up.append(_digest_key(e, _iso_week(todays[e.id] + timedelta(weeks=weeks))))
        existing = set(
            session.execute(
                select(col(Reminder.dedupe_key)).where(col(Reminder.dedupe_key).in_(looked_up))
            ).scalars()
        )
        sync_schedules(session, engagements, now)
        ready = ready_dates(session, engagements)
        new: list[tuple[int, str, str, datetime, dict[str, object]]] = []
        for e in engagements:
            clock, today = clocks[e.id], todays[e.id]
            if e.flagged:
                e.next_check_at = next_check(now)
                session.add(e)
                continue
            todays_nudge = nudge_key(e, today)
            if clock.in_hours(now):
                if (
                    not e.nudges_paused
                    and e.id in ready
                    and ready[e.id] <= today
                    and todays_nudge not in existing
                ):
                    new.append((saved_id(e), "nudge", todays_nudge, now, {"date": today.isoformat()}))
                    existing.add(todays_nudge)
                found = digest_week(clock, today)
                if found is not None and _digest_key(e, found[0]) not in existing:
                    week, first_day = found
                    new.append(
                        (
                            saved_id(e),
                            "digest",
                            _digest_key(e, week),
                            clock.at_local(first_day, clock.start),
                            {"week": week},
                        )
                    )
                    existing.add(_digest_key(e, week))
            e.next_check_at = next_check(
                now,
                None
                if e.nudges_paused
                else next_nudge_at(clock, now, ready.get(saved_id(e)), todays_nudge in existing),
                next_digest_at(clock, now, lambda week, e=e: _digest_key(e, week) in existing),  # type: ignore[misc]  # mypy cannot infer a lambda with a default
            )
            if clock.in_hours(now):
                told = self._health_changed(e, outlooks[e.id], now)
                if told is not None:
                    new.append(told)
                    emit_event(session, HEALTH_CHANGED, e, dict(told[4]), now=now)
            session.add(e)
        ensure_all(session, new, now)

    def _health_changed(
        self, e: Engagement, outlook: Outlook, now: datetime
    ) -> tuple[int, str, str, datetime, dict[str, object]] | None:
        """The engagement's health now; when its level changed since the lead was last told, a
        reminder row that tells them privately (on track → at risk → late, and back), with why."""
        health = outlook.health
        level, reason = health.level, health.reason or health.headline
        was = e.health_level
        e.health_level, e.health_reason = level, reason[:300]
        if level == was or (was is None and level == ON_TRACK):
            return None
        today = clock_of(e).today(now).isoformat()
        payload: dict[str, object] = {"level": level, "was": was, "reason": reason[:300]}
        return (saved_id(e), "health", f"health:{e.id}:{level}:{today}", now, payload)
