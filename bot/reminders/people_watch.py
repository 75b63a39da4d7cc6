"""Who is on the project: the lead is told privately, once, when the customer's side thins out.

Three things are watched, each told to the lead by direct message with a next step:

- a role the playbook requires (`required_roles`) that nobody holds after the kickoff day;
- a role's holder on the customer's side who left the channel (`member_left_channel`);
- nobody on the customer's side acting (ticks, decisions, replies in the bot's threads: the audit
  trail's rows whose actor is a customer member; a reply is a `thread.replied` row,
  `bot.people.activity.record_reply`) for `SILENT_DAYS` business days since their last act, or
  since the kickoff.

"Once" is the audit trail's: each telling is a `people.lead_told` row whose subject is its key
(`role_empty:approver`, `left:U123:2026-12-07`, `silent:2026-11-30`), and a key told is never told
again. The sweep runs the check (`check_all`) at most every `EVERY`; it reads the active
engagements, their customer roles, what was told and the customer's last acts in four queries,
whatever the number of engagements.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.engagement.forecast import local_date
from bot.people import audit
from bot.people.members import lead_of
from bot.people.roles import role_label
from bot.people.sides import CUSTOMER, CUSTOMER_ROLES, member_side
from bot.reminders.working_hours import clock_of
from bot.services import Services
from bot.slack.gateway import SlackCallFailed
from storage.models import AuditEvent, Engagement, Member, MemberRole, saved_id

log = logging.getLogger("golive.people")

TOLD = "people.lead_told"
SILENT_DAYS = 5
EVERY = timedelta(minutes=15)
_last_run: dict[int, datetime] = {}


@dataclass(frozen=True)
class Telling:
    key: str
    headline: str
    next_step: str


def _told(session: Session, engagement_id: int, key: str) -> bool:
    return (
        session.exec(
            select(AuditEvent.id).where(
                AuditEvent.engagement_id == engagement_id, AuditEvent.kind == TOLD, AuditEvent.subject == key
            )
        ).first()
        is not None
    )


def tell_lead(services: Services, engagement_id: int, telling: Telling, now: datetime) -> bool:
    """Tell the lead privately, unless this key was told already; True when told."""
    with services.db.session() as session:
        engagement = session.get(Engagement, engagement_id)
        if engagement is None or _told(session, engagement_id, telling.key):
            return False
        lead = lead_of(session, engagement_id)
        if lead is None:
            return False
        # An audit row, inserted without asking the sweep to plan again: telling changes no reminder.
        session.add(
            AuditEvent(
                engagement_id=engagement_id,
                at=now,
                actor_id=audit.SYSTEM.user_id,
                actor_name=audit.SYSTEM.name,
                kind=TOLD,
                subject=telling.key[:120],
            )
        )
        name, channel, user = engagement.customer_name, engagement.channel_id, lead.user_id
    message = services.renderer.message(
        "people_dm.json.j2",
        customer_name=name,
        channel=channel,
        headline=telling.headline,
        next_step=telling.next_step,
    )
    try:
        services.slack.dm(user, message)
    except SlackCallFailed as exc:  # best effort: the audit row keeps it from repeating every sweep
        log.warning("could not tell %s about %s: %s", user, telling.key, exc.error)
    return True


def holder_left(services: Services, engagement_id: int, user_id: str, now: datetime) -> bool:
    """A customer person who holds a role left the channel: tell the lead (once per day left)."""
    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        if engagement is None:
            return False
        rows = session.exec(
            select(Member, MemberRole.role)
            .join(MemberRole, col(MemberRole.member_id) == col(Member.id))
            .where(Member.engagement_id == engagement_id, Member.user_id == user_id)
        ).all()
        roles = sorted({r for m, r in rows if r in CUSTOMER_ROLES and member_side(engagement, m) == CUSTOMER})
        if not roles:
            return False
        who = rows[0][0].display_name or user_id
        day = local_date(now, engagement.timezone)
    labels = ", ".join(role_label(r) for r in roles)
    cmd = services.command
    return tell_lead(
        services,
        engagement_id,
        Telling(
            key=f"left:{user_id}:{day.isoformat()}",
            headline=f"{who} ({labels}) left the channel.",
            next_step=f"Ask them back, or name someone else: `{cmd} role @person {roles[0]}`.",
        ),
        now,
    )


def _empty_roles(services: Services, engagement: Engagement, held: set[str]) -> list[Telling]:
    cmd = services.command
    sponsor = "the sponsor" if "sponsor" in held else "your contact there"
    return [
        Telling(
            key=f"role_empty:{role}",
            headline=f"Nobody is named {role_label(role)} for {engagement.customer_name}, and the playbook needs one.",
            next_step=f"Name one with `{cmd} role @person {role}`, or ask {sponsor} who it should be.",
        )
        for role in services.playbook_for(engagement).required_roles
        if role not in held
    ]


def _silence(
    services: Services, engagement: Engagement, last: datetime | None, today: date
) -> Telling | None:
    since = local_date(last, engagement.timezone) if last is not None else engagement.kickoff_on
    calendar = clock_of(engagement).calendar
    if calendar.count(since + timedelta(days=1), today) < SILENT_DAYS:
        return None
    when = "since the kickoff" if last is None else f"since {since.isoformat()}"
    return Telling(
        key=f"silent:{since.isoformat()}",
        headline=f"Nobody at {engagement.customer_name} has ticked, decided or replied to anything {when} "
        f"({SILENT_DAYS}+ business days).",
        next_step="Ask the main contact or the sponsor what is in their way, or book a short call.",
    )


def check_all(services: Services, now: datetime) -> int:
    """Tell the leads what is new (at most every `EVERY` per database); returns how many were told."""
    last = _last_run.get(id(services.db))
    if last is not None and last <= now < last + EVERY:
        return 0
    _last_run[id(services.db)] = now
    pending: list[tuple[int, Telling]] = []
    with services.db.read() as session:
        engagements = list(session.exec(select(Engagement).where(Engagement.status == "active")).all())
        # after the kickoff day, and told in the customer's working hours (a sweep outside them
        # writes nothing: its cost follows what is due)
        started = [
            e
            for e in engagements
            if not e.flagged  # Slack refuses its channel: the lead was told that already
            and e.kickoff_on < local_date(now, e.timezone)
            and clock_of(e).in_hours(now)
        ]
        if not started:
            return 0
        active = col(Engagement.status) == "active"
        held: dict[int, set[str]] = {}
        for eid, role in session.exec(
            select(Member.engagement_id, MemberRole.role)
            .join(MemberRole, col(MemberRole.member_id) == col(Member.id))
            .join(Engagement, col(Engagement.id) == col(Member.engagement_id))
            .where(active, col(MemberRole.role).in_(CUSTOMER_ROLES))
            .distinct()
        ).all():
            held.setdefault(eid, set()).add(role)
        told: dict[int, set[str]] = {}
        for eid, key in session.exec(
            select(AuditEvent.engagement_id, AuditEvent.subject)
            .join(Engagement, col(Engagement.id) == col(AuditEvent.engagement_id))
            .where(active, AuditEvent.kind == TOLD)
        ).all():
            told.setdefault(eid, set()).add(key)
        by_id = {saved_id(e): e for e in started}
        acts: dict[int, datetime] = {}
        for m, at in session.exec(
            select(Member, func.max(AuditEvent.at))
            .join(
                AuditEvent,
                (col(AuditEvent.engagement_id) == col(Member.engagement_id))
                & (col(AuditEvent.actor_id) == col(Member.user_id)),
            )
            .join(Engagement, col(Engagement.id) == col(Member.engagement_id))
            .where(active)
            .group_by(col(Member.id))
        ).all():
            e = by_id.get(m.engagement_id)
            if e is not None and at is not None and member_side(e, m) == CUSTOMER:
                at = at if at.tzinfo else at.replace(tzinfo=now.tzinfo)
                acts[m.engagement_id] = max(acts.get(m.engagement_id, at), at)
        for eid, e in by_id.items():
            found = _empty_roles(services, e, held.get(eid, set()))
            silent = _silence(services, e, acts.get(eid), local_date(now, e.timezone))
            if silent is not None:
                found.append(silent)
            pending.extend((eid, t) for t in found if t.key not in told.get(eid, set()))
    count = 0
    for eid, telling in pending:
        try:
            count += tell_lead(services, eid, telling, now)
        except Exception:
            log.exception("telling the lead of engagement %s failed; the next check tries again", eid)
    return count
