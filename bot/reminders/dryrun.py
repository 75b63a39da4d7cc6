"""The go-live dry run: its attempts (scheduling, rescheduling), their announcements and
reminders, and their outcomes.

Each scheduling is an attempt (`DryRunAttempt`); rescheduling supersedes the current one and keeps
its outcome ("Issues found" stays on record and in the channel). Each attempt keeps who takes part
(by default the lead consultant, the customer's approvers and main contact, as they are when a
message goes out; `set_participants` names them): its announcement and every reminder mention them,
so Slack notifies them — a thread reply notifies nobody it does not mention. The first attempt is announced
at the top level; later ones, the reminders (7 days, 1 business day and 1 hour before, and when it
starts) and the outcomes go in its thread. The outcome can be recorded from the attempt's start
time on: the outcome buttons appear on its announcement then. The engagement's `dryrun_*`
columns mirror the current attempt (what gates, the digest and the go-live day message read).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlmodel import Session, col, func, select

from bot.engagement.dependencies import schedule as schedule_items
from bot.errors import UserError
from bot.events.emit import DRYRUN_OUTCOME
from bot.events.emit import emit as emit_event
from bot.people import audit
from bot.people.recipients import Named, dry_run_people
from bot.people.roles import team
from bot.people.sides import Actor
from bot.reminders.milestones import golive_date, sync_schedule
from bot.reminders.working_hours import clock_of
from bot.services import Services
from bot.slack.presenters import overview
from bot.slack.sending import Sending
from bot.slack.signoff_requests import refresh_waiting_on_dry_run
from bot.user_input import MAX_YEARS_AWAY, ValueProblem, check_date_range, parse_date, years_from
from messages import Message
from storage.models import DryRunAttempt, Engagement, Member, saved_id

MAX_NOTES = 2000
ANNOUNCEMENT = "dryrun_scheduled"  # ledger kind of an attempt's announcement


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


def attempts_of(session: Session, engagement_id: int) -> list[DryRunAttempt]:
    return list(
        session.exec(
            select(DryRunAttempt)
            .where(DryRunAttempt.engagement_id == engagement_id)
            .order_by(col(DryRunAttempt.number))
        ).all()
    )


def current_attempt(session: Session, engagement_id: int) -> DryRunAttempt | None:
    return session.exec(
        select(DryRunAttempt)
        .where(DryRunAttempt.engagement_id == engagement_id)
        .order_by(col(DryRunAttempt.number).desc())
    ).first()


def participants(session: Session, engagement: Engagement, present: Collection[str] | None = None) -> Named:
    """Who takes part in the current dry run (of them, who is in the channel when `present`)."""
    attempt = current_attempt(session, saved_id(engagement))
    return dry_run_people(team(session, engagement), attempt.participants if attempt else None, present)


def set_participants(
    session: Session, engagement: Engagement, actor: Actor, people: list[str] | None, now: datetime
) -> DryRunAttempt:
    """Name who takes part in the current dry run (None: back to the default)."""
    if not actor.is_vendor:
        raise UserError("Only the implementation team says who takes part in the dry run.")
    attempt = current_attempt(session, saved_id(engagement))
    if attempt is None or attempt.superseded_at is not None:
        raise UserError("No dry run is scheduled; schedule it first.")
    if people is not None and not people:
        raise UserError("Name at least one person, or `default` for the lead, approvers and main contact.")
    stored = ",".join(dict.fromkeys(people))[:1000] if people else None
    if stored == attempt.participants:
        return attempt
    attempt.participants = stored
    session.add(attempt)
    audit.record(
        session,
        saved_id(engagement),
        actor,
        "dryrun.participants",
        "dry run",
        {"attempt": attempt.number, "participants": people or "default"},
        now=now,
    )
    return attempt


def thread_root(session: Session, engagement_id: int) -> str | None:
    """The ts of the top-level announcement whose thread holds the dry run's story."""
    for attempt in attempts_of(session, engagement_id):
        if attempt.ts and not attempt.thread_ts:
            return attempt.ts
    return None


@dataclass(frozen=True)
class Scheduled:
    attempt: DryRunAttempt
    previous: DryRunAttempt | None


def schedule(
    session: Session,
    engagement: Engagement,
    actor: Actor,
    at: datetime,
    now: datetime,
    people: list[str] | None = None,
) -> Scheduled:
    """Schedule (or reschedule) the dry run. `people`: who takes part, when named; else the
    previous attempt's, else the default."""
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
    previous = current_attempt(session, saved_id(engagement))
    if previous is not None and previous.superseded_at is None:
        previous.superseded_at = now
        session.add(previous)
    number = (
        session.exec(
            select(func.max(DryRunAttempt.number)).where(DryRunAttempt.engagement_id == engagement.id)
        ).one()
        or 0
    ) + 1
    attempt = DryRunAttempt(
        engagement_id=saved_id(engagement),
        number=number,
        at=at,
        scheduled_by=actor.user_id,
        created_at=now,
        participants=(
            ",".join(dict.fromkeys(people))[:1000]
            if people
            else (previous.participants if previous is not None else None)
        ),
    )
    session.add(attempt)
    old = engagement.dryrun_at
    engagement.dryrun_at = at
    engagement.dryrun_outcome = None
    engagement.dryrun_notes = None
    engagement.dryrun_recorded_by = None
    engagement.updated_at = now
    session.add(engagement)
    session.flush()
    sync_schedule(session, engagement, now)
    schedule_items(session, engagement, now)  # what the dry run settles is due on its day
    audit.record(
        session,
        saved_id(engagement),
        actor,
        "dryrun.scheduled",
        clock.local(at).strftime("%Y-%m-%d %H:%M"),
        {"at": at, "previous": old, "attempt": number},
        now=now,
    )
    return Scheduled(attempt, previous)


def record_outcome(
    session: Session,
    engagement: Engagement,
    actor: Actor,
    outcome: str,
    notes: str | None,
    now: datetime,
    attempt_id: int | None = None,
) -> bool:
    """Record passed / issues for the current attempt, from its start time on; False when the
    same outcome is already recorded. `attempt_id`: the attempt whose announcement was clicked."""
    attempt = current_attempt(session, saved_id(engagement))
    if engagement.dryrun_at is None or attempt is None:
        raise UserError("No dry run is scheduled.")
    check_may_record(actor)
    clock = clock_of(engagement)
    if attempt_id is not None and attempt_id != attempt.id:
        raise UserError(
            f"That dry run was rescheduled; the current one is {clock.local(attempt.at):%a %-d %b %H:%M}. "
            "Record its outcome on its announcement. Nothing was changed."
        )
    if now < attempt.at:
        raise UserError(
            f"The dry run starts {clock.local(attempt.at):%a %-d %b %H:%M} ({engagement.timezone}); "
            "record its outcome once it has started. Nothing was changed."
        )
    notes = " ".join((notes or "").split())[:MAX_NOTES] or None
    if outcome == "issues" and not notes:
        raise UserError("Say what the dry run found.")
    if attempt.outcome == outcome and attempt.notes == notes:
        return False
    attempt.outcome, attempt.notes, attempt.recorded_by, attempt.recorded_at = (
        outcome,
        notes,
        actor.user_id,
        now,
    )
    session.add(attempt)
    engagement.dryrun_outcome = outcome
    engagement.dryrun_notes = notes
    engagement.dryrun_recorded_by = actor.user_id
    engagement.updated_at = now
    session.add(engagement)
    sync_schedule(session, engagement, now)  # the remaining dry-run reminders are cancelled
    audit.record(
        session,
        saved_id(engagement),
        actor,
        f"dryrun.{outcome}",
        "dry run",
        {"attempt": attempt.number, **({"notes": notes} if notes else {})},
        now=now,
    )
    emit_event(
        session,
        DRYRUN_OUTCOME,
        engagement,
        {
            "outcome": outcome,
            "attempt": attempt.number,
            "scheduled_at": attempt.at,
            "notes": notes,
            "recorded_by": {"user_id": actor.user_id, "name": actor.name},
        },
        now=now,
    )
    return True


def check_may_record(actor: Actor) -> None:
    """The implementation team, or the customer's named approvers and contributors."""
    customer_role = actor.is_customer and ("approver" in actor.roles or "contributor" in actor.roles)
    if not actor.is_vendor and not customer_role:
        raise UserError(
            "The implementation team or the customer's named approvers and contributors record the dry run."
        )


# -- messages ------------------------------------------------------------------------------------
def _names(session: Session, engagement_id: int) -> dict[str, str]:
    return {
        m.user_id: m.display_name or m.user_id
        for m in session.exec(select(Member).where(Member.engagement_id == engagement_id))
    }


def _attempt_data(
    engagement: Engagement, attempt: DryRunAttempt, names: dict[str, str], now: datetime
) -> dict[str, Any]:
    clock = clock_of(engagement)
    return {
        "id": attempt.id,
        "number": attempt.number,
        "at": attempt.at,
        "local": clock.local(attempt.at),
        "outcome": attempt.outcome,
        "notes": attempt.notes,
        "recorded_by": names.get(attempt.recorded_by or "", "someone") if attempt.recorded_by else None,
        "scheduled_by": names.get(attempt.scheduled_by, "the implementation team"),
        "superseded": attempt.superseded_at is not None,
        "started": attempt.at <= now,
    }


def announcement(
    services: Services, session: Session, engagement: Engagement, attempt: DryRunAttempt, now: datetime
) -> Message:
    """An attempt's announcement as it stands now: when, what the dry run checks, and its state
    (ahead, under way with the outcome buttons, its outcome, or superseded by a later attempt)."""
    names = _names(session, saved_id(engagement))
    later = session.exec(
        select(DryRunAttempt).where(
            DryRunAttempt.engagement_id == engagement.id, DryRunAttempt.number == attempt.number + 1
        )
    ).first()
    people = dry_run_people(team(session, engagement), attempt.participants).people
    return services.renderer.message(
        "dryrun_scheduled.json.j2",
        **overview(session, engagement, services.playbook_for(engagement), now),
        attempt=_attempt_data(engagement, attempt, names, now),
        next=_attempt_data(engagement, later, names, now) if later is not None else None,
        checklist=list(services.playbook_for(engagement).dry_run_checklist),
        people=people,
        chosen=attempt.participants is not None,
        command=services.command,
    )


def reminder_message(
    services: Services,
    session: Session,
    engagement: Engagement,
    offset: str | None,
    now: datetime,
    people: list[str] | None = None,
) -> Message:
    """A dry-run reminder, a short reply in the dry run's thread that mentions the people taking
    part (`people`) — a reply notifies nobody else. The announcement holds the checklist and,
    from the start, the outcome buttons."""
    attempt = current_attempt(session, saved_id(engagement))
    at = attempt.at if attempt is not None else engagement.dryrun_at
    assert at is not None
    clock = clock_of(engagement)
    return services.renderer.message(
        "dryrun_reminder.json.j2",
        customer_name=engagement.customer_name,
        timezone=engagement.timezone,
        dryrun_at=at,
        local=clock.local(at),
        offset=offset,
        people=people or [],
        command=services.command,
    )


def refresh_announcement(services: Services, engagement_id: int, attempt_id: int) -> None:
    """Queue an update of an attempt's announcement (rendered when the outbox sends it)."""
    with services.db.read() as session:
        attempt = session.get(DryRunAttempt, attempt_id)
        if attempt is None or not attempt.ts or not attempt.channel_id:
            return
        channel, ts = attempt.channel_id, attempt.ts

    def render(_out: Sending) -> Message | None:
        with services.db.read() as session:
            engagement = session.get(Engagement, engagement_id)
            row = session.get(DryRunAttempt, attempt_id)
            if engagement is None or row is None:
                return None
            return announcement(services, session, engagement, row, services.clock.now())

    services.outbox.update(channel, ts, render, what="dry-run announcement")


def refresh_dry_run(services: Services, engagement_id: int) -> None:
    """The current attempt changed (it started, its outcome was recorded): its announcement and
    the requests of gates that wait on it say what is true now."""
    with services.db.read() as session:
        attempt = current_attempt(session, engagement_id)
    if attempt is not None:
        refresh_announcement(services, engagement_id, saved_id(attempt))
    refresh_waiting_on_dry_run(services, engagement_id)
