"""Phase completion: when the current phase's work is finished, the engagement moves on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from bot import audit
from bot.checklist import items_of, phase_complete
from bot.engagements import phases_of
from bot.sides import Actor
from bot.signoffs import gates_approved
from storage.models import Engagement, EngagementPhase


def advance_if_complete(
    session: Session, engagement: Engagement, now: datetime, actor: Actor | None = None
) -> int | None:
    """Complete the current phase (and any finished ones after it); returns the new current
    phase number when the engagement moved on, else None.

    The move is a conditional update on the phase pointer, so two requests finishing the
    same phase at once move it (and announce it) once.
    """
    phases = phases_of(session, engagement.id)  # type: ignore[arg-type]
    start = engagement.phase_index
    current = start
    by_number = {p.number: p for p in phases}
    while current in by_number and current < len(phases) and _complete(session, by_number[current]):
        current += 1
    if current == start:
        return None
    result = session.execute(
        update(Engagement)
        .where(col(Engagement.id) == engagement.id, col(Engagement.phase_index) == start)
        .values(phase_index=current, updated_at=now)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        return None
    for n in range(start, current):
        phase = by_number[n]
        if phase.completed_at is None:
            phase.completed_at = now
            session.add(phase)
            audit.record(
                session,
                engagement.id,
                actor or audit.SYSTEM,
                "phase.completed",
                phase.name,  # type: ignore[arg-type]
                {"phase": phase.number},
                now=now,
            )
    if engagement in session:
        session.refresh(engagement)
    else:
        engagement.phase_index = current
    return current


def _complete(session: Session, phase: EngagementPhase) -> bool:
    """All items done or not applicable, and every gate of the phase approved."""
    return phase_complete(items_of(session, phase.id)) and gates_approved(session, phase.id)  # type: ignore[arg-type]
