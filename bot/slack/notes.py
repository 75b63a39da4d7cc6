"""Telling people when they are given work: a note that mentions them once, in a thread under
what it is about — the live checklist of the item's phase, or the sign-off request — never as a
new top-level message.

- An item assigned to someone, or given a due date while assigned: the assignee (not when they
  did it themselves).
- An approver named: under each open sign-off request they may now decide, else under the
  current phase's checklist.
- A sign-off requested: its approvers, under the request (which names them without pinging).

Notes are posted through the outbox in the channel's order; the parent is found when the post
runs, and a note with nowhere to go is dropped, never posted at the top level.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlmodel import Session, col, select

from bot.engagement.checklist import Change
from bot.people.roles import ALL_GATES, approvers_for
from bot.services import Services
from bot.slack.publish import checklist_thread
from bot.slack.sending import Thread
from storage.models import Engagement, EngagementPhase, Gate, Member, SignoffRequest

log = logging.getLogger("golive.notes")

NOTE = "note"  # ledger kind of a thread note
TOLD_ABOUT = frozenset({"item.assigned", "item.due"})


def name_of(session: Session, engagement_id: int, user_id: str | None) -> str | None:
    """Who did it, by name: a note names the person who acted without pinging them."""
    if not user_id:
        return None
    member = session.exec(
        select(Member).where(Member.engagement_id == engagement_id, Member.user_id == user_id)
    ).first()
    return (member.display_name if member is not None else None) or None


def in_checklist_thread(
    s: Services, engagement_id: int, phase_number: int | None = None
) -> Callable[[], str | None]:
    """A thread finder for the outbox: the live checklist of the phase (or the current one)."""

    def find() -> str | None:
        found = checklist_thread(s, engagement_id, phase_number)
        return found[1] if found else None

    return find


def _note(
    s: Services,
    channel: str,
    engagement_id: int,
    *,
    key: str,
    thread_ts: Thread,
    what: str,
    people: list[str],
    by: str | None,
    **facts: object,
) -> None:
    """Post one work note (`work_note.json.j2`, `what` kind of it) in a thread, once per `key`."""
    message = s.renderer.message(
        "work_note.json.j2", what=what, people=people, by=by, command=s.command, **facts
    )
    s.outbox.post(channel, message, kind=NOTE, key=key, engagement_id=engagement_id, thread_ts=thread_ts)


def tell_about_change(s: Services, engagement_id: int, change: Change | None, actor_id: str | None) -> None:
    """After an item was assigned or dated: tell its assignee, once, under the checklist."""
    if change is None or change.kind not in TOLD_ABOUT:
        return
    item = change.item
    assignee = item.assignee_id
    if not assignee or assignee == actor_id:
        return
    with s.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        if engagement is None or engagement.status != "active":
            return
        channel = engagement.channel_id
        by = name_of(session, engagement_id, actor_id)
    _note(
        s,
        channel,
        engagement_id,
        key=f"{change.kind}:{item.id}",
        thread_ts=in_checklist_thread(s, engagement_id, change.phase.number),
        what="assigned" if change.kind == "item.assigned" else "due",
        people=[assignee],
        by=by,
        ref=change.ref,
        title=item.title,
        due=item.due_on,
    )


def tell_approver(s: Services, engagement_id: int, user_id: str, gate_key: str, actor_id: str | None) -> None:
    """A customer approver was named (for every gate, or one): under each open request they may
    now decide, or, when there is none, under the current phase's checklist."""
    with s.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        if engagement is None or engagement.status != "active":
            return
        channel = engagement.channel_id
        if not any(a.user_id == user_id for a in approvers_for(session, engagement, gate_key)):
            return  # not (yet) on the customer's side: they cannot approve anything
        gates = {
            g.id: g
            for g in session.exec(select(Gate).where(Gate.engagement_id == engagement_id))
            if gate_key in (ALL_GATES, g.key)
        }
        open_requests = [
            (r, gates[r.gate_id])
            for r in session.exec(
                select(SignoffRequest)
                .where(col(SignoffRequest.gate_id).in_(list(gates)), SignoffRequest.status == "open")
                .order_by(col(SignoffRequest.id))
            )
            if r.ts
        ]
        only = next(iter(gates.values())).title if gate_key != ALL_GATES and gates else None
        by = name_of(session, engagement_id, actor_id)
    if open_requests:
        for request, gate in open_requests:
            _note(
                s,
                channel,
                engagement_id,
                key=f"approver:{request.id}",
                thread_ts=request.ts,
                what="approver_request",
                people=[user_id],
                by=by,
                title=gate.title,
                version=request.version,
            )
        return
    _note(
        s,
        channel,
        engagement_id,
        key=f"approver:{user_id}",
        thread_ts=in_checklist_thread(s, engagement_id),
        what="approver",
        people=[user_id],
        by=by,
        title=only,
    )


def tell_approvers_of_request(s: Services, request_id: int, request_ts: str) -> None:
    """A sign-off request landed: mention its approvers once, in its thread."""
    with s.db.read() as session:
        request = session.get(SignoffRequest, request_id)
        gate = session.get(Gate, request.gate_id) if request is not None else None
        engagement = session.get(Engagement, gate.engagement_id) if gate is not None else None
        if request is None or gate is None or engagement is None:
            return
        people = [a.user_id for a in approvers_for(session, engagement, gate.key)]
        phase = session.get(EngagementPhase, gate.phase_id)
        channel, engagement_id = request.channel_id, engagement.id
        by = name_of(session, engagement.id, request.requested_by)  # type: ignore[arg-type]
    if not people:
        return  # the request itself says that no approver is named yet
    _note(
        s,
        channel,
        engagement_id,
        key=f"requested:{request_id}",
        thread_ts=request_ts,
        what="signoff_requested",
        people=people,
        by=by,
        title=gate.title,
        version=request.version,
        phase=phase.name if phase else "",
    )
