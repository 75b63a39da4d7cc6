"""Reminder rows: insert one once (by its dedupe key), cancel an engagement's pending ones, and
ask for an engagement's reminders to be planned again after a change.

Plain data access shared by the reminder engine (which plans rows) and the engagement (going
live or being cancelled stops every reminder; every change asks for a new plan), so neither has
to import the other.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from storage.db import rowcount
from storage.models import NextCheckRequest, Reminder, table_of


def ensure(
    session: Session,
    engagement_id: int,
    kind: str,
    key: str,
    due_at: datetime,
    payload: dict[str, object],
    now: datetime,
) -> bool:
    """Insert a reminder unless its dedupe key exists; True when inserted."""
    try:
        with session.begin_nested():
            session.add(
                Reminder(
                    engagement_id=engagement_id,
                    kind=kind,
                    dedupe_key=key,
                    due_at=due_at,
                    payload=json.dumps(payload, default=str),
                    created_at=now,
                )
            )
            session.flush()
    except IntegrityError:
        return False
    return True


def ensure_all(
    session: Session,
    rows: list[tuple[int, str, str, datetime, dict[str, object]]],
    now: datetime,
) -> int:
    """`ensure` for many reminders (engagement id, kind, dedupe key, due, payload) at once: one
    insert when none exists yet (what the sweep looked up), else one by one. Returns how many
    were inserted."""
    if not rows:
        return 0
    try:
        with session.begin_nested():
            session.execute(
                insert(Reminder),
                [
                    {
                        "engagement_id": engagement_id,
                        "kind": kind,
                        "dedupe_key": key,
                        "due_at": due_at,
                        "status": "pending",
                        "attempts": 0,
                        "payload": json.dumps(payload, default=str),
                        "created_at": now,
                    }
                    for engagement_id, kind, key, due_at, payload in rows
                ],
            )
        return len(rows)
    except IntegrityError:
        return sum(ensure(session, *row, now) for row in rows)


def cancel_pending(session: Session, engagement_id: int) -> int:
    """Cancel every pending reminder of the engagement; returns how many."""
    result = session.execute(
        update(Reminder)
        .where(col(Reminder.engagement_id) == engagement_id, col(Reminder.status) == "pending")
        .values(status="cancelled")
    )
    return rowcount(result)


_INSERT_NEXT_CHECK = insert(table_of(NextCheckRequest))  # built once


def request_next_check(session: Session, engagement_id: int, now: datetime) -> None:
    """Something changed that may move when the engagement next needs a reminder planned (an
    item ticked, snoozed or dated, a setting, a sign-off, the dry run, nudges paused…): the next
    sweep plans it, whatever its next check said. Part of the change's transaction; the caller
    flushes. An insert, so concurrent changes never wait on each other for it; a Core one, written
    at once in the caller's transaction."""
    session.connection().execute(_INSERT_NEXT_CHECK, {"engagement_id": engagement_id, "at": now})
