"""Customer sign-offs: requests (versioned, fingerprinted), decisions, gate approval.

A gate certifies the items its playbook names (`Gate.item_keys`; none named: its whole phase). A
request needs a named approver, and at most one request of a gate is open at a time; requesting
with items still open, or for a phase not reached yet, is allowed once the implementation team
confirms it (`RequestChecks`), and the request and the decision say how many were open. A request
after changes were requested carries what changed (`SignoffRequest.note`).

Exactly one decision per request is a database guarantee: the decision table has a unique
request_id, and the request moves from open to decided with a conditional update in the
same transaction. Double clicks, two approvers at once and retried requests all end with
one decision, one audit row and one announcement; the losers change nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from bot.engagement.checklist import NA, items_of
from bot.engagement.playbook import Playbook
from bot.engagement.rules import applies, engagement_fields
from bot.errors import UserError
from bot.events.emit import SIGNOFF_DECIDED
from bot.events.emit import emit as emit_event
from bot.people import audit
from bot.people.roles import approvers_for
from bot.people.sides import Actor
from storage.db import rowcount
from storage.models import Engagement, EngagementPhase, Gate, Item, SignoffDecision, SignoffRequest, saved_id

MAX_REASON = 2000


class NotAllowed(UserError):
    """The clicker may not decide this sign-off; the message names who can."""


def create_gates(
    session: Session, engagement: Engagement, phases: list[EngagementPhase], playbook: Playbook
) -> None:
    by_key = {p.key: p for p in phases}
    fields = engagement_fields(engagement)
    for spec in playbook.gates:
        phase = by_key.get(spec.phase)
        if phase is None:
            continue
        if not applies(spec.when, fields):
            continue
        session.add(
            Gate(
                engagement_id=saved_id(engagement),
                phase_id=saved_id(phase),
                key=spec.key,
                title=spec.title,
                description=spec.description,
                requires_dry_run=spec.requires_dry_run,
                item_keys=json.dumps(list(spec.items)) if spec.items else None,
            )
        )
    session.flush()


def gate_items(session: Session, gate: Gate) -> list[Item]:
    """The items a gate certifies, in checklist order: those its playbook names (of the ones this
    engagement has), or all of its phase's."""
    items = items_of(session, gate.phase_id)
    if gate.item_keys is None:
        return items
    keys = set(json.loads(gate.item_keys))
    return [i for i in items if i.key in keys]


def open_count(items: list[Item]) -> int:
    return sum(1 for i in items if i.status == "open")


def gates_of(session: Session, engagement_id: int, phase_id: int | None = None) -> list[Gate]:
    q = select(Gate).where(Gate.engagement_id == engagement_id)
    if phase_id is not None:
        q = q.where(Gate.phase_id == phase_id)
    return list(session.exec(q.order_by(col(Gate.id))).all())


def find_gate(session: Session, engagement: Engagement, key: str | None) -> Gate:
    """A gate by its key or (the start of) its title, case-insensitive; without one, the current
    phase's first open gate."""
    gates = gates_of(session, saved_id(engagement))
    if not gates:
        raise UserError("This engagement's playbook has no sign-off gates.")
    if key:
        wanted = " ".join(key.strip().lower().replace("_", " ").split())
        gate = next((g for g in gates if g.key == key.strip().lower()), None) or next(
            (g for g in gates if g.title.lower().startswith(wanted) or g.key.replace("_", " ") == wanted),
            None,
        )
        if gate is None:
            raise UserError(
                f"There is no gate `{key[:40]}`; the gates are {', '.join(f'`{g.key}`' for g in gates)}."
            )
        return gate
    current = session.exec(
        select(EngagementPhase).where(
            EngagementPhase.engagement_id == engagement.id, EngagementPhase.number == engagement.phase_index
        )
    ).one()
    open_here = [g for g in gates if g.phase_id == current.id and g.status == "open"]
    if open_here:
        return open_here[0]
    later = [g for g in gates if g.status == "open"]
    if not later:
        raise UserError("Every sign-off gate is already approved.")
    raise UserError(
        f"{current.name} has no open sign-off gate. Name one: {', '.join(f'`{g.key}`' for g in later)}."
    )


def ready_gates(session: Session, engagement: Engagement) -> list[Gate]:
    """The gates a sign-off could be requested for next: open, with no request waiting for a
    decision, of the current phase — or, when it has none, of the earliest later phase."""
    waiting = set(
        session.exec(
            select(SignoffRequest.gate_id)
            .join(Gate, col(Gate.id) == col(SignoffRequest.gate_id))
            .where(Gate.engagement_id == engagement.id, SignoffRequest.status == "open")
        ).all()
    )
    phases = {
        p.id: p.number
        for p in session.exec(select(EngagementPhase).where(EngagementPhase.engagement_id == engagement.id))
    }
    candidates = [
        g
        for g in gates_of(session, saved_id(engagement))
        if g.status == "open" and g.id not in waiting and phases.get(g.phase_id, 0) >= engagement.phase_index
    ]
    if not candidates:
        return []
    first = min(phases[g.phase_id] for g in candidates)
    return [g for g in candidates if phases[g.phase_id] == first]


@dataclass(frozen=True)
class RequestChecks:
    """What the implementation team confirms before a request goes out (`warnings`), what stops
    it (`refusal`), and what a re-request quotes (`previous`)."""

    gate: Gate
    phase: EngagementPhase
    items: list[Item]
    open_items: list[Item]
    ahead: bool  # the gate's phase is not reached yet
    previous: SignoffRequest | None
    refusal: str | None

    @property
    def needs_note(self) -> bool:
        """A re-request after changes were requested says what changed."""
        return self.previous is not None and self.previous.status == "changes_requested"

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.open_items:
            out.append(f"{len(self.open_items)} of {len(self.items)} of its items are still open")
        if self.ahead:
            out.append(f"{self.phase.name} is not reached yet")
        return out


def request_checks(session: Session, engagement: Engagement, gate: Gate) -> RequestChecks:
    phase = session.get(EngagementPhase, gate.phase_id)
    assert phase is not None
    items = gate_items(session, gate)
    previous = latest_request(session, saved_id(gate))
    refusal = None
    if gate.status == "approved":
        refusal = f"{gate.title} is already approved."
    elif previous is not None and previous.status == "open":
        refusal = (
            f"{gate.title} is already waiting for a decision (version {previous.version}); "
            "it is not requested twice."
        )
    elif not approvers_for(session, engagement, gate.key):
        refusal = (
            f"No approver is named for {gate.title} yet, so nobody could approve it. Name one with "
            "`role @person approver` (or Manage team… under `team`), then request it again."
        )
    return RequestChecks(
        gate=gate,
        phase=phase,
        items=items,
        open_items=[i for i in items if i.status == "open"],
        ahead=phase.number > engagement.phase_index,
        previous=previous,
        refusal=refusal,
    )


def latest_request(session: Session, gate_id: int) -> SignoffRequest | None:
    return session.exec(
        select(SignoffRequest)
        .where(SignoffRequest.gate_id == gate_id)
        .order_by(col(SignoffRequest.version).desc())
    ).first()


def content_of(session: Session, gate: Gate) -> dict[str, Any]:
    """What is being approved: the gate and the items it certifies, with their state."""
    phase = session.get(EngagementPhase, gate.phase_id)
    assert phase is not None
    items = gate_items(session, gate)
    return {
        "gate": gate.key,
        "title": gate.title,
        "description": gate.description,
        "phase": {"number": phase.number, "name": phase.name},
        "items": [
            {
                "ref": f"{phase.number}.{i.number}",
                "title": i.title,
                "state": i.status,
                **({"reason": i.na_reason} if i.status == NA else {}),
            }
            for i in items
        ],
    }


def fingerprint(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Requested:
    request: SignoffRequest
    superseded: SignoffRequest | None


def request_signoff(
    session: Session,
    engagement: Engagement,
    gate: Gate,
    actor: Actor,
    *,
    channel_id: str,
    now: datetime,
    note: str | None = None,
) -> Requested:
    """Post a new version of the gate's request. The caller has shown the warnings of
    `request_checks` and had them confirmed; its refusals are enforced here."""
    if not actor.is_vendor:
        raise UserError("Only the implementation team requests sign-offs.")
    checks = request_checks(session, engagement, gate)
    if checks.refusal is not None:
        raise UserError(checks.refusal)
    note = " ".join((note or "").split())[:MAX_REASON] or None
    if checks.needs_note and not note:
        raise UserError("Say what changed since the changes were requested; the new version quotes it.")
    previous = checks.previous
    superseded = None
    if previous is not None and previous.status == "changes_requested":
        previous.status = "superseded"
        session.add(previous)
        superseded = previous
    content = content_of(session, gate)
    version = (
        session.exec(select(func.max(SignoffRequest.version)).where(SignoffRequest.gate_id == gate.id)).one()
        or 0
    ) + 1
    request = SignoffRequest(
        gate_id=saved_id(gate),
        version=version,
        fingerprint=fingerprint(content),
        content=json.dumps(content, ensure_ascii=False),
        requested_by=actor.user_id,
        requested_at=now,
        channel_id=channel_id,
        note=note,
    )
    session.add(request)
    session.flush()
    if superseded is not None:
        audit.record(
            session,
            saved_id(engagement),
            actor,
            "signoff.superseded",
            gate.key,
            {"version": superseded.version, "by_version": version},
            now=now,
        )
    audit.record(
        session,
        saved_id(engagement),
        actor,
        "signoff.requested",
        gate.key,
        {
            "version": version,
            "fingerprint": request.fingerprint,
            "open_items": len(checks.open_items),
            "items": len(checks.items),
            **({"phase_not_reached": True} if checks.ahead else {}),
            **({"note": note} if note else {}),
        },
        now=now,
    )
    return Requested(request, superseded)


def check_may_decide(session: Session, engagement: Engagement, gate: Gate, actor: Actor) -> None:
    approvers = approvers_for(session, engagement, gate.key)
    if actor.is_customer and any(a.user_id == actor.user_id for a in approvers):
        return
    names = ", ".join(a.name for a in approvers)
    who = (
        f"Only {names} can approve {gate.title}"
        if approvers
        else (
            f"No approver is named for {gate.title} yet; the implementation team names them with "
            "`role @person approver`"
        )
    )
    if actor.is_vendor:
        who += ". The implementation team can never approve on the customer's behalf"
    raise NotAllowed(who + ". Nothing was changed.")


def decide(
    session: Session,
    engagement: Engagement,
    request: SignoffRequest,
    actor: Actor,
    *,
    decision: str,
    display_name: str,
    reason: str | None = None,
    now: datetime,
) -> SignoffDecision | None:
    """Record the decision; None when another click already decided (or superseded) it."""
    gate = session.get(Gate, request.gate_id)
    assert gate is not None
    check_may_decide(session, engagement, gate, actor)
    if decision == "approved" and gate.requires_dry_run and engagement.dryrun_outcome != "passed":
        raise NotAllowed(
            f"{gate.title} waits for a passed go-live dry run; record its outcome on the dry-run reminder first. "
            "Nothing was changed."
        )
    if decision == "changes_requested":
        reason = " ".join((reason or "").split())
        if not reason:
            raise UserError("Say what needs to change; the reason is kept with the decision.")
        reason = reason[:MAX_REASON]
    moved = session.execute(
        update(SignoffRequest)
        .where(col(SignoffRequest.id) == request.id, col(SignoffRequest.status) == "open")
        .values(status=decision)
    )
    if rowcount(moved) == 0:
        return None
    items = gate_items(session, gate)
    row = SignoffDecision(
        request_id=saved_id(request),
        gate_id=saved_id(gate),
        gate_key=gate.key,
        version=request.version,
        fingerprint=request.fingerprint,
        decision=decision,
        user_id=actor.user_id,
        team_id=actor.team_id,
        display_name=display_name[:200],
        reason=reason,
        decided_at=now,
        open_items=open_count(items),
        total_items=len(items),
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    if decision == "approved":
        session.execute(
            update(Gate)
            .where(col(Gate.id) == gate.id, col(Gate.status) == "open")
            .values(status="approved", approved_at=now)
        )
    audit.record(
        session,
        saved_id(engagement),
        actor,
        f"signoff.{decision}",
        gate.key,
        {
            "version": request.version,
            "fingerprint": request.fingerprint,
            "open_items": row.open_items,
            "items": row.total_items,
            **({"reason": reason} if reason else {}),
        },
        now=now,
    )
    emit_event(
        session,
        SIGNOFF_DECIDED,
        engagement,
        {
            "gate": {"key": gate.key, "title": gate.title},
            "decision": decision,
            "version": request.version,
            "by": {"user_id": actor.user_id, "name": row.display_name, "team_id": actor.team_id},
            "reason": reason,
            "open_items": row.open_items,
            "items": row.total_items,
        },
        now=now,
    )
    return row


def decision_of(session: Session, request_id: int) -> SignoffDecision | None:
    return session.exec(select(SignoffDecision).where(SignoffDecision.request_id == request_id)).first()


def gates_approved(session: Session, phase_id: int) -> bool:
    return all(
        g.status == "approved" for g in session.exec(select(Gate).where(Gate.phase_id == phase_id)).all()
    )
