"""Sign-off request messages as they stand now: what is being approved (its items' state now while
it waits; as requested once decided, with what was still open), a re-request's change request and
what changed, who may approve (named, not pinged: a note in the thread mentions them), the
decision, and — for a gate that waits on the go-live dry run — what is true of the dry run now.
Posted requests are updated in place when any of that changes (rendered when the outbox sends)."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from bot.engagement import signoffs as so
from bot.people.roles import approvers_for
from bot.services import Services
from bot.slack.nudges import names_of, refresh_nudges
from bot.slack.sending import Sending
from messages import Message
from storage.models import (
    DryRunAttempt,
    Engagement,
    EngagementPhase,
    Gate,
    Member,
    SignoffRequest,
    id_col,
    saved_id,
)


def dry_run_state(session: Session, engagement: Engagement, now: Any) -> dict[str, Any]:
    """What is true of the go-live dry run now: `none` (not scheduled), `scheduled` (ahead),
    `started` (under way, no outcome yet), `issues` or `passed` — with its local time and who
    recorded the outcome."""
    attempt = session.exec(
        select(DryRunAttempt)
        .where(DryRunAttempt.engagement_id == engagement.id)
        .order_by(col(DryRunAttempt.number).desc())
    ).first()
    at = attempt.at if attempt is not None else engagement.dryrun_at
    outcome = attempt.outcome if attempt is not None else engagement.dryrun_outcome
    if at is None:
        return {"state": "none"}
    recorded_by = attempt.recorded_by if attempt is not None else engagement.dryrun_recorded_by
    member = (
        session.exec(
            select(Member).where(Member.engagement_id == engagement.id, Member.user_id == recorded_by)
        ).first()
        if recorded_by
        else None
    )
    state = outcome or ("started" if at <= now else "scheduled")
    return {
        "state": state,
        "local": at.astimezone(_zone(engagement)).strftime("%a %-d %b %H:%M"),
        "tz": engagement.timezone,
        "by": (member.display_name if member is not None else None) or "the team",
    }


def _zone(engagement: Engagement) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(engagement.timezone)


def render_request(services: Services, session: Session, request: SignoffRequest) -> Message:
    gate = session.get(Gate, request.gate_id)
    assert gate is not None
    engagement = session.get(Engagement, gate.engagement_id)
    assert engagement is not None
    content = json.loads(request.content)
    decision = so.decision_of(session, saved_id(request))
    newer = so.latest_request(session, saved_id(gate))
    items = content["items"]
    open_now = 0
    if request.status == "open":
        # While it waits, the approver sees each item's state now (ticked since the request…).
        now_state = {i.number: i for i in so.gate_items(session, gate)}
        number = content["phase"]["number"]
        items = [
            {
                "ref": f"{number}.{i.number}",
                "title": i.title,
                "state": i.status,
                **({"reason": i.na_reason} if i.status == "na" else {}),
            }
            for i in now_state.values()
        ]
        open_now = sum(1 for i in items if i["state"] == "open")
    previous = session.exec(
        select(SignoffRequest).where(
            SignoffRequest.gate_id == gate.id, SignoffRequest.version == request.version - 1
        )
    ).first()
    changes = so.decision_of(session, saved_id(previous)) if previous is not None else None
    dry_run = dry_run_state(session, engagement, services.clock.now()) if gate.requires_dry_run else None
    return services.renderer.message(
        "signoff_request.json.j2",
        command=services.command,
        customer_name=engagement.customer_name,
        gate={"title": content["title"], "description": content["description"], "key": gate.key},
        phase=content["phase"],
        items=items,
        open_now=open_now,
        note=request.note,
        previous_changes={"version": previous.version, "name": changes.display_name, "reason": changes.reason}
        if previous is not None and changes is not None and changes.decision == "changes_requested"
        else None,
        version=request.version,
        fingerprint=request.fingerprint,
        requested_by=request.requested_by,
        requested_by_name=names_of(session, saved_id(engagement)).get(request.requested_by)
        or "the implementation team",
        requested_at=request.requested_at,
        approvers=[
            {"user_id": a.user_id, "name": a.name} for a in approvers_for(session, engagement, gate.key)
        ],
        status=request.status,
        request_id=request.id,
        superseded_by=newer.version if newer else None,
        decision=decision_data(engagement, decision),
        waits_for_dryrun=gate.requires_dry_run and engagement.dryrun_outcome != "passed",
        dry_run=dry_run,
    )


def decision_data(engagement: Engagement, decision: Any) -> dict[str, Any] | None:
    if decision is None:
        return None
    org = (
        engagement.customer_name if decision.team_id and decision.team_id != engagement.team_id else "vendor"
    )
    return {
        "user_id": decision.user_id,
        "name": decision.display_name,
        "at": decision.decided_at,
        "reason": decision.reason,
        "decision": decision.decision,
        "org": org,
        "open_items": decision.open_items,
        "total_items": decision.total_items,
    }


def update_request_message(services: Services, request_id: int) -> None:
    """Queue an update of a posted sign-off request, rendered from the database when it is sent;
    its nudge (in its thread) is refreshed too."""
    with services.db.read() as session:
        request = session.get(SignoffRequest, request_id)
        assert request is not None
        gate = session.get(Gate, request.gate_id)
        assert gate is not None
        channel, ts, engagement_id = request.channel_id, request.ts, gate.engagement_id
    if not ts:
        return

    def render(_out: Sending) -> Message:
        with services.db.read() as session:
            row = session.get(SignoffRequest, request_id)
            assert row is not None
            return render_request(services, session, row)

    services.outbox.update(channel, ts, render, what="sign-off request")
    refresh_nudges(services, engagement_id, f"signoff:{request_id}")  # its nudge says it is decided


def refresh_waiting_on_dry_run(services: Services, engagement_id: int) -> None:
    """The dry run changed (scheduled, started, its outcome): the requests of gates that wait on it
    say what is true now."""
    with services.db.read() as session:
        ids = session.exec(
            select(id_col(SignoffRequest.id))
            .join(Gate, col(Gate.id) == col(SignoffRequest.gate_id))
            .where(
                Gate.engagement_id == engagement_id,
                col(Gate.requires_dry_run).is_(True),
                col(SignoffRequest.status).in_(("open", "changes_requested")),
            )
        ).all()
    for request_id in ids:
        update_request_message(services, request_id)


def refresh_open_requests(services: Services, engagement_id: int, phase_number: int) -> None:
    """The open sign-off requests of a phase's gates show their items' state now."""
    with services.db.read() as session:
        ids = session.exec(
            select(id_col(SignoffRequest.id))
            .join(Gate, col(Gate.id) == col(SignoffRequest.gate_id))
            .join(EngagementPhase, col(EngagementPhase.id) == col(Gate.phase_id))
            .where(
                Gate.engagement_id == engagement_id,
                EngagementPhase.number == phase_number,
                SignoffRequest.status == "open",
            )
        ).all()
    for request_id in ids:
        update_request_message(services, request_id)
