"""The go-live dry run: scheduling it (with its reminders), its reminder message, its outcome."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlmodel import Session

from bot.errors import UserError
from bot.people import audit
from bot.people.sides import Actor
from bot.reminders.milestones import golive_date, sync_schedule
from bot.reminders.working_hours import clock_of
from bot.services import Services
from bot.slack.presenters import overview
from bot.values import MAX_YEARS_AWAY, ValueProblem, check_date_range, parse_date, years_from
from messages import Message
from storage.models import Engagement

MAX_NOTES = 2000


def parse_local(
    engagement: Engagement, day: str, hhmm: str, *, today: date, golive: date | None = None
) -> datetime:
    """The dry run's local date and time as a UTC instant: a day from today to go-live (or
    to five years ahead when there is no go-live date), checked before any conversion."""
    d = parse_date(day, "dry-run date")
    latest = golive if golive is not None and golive >= today else years_from(today, MAX_YEARS_AWAY)
    check_date_range(d, "dry-run date", today, latest, "(from today to go-live)")
    raw = hhmm.strip()
    parts = raw.split(":")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) <= 2 for p in parts):
        raise ValueProblem(f"`{raw[:10]}` is not a time; use HH:MM, e.g. 10:00.")
    try:
        at = time(int(parts[0]), int(parts[1]))
    except ValueError:
        raise ValueProblem(f"`{raw[:10]}` is not a time of day; use HH:MM from 00:00 to 23:59.") from None
    return clock_of(engagement).at_local(d, at)


def schedule(session: Session, engagement: Engagement, actor: Actor, at: datetime, now: datetime) -> None:
    if not actor.is_vendor:
        raise UserError("Only the implementation team schedules the dry run.")
    if at <= now:
        raise UserError("The dry run must be in the future.")
    golive = golive_date(engagement, session)
    clock = clock_of(engagement)
    if golive is not None and clock.local(at).date() > golive:
        raise UserError(
            f"The dry run must happen before go-live ({golive:%a %-d %b}); change the target first."
        )
    old = engagement.dryrun_at
    engagement.dryrun_at = at
    engagement.dryrun_outcome = None
    engagement.dryrun_notes = None
    engagement.dryrun_recorded_by = None
    engagement.updated_at = now
    session.add(engagement)
    session.flush()
    sync_schedule(session, engagement, now)
    audit.record(
        session,
        engagement.id,
        actor,
        "dryrun.scheduled",
        clock.local(at).strftime("%Y-%m-%d %H:%M"),  # type: ignore[arg-type]
        {"at": at, "previous": old},
        now=now,
    )


def record_outcome(
    session: Session, engagement: Engagement, actor: Actor, outcome: str, notes: str | None, now: datetime
) -> bool:
    """Record passed / issues; False when the same outcome is already recorded."""
    if engagement.dryrun_at is None:
        raise UserError("No dry run is scheduled.")
    check_may_record(actor)
    notes = " ".join((notes or "").split())[:MAX_NOTES] or None
    if outcome == "issues" and not notes:
        raise UserError("Say what the dry run found.")
    if engagement.dryrun_outcome == outcome and engagement.dryrun_notes == notes:
        return False
    engagement.dryrun_outcome = outcome
    engagement.dryrun_notes = notes
    engagement.dryrun_recorded_by = actor.user_id
    engagement.updated_at = now
    session.add(engagement)
    sync_schedule(session, engagement, now)  # the remaining dry-run reminders are cancelled
    audit.record(
        session,
        engagement.id,
        actor,
        f"dryrun.{outcome}",
        "dry run",  # type: ignore[arg-type]
        {"notes": notes} if notes else {},
        now=now,
    )
    return True


def dryrun_message(
    s: Services, session: Session, engagement: Engagement, offset: str | None, now: datetime
) -> Message:
    assert engagement.dryrun_at is not None
    clock = clock_of(engagement)
    return s.renderer.message(
        "dryrun_reminder.json.j2",
        **overview(session, engagement, s.playbook, now),
        dryrun_at=engagement.dryrun_at,
        local=clock.local(engagement.dryrun_at),
        offset=offset,
        checklist=list(s.playbook.dry_run_checklist),
        outcome=engagement.dryrun_outcome,
        recorded_by=engagement.dryrun_recorded_by,
        notes=engagement.dryrun_notes,
        command=s.command,
    )


def check_may_record(actor: Actor) -> None:
    """The implementation team, or the customer's named approvers and contributors."""
    customer_role = actor.is_customer and ("approver" in actor.roles or "contributor" in actor.roles)
    if not actor.is_vendor and not customer_role:
        raise UserError(
            "The implementation team or the customer's named approvers and contributors record the dry run."
        )
