"""Sign-offs in the channel: requesting (command or button), Approve, Request changes."""

from __future__ import annotations

import logging
import re

from slack_bolt import App
from sqlmodel import Session

from bot.commands import ParsedCommand
from bot.engagement import signoffs as so
from bot.engagement.lifecycle import active_in_channel
from bot.engagement.phases import advance_if_complete
from bot.errors import UserError
from bot.people.members import lead_of
from bot.people.sides import Actor
from bot.services import Services
from bot.slack.notes import tell_approvers_of_request, tell_lead
from bot.slack.publish import announce_phase, refresh_checklist
from bot.slack.requests import decision_data, render_request
from bot.slack.requests import update_request_message as update_request_message
from handlers.base import Request, actor_for, click_engagement
from handlers.engagement import require_engagement
from handlers.listening import listener
from storage.models import Engagement, EngagementPhase, Gate, SignoffRequest

log = logging.getLogger("golive.handlers.signoffs")

APPROVE = re.compile(r"^signoff_approve:(\d+)$")
CHANGES = re.compile(r"^signoff_changes:(\d+)$")
REQUEST = re.compile(r"^signoff_request:(\d+)$")
SIGNOFF = "signoff"


# Rendering a request lives in bot.slack.requests (the sweep refreshes requests too);
# `update_request_message` is imported from here by the team handlers.


# -- requesting ----------------------------------------------------------------------------
def _request(
    req: Request, gate_key: str | None, gate_id: int | None = None, *, engagement_id: int | None = None
) -> None:
    """Request a gate's sign-off in the engagement's channel: the channel's engagement for a
    command, the clicked message's for a button, or `engagement_id` (the App Home's cards)."""
    s = req.services
    now = s.clock.now()
    with s.db.session() as session:
        if engagement_id is not None:
            engagement = session.get(Engagement, engagement_id)
            if engagement is not None and engagement.status != "active":
                engagement = None
        elif req.kind == "command":
            engagement = active_in_channel(session, req.channel_id or "")
        else:
            engagement = click_engagement(req, session)
        if engagement is None:
            raise UserError(f"No engagement runs in this channel; start one with `{s.command} start`.")
        if gate_id is not None:
            gate = session.get(Gate, gate_id)
            if gate is None or gate.engagement_id != engagement.id:
                raise UserError("That gate is not part of this engagement.")
        else:
            gate = so.find_gate(session, engagement, gate_key)
        actor = actor_for(req, session, engagement)
        done = so.request_signoff(session, engagement, gate, actor, channel_id=engagement.channel_id, now=now)
        request_id = done.request.id
        superseded_id = done.superseded.id if done.superseded else None
        message = render_request(s, session, done.request)
        engagement_id, channel = engagement.id, engagement.channel_id
        phase = session.get(EngagementPhase, gate.phase_id)
        phase_number = phase.number if phase else engagement.phase_index
    if req.kind == "command":
        req.ack(s.notice(f"Posted the sign-off request for {gate.title} (version {done.request.version})."))
    else:
        req.ack()

    def posted(ts: str) -> None:
        with s.db.session() as session:
            row = session.get(SignoffRequest, request_id)
            assert row is not None
            row.ts = ts
            session.add(row)
        tell_approvers_of_request(s, request_id, ts)
        if superseded_id is not None:
            update_request_message(s, superseded_id)

    s.outbox.post(
        channel, message, kind=SIGNOFF, key=str(request_id), engagement_id=engagement_id, then=posted
    )
    refresh_checklist(s, engagement_id, phase_number)  # type: ignore[arg-type]


def cmd_signoff(req: Request, cmd: ParsedCommand) -> None:
    require_engagement(req)
    _request(req, cmd.words[0] if cmd.words else None)


def request_gate(req: Request, engagement_id: int, gate_id: int) -> None:
    """Request a gate's sign-off from outside the channel (the App Home): the same request,
    posted in the engagement's channel."""
    _request(req, None, gate_id, engagement_id=engagement_id)


def on_request_button(req: Request) -> None:
    req.ack()
    gate_id = req.action_number()
    _request(req, None, gate_id)


# -- deciding ------------------------------------------------------------------------------
def _load(req: Request, session: Session, request_id: int) -> tuple[Engagement, SignoffRequest, Gate, Actor]:
    """The request, which must belong to the engagement of the message or form it came from."""
    engagement = click_engagement(req, session)
    request = session.get(SignoffRequest, request_id)
    gate = session.get(Gate, request.gate_id) if request is not None else None
    if request is None or gate is None or gate.engagement_id != engagement.id:
        raise UserError("That sign-off request is not part of this engagement. Nothing was changed.")
    return engagement, request, gate, actor_for(req, session, engagement)


def _closed_reason(session: Session, request: SignoffRequest) -> str | None:
    if request.status == "open":
        return None
    if request.status == "superseded":
        newer = so.latest_request(session, request.gate_id)
        return f"This request was replaced by version {newer.version if newer else '?'}; use the newer one. Nothing was changed."
    decision = so.decision_of(session, request.id)  # type: ignore[arg-type]
    if decision is None:
        return "This request is already closed. Nothing was changed."
    verb = "approved" if decision.decision == "approved" else "answered with changes requested"
    return f"This request was already {verb} by {decision.display_name}. Nothing was changed."


def on_approve(req: Request) -> None:
    req.ack()
    request_id = req.action_number()
    _decide(req, request_id, "approved", None)


def _decide(req: Request, request_id: int, decision: str, reason: str | None) -> None:
    s = req.services
    with s.db.read() as session:
        engagement, request, gate, actor = _load(req, session, request_id)
        closed = _closed_reason(session, request)
        if closed is None:
            so.check_may_decide(session, engagement, gate, actor)
    if closed is not None:
        req.reply(s.notice(closed))
        return
    # The name as Slack shows it now, recorded with the decision (users.info, cached).
    name = s.slack.profile(actor.user_id, fresh=True).name
    now = s.clock.now()
    with s.db.session() as session:
        engagement, request, gate, actor = _load(req, session, request_id)
        row = so.decide(
            session, engagement, request, actor, decision=decision, display_name=name, reason=reason, now=now
        )
        advanced = (
            advance_if_complete(session, engagement, now, actor) if row and decision == "approved" else None
        )
        phase = session.get(EngagementPhase, gate.phase_id)
        lead = lead_of(session, engagement.id)  # type: ignore[arg-type]
        engagement_id, channel, request_ts = engagement.id, engagement.channel_id, request.ts
        ctx = {
            "customer_name": engagement.customer_name,
            "gate": {"title": gate.title},
            "version": request.version,
            "fingerprint": request.fingerprint,
            "decision": decision_data(engagement, row),
            "lead": lead.user_id if lead else None,
            "lead_name": lead.display_name if lead else "the lead consultant",
            "channel": engagement.channel_id,
        }
    if row is None:
        log.info("sign-off request %s already decided; click by %s ignored", request_id, actor.user_id)
        return
    update_request_message(s, request_id)
    announcement = s.renderer.message("signoff_decided.json.j2", **ctx, direct=False)
    s.outbox.post(
        channel,
        announcement,
        kind="decision",
        key=str(request_id),
        engagement_id=engagement_id,
        thread_ts=request_ts or None,  # under the request; at the top level only if it never landed
    )
    if decision != "approved":  # the lead acts on it: told privately
        direct = s.renderer.message("signoff_decided.json.j2", **ctx, direct=True)
        tell_lead(s, engagement_id, direct, key=f"changes:{request_id}", actor_id=actor.user_id)  # type: ignore[arg-type]
    if phase is not None:
        refresh_checklist(s, engagement_id, phase.number)  # type: ignore[arg-type]
    if advanced is not None:
        announce_phase(s, engagement_id, advanced)  # type: ignore[arg-type]


def on_changes(req: Request) -> None:
    req.ack()
    s = req.services
    request_id = req.action_number()
    with s.db.session() as session:
        engagement, request, gate, actor = _load(req, session, request_id)
        closed = _closed_reason(session, request)
        if closed is None:
            so.check_may_decide(session, engagement, gate, actor)
        title, version = gate.title, request.version
    if closed is not None:
        req.reply(s.notice(closed))
        return
    view = s.renderer.view(
        "signoff_changes_modal.json.j2",
        gate_title=title,
        version=version,
        meta={"channel": req.channel_id, "request": request_id},
    )
    s.slack.open_view(req.trigger_id or "", view)


def on_changes_submit(req: Request) -> None:
    reason = req.text_field("reason")
    if not reason:
        req.ack(response_action="errors", errors={"reason": "Say what needs to change."})
        return
    req.ack()
    _decide(req, req.meta_id("request"), "changes_requested", reason)


def register(app: App, services: Services) -> None:
    app.action(APPROVE)(listener(services, on_approve))
    app.action(CHANGES)(listener(services, on_changes))
    app.action(REQUEST)(listener(services, on_request_button))
    app.view("signoff_changes")(listener(services, on_changes_submit))
