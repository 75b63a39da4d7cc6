"""Go-live in the channel: the cutover message and the celebration.

When the final approval is recorded, a message in the final request's thread says what is left
before go-live ("1 item left: 5.7 …") and offers the implementation team **Confirm go-live**; it is
kept true as items are ticked. Confirming the cutover (`bot.engagement.phases.go_live`) makes the
engagement live; the celebration, at the top level, names the people, the dates and the numbers
(kickoff to live, against the plan) and thanks the approver.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.engagement.lifecycle import calendar_for, local_today, phases_of
from bot.engagement.phases import readiness
from bot.people.roles import team
from bot.services import Services
from bot.slack.sending import Sending
from messages import Message
from storage.models import AuditEvent, Engagement, Gate, Item, PostedMessage, SignoffDecision, saved_id

CUTOVER = "cutover"  # ledger kind of the cutover message
LIVE = "live"


def _final_decision(session: Session, gates: list[Gate]) -> SignoffDecision | None:
    if not gates:
        return None
    return session.exec(
        select(SignoffDecision)
        .where(
            col(SignoffDecision.gate_id).in_([g.id for g in gates]), SignoffDecision.decision == "approved"
        )
        .order_by(col(SignoffDecision.decided_at).desc())
    ).first()


def cutover_message(services: Services, session: Session, engagement: Engagement, now: datetime) -> Message:
    state = readiness(session, engagement)
    decision = _final_decision(session, state.final_gates)
    zone = ZoneInfo(engagement.timezone)
    rows = team(session, engagement)
    lead = next((r for r in rows if r.role == "lead"), None)
    live_by = None
    if engagement.status == "live":
        event = session.exec(
            select(AuditEvent)
            .where(AuditEvent.engagement_id == engagement.id, AuditEvent.kind == "engagement.live")
            .order_by(col(AuditEvent.id).desc())
        ).first()
        live_by = {"name": event.actor_name, "at": event.at.astimezone(zone)} if event is not None else None
    return services.renderer.message(
        "cutover.json.j2",
        customer_name=engagement.customer_name,
        status=engagement.status,
        lead=lead.user_id if lead else None,
        approved_by=decision.display_name if decision is not None else None,
        approved_at=decision.decided_at.astimezone(zone) if decision is not None else None,
        open_items=[{"ref": ref, "title": i.title, "side": i.owner_side} for ref, i in state.open_items[:10]],
        more=max(0, len(state.open_items) - 10),
        other_gates=[g.title for g in state.other_gates],
        planned=state.planned,
        early=state.planned is not None and local_today(now, engagement.timezone) < state.planned,
        live_by=live_by,
        engagement_id=engagement.id,
        command=services.command,
    )


def post_cutover(services: Services, engagement_id: int, thread_ts: str | None) -> None:
    """After the final approval: the cutover message, under the final request (once)."""
    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        if engagement is None or engagement.status != "active":
            return
        exists = session.exec(
            select(PostedMessage.id).where(
                PostedMessage.engagement_id == engagement_id, PostedMessage.kind == CUTOVER
            )
        ).first()
        if exists is not None:
            refresh_cutover(services, engagement_id)
            return
        channel = engagement.channel_id

    def render(_out: Sending) -> Message | None:
        with services.db.read() as session:
            row = session.get(Engagement, engagement_id)
            return cutover_message(services, session, row, services.clock.now()) if row is not None else None

    services.outbox.post(
        channel,
        render,
        kind=CUTOVER,
        key=str(engagement_id),
        engagement_id=engagement_id,
        thread_ts=thread_ts,
    )


def refresh_cutover(services: Services, engagement_id: int) -> None:
    """The cutover message says what is true now (what is left, or that the customer is live)."""
    with services.db.read() as session:
        posted = session.exec(
            select(PostedMessage).where(
                PostedMessage.engagement_id == engagement_id, PostedMessage.kind == CUTOVER
            )
        ).first()
    if posted is None:
        return

    def render(_out: Sending) -> Message | None:
        with services.db.read() as session:
            row = session.get(Engagement, engagement_id)
            return cutover_message(services, session, row, services.clock.now()) if row is not None else None

    services.outbox.update(posted.channel_id, posted.ts, render, what="cutover")


def live_context(session: Session, engagement: Engagement, now: datetime) -> dict[str, Any]:
    """The celebration's facts: who, when, and kickoff to live against the plan."""
    calendar = calendar_for(engagement)
    phases = phases_of(session, saved_id(engagement))
    rows = team(session, engagement)
    planned = engagement.target_on or (phases[-1].planned_end if phases else None)
    live_on = local_today(now, engagement.timezone)
    kickoff = engagement.kickoff_on
    took = calendar.count(kickoff, live_on)
    plan = calendar.count(kickoff, planned) if planned else None
    items = session.exec(select(Item).where(Item.engagement_id == engagement.id)).all()
    approvals = session.exec(
        select(SignoffDecision)
        .join(Gate, col(Gate.id) == col(SignoffDecision.gate_id))
        .where(Gate.engagement_id == engagement.id, SignoffDecision.decision == "approved")
        .order_by(col(SignoffDecision.decided_at))
    ).all()

    def people(role: str, side: str) -> list[dict[str, str]]:
        return [{"user_id": r.user_id, "name": r.name} for r in rows if r.role == role and r.side == side]

    approvers = list({d.user_id: {"user_id": d.user_id, "name": d.display_name} for d in approvals}.values())
    return {
        "kickoff": kickoff,
        "live_on": live_on,
        "planned": planned,
        "took": took,
        "plan_days": plan,
        "items_done": sum(1 for i in items if i.status == "done"),
        "items_total": sum(1 for i in items if i.status != "na"),
        "approvals": len(approvals),
        "approvers": approvers,
        "lead": people("lead", "vendor"),
        "consultants": people("consultant", "vendor"),
        "customer_people": people("contributor", "customer") + people("main_contact", "customer"),
        "dryrun_on": local_today(engagement.dryrun_at, engagement.timezone)
        if engagement.dryrun_at and engagement.dryrun_outcome == "passed"
        else None,
    }


def announce_live(services: Services, engagement_id: int) -> None:
    """The customer is live: the celebration, at the top level."""
    from bot.slack.presenters import overview

    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        assert engagement is not None
        now = services.clock.now()
        message = services.renderer.message(
            "live.json.j2",
            command=services.command,
            **overview(session, engagement, services.playbook_for(engagement), now),
            live=live_context(session, engagement, now),
        )
        channel = engagement.channel_id
    services.outbox.post(channel, message, kind=LIVE, key=LIVE, engagement_id=engagement_id)
