"""The audit trail: one append-only row per state change, written in the same transaction.

Rows are only ever inserted; the database refuses UPDATE and DELETE on the table.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from bot.people.sides import Actor
from storage.models import AuditEvent, Engagement

CSV_COLUMNS = [
    "id",
    "time_utc",
    "engagement",
    "actor_id",
    "actor_name",
    "actor_team",
    "kind",
    "subject",
    "detail",
]
SYSTEM = Actor(user_id="golive", team_id=None, name="golive (scheduler)", side="vendor")


def record(
    session: Session,
    engagement_id: int,
    actor: Actor,
    kind: str,
    subject: str = "",
    detail: dict[str, Any] | None = None,
    *,
    now: datetime,
) -> AuditEvent:
    event = AuditEvent(
        engagement_id=engagement_id,
        at=now,
        actor_id=actor.user_id,
        actor_team=actor.team_id,
        actor_name=actor.name[:200],
        kind=kind,
        subject=subject[:120],
        detail=json.dumps(detail or {}, sort_keys=True, default=str),
    )
    session.add(event)
    session.flush()
    return event


def events(session: Session, engagement_id: int, *, last: int | None = None) -> list[AuditEvent]:
    q = select(AuditEvent).where(AuditEvent.engagement_id == engagement_id)
    if last:
        rows = list(session.exec(q.order_by(col(AuditEvent.id).desc()).limit(last)).all())
        return rows[::-1]
    return list(session.exec(q.order_by(col(AuditEvent.id))).all())


def to_csv(engagement: Engagement, rows: list[AuditEvent]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.id,
                r.at.isoformat(),
                engagement.customer_name,
                r.actor_id,
                r.actor_name,
                r.actor_team or "",
                r.kind,
                r.subject,
                r.detail,
            ]
        )
    return buf.getvalue().encode("utf-8")


def record_change(
    session: Session, engagement_id: int, actor: Actor, change: Any, *, now: datetime
) -> AuditEvent:
    """Record a checklist change (`bot.engagement.checklist.Change`)."""
    detail = {"title": change.item.title, **change.detail}
    return record(session, engagement_id, actor, change.kind, change.ref, detail, now=now)
