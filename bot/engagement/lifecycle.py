"""Engagements: starting one in a channel, finding the active one, the people in it."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.commands import ParsedCommand, UsageError
from bot.engagement.business_days import BusinessCalendar
from bot.engagement.checklist import create_items
from bot.engagement.dependencies import create_dependencies, schedule
from bot.engagement.plan import (
    PhaseWindow,
    PlanWarning,
    applicable_phases,
    check_feasible,
    plan_phases,
    plan_warnings,
)
from bot.engagement.playbook import Playbook
from bot.engagement.signoffs import create_gates
from bot.events.emit import ENGAGEMENT_STARTED, phase_json
from bot.events.emit import emit as emit_event
from bot.people import audit
from bot.people.members import add_member
from bot.people.organisations import external_teams
from bot.people.sides import VENDOR, Actor
from bot.user_input import (
    INGEST_CHOICES,
    ValueProblem,
    check_date_range,
    country_for_timezone,
    parse_country,
    parse_date,
    parse_ingest,
    parse_name,
    parse_size,
    parse_timezone,
    parse_yes_no,
    years_from,
)
from storage.models import CHANNELS_ACTIVE, Engagement, EngagementPhase, MemberRole, saved_id

MAX_YEARS_AHEAD = 2  # a target go-live at most this many years after the kickoff
MAX_KICKOFF_DAYS = 366  # a kickoff at most a year before or after today


def check_kickoff(kickoff: date, today: date) -> date:
    """A kickoff within a year of today (the engagement's local date)."""
    return check_date_range(
        kickoff,
        "kickoff date",
        today - timedelta(days=MAX_KICKOFF_DAYS),
        today + timedelta(days=MAX_KICKOFF_DAYS),
        "(more than a year from today; check the year)",
    )


def check_target(target: date, kickoff: date) -> date:
    """A target go-live after the kickoff and at most two years after it."""
    earliest, latest = kickoff + timedelta(days=1), years_from(kickoff, MAX_YEARS_AHEAD)
    if target <= kickoff:
        raise ValueProblem(
            f"The target go-live ({target.isoformat()}) must be after the kickoff ({kickoff.isoformat()}); "
            f"use a date from {earliest.isoformat()} to {latest.isoformat()}."
        )
    return check_date_range(
        target,
        "target go-live date",
        earliest,
        latest,
        f"(more than two years after the kickoff, {kickoff.isoformat()})",
    )


@dataclass(frozen=True)
class StartOptions:
    customer_name: str
    size: str = "medium"
    kickoff: date | None = None
    target: date | None = None
    timezone: str = "UTC"
    country: str | None = None
    pilot: bool = False
    ingest: str = "warehouse"
    # Allowed but worth a second look (a kickoff on a holiday, a target shorter than the size's
    # usual range): said to the consultant once the engagement is started.
    warnings: tuple[PlanWarning, ...] = ()


class EngagementExists(Exception):
    def __init__(self, engagement: Engagement) -> None:
        super().__init__(f"channel already has engagement {engagement.id}")
        self.engagement = engagement


def local_today(now: datetime, tz: str) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def build_start_options(
    *,
    name: str,
    size: str | None,
    kickoff: str | None,
    target: str | None,
    tz: str | None,
    country: str | None,
    pilot: str | None,
    ingest: str | None,
    now: datetime,
    default_tz: str,
    playbook: Playbook | None = None,
) -> StartOptions:
    """Validate every field; raises ValueProblem naming the first bad one. With the playbook, a
    target its phases cannot meet is refused too, and what is allowed but doubtful is warned of."""
    customer = parse_name(name)
    size_v = parse_size(size) if size else "medium"
    tz_v = parse_timezone(tz) if tz else default_tz
    country_v = parse_country(country) if country else country_for_timezone(tz_v)
    today = local_today(now, tz_v)
    kickoff_v = check_kickoff(parse_date(kickoff, "kickoff date"), today) if kickoff else today
    target_v = check_target(parse_date(target, "target go-live date"), kickoff_v) if target else None
    pilot_v = parse_yes_no(pilot, "pilot") if pilot else False
    ingest_v = parse_ingest(ingest) if ingest else INGEST_CHOICES[0]
    warnings: list[PlanWarning] = []
    if playbook is not None:
        phases = applicable_phases(playbook, pilot=pilot_v, ingest=ingest_v)
        calendar = BusinessCalendar(country_v)
        if target_v is not None:
            check_feasible(phases, kickoff=kickoff_v, target=target_v, calendar=calendar)
        warnings = plan_warnings(
            phases,
            playbook=playbook,
            size=size_v,
            kickoff=kickoff_v,
            target=target_v,
            calendar=calendar,
            kickoff_given=bool(kickoff),
        )
    return StartOptions(
        customer_name=customer,
        size=size_v,
        kickoff=kickoff_v,
        target=target_v,
        timezone=tz_v,
        country=country_v,
        pilot=pilot_v,
        ingest=ingest_v,
        warnings=tuple(warnings),
    )


def parse_start(
    cmd: ParsedCommand, *, now: datetime, default_tz: str, playbook: Playbook | None = None
) -> StartOptions:
    o = cmd.options
    try:
        return build_start_options(
            name=cmd.rest_text,
            size=o.get("size"),
            kickoff=o.get("kickoff"),
            target=o.get("target"),
            tz=o.get("tz"),
            country=o.get("country"),
            pilot=o.get("pilot"),
            ingest=o.get("ingest"),
            now=now,
            default_tz=default_tz,
            playbook=playbook,
        )
    except ValueProblem as exc:
        raise UsageError(str(exc), cmd.spec.usage) from None


# Every request looks its engagement up: the statements are built once, with bound parameters,
# so SQLAlchemy neither rebuilds the expression nor recomputes its cache key each time (those were
# about a third of each lookup's CPU in py-spy).
_ACTIVE_IN_CHANNEL = select(Engagement).where(CHANNELS_ACTIVE)
_LATEST_IN_CHANNEL = (
    select(Engagement)
    .where(Engagement.channel_id == bindparam("channel"))
    .order_by(col(Engagement.id).desc())
)


def latest_in_channel(session: Session, channel_id: str) -> Engagement | None:
    """The channel's active engagement, else its most recent one (live or cancelled)."""
    return (
        active_in_channel(session, channel_id)
        or session.exec(_LATEST_IN_CHANNEL, params={"channel": channel_id}).first()
    )


def active_in_channel(session: Session, channel_id: str) -> Engagement | None:
    return session.exec(_ACTIVE_IN_CHANNEL, params={"channel": channel_id}).first()


PREPARING = "preparing"  # made from a CRM deal, waiting for the customer to join its channel
_PREPARING_IN_CHANNEL = select(Engagement).where(
    Engagement.channel_id == bindparam("channel"), col(Engagement.status) == PREPARING
)


def occupying(session: Session, channel_id: str) -> Engagement | None:
    """The engagement that holds the channel: the active one, or one made from a CRM deal that is
    waiting for the customer to join it (`preparing`, `bot.deals`). One channel holds one."""
    return (
        active_in_channel(session, channel_id)
        or session.exec(_PREPARING_IN_CHANNEL, params={"channel": channel_id}).first()
    )


def calendar_for(engagement: Engagement) -> BusinessCalendar:
    return _calendar(engagement.country, engagement.work_days or "0,1,2,3,4")


@functools.lru_cache(maxsize=256)
def _calendar(country: str | None, work_days: str) -> BusinessCalendar:
    """One calendar per country and working week, shared (a calendar is never changed once made):
    the report asks for one three times per engagement."""
    return BusinessCalendar(country, tuple(int(d) for d in work_days.split(",") if d.strip()))


def compute_plan(engagement: Engagement, playbook: Playbook) -> list[PhaseWindow]:
    phases = applicable_phases(playbook, pilot=engagement.pilot, ingest=engagement.ingest)
    return plan_phases(
        phases,
        playbook=playbook,
        size=engagement.size,
        kickoff=engagement.kickoff_on,
        target=engagement.target_on,
        calendar=calendar_for(engagement),
    )


_PHASES_OF = (
    select(EngagementPhase)
    .where(EngagementPhase.engagement_id == bindparam("engagement"))
    .order_by(col(EngagementPhase.number))
)


def phases_of(session: Session, engagement_id: int) -> list[EngagementPhase]:
    return list(session.exec(_PHASES_OF, params={"engagement": engagement_id}).all())


def planned_golive(engagement: Engagement, phases: list[EngagementPhase]) -> date | None:
    """The go-live date: the target when one is set, else the end of the last phase."""
    return engagement.target_on or (phases[-1].planned_end if phases else None)


def start_engagement(
    session: Session,
    opts: StartOptions,
    *,
    playbook: Playbook,
    team_id: str,
    channel_id: str,
    user_id: str,
    user_name: str,
    now: datetime,
    vendor_enterprise_id: str | None = None,
    channel_teams: list[str] | None = None,
    status: str = "active",
    fields: str | None = None,
) -> Engagement:
    """Create the engagement with the invoking user as lead consultant.

    `channel_teams` are the teams conversations.info says are in the channel: when exactly one
    organisation besides the vendor's is there, it is the customer's from the start. `status`:
    `preparing` for an engagement made from a CRM deal before its channel is joined; `fields`:
    the deal's free fields as JSON (the playbook's `when:` rules read them).

    The partial unique index on (team, channel) where status is active makes a second start
    in the same channel fail even when two requests race.
    """
    existing = occupying(session, channel_id)
    if existing is not None and existing.id is not None:
        session.expunge(existing)  # keep it readable after the rollback the error causes
        raise EngagementExists(existing)
    assert opts.kickoff is not None
    engagement = Engagement(
        team_id=team_id,
        channel_id=channel_id,
        customer_name=opts.customer_name,
        size=opts.size,
        kickoff_on=opts.kickoff,
        target_on=opts.target,
        timezone=opts.timezone,
        country=opts.country,
        pilot=opts.pilot,
        ingest=opts.ingest,
        created_by=user_id,
        created_at=now,
        updated_at=now,
        vendor_enterprise_id=vendor_enterprise_id,
        status=status,
        fields=fields,
    )
    others = external_teams(engagement, channel_teams or [])
    engagement.customer_team_id = others[0] if len(others) == 1 else None
    session.add(engagement)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        existing = active_in_channel(session, channel_id)
        if existing is None:
            raise
        session.expunge(existing)
        raise EngagementExists(existing) from None
    lead = add_member(
        session,
        engagement,
        user_id=user_id,
        team_id=team_id,
        display_name=user_name,
        added_by=user_id,
        now=now,
        enterprise_id=vendor_enterprise_id,
    )
    session.add(MemberRole(member_id=saved_id(lead), role="lead"))
    rebuild_plan(session, engagement, playbook, now)
    audit.record(
        session,
        saved_id(engagement),
        Actor(user_id, team_id, user_name, VENDOR),
        "engagement.started",
        opts.customer_name,
        {
            "size": opts.size,
            "kickoff": opts.kickoff,
            "target": opts.target,
            "timezone": opts.timezone,
            "country": opts.country,
            "pilot": opts.pilot,
            "ingest": opts.ingest,
            "customer_team": engagement.customer_team_id,
            "vendor_enterprise": vendor_enterprise_id,
        },
        now=now,
    )
    # App Home's sort key from the start: the new engagement sorts where it belongs before the
    # sweep first plans it. (Imported here: the portfolio reads the lifecycle's helpers.)
    from bot.engagement.portfolio import keep_risk

    keep_risk(session, [engagement], playbook, now)
    emit_event(
        session,
        ENGAGEMENT_STARTED,
        engagement,
        {
            "status": engagement.status,
            "started_by": {"user_id": user_id, "name": user_name},
            "pilot": engagement.pilot,
            "phases": [phase_json(p) for p in phases_of(session, saved_id(engagement))],
        },
        now=now,
    )
    return engagement


def rebuild_plan(session: Session, engagement: Engagement, playbook: Playbook, now: datetime) -> None:
    """The engagement's phases, checklist items, dependencies, fixed reminders and gates, from the
    playbook and the engagement's dates (at start; again for an engagement made from a CRM deal
    whose deal changed before anything happened)."""
    specs = {p.key: p for p in playbook.phases}
    phases = []
    for w in compute_plan(engagement, playbook):
        phases.append(
            EngagementPhase(
                engagement_id=saved_id(engagement),
                number=w.number,
                key=w.key,
                name=w.name,
                emoji=specs[w.key].emoji,
                planned_start=w.start,
                planned_end=w.end,
            )
        )
    session.add_all(phases)
    session.flush()
    create_items(session, engagement, phases, playbook, now)
    create_dependencies(session, engagement, playbook)
    schedule(session, engagement, now)
    create_gates(session, engagement, phases, playbook)


def check_plan_change(
    engagement: Engagement,
    *,
    kickoff: date | None,
    target: date | str | None,
    now: datetime,
    playbook: Playbook | None = None,
    size: str | None = None,
) -> list[PlanWarning]:
    """The rules of `start` for a changed plan: a new kickoff within a year of today, and the
    target (new or kept) after the kickoff and within two years of it, and (with the playbook)
    one the phases can meet. Raises ValueProblem; returns what to warn about."""
    if kickoff is not None:
        check_kickoff(kickoff, local_today(now, engagement.timezone))
    new_kickoff = kickoff if kickoff is not None else engagement.kickoff_on
    new_target = engagement.target_on if target == "keep" else target
    if isinstance(new_target, date):
        check_target(new_target, new_kickoff)
    if playbook is None:
        return []
    phases = applicable_phases(playbook, pilot=engagement.pilot, ingest=engagement.ingest)
    calendar = calendar_for(engagement)
    if isinstance(new_target, date):
        check_feasible(phases, kickoff=new_kickoff, target=new_target, calendar=calendar)
    return plan_warnings(
        phases,
        playbook=playbook,
        size=size or engagement.size,
        kickoff=new_kickoff,
        target=new_target if isinstance(new_target, date) else None,
        calendar=calendar,
        kickoff_given=kickoff is not None,
        target_given=target != "keep",
    )


@dataclass(frozen=True)
class PhaseMove:
    number: int
    name: str
    old: tuple[date, date]
    new: tuple[date, date]


def replan(
    session: Session,
    engagement: Engagement,
    playbook: Playbook,
    *,
    kickoff: date | None = None,
    size: str | None = None,
    target: date | str | None = "keep",
    now: datetime,
) -> list[PhaseMove]:
    """Change kickoff, size or target and recompute the plan.

    Phase dates follow the new plan; item due dates follow them (their share of the phase, their
    prerequisites), except dates someone set by hand, which are kept. Returns the phases whose dates moved.
    The dates are checked (`check_plan_change`) before anything changes.
    """
    check_plan_change(engagement, kickoff=kickoff, target=target, now=now, playbook=playbook, size=size)
    if kickoff is not None:
        engagement.kickoff_on = kickoff
    if size is not None:
        engagement.size = size
    if target is None or isinstance(target, date):  # else "keep"
        engagement.target_on = target
    engagement.updated_at = now
    session.add(engagement)
    windows = {w.key: w for w in compute_plan(engagement, playbook)}
    moves: list[PhaseMove] = []
    for phase in phases_of(session, saved_id(engagement)):
        w = windows.get(phase.key)
        if w is None:
            continue
        old = (phase.planned_start, phase.planned_end)
        if old != (w.start, w.end):
            moves.append(PhaseMove(phase.number, phase.name, old, (w.start, w.end)))
            phase.planned_start, phase.planned_end = w.start, w.end
            session.add(phase)
    session.flush()
    schedule(session, engagement, now)  # due dates follow the phases, shares and prerequisites
    return moves
