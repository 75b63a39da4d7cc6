"""Reminders fixed in time: the dry-run reminders (7 days, 1 business day and 1 hour before, and
at its start)
and the go-live day message. `sync_schedule` makes the reminder rows match the engagement:
rescheduling cancels the old rows and adds new ones (their dedupe keys carry the date). They
change only when the engagement does (plan, settings, dry run), so they are synced when it
changes and when the sweep plans it; the reminder index then finds them when due."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.engagement.lifecycle import phases_of, planned_golive
from bot.reminders.working_hours import CustomerClock, clock_of
from storage.models import Engagement, EngagementPhase, Reminder, saved_id
from storage.reminder_rows import ensure_all

DRYRUN_OFFSETS = ("t-7d", "t-1bd", "t-1h", "t0")
DRYRUN_DEFAULT_TIME = time(10, 0)


@dataclass(frozen=True)
class Wanted:
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, object]


def dryrun_times(clock: CustomerClock, dryrun_at: datetime) -> dict[str, datetime]:
    """7 days before (same local time), 1 business day before (same local time), 1 hour before,
    and when it starts (its outcome can be recorded from then on)."""
    local = clock.local(dryrun_at)
    day_before = clock.calendar.add(local.date(), -1)
    return {
        "t-7d": clock.at_local(local.date() - timedelta(days=7), local.time().replace(tzinfo=None)),
        "t-1bd": clock.at_local(day_before, local.time().replace(tzinfo=None)),
        "t-1h": dryrun_at - timedelta(hours=1),
        "t0": dryrun_at,
    }


def suggest_dryrun(engagement: Engagement, session: Session) -> datetime | None:
    """Two business days before go-live, at 10:00 the customer's time."""
    golive = golive_date(engagement, session)
    if golive is None:
        return None
    clock = clock_of(engagement)
    return clock.at_local(clock.calendar.add(golive, -2), DRYRUN_DEFAULT_TIME)


def golive_date(engagement: Engagement, session: Session) -> date | None:
    return planned_golive(engagement, phases_of(session, saved_id(engagement)))


def wanted(engagement: Engagement, session: Session) -> list[Wanted]:
    return wanted_for(engagement, golive_date(engagement, session))


def wanted_for(engagement: Engagement, golive: date | None) -> list[Wanted]:
    """The fixed reminders the engagement should have, given its go-live date."""
    clock = clock_of(engagement)
    out: list[Wanted] = []
    if golive is not None:
        out.append(
            Wanted(
                "golive",
                f"golive:{engagement.id}:{golive.isoformat()}",
                clock.at_local(golive, clock.start),
                {"date": golive.isoformat()},
            )
        )
    if engagement.dryrun_at is not None and engagement.dryrun_outcome is None:
        stamp = engagement.dryrun_at.strftime("%Y%m%dT%H%MZ")
        for offset, due in dryrun_times(clock, engagement.dryrun_at).items():
            out.append(
                Wanted(
                    "dryrun",
                    f"dryrun:{engagement.id}:{stamp}:{offset}",
                    due,
                    {"offset": offset, "dryrun_at": engagement.dryrun_at.isoformat()},
                )
            )
    return out


def golive_dates(session: Session, engagements: list[Engagement]) -> dict[int, date | None]:
    """`golive_date` of several engagements in one query: the target, else the last phase's end."""
    last: dict[int, tuple[int, date]] = {}
    for engagement_id, number, end in session.execute(
        select(
            col(EngagementPhase.engagement_id), col(EngagementPhase.number), col(EngagementPhase.planned_end)
        ).where(col(EngagementPhase.engagement_id).in_([e.id for e in engagements]))
    ):
        if engagement_id not in last or number > last[engagement_id][0]:
            last[engagement_id] = (number, end)
    return {
        saved_id(e): e.target_on or (last[saved_id(e)][1] if saved_id(e) in last else None)
        for e in engagements
    }


def sync_schedule(session: Session, engagement: Engagement, now: datetime) -> None:
    """Cancel pending fixed reminders that no longer apply; add the missing future ones."""
    sync_schedules(session, [engagement], now)


def sync_schedules(
    session: Session, engagements: list[Engagement], now: datetime, *, existing: Collection[str] | None = None
) -> None:
    """`sync_schedule` for several engagements with a few queries in all. `existing`: dedupe keys
    known to exist, when the caller has looked them up (it must include every wanted key)."""
    if not engagements:
        return
    golive = golive_dates(session, engagements)
    want = {
        saved_id(e): ({w.key: w for w in wanted_for(e, golive[saved_id(e)])} if e.status == "active" else {})
        for e in engagements
    }
    pending = session.execute(
        select(Reminder.id, Reminder.engagement_id, Reminder.dedupe_key).where(
            col(Reminder.engagement_id).in_(list(want)),
            col(Reminder.kind).in_(("dryrun", "golive")),
            col(Reminder.status) == "pending",
        )
    ).all()
    stale = [r.id for r in pending if r.dedupe_key not in want[r.engagement_id]]
    if stale:
        session.execute(
            update(Reminder)
            .where(col(Reminder.id).in_(stale), col(Reminder.status) == "pending")
            .values(status="cancelled")
        )
    keys = [k for w in want.values() for k in w]
    if existing is None:
        existing = set(
            session.exec(select(Reminder.dedupe_key).where(col(Reminder.dedupe_key).in_(keys))).all()
        )
    ensure_all(
        session,
        [
            (engagement_id, w.kind, key, w.due_at, w.payload)
            for engagement_id, ws in want.items()
            for key, w in ws.items()
            if key not in existing and w.due_at > now - timedelta(hours=12)
        ],
        now,
    )
