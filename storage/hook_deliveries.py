"""The queue of events going out to webhook targets (`HookDelivery`), as SQL: queue an event in the
caller's transaction, take due rows with a lease, record each attempt, count what waits, read the
log. What an event says and when a failed one is tried again is `bot.events`'.

Taking rows is safe with several bot processes (and replicas) on one database: `FOR UPDATE SKIP
LOCKED` on PostgreSQL, an `UPDATE … RETURNING` under SQLite's single writer lock there. A lease
that runs out (the process died while posting) makes the row due again: at most that event is
posted twice, with the same id, which receivers deduplicate on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, func, insert, or_, select, update
from sqlmodel import Session

from storage.db import Database
from storage.models import Deal, HookDelivery, table_of

_T: Table = table_of(HookDelivery)
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def queue(
    session: Session,
    *,
    event_id: str,
    event: str,
    engagement_id: int | None,
    targets: Sequence[str],
    body: str,
    now: datetime,
) -> None:
    """One pending row per target, in the caller's transaction (committed or rolled back with the
    change the event tells of), due now."""
    if not targets:
        return
    session.connection().execute(
        insert(_T),
        [
            {
                "event_id": event_id,
                "event": event,
                "engagement_id": engagement_id,
                "target": target,
                "body": body,
                "status": PENDING,
                "created_at": now,
                "next_attempt_at": now,
                "attempts": 0,
            }
            for target in targets
        ],
    )


@dataclass(frozen=True)
class Due:
    """A row taken to post."""

    id: int
    event_id: str
    event: str
    target: str
    body: str
    attempts: int  # attempts made before this one
    created_at: datetime
    engagement_id: int | None


def _due(now: datetime) -> Any:
    return and_(
        _T.c.status == PENDING,
        _T.c.next_attempt_at <= now,
        or_(_T.c.lease_until.is_(None), _T.c.lease_until < now),
    )


def take(db: Database, now: datetime, *, limit: int, lease: timedelta) -> list[Due]:
    """Lease up to `limit` due rows (oldest due first) to the caller."""
    with db.rows() as conn:  # the usual answer, nothing, without a write transaction
        if conn.execute(select(_T.c.id).where(_due(now)).limit(1)).first() is None:
            return []
    chosen = select(_T.c.id).where(_due(now)).order_by(_T.c.next_attempt_at, _T.c.id).limit(limit)
    if not db.is_sqlite:  # SQLite's writer lock already keeps every other taker out
        chosen = chosen.with_for_update(skip_locked=True)
    with db.connection() as conn:
        rows = conn.execute(
            update(_T)
            .where(_T.c.id.in_(chosen.scalar_subquery()))
            .values(lease_until=now + lease)
            .returning(
                _T.c.id,
                _T.c.event_id,
                _T.c.event,
                _T.c.target,
                _T.c.body,
                _T.c.attempts,
                _T.c.created_at,
                _T.c.engagement_id,
            )
        ).all()
    return sorted((Due(*row) for row in rows), key=lambda d: d.id)


def record_attempt(
    db: Database,
    row_id: int,
    *,
    now: datetime,
    status: str,
    code: int | None,
    error: str | None,
    next_attempt_at: datetime | None = None,
) -> None:
    """The outcome of an attempt: delivered, pending again (at `next_attempt_at`) or failed; the
    lease is released."""
    values: dict[str, Any] = {
        "status": status,
        "attempts": _T.c.attempts + 1,
        "last_status": code,
        "last_error": error[:300] if error else None,
        "last_attempt_at": now,
        "lease_until": None,
    }
    if status == DELIVERED:
        values["delivered_at"] = now
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    with db.connection() as conn:
        conn.execute(update(_T).where(_T.c.id == row_id).values(**values))


def deal_id_of(db: Database, engagement_id: int) -> str | None:
    """The CRM deal an engagement was made from (None: started by hand)."""
    deal = table_of(Deal)
    with db.rows() as conn:
        found = conn.execute(select(deal.c.deal_id).where(deal.c.engagement_id == engagement_id)).first()
    return str(found[0]) if found is not None else None


def set_body(db: Database, event_id: str, body: str) -> None:
    """Complete an event's body before its first attempt (every target's row alike)."""
    with db.connection() as conn:
        conn.execute(update(_T).where(_T.c.event_id == event_id, _T.c.attempts == 0).values(body=body))


def pending_count(db: Database) -> int:
    """Rows not yet delivered nor given up."""
    with db.rows() as conn:
        return int(conn.execute(select(func.count()).where(_T.c.status == PENDING)).scalar() or 0)


def recent(db: Database, limit: int = 20) -> list[HookDelivery]:
    """The newest rows first (the delivery log)."""
    with db.read() as session:
        return list(session.scalars(select(HookDelivery).order_by(_T.c.id.desc()).limit(max(1, limit))).all())


def purge(db: Database, before: datetime) -> int:
    """Delete delivered and given-up rows made before `before` (the delivery log keeps the rest);
    how many. Pending rows stay whatever their age."""
    with db.connection() as conn:
        result = conn.execute(_T.delete().where(_T.c.status != PENDING, _T.c.created_at < before))
    return int(result.rowcount or 0)
