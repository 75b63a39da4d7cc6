"""Reminders fixed in time: the dry-run reminders (7 days, 1 business day and 1 hour before)
and the go-live day message. `sync_schedule` makes the reminder rows match the engagement:
rescheduling cancels the old rows and adds new ones (their dedupe keys carry the date)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.engagement.lifecycle import phases_of, planned_golive
from bot.reminders.working_hours import CustomerClock, clock_of
from storage.models import Engagement, Reminder
from storage.reminder_rows import ensure

DRYRUN_OFFSETS = ("t-7d", "t-1bd", "t-1h")
DRYRUN_DEFAULT_TIME = time(10, 0)


@dataclass(frozen=True)
class Wanted:
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, object]


def dryrun_times(clock: CustomerClock, dryrun_at: datetime) -> dict[str, datetime]:
    """7 days before (same local time), 1 business day before (same local time), 1 hour before."""
    local = clock.local(dryrun_at)
    day_before = clock.calendar.add(local.date(), -1)
    return {
        "t-7d": clock.at_local(local.date() - timedelta(days=7), local.time().replace(tzinfo=None)),
        "t-1bd": clock.at_local(day_before, local.time().replace(tzinfo=None)),
        "t-1h": dryrun_at - timedelta(hours=1),
    }


def suggest_dryrun(engagement: Engagement, session: Session) -> datetime | None:
    """Two business days before go-live, at 10:00 the customer's time."""
    golive = golive_date(engagement, session)
    if golive is None:
        return None
    clock = clock_of(engagement)
    return clock.at_local(clock.calendar.add(golive, -2), DRYRUN_DEFAULT_TIME)


def golive_date(engagement: Engagement, session: Session) -> date | None:
    return planned_golive(engagement, phases_of(session, engagement.id))  # type: ignore[arg-type]


def wanted(engagement: Engagement, session: Session) -> list[Wanted]:
    clock = clock_of(engagement)
    out: list[Wanted] = []
    golive = golive_date(engagement, session)
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


def sync_schedule(session: Session, engagement: Engagement, now: datetime) -> None:
    """Cancel pending fixed reminders that no longer apply; add the missing future ones."""
    want = {w.key: w for w in wanted(engagement, session)} if engagement.status == "active" else {}
    pending = session.exec(
        select(Reminder).where(
            Reminder.engagement_id == engagement.id,
            col(Reminder.kind).in_(("dryrun", "golive")),
            Reminder.status == "pending",
        )
    ).all()
    for r in pending:
        if r.dedupe_key not in want:
            session.execute(
                update(Reminder)
                .where(col(Reminder.id) == r.id, col(Reminder.status) == "pending")
                .values(status="cancelled")
            )
    existing = set(
        session.exec(select(Reminder.dedupe_key).where(col(Reminder.dedupe_key).in_(list(want)))).all()
    )
    for key, w in want.items():
        if key in existing or w.due_at <= now - timedelta(hours=12):
            continue
        ensure(session, engagement.id, w.kind, key, w.due_at, w.payload, now)  # type: ignore[arg-type]
