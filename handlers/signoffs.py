"""Sign-offs in the channel: requesting (command or button), Approve, Request changes."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from slack_bolt import App
from sqlmodel import Session

from bot.commands import ParsedCommand
from bot.engagement import dependencies, phases, ratings
from bot.engagement import signoffs as so
from bot.engagement.checklist import OPEN, Refused, items_of, phase_by_number
from bot.engagement.lifecycle import active_in_channel
from bot.engagement.phases import advance_if_complete
from bot.errors import UserError
from bot.people.members import lead_of
from bot.people.sides import Actor
from bot.services import Services
from bot.slack.gateway import SlackCallFailed
from bot.slack.golive import post_cutover
from bot.slack.home import NOTE_MAX, publish_home, refresh_homes, remember_viewer
from bot.slack.notes import tell_approvers_of_request
from bot.slack.publish import announce_phase, refresh_checklist
from bot.slack.ratings import ask_to_rate
from bot.slack.signoff_requests import decision_data, render_request
from bot.slack.signoff_requests import update_request_message as update_request_message
from handlers.base import Request, actor_for, click_engagement
from handlers.engagement import require_engagement
from handlers.listening import after_ack, listener
from messages import Message, Trusted, fmt
from storage.models import Engagement, EngagementPhase, Gate, SignoffRequest, saved_id

log = logging.getLogger("golive.handlers.signoffs")

APPROVE = re.compile(r"^signoff_approve:(\d+)$")
CHANGES = re.compile(r"^signoff_changes:(\d+)$")
REQUEST = re.compile(r"^signoff_request:(\d+)$")
SIGNOFF = "signoff"


# Rendering a request lives in bot.slack.signoff_requests (the sweep refreshes requests too);
# `update_request_message` is imported from here by the team handlers.


# -- requesting ----------------------------------------------------------------------------
def _engagement(req: Request, session: Session, engagement_id: int | None) -> Engagement:
    services = req.services
    if engagement_id is not None:
        engagement = session.get(Engagement, engagement_id)
        if engagement is not None and engagement.status != "active":
            engagement = None
    elif req.kind == "command":
        engagement = active_in_channel(session, req.channel_id or "")
    else:
        engagement = click_engagement(req, session)
    if engagement is None:
        raise UserError(f"No engagement runs in this channel; start one with `{services.command} start`.")
    return engagement


def _request(
    req: Request,
    gate_key: str | None,
    gate_id: int | None = None,
    *,
    engagement_id: int | None = None,
    confirmed: bool = False,
    note: str | None = None,
    after: bool = False,
    then: Callable[[Request], None] | None = None,
    refused: Callable[[Request, Trusted], None] | None = None,
) -> None:
    """Request a gate's sign-off in the engagement's channel: the channel's engagement for a
    command, the clicked message's for a button, or `engagement_id` (the App Home's cards).

    Without a gate, the next one: a picker when several are ready. Refused, with why, when the
    gate is approved, already waiting for a decision (with a link to it) or has no approver.
    With items still open or its phase not reached, or after changes were requested, a form
    asks the implementation team to confirm (and to say what changed) first.

    Everything here up to the request only reads and checks. A command or a button in the channel
    writes the request before its ack (the command's ack says so); with `after` (the confirmation
    form, the App Home) it is acked once it is in the inbox and written after, and `then(req)`
    answers once it is (a Slack call). A replay finds the gate waiting for a decision, refused
    above: one request, one post.

    With `refused` (the App Home's button, drawn earlier) the gate must also still be as the Home
    showed it (`_no_longer_ready`), and a refusal is told by `refused(req, note)` instead of a
    private message — also when a colleague's request got in between the check and the write."""
    services = req.services
    now = services.clock.now()
    with services.db.read() as session:
        engagement = _engagement(req, session, engagement_id)
        if not actor_for(req, session, engagement).is_vendor:
            raise Refused("Only the implementation team requests sign-offs.")
        if gate_id is not None:
            gate = session.get(Gate, gate_id)
            if gate is None or gate.engagement_id != engagement.id:
                raise UserError("That gate is not part of this engagement.")
        elif gate_key:
            gate = so.find_gate(session, engagement, gate_key)
        else:
            ready = so.ready_gates(session, engagement)
            if not ready:
                raise UserError(_nothing_ready(session, engagement, services.command))
            if len(ready) > 1:
                req.reply(_picker(services, engagement, ready))
                return
            gate = ready[0]
        checks = so.request_checks(session, engagement, gate)
        waiting = (
            checks.previous if checks.previous is not None and checks.previous.status == "open" else None
        )
        open_ts = waiting.ts if waiting is not None else None
        channel = engagement.channel_id
        refusal = checks.refusal
        if refusal is None and refused is not None:
            refusal = _no_longer_ready(session, engagement, gate, services.command)
        confirm_view = None
        if refusal is None and not confirmed and (checks.warnings or checks.needs_note):
            confirm_view = _confirm_view(services, session, engagement, checks)
    if refusal is not None and refused is not None:
        req.ack()
        if req.replaying is not None and waiting is not None and waiting.requested_by == req.user_id and then:
            then(req)  # the request this very click wrote before its process died
        else:
            refused(req, _home_note(refusal, _link(services, channel, open_ts)))
        return
    if checks.refusal is not None:
        link = _link(services, channel, open_ts)
        # The link is mrkdwn of ours (the refusal's text is escaped): it must reach Slack as a link.
        raise UserError(
            fmt("{refusal} <{link}|Open the request>.", refusal=checks.refusal, link=link)
            if link
            else checks.refusal
        )
    if confirm_view is not None:
        req.ack()
        services.slack.open_view(req.trigger_id or "", confirm_view)
        return
    engagement_id, gate_id = saved_id(engagement), saved_id(gate)
    if after:

        def work(r: Request) -> Callable[[], None] | None:
            try:
                written = _write_request(r, engagement_id, gate_id, note, now)
            except UserError as exc:  # a colleague's request got in first (`so.request_signoff`)
                if refused is None:
                    raise
                told = _home_note(exc.message, None)
                return lambda: refused(r, told)
            _post_request(r, written)
            return (lambda: then(r)) if then is not None else None

        after_ack(req, work)
        return
    written = _write_request(req, engagement_id, gate_id, note, now)
    if req.kind == "command":
        req.ack(services.notice(written.said))
    else:
        req.ack()
    _post_request(req, written)


@dataclass(frozen=True)
class _Written:
    """A sign-off request written, to post."""

    request_id: int
    superseded_id: int | None
    message: Message
    engagement_id: int
    channel: str
    phase_number: int
    said: str


def _write_request(
    req: Request, engagement_id: int, gate_id: int, note: str | None, now: datetime
) -> _Written:
    services = req.services
    with services.db.session() as session:
        engagement = _engagement(req, session, engagement_id)
        gate = session.get(Gate, gate_id)
        assert gate is not None
        actor = actor_for(req, session, engagement)
        done = so.request_signoff(
            session, engagement, gate, actor, channel_id=engagement.channel_id, now=now, note=note
        )
        phase = session.get(EngagementPhase, gate.phase_id)
        return _Written(
            request_id=saved_id(done.request),
            superseded_id=done.superseded.id if done.superseded else None,
            message=render_request(services, session, done.request),
            engagement_id=saved_id(engagement),
            channel=engagement.channel_id,
            phase_number=phase.number if phase else engagement.phase_index,
            said=f"Posted the sign-off request for {gate.title} (version {done.request.version}).",
        )


def _post_request(req: Request, written: _Written) -> None:
    """Post the request written (the outbox), and refresh what shows it."""
    services = req.services
    request_id, superseded_id = written.request_id, written.superseded_id

    def posted(ts: str) -> None:
        with services.db.session() as session:
            row = session.get(SignoffRequest, request_id)
            assert row is not None
            row.ts = ts
            session.add(row)
        tell_approvers_of_request(services, request_id, ts)
        if superseded_id is not None:
            update_request_message(services, superseded_id)

    services.outbox.post(
        written.channel,
        written.message,
        kind=SIGNOFF,
        key=str(request_id),
        engagement_id=written.engagement_id,
        then=posted,
    )
    refresh_checklist(services, written.engagement_id, written.phase_number)
    refresh_homes(services, written.engagement_id)


def _no_longer_ready(session: Session, engagement: Engagement, gate: Gate, command: str) -> str | None:
    """Why a gate the App Home offered to request is no longer ready for it, or None. The Home
    offers a gate of the current phase once every item of that phase is done or not applicable,
    while it is not approved and no request of it waits (`presenters.gate_rows`); the Home the
    click came from may be older than any of that, so the server asks again."""
    phase = session.get(EngagementPhase, gate.phase_id)
    if phase is None:
        return f"{gate.title} is no longer part of this engagement."
    if phase.number != engagement.phase_index:
        current = phase_by_number(session, engagement, engagement.phase_index)
        return (
            f"{gate.title} is no longer ready for a request from here: {engagement.customer_name} is in "
            f"{current.name} now, not {phase.name}."
        )
    still_open = sum(1 for i in items_of(session, saved_id(phase)) if i.status == OPEN)
    if still_open:
        return (
            f"{gate.title} is no longer ready for a request from here: {still_open} of {phase.name}'s "
            f"items {'is' if still_open == 1 else 'are'} open again. `{command} signoff {gate.key}` in the "
            "channel requests it anyway, after you confirm."
        )
    return None


def _home_note(refusal: str, link: str | None) -> Trusted:
    """The note the App Home shows for a refused Request sign-off: why, with a link to the request
    that waits when there is one and the note still fits the Home's (`NOTE_MAX`: a link cut short
    would show as broken markup). The refusal is plain text: escaped here."""
    if link:
        note = fmt(
            ":information_source: {why} <{link}|Open the request>. Nothing was changed.",
            why=refusal,
            link=Trusted(link),
        )
        if len(note) <= NOTE_MAX:
            return note
    return fmt(":information_source: {why} Nothing was changed.", why=refusal)


def _link(services: Services, channel: str, ts: str | None) -> str | None:
    if not ts:
        return None
    try:
        return services.slack.permalink(channel, ts)
    except SlackCallFailed:
        return None


def _nothing_ready(session: Session, engagement: Engagement, command: str) -> str:
    gates = so.gates_of(session, saved_id(engagement))
    if all(g.status == "approved" for g in gates):
        return "Every sign-off gate is already approved."
    waiting = [g.title for g in gates if g.status == "open"]
    return (
        "No gate is ready for a request: "
        + ", ".join(waiting[:5])
        + f" {'is' if len(waiting) == 1 else 'are'} waiting for a decision. `{command} status` shows them."
    )


def _picker(services: Services, engagement: Engagement, ready: list[Gate]) -> Message:
    return services.renderer.message(
        "signoff_picker.json.j2",
        customer_name=engagement.customer_name,
        gates=[{"id": g.id, "title": g.title, "key": g.key} for g in ready],
    )


def _confirm_view(
    services: Services, session: Session, engagement: Engagement, checks: so.RequestChecks
) -> dict:
    previous = checks.previous
    decision = (
        so.decision_of(session, saved_id(previous)) if previous is not None and checks.needs_note else None
    )
    return services.renderer.view(
        "signoff_confirm_modal.json.j2",
        gate={"title": checks.gate.title, "phase": checks.phase.name},
        warnings=checks.warnings,
        open_items=[
            {"ref": f"{checks.phase.number}.{i.number}", "title": i.title} for i in checks.open_items[:10]
        ],
        more=max(0, len(checks.open_items) - 10),
        needs_note=checks.needs_note,
        changes={"by": decision.display_name, "reason": decision.reason, "version": decision.version}
        if decision is not None
        else None,
        meta={"channel": engagement.channel_id, "engagement": engagement.id, "gate": checks.gate.id},
    )


def on_confirm_submit(req: Request) -> None:
    """The confirmation form: request anyway (with what changed, after changes were requested)."""
    note = req.text_field("note") if "note" in ((req.view.get("state") or {}).get("values") or {}) else None
    if note is not None and not note:
        req.ack(response_action="errors", errors={"note": "Say what changed; the new version quotes it."})
        return
    _request(
        req,
        None,
        req.meta_id("gate"),
        engagement_id=req.meta_id("engagement"),
        confirmed=True,
        note=note,
        after=True,
    )


def cmd_signoff(req: Request, cmd: ParsedCommand) -> None:
    require_engagement(req)
    key = " ".join(cmd.words) if cmd.words else None
    _request(req, key)


def request_gate(req: Request, engagement_id: int, gate_id: int, then: Callable[[Request], None]) -> None:
    """Request a gate's sign-off from outside the channel (the App Home): the same request,
    posted in the engagement's channel, written after the ack; `then(req)` answers once it is.

    The Home's button requests the gate that was ready when the Home was drawn; it never replaces
    a request. When the gate is no longer ready — a colleague requested it meanwhile (the request
    that waits is left exactly as it is), it was approved, its phase has open items again or is
    not the current one — nothing is written, and the clicker's Home is drawn again as things are
    now, with a note saying why (`_home_refused`)."""
    _request(req, None, gate_id, engagement_id=engagement_id, after=True, then=then, refused=_home_refused)


def _home_refused(req: Request, note: Trusted) -> None:
    """Say on the clicker's App Home why nothing was requested, and publish it as it is now: the
    Home they clicked is out of date."""
    remember_viewer(req.services, req.user_id, note=note)
    publish_home(req.services, req.user_id)


def on_request_button(req: Request) -> None:
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
    decision = so.decision_of(session, saved_id(request))
    if decision is None:
        return "This request is already closed. Nothing was changed."
    verb = "approved" if decision.decision == "approved" else "answered with changes requested"
    return f"This request was already {verb} by {decision.display_name}. Nothing was changed."


def on_approve(req: Request) -> None:
    """Approve: whoever may not approve is told so at once; an approver confirms in a form that
    shows what they certify (and how many of its items are still open)."""
    req.ack()
    services = req.services
    request_id = req.action_number()
    with services.db.read() as session:
        engagement, request, gate, actor = _load(req, session, request_id)
        closed = _closed_reason(session, request)
        if closed is None:
            so.check_may_decide(session, engagement, gate, actor)
            if gate.requires_dry_run and engagement.dryrun_outcome != "passed":
                raise so.NotAllowed(f"{gate.title} waits for a passed go-live dry run. Nothing was changed.")
            items = so.gate_items(session, gate)
            phase = session.get(EngagementPhase, gate.phase_id)
            number = phase.number if phase else 0
            view = services.renderer.view(
                "signoff_approve_modal.json.j2",
                gate={"title": gate.title},
                version=request.version,
                customer_name=engagement.customer_name,
                total=len(items),
                open_items=[
                    {"ref": f"{number}.{i.number}", "title": i.title} for i in items if i.status == "open"
                ][:10],
                open_count=so.open_count(items),
                meta={"channel": engagement.channel_id, "request": request_id},
            )
    if closed is not None:
        req.reply(services.notice(closed))
        return
    services.slack.open_view(req.trigger_id or "", view)


def on_approve_submit(req: Request) -> None:
    _decide(req, req.meta_id("request"), "approved", None)


def _decide(req: Request, request_id: int, decision: str, reason: str | None) -> None:
    """A decision from the request's forms: checked before the ack (a request decided already is
    said so, also on a replay of a decision recorded: no second decision, no second post), then
    acked once it is in the inbox and recorded after."""
    closed = decision_closed(req, request_id)
    if closed is not None:
        req.reply(req.services.notice(closed))
        return

    def work(r: Request) -> None:
        record_decision(r, request_id, decision, reason)

    after_ack(req, work)


def decision_closed(req: Request, request_id: int) -> str | None:
    """Why the request can no longer be decided (it is closed), None when it can; refused (raised)
    when the clicker may not decide it. Reads only: for before the ack."""
    with req.services.db.read() as session:
        engagement, request, gate, actor = _load(req, session, request_id)
        closed = _closed_reason(session, request)
        if closed is None:
            so.check_may_decide(session, engagement, gate, actor)
    return closed


def record_decision(req: Request, request_id: int, decision: str, reason: str | None) -> bool:
    """Record the decision (work after the ack) and queue what follows it: the request's message,
    the announcement in its thread, the checklists, the phase moving on. False when another click
    decided it first (`so.decide`: nothing written, nothing posted)."""
    services = req.services
    with services.db.read() as session:
        _engagement, request, _gate, actor = _load(req, session, request_id)
        decided = request.status != "open"
    if decided:  # by a click that came first (a double click, a retried request): nothing to ask Slack
        log.info("sign-off request %s already decided; click by %s ignored", request_id, actor.user_id)
        return False
    # The name as Slack shows it now, recorded with the decision (users.info, cached).
    name = services.slack.profile(actor.user_id, fresh=True).name
    now = services.clock.now()
    with services.db.session() as session:
        engagement, request, gate, actor = _load(req, session, request_id)
        row = so.decide(
            session, engagement, request, actor, decision=decision, display_name=name, reason=reason, now=now
        )
        settled = []
        if row is not None and decision == "approved":  # an approval settles the items about it
            settled = dependencies.settle(session, engagement, gate.key, actor, now)
        advanced = (
            advance_if_complete(session, engagement, now, actor) if row and decision == "approved" else None
        )
        phase = session.get(EngagementPhase, gate.phase_id)
        lead = lead_of(session, saved_id(engagement))
        engagement_id, channel, request_ts = saved_id(engagement), engagement.channel_id, request.ts
        # The requester and the lead hear of it (they act next): a mention in the request's thread.
        told = [u for u in dict.fromkeys([request.requested_by, lead.user_id if lead else None]) if u]
        final = row is not None and decision == "approved" and phases.readiness(session, engagement).approved
        # The approver is asked to rate the gate; the final approval's rating is the go-live's.
        rate = (
            ratings.open_gate_ask(
                session, engagement, gate, actor, now, sample=services.settings.golive_ratings_sample
            )
            if row is not None and decision == "approved" and not final
            else None
        )
        ctx = {
            "customer_name": engagement.customer_name,
            "gate": {"title": gate.title},
            "version": request.version,
            "decision": decision_data(engagement, row),
            "told": told,
            "open_items": row.open_items if row is not None else None,
            "total_items": row.total_items if row is not None else None,
            "final": final,
            "command": services.command,
        }
    if row is None:
        log.info("sign-off request %s already decided; click by %s ignored", request_id, actor.user_id)
        return False
    update_request_message(services, request_id)
    announcement = services.renderer.message("signoff_decided.json.j2", **ctx)
    services.outbox.post(
        channel,
        announcement,
        kind="decision",
        key=str(request_id),
        engagement_id=engagement_id,
        thread_ts=request_ts or None,  # under the request; at the top level only if it never landed
    )
    if ctx["final"]:  # what is left before go-live, and the cutover button
        post_cutover(services, engagement_id, request_ts)
    if rate is not None:
        ask_to_rate(services, rate, present=True)  # they just clicked Approve in the channel
    refresh_homes(services, engagement_id)
    if phase is not None:
        refresh_checklist(services, engagement_id, phase.number)
    for number in sorted({c.phase.number for c in settled} - {phase.number if phase else 0}):
        refresh_checklist(services, engagement_id, number)
    if advanced is not None:
        announce_phase(services, engagement_id, advanced)
    return True


def on_changes(req: Request) -> None:
    req.ack()
    services = req.services
    request_id = req.action_number()
    with services.db.session() as session:
        engagement, request, gate, actor = _load(req, session, request_id)
        closed = _closed_reason(session, request)
        if closed is None:
            so.check_may_decide(session, engagement, gate, actor)
        title, version = gate.title, request.version
    if closed is not None:
        req.reply(services.notice(closed))
        return
    view = services.renderer.view(
        "signoff_changes_modal.json.j2",
        gate_title=title,
        version=version,
        meta={"channel": req.channel_id, "request": request_id},
    )
    services.slack.open_view(req.trigger_id or "", view)


def on_changes_submit(req: Request) -> None:
    reason = req.text_field("reason")
    if not reason:
        req.ack(response_action="errors", errors={"reason": "Say what needs to change."})
        return
    _decide(req, req.meta_id("request"), "changes_requested", reason)


def register(app: App, services: Services) -> None:
    app.action(APPROVE)(listener(services, on_approve))
    app.action(CHANGES)(listener(services, on_changes))
    app.action(REQUEST)(listener(services, on_request_button))
    app.view("signoff_changes")(listener(services, on_changes_submit))
    app.view("signoff_approve")(listener(services, on_approve_submit))
    app.view("signoff_confirm")(listener(services, on_confirm_submit))
