"""Phase completion: when the current phase's work is finished, the engagement moves on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from bot.checklist import items_of, phase_complete
from bot.engagements import phases_of
from storage.models import Engagement, EngagementPhase


def advance_if_complete(session: Session, engagement: Engagement, now: datetime) -> int | None:
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
    if engagement in session:
        session.refresh(engagement)
    else:
        engagement.phase_index = current
    return current


def _complete(session: Session, phase: EngagementPhase) -> bool:
    return phase_complete(items_of(session, phase.id))  # type: ignore[arg-type]
