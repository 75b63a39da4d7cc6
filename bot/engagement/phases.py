"""Phase completion: when the current phase's work is finished, the engagement moves on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from bot.engagement.checklist import Change, items_of, phase_complete
from bot.engagement.lifecycle import phases_of
from bot.engagement.signoffs import gates_approved
from bot.people import audit
from bot.people.sides import Actor
from storage.models import Engagement, EngagementPhase
from storage.reminder_rows import cancel_pending


def advance_if_complete(
    session: Session, engagement: Engagement, now: datetime, actor: Actor | None = None
) -> int | None:
    """Complete the current phase (and any finished ones after it); returns the new current
    phase number when the engagement moved on, else None. When the last phase completes the
    engagement is live: the number returned is one past the last phase.

    The move is a conditional update on the phase pointer, so two requests finishing the
    same phase at once move it (and announce it) once.
    """
    phases = phases_of(session, engagement.id)  # type: ignore[arg-type]
    start = engagement.phase_index
    current = start
    by_number = {p.number: p for p in phases}
    while current in by_number and _complete(session, by_number[current]):
        current += 1
    if current == start:
        return None
    live = current > len(phases)
    values: dict[str, object] = {"phase_index": min(current, len(phases)), "updated_at": now}
    if live:
        values["status"] = "live"
    result = session.execute(
        update(Engagement)
        .where(
            col(Engagement.id) == engagement.id,
            col(Engagement.phase_index) == start,
            col(Engagement.status) == "active",
        )
        .values(**values)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        return None
    who = actor or audit.SYSTEM
    for n in range(start, min(current, len(phases) + 1)):
        phase = by_number[n]
        if phase.completed_at is None:
            phase.completed_at = now
            session.add(phase)
            audit.record(
                session,
                engagement.id,
                who,
                "phase.completed",
                phase.name,
                {"phase": phase.number},  # type: ignore[arg-type]
                now=now,
            )
    if live:
        cancelled = cancel_pending(session, engagement.id)  # type: ignore[arg-type]
        audit.record(
            session,
            engagement.id,
            who,
            "engagement.live",
            engagement.customer_name,  # type: ignore[arg-type]
            {"reminders_cancelled": cancelled},
            now=now,
        )
    if engagement in session:
        session.refresh(engagement)
    else:
        engagement.phase_index = min(current, len(phases))
        engagement.status = "live" if live else engagement.status
    return current


def _complete(session: Session, phase: EngagementPhase) -> bool:
    """All items done or not applicable, and every gate of the phase approved."""
    return phase_complete(items_of(session, phase.id)) and gates_approved(session, phase.id)  # type: ignore[arg-type]


COMPLETING = frozenset({"item.done", "item.na"})


def record_and_advance(
    session: Session, engagement: Engagement, actor: Actor, change: Change | None, now: datetime
) -> int | None:
    """After a checklist change: audit it, and move the engagement on if that finished a phase.
    Returns the phase to announce, as advance_if_complete does. Only an item done or marked not
    applicable can finish a phase; other changes skip the check (it reads the whole phase)."""
    if change is None:
        return None
    audit.record_change(session, engagement.id, actor, change, now=now)  # type: ignore[arg-type]
    return advance_after(session, engagement, actor, change, now)


def advance_after(
    session: Session, engagement: Engagement, actor: Actor, change: Change | None, now: datetime
) -> int | None:
    """The second half of `record_and_advance`, for a caller that audited the change itself."""
    if change is None or change.kind not in COMPLETING:
        return None
    return advance_if_complete(session, engagement, now, actor)
