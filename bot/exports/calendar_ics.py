"""The plan as an iCalendar file (.ics) for people's calendars (`/golive calendar`).

Events: each phase over its planned dates (all day, free time), each sign-off gate on its phase's
planned end, the dry run at its time in the engagement's time zone (a VTIMEZONE for it is
included), and the go-live (the target, else the plan's end). Descriptions say what happened and
what is forecast. Every event's UID is built from the workspace, the engagement and the playbook
key, never from dates, so importing a newer export updates the events instead of adding them
again; SEQUENCE is the engagement's latest audit row, which grows with every change. A cancelled
engagement's events are exported as cancelled.

The icalendar library is imported when a calendar is built, not at bot start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from bot.engagement.forecast import DONE, Forecast, PhaseForecast, local_date
from bot.engagement.lifecycle import phases_of
from bot.engagement.outlook import load_outlook
from bot.engagement.playbook import Playbook
from storage.models import (
    AuditEvent,
    Engagement,
    EngagementPhase,
    Gate,
    SignoffDecision,
    SignoffRequest,
    saved_id,
)

PRODID = "-//golive//implementation plan//EN"
DRYRUN_LENGTH = timedelta(hours=2)
UID_DOMAIN = "golive"


@dataclass(frozen=True)
class GateFacts:
    key: str
    title: str
    phase_number: int
    approved_on: date | None
    waiting_since: date | None


def uid(engagement: Engagement, what: str) -> str:
    """A UID that stays the same across exports and re-plans of this engagement."""
    return f"{engagement.team_id}-{engagement.id}-{what}@{UID_DOMAIN}".lower()


def _day(d: date) -> str:
    return d.strftime("%a %-d %b %Y")


def _phase_description(p: PhaseForecast, fc: Forecast) -> str:
    lines = [f"Planned {_day(p.planned_start)} to {_day(p.planned_end)}."]
    if p.state == DONE:
        assert p.finished_on is not None  # a done phase has its end
        lines.append(
            f"Done {_day(p.finished_on)}" + (f", started {_day(p.started_on)}." if p.started_on else ".")
        )
    elif p.started_on is not None:
        lines.append(f"Started {_day(p.started_on)}; forecast to end {_day(p.end)}.")
    elif (p.start, p.end) != (p.planned_start, p.planned_end):
        lines.append(f"Forecast {_day(p.start)} to {_day(p.end)}.")
    lines.append(f"{p.done} of {p.applicable} items done" + (f", {p.na} not applicable." if p.na else "."))
    return "\n".join(lines)


def build_calendar(
    *,
    engagement: Engagement,
    forecast: Forecast,
    gates: list[GateFacts],
    dry_run_checklist: list[str],
    sequence: int,
    now: datetime,
) -> bytes:
    """The .ics file's bytes."""
    from icalendar import Calendar, Event

    name = " ".join(engagement.customer_name.split())  # one line: X-WR-CALNAME takes no line break
    zone = ZoneInfo(engagement.timezone)
    cancelled = engagement.status == "cancelled"
    stamp = now.astimezone(UTC)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"{name} implementation")
    cal.add("x-wr-timezone", engagement.timezone)

    def event(
        what: str, summary: str, description: str, start: date | datetime, end: date | datetime
    ) -> None:
        ev = Event()
        ev.add("uid", uid(engagement, what))
        ev.add("dtstamp", stamp)
        ev.add("sequence", sequence)
        ev.add("summary", summary)
        ev.add("description", description)
        ev.add("dtstart", start)
        ev.add("dtend", end)
        if isinstance(start, datetime):
            ev.add("transp", "OPAQUE")
        else:
            ev.add("transp", "TRANSPARENT")  # a phase is a span of work, not a meeting
        ev.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        cal.add_component(ev)

    for p in forecast.phases:
        event(
            f"phase-{p.key}",
            f"{name} · {p.number}. {p.name}",
            _phase_description(p, forecast),
            p.planned_start,
            p.planned_end + timedelta(days=1),
        )
    by_number = {p.number: p for p in forecast.phases}
    for g in gates:
        phase = by_number.get(g.phase_number)
        if phase is None:
            continue
        if g.approved_on is not None:
            state = f"Approved {_day(g.approved_on)}."
        elif g.waiting_since is not None:
            state = f"Waiting for the customer's approval since {_day(g.waiting_since)}."
        else:
            state = "Not requested yet."
        event(
            f"gate-{g.key}",
            f"{name} · Sign-off: {g.title}",
            f"Target: the end of {phase.number}. {phase.name}, {_day(phase.planned_end)}.\n{state}",
            phase.planned_end,
            phase.planned_end + timedelta(days=1),
        )
    if engagement.dryrun_at is not None:
        local = engagement.dryrun_at.astimezone(zone)
        outcome = {"passed": "It passed.", "issues": "It found issues."}.get(
            engagement.dryrun_outcome or "", ""
        )
        checklist = "\n".join(f"- {line}" for line in dry_run_checklist)
        event(
            "dryrun",
            f"{name} · Go-live dry run",
            f"The go-live dry run with {name}'s team ({engagement.timezone}). {outcome}\n{checklist}".strip(),
            local,
            local + DRYRUN_LENGTH,
        )
    golive = forecast.golive if forecast.live else forecast.planned_golive
    if forecast.live:
        says = f"Went live {_day(forecast.golive)}."
    elif forecast.slip:
        says = (
            f"Forecast {_day(forecast.golive)} ({abs(forecast.slip)} business days "
            f"{'after' if forecast.slip > 0 else 'before'} this date)."
        )
    else:
        says = "The forecast is on this date."
    event(
        "golive",
        f"{name} · Go-live",
        f"{'Target' if forecast.has_target else 'Planned'} go-live of the {name} implementation. {says}",
        golive,
        golive + timedelta(days=1),
    )
    first = min([p.planned_start for p in forecast.phases] + [golive]) - timedelta(days=366)
    cal.add_missing_timezones(first_date=first, last_date=golive + timedelta(days=3 * 366))
    return cal.to_ical()


def gate_facts(session: Session, engagement: Engagement, phases: list[EngagementPhase]) -> list[GateFacts]:
    numbers = {p.id: p.number for p in phases}
    tz = engagement.timezone
    facts = []
    gates = session.exec(select(Gate).where(Gate.engagement_id == engagement.id).order_by(col(Gate.id))).all()
    for g in gates:
        approved = session.exec(
            select(SignoffDecision.decided_at).where(
                SignoffDecision.gate_id == g.id, SignoffDecision.decision == "approved"
            )
        ).first()
        waiting = session.exec(
            select(SignoffRequest.requested_at).where(
                SignoffRequest.gate_id == g.id, SignoffRequest.status == "open"
            )
        ).first()
        facts.append(
            GateFacts(
                key=g.key,
                title=g.title,
                phase_number=numbers.get(g.phase_id, 0),
                approved_on=local_date(approved, tz) if approved else None,
                waiting_since=local_date(waiting, tz) if waiting else None,
            )
        )
    return facts


def engagement_calendar(
    session: Session, engagement: Engagement, playbook: Playbook, now: datetime
) -> tuple[bytes, Forecast]:
    """The engagement's calendar file, from the database as it is now, and the forecast in it."""
    phases = phases_of(session, saved_id(engagement))
    outlook = load_outlook(session, engagement, playbook, now)
    sequence = session.exec(
        select(func.max(AuditEvent.id)).where(AuditEvent.engagement_id == engagement.id)
    ).one()
    content = build_calendar(
        engagement=engagement,
        forecast=outlook.forecast,
        gates=gate_facts(session, engagement, phases),
        dry_run_checklist=list(playbook.dry_run_checklist),
        sequence=int(sequence or 0),
        now=now,
    )
    return content, outlook.forecast


def calendar_filename(engagement: Engagement) -> str:
    slug = "".join(c if c.isascii() and c.isalnum() else "-" for c in engagement.customer_name.lower())
    slug = "-".join(part for part in slug.split("-") if part)[:40] or "engagement"
    return f"{slug}-implementation-{engagement.id}.ics"
