"""My tasks: what one person owes in an engagement.

Their open items (assigned to them first, in any phase; then their side's unassigned ones up to
the current phase: a later phase's work is not owed yet), each with its due date, and whether it is blocked or its reminders snoozed; and the sign-offs waiting on them (the
requests open for a gate they approve). For the implementation team, the sign-offs waiting on the
customer are listed too, so a consultant sees what to chase. Someone on neither side has no tasks.
Read only: nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session, col, select

from bot.engagement.checklist import OPEN
from bot.people.roles import approvers_for
from bot.people.sides import CUSTOMER, Actor
from storage.models import Engagement, EngagementPhase, Gate, Item, SignoffRequest


@dataclass(frozen=True)
class Task:
    item: Item
    phase: EngagementPhase

    @property
    def ref(self) -> str:
        return f"{self.phase.number}.{self.item.number}"


@dataclass(frozen=True)
class WaitingSignoff:
    request: SignoffRequest
    gate: Gate
    phase: EngagementPhase
    waits_for_dryrun: bool


@dataclass
class Tasks:
    side: str
    assigned: list[Task] = field(default_factory=list)  # assigned to them, any side
    unassigned: list[Task] = field(default_factory=list)  # their side's items nobody has yet
    signoffs: list[WaitingSignoff] = field(default_factory=list)  # waiting on their decision
    with_customer: list[WaitingSignoff] = field(default_factory=list)  # vendor: waiting on the customer
    other_side_open: int = 0  # open items of the other side (a line for context)

    @property
    def empty(self) -> bool:
        return not (self.assigned or self.unassigned or self.signoffs or self.with_customer)


def _order(task: Task) -> tuple[date, int, int]:
    return (task.item.due_on or date.max, task.phase.number, task.item.number)


def tasks_for(session: Session, engagement: Engagement, actor: Actor) -> Tasks:
    """What `actor` owes in `engagement`, soonest due first."""
    tasks = Tasks(side=actor.side)
    if not actor.has_side:
        return tasks
    phases = {
        p.id: p
        for p in session.exec(select(EngagementPhase).where(EngagementPhase.engagement_id == engagement.id))
    }
    items = session.exec(
        select(Item).where(Item.engagement_id == engagement.id, col(Item.status) == OPEN)
    ).all()
    for item in items:
        task = Task(item, phases[item.phase_id])
        if item.assignee_id == actor.user_id:
            tasks.assigned.append(task)  # whatever the phase: it is theirs
        elif task.phase.number > engagement.phase_index:
            continue  # a later phase's work is not owed yet
        elif item.assignee_id is None and item.owner_side == actor.side:
            tasks.unassigned.append(task)
        elif item.owner_side != actor.side:
            tasks.other_side_open += 1
    tasks.assigned.sort(key=_order)
    tasks.unassigned.sort(key=_order)
    open_requests = session.exec(
        select(SignoffRequest, Gate)
        .join(Gate, col(Gate.id) == col(SignoffRequest.gate_id))
        .where(Gate.engagement_id == engagement.id, SignoffRequest.status == "open")
        .order_by(col(SignoffRequest.requested_at))
    ).all()
    for request, gate in open_requests:
        waiting = WaitingSignoff(
            request,
            gate,
            phases[gate.phase_id],
            waits_for_dryrun=gate.requires_dry_run and engagement.dryrun_outcome != "passed",
        )
        if actor.side == CUSTOMER:
            if any(a.user_id == actor.user_id for a in approvers_for(session, engagement, gate.key)):
                tasks.signoffs.append(waiting)
        else:
            tasks.with_customer.append(waiting)
    return tasks
