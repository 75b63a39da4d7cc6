"""What the reminders of an engagement will do next, and whom each will notify: for `/golive nudges`
and the reminder settings form. Read from the database only (who is in the channel is not asked:
everyone named counts), so it answers within the command's acknowledgement."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from bot.people.recipients import for_item, side_people
from bot.people.roles import RoleRow, team
from bot.reminders.dryrun import participants
from bot.reminders.nudges import Entry, next_nudge_preview
from bot.reminders.planning import nudge_key
from bot.reminders.working_hours import clock_of
from bot.slack.nudges import names_of
from storage.models import Engagement, Item, Reminder, saved_id

DRYRUN_OFFSETS = {
    "t-7d": "Dry-run reminder (7 days before)",
    "t-1bd": "Dry-run reminder (1 business day before)",
    "t-1h": "Dry-run reminder (1 hour before)",
    "t0": "Dry-run start (record its outcome)",
}
SHOWN = 12  # scheduled reminders listed


@dataclass
class Line:
    """One upcoming reminder (or one entry of the next nudge) and whom it notifies."""

    what: str
    when: str = ""
    who: list[str] = field(default_factory=list)  # names
    how: str = ""  # "mention", "privately", or why nobody: "nobody named: the lead is told"


@dataclass
class Preview:
    next_at: str  # local, e.g. "Wed 2 Dec 09:00"
    entries: list[Line]
    scheduled: list[Line]


def _entry_line(entry: Entry, names: dict[str, str]) -> Line:
    what = f"Sign-off: {entry.title}" if entry.kind == "signoff" else f"{entry.ref} {entry.title}"
    who = [names.get(u, "someone") for u in entry.people]
    if not entry.people:
        missing = ", ".join(names.get(u, "someone") for u in entry.absent)
        why = f"{missing} not in the channel" if missing else "nobody named"
        return Line(what, how=f"{why}: the lead consultant is told privately")
    how = "privately" if entry.private else f"mention ({entry.role})"
    return Line(what, who=who, how=how)


def preview(session: Session, engagement: Engagement, now: datetime) -> Preview:
    """The next nudge (when, and for each entry whom it would mention) and the scheduled
    reminders with whom they notify."""
    clock = clock_of(engagement)
    names = names_of(session, saved_id(engagement))
    sent_today = session.exec(
        select(Reminder.id).where(
            Reminder.dedupe_key == nudge_key(engagement, clock.today(now)),
            Reminder.status == "sent",
        )
    ).first()
    start = clock.at_local(clock.calendar.add(clock.today(now), 1), clock.start) if sent_today else now
    next_at, due = next_nudge_preview(session, engagement, start)
    rows = team(session, engagement)
    scheduled: list[Line] = []
    taking_part: list[str] | None = None  # the dry run's participants, read once
    for r in session.exec(
        select(Reminder)
        .where(Reminder.engagement_id == engagement.id, Reminder.status == "pending")
        .order_by(col(Reminder.due_at))
        .limit(SHOWN)
    ).all():
        when = clock.local(r.due_at).strftime("%a %-d %b %H:%M")
        payload = json.loads(r.payload or "{}")
        if r.kind == "dryrun":
            if taking_part is None:
                taking_part = [names.get(u, "someone") for u in participants(session, engagement).people]
            what = DRYRUN_OFFSETS.get(payload.get("offset"), "Dry-run reminder")
            scheduled.append(Line(what, when, list(taking_part), "mention"))
        elif r.kind == "digest":
            day = clock.today(r.due_at)
            owners = _digest_owners(session, engagement, rows, day + timedelta(days=6 - day.weekday()))
            scheduled.append(
                Line(
                    "Weekly digest",
                    when,
                    [names.get(u, "someone") for u in owners],
                    "mention (at most twice a day)",
                )
            )
        elif r.kind == "golive":
            scheduled.append(Line("Go-live day message", when, how="in the channel, mentions nobody"))
        elif payload.get("again"):
            scheduled.append(Line("Nudge again (the lead asked)", when, how="mention"))
    fallback = side_people(rows, "customer")
    if not fallback:
        scheduled.append(
            Line(
                f"{engagement.customer_name} has no contributor, approver or main contact",
                how="reminders of their items nobody took reach nobody: the lead is told privately",
            )
        )
    return Preview(
        next_at=clock.local(next_at).strftime("%a %-d %b %H:%M"),
        entries=[_entry_line(e, names) for e in due],
        scheduled=scheduled,
    )


def _digest_owners(
    session: Session, engagement: Engagement, rows: list[RoleRow], week_end: date
) -> list[str]:
    """Whom a digest would mention: the people the open items due by the end of its week are for."""
    owners: list[str] = []
    for item in session.exec(
        select(Item).where(
            Item.engagement_id == engagement.id,
            Item.status == "open",
            col(Item.due_on) <= week_end,
            col(Item.blocked_reason).is_(None),  # a blocked item waits on the team: nobody is mentioned
        )
    ).all():
        owners += for_item(rows, item.owner_side, item.assignee_id).people
    return list(dict.fromkeys(owners))
