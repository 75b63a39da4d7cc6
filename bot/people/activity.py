"""Who on the customer's side is active: people of the customer's side with a row in the audit
trail (a tick, a decision, a role they named) since a time. One query for a page of engagements:
App Home's cards show "customer people active this week" (`bot.slack.home`)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from bot.people.sides import CUSTOMER, member_side
from storage.models import AuditEvent, Engagement, Member, saved_id


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
