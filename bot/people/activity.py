"""Who on the customer's side is active: people of the customer's side with a row in the audit
trail (a tick, a decision, a role they named, a reply in one of the bot's threads) since a time. One query for a page of engagements:
App Home's cards show "customer people active this week" (`bot.slack.home`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from bot.people.sides import CUSTOMER, member_side
from storage.models import AuditEvent, Engagement, Member, PostedMessage, saved_id


def customer_active_since(session: Session, engagements: list[Engagement], since: datetime) -> dict[int, int]:
    """How many customer people acted (a row in the audit trail) since `since`, per engagement:
    one query for all of them."""
    by_id = {saved_id(e): e for e in engagements}
    if not by_id:
        return {}
    rows = session.exec(
        select(Member)
        .join(
            AuditEvent,
            (col(AuditEvent.engagement_id) == col(Member.engagement_id))
            & (col(AuditEvent.actor_id) == col(Member.user_id)),
        )
        .where(col(Member.engagement_id).in_(list(by_id)), col(AuditEvent.at) >= since)
        .distinct()
    ).all()
    out: dict[int, int] = {}
    for m in rows:
        if member_side(by_id[m.engagement_id], m) == CUSTOMER:
            out[m.engagement_id] = out.get(m.engagement_id, 0) + 1
    return out


# A customer person's reply in the thread of a message the bot posted for the engagement counts as
# acting (issue 28 §2): one `thread.replied` row per person, thread and day at most, so a lively
# thread does not flood the trail. Inserted without asking the sweep to plan again: a reply moves
# no reminder.
REPLIED = "thread.replied"

_BOT_THREAD = select(PostedMessage.id).where(
    PostedMessage.channel_id == bindparam("channel"),
    PostedMessage.ts == bindparam("ts"),
    PostedMessage.engagement_id == bindparam("engagement"),
)


def is_bot_thread(session: Session, engagement: Engagement, thread_ts: str) -> bool:
    """The thread's parent is a message the bot posted for this engagement (the posted-message
    ledger, keyed by channel and ts)."""
    params = {"channel": engagement.channel_id, "ts": thread_ts, "engagement": saved_id(engagement)}
    return session.exec(_BOT_THREAD, params=params).first() is not None


def _day_start(engagement: Engagement, now: datetime) -> datetime:
    """The start of the customer's day (their time zone) that `now` is in, in UTC."""
    zone = ZoneInfo(engagement.timezone or "UTC")
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time.min, tzinfo=zone).astimezone(UTC)


def replied_today(
    session: Session, engagement: Engagement, user_id: str, thread_ts: str, now: datetime
) -> bool:
    return (
        session.exec(
            select(AuditEvent.id).where(
                AuditEvent.engagement_id == saved_id(engagement),
                AuditEvent.kind == REPLIED,
                AuditEvent.actor_id == user_id,
                AuditEvent.subject == thread_ts,
                col(AuditEvent.at) >= _day_start(engagement, now),
            )
        ).first()
        is not None
    )


def record_reply(
    session: Session, engagement: Engagement, member: Member, thread_ts: str, reply_ts: str, now: datetime
) -> bool:
    """Record a customer person's reply in a bot thread as their act: True when a row was written
    (not when they replied in this thread today already, or are not on the customer's side)."""
    if member_side(engagement, member) != CUSTOMER:
        return False
    if replied_today(session, engagement, member.user_id, thread_ts, now):
        return False
    session.add(
        AuditEvent(
            engagement_id=saved_id(engagement),
            at=now,
            actor_id=member.user_id,
            actor_team=member.team_id,
            actor_name=(member.display_name or member.user_id)[:200],
            kind=REPLIED,
            subject=thread_ts[:120],
            detail=json.dumps({"reply": reply_ts}),
        )
    )
    return True
