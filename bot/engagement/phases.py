"""Phase completion: when the current phase's work is finished, the engagement moves on — and
go-live, which is an event, not a checkbox.

Phases complete by themselves when their items are done (or not applicable) and their gates
approved, except the last: the engagement goes live only when the final approval (the last
phase's gates) is recorded and the implementation team confirms the cutover (`go_live`), whatever
is ticked. Until then, a finished last phase is only "ready for go-live" (`readiness`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.engagement.checklist import Change, items_of, phase_complete
from bot.engagement.lifecycle import phases_of, planned_golive
from bot.engagement.signoffs import gates_approved
from bot.errors import UserError
from bot.events.emit import ENGAGEMENT_LIVE, PHASE_STARTED, phase_json
from bot.events.emit import emit as emit_event
from bot.people import audit
from bot.people.sides import Actor
from storage.db import rowcount
from storage.models import Engagement, EngagementPhase, Gate, Item, saved_id
from storage.reminder_rows import cancel_pending


def advance_if_complete(
    session: Session, engagement: Engagement, now: datetime, actor: Actor | None = None
) -> int | None:
    """Complete the current phase (and any finished ones after it), never the last one; returns
    the new current phase number when the engagement moved on, else None. Going live is
    `go_live`'s: a finished last phase only makes the engagement ready for it.

    The move is a conditional update on the phase pointer, so two requests finishing the
    same phase at once move it (and announce it) once.
    """
    phases = phases_of(session, saved_id(engagement))
    start = engagement.phase_index
    current = start
    by_number = {p.number: p for p in phases}
    while current in by_number and current < len(phases) and _complete(session, by_number[current]):
        current += 1
    if current == start:
        return None
    result = session.execute(
        update(Engagement)
        .where(
            col(Engagement.id) == engagement.id,
            col(Engagement.phase_index) == start,
            col(Engagement.status) == "active",
        )
        .values(phase_index=current, updated_at=now)
    )
    if rowcount(result) == 0:
        return None
    who = actor or audit.SYSTEM
    for n in range(start, current):
        phase = by_number[n]
        if phase.completed_at is None:
            phase.completed_at = now
            session.add(phase)
            audit.record(
                session,
                saved_id(engagement),
                who,
                "phase.completed",
                phase.name,
                {"phase": phase.number},
                now=now,
            )
    if engagement in session:
        session.refresh(engagement)
    else:
        engagement.phase_index = current
    emit_event(
        session,
        PHASE_STARTED,
        engagement,
        {
            "phase": phase_json(by_number[current]),
            "completed": list(range(start, current)),
            "reopened": False,
        },
        now=now,
    )
    return current


def _complete(session: Session, phase: EngagementPhase) -> bool:
    """All items done or not applicable, and every gate of the phase approved."""
    return phase_complete(items_of(session, saved_id(phase))) and gates_approved(session, saved_id(phase))


COMPLETING = frozenset({"item.done", "item.na"})


def record_and_advance(
    session: Session, engagement: Engagement, actor: Actor, change: Change | None, now: datetime
) -> int | None:
    """After a checklist change: audit it, and move the engagement on if that finished a phase.
    Returns the phase to announce, as advance_if_complete does. Only an item done or marked not
    applicable can finish a phase; other changes skip the check (it reads the whole phase)."""
    if change is None:
        return None
    audit.record_change(session, saved_id(engagement), actor, change, now=now)
    return advance_after(session, engagement, actor, change, now)


def advance_after(
    session: Session, engagement: Engagement, actor: Actor, change: Change | None, now: datetime
) -> int | None:
    """The second half of `record_and_advance`, for a caller that audited the change itself."""
    if change is None or change.kind not in COMPLETING:
        return None
    return advance_if_complete(session, engagement, now, actor)


@dataclass(frozen=True)
class Readiness:
    """How far the engagement is from going live."""

    final_gates: list[Gate]  # the last phase's gates: the final approval
    approved: bool  # the final approval is recorded (every one of them approved)
    other_gates: list[Gate]  # earlier gates not approved
    open_items: list[tuple[str, Item]]  # (ref, item) still open, any phase
    planned: date | None  # the planned go-live date

    @property
    def ready(self) -> bool:
        return self.approved and not self.open_items and not self.other_gates


def readiness(session: Session, engagement: Engagement) -> Readiness:
    phases = phases_of(session, saved_id(engagement))
    by_id = {p.id: p for p in phases}
    last = phases[-1] if phases else None
    gates = list(
        session.exec(select(Gate).where(Gate.engagement_id == engagement.id).order_by(col(Gate.id))).all()
    )
    final = [g for g in gates if last is not None and g.phase_id == last.id]
    items = session.exec(
        select(Item).where(Item.engagement_id == engagement.id, Item.status == "open").order_by(col(Item.id))
    ).all()
    open_items = sorted(
        ((f"{by_id[i.phase_id].number}.{i.number}", i) for i in items if i.phase_id in by_id),
        key=lambda pair: (by_id[pair[1].phase_id].number, pair[1].number),
    )
    return Readiness(
        final_gates=final,
        approved=all(g.status == "approved" for g in final),
        other_gates=[g for g in gates if g not in final and g.status != "approved"],
        open_items=open_items,
        planned=planned_golive(engagement, phases),
    )


def go_live(session: Session, engagement: Engagement, actor: Actor, now: datetime) -> bool:
    """The implementation team confirms the cutover: the engagement is live. Needs the final
    approval recorded; what is still open is the confirmer's call (shown to them first). False
    when it was live already (a second click)."""
    if not actor.is_vendor:
        raise UserError("Only the implementation team confirms the go-live cutover.")
    state = readiness(session, engagement)
    if not state.approved:
        names = ", ".join(g.title for g in state.final_gates if g.status != "approved")
        raise UserError(
            f"The final approval is not recorded yet ({names}): the customer's approver approves it first. "
            "Nothing was changed."
        )
    phases = phases_of(session, saved_id(engagement))
    moved = session.execute(
        update(Engagement)
        .where(col(Engagement.id) == engagement.id, col(Engagement.status) == "active")
        .values(status="live", phase_index=len(phases), updated_at=now)
    )
    if rowcount(moved) == 0:
        return False
    for phase in phases:
        if phase.completed_at is None:
            phase.completed_at = now
            session.add(phase)
            audit.record(
                session,
                saved_id(engagement),
                actor,
                "phase.completed",
                phase.name,
                {"phase": phase.number},
                now=now,
            )
    cancelled = cancel_pending(session, saved_id(engagement))
    audit.record(
        session,
        saved_id(engagement),
        actor,
        "engagement.live",
        engagement.customer_name,
        {
            "reminders_cancelled": cancelled,
            "open_items": [ref for ref, _ in state.open_items],
            "planned": state.planned,
        },
        now=now,
    )
    session.refresh(engagement)
    emit_event(
        session,
        ENGAGEMENT_LIVE,
        engagement,
        {
            "by": {"user_id": actor.user_id, "name": actor.name},
            "planned": state.planned,
            "open_items": [ref for ref, _ in state.open_items],
            "reminders_cancelled": cancelled,
        },
        now=now,
    )
    return True
