"""The go-live: `/golive target`, the dry run (scheduling and its outcome buttons), `/golive cancel`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import App

from bot.commands import ParsedCommand
from bot.engagement import checklist as cl
from bot.errors import UserError
from bot.people import audit
from bot.refs import parse_id
from bot.reminders import dryrun
from bot.reminders.milestones import golive_date, suggest_dryrun
from bot.reminders.working_hours import clock_of
from bot.services import Services
from bot.slack.presenters import overview
from bot.slack.publish import refresh_posted_checklists
from bot.slack.sending import Sending
from bot.values import ValueProblem
from handlers.base import Request, actor_for, click_engagement, listener
from handlers.engagement import require_engagement
from messages import Message
from storage.models import Engagement
from storage.reminder_rows import cancel_pending

log = logging.getLogger("golive.handlers.golive")


# -- go-live: target, dry run, cancel ------------------------------------------------------
def cmd_target(req: Request, cmd: ParsedCommand) -> None:
    from handlers.plan import cmd_plan

    if len(cmd.words) != 1:
        raise cmd.fail("Give the go-live date as YYYY-MM-DD.")
    cmd.options = {"target": cmd.words[0]}
    cmd_plan(req, cmd)


def cmd_dryrun(req: Request, cmd: ParsedCommand) -> None:
    s = req.services
    engagement = require_engagement(req)
    now = s.clock.now()
    if not cmd.words:
        with s.db.read() as session:
            e = session.get(Engagement, engagement.id)
            suggestion = suggest_dryrun(e, session)  # type: ignore[arg-type]
        if suggestion is None or suggestion <= now:
            raise cmd.fail("Give the date and time, e.g. `dryrun 2026-12-16 10:00`.")
        local = clock_of(engagement).local(suggestion)
        req.ack(
            s.notice(
                f"Suggested: {local:%a %-d %b %H:%M} ({engagement.timezone}), two business days before go-live. "
                f"Schedule it with `{s.command} dryrun {local:%Y-%m-%d %H:%M}`."
            )
        )
        return
    if len(cmd.words) != 2:
        raise cmd.fail("Give the date and the time, e.g. `dryrun 2026-12-16 10:00` (the customer's time).")
    with s.db.read() as session:
        golive = golive_date(engagement, session)
    try:
        today = clock_of(engagement).today(now)
        at = dryrun.parse_local(engagement, cmd.words[0], cmd.words[1], today=today, golive=golive)
    except ValueProblem as exc:
        raise cmd.fail(str(exc)) from None
    with s.db.session() as session:
        e = session.get(Engagement, engagement.id)
        assert e is not None
        dryrun.schedule(session, e, actor_for(req, session, e), at, now)
        ctx = overview(session, e, s.playbook, now)
    local = clock_of(engagement).local(at)
    req.ack(s.notice(f"Dry run scheduled for {local:%a %-d %b %H:%M} ({engagement.timezone})."))
    message = s.renderer.message(
        "dryrun_scheduled.json.j2", **ctx, local=local, dryrun_at=at, actor=req.user_id
    )
    s.outbox.post(engagement.channel_id, message, kind="dryrun_scheduled", engagement_id=engagement.id)


def _outcome(req: Request, outcome: str, notes: str | None) -> None:
    s = req.services
    now = s.clock.now()
    with s.db.session() as session:
        engagement = click_engagement(req, session)
        changed = dryrun.record_outcome(
            session, engagement, actor_for(req, session, engagement), outcome, notes, now
        )
        engagement_id = engagement.id
    if not changed:
        return
    for row in s.slack.posted(engagement_id, "dryrun")[:5]:  # type: ignore[arg-type]
        s.outbox.update(row.channel_id, row.ts, _dryrun_render(s, engagement_id), what="dry-run reminder")  # type: ignore[arg-type]
    text = (
        ":white_check_mark: The go-live dry run passed; the final go-live approval can go ahead."
        if outcome == "passed"
        else ":warning: The go-live dry run found issues; the final go-live approval waits for a passed dry run."
    )
    s.outbox.post(req.channel_id or "", s.notice(text), kind="dryrun_outcome", engagement_id=engagement_id)


def _dryrun_render(s: Services, engagement_id: int) -> Callable[[Sending], Message | None]:
    """A dry-run reminder as it stands when the outbox sends the update."""

    def render(_out: Sending) -> Message | None:
        with s.db.read() as session:
            engagement = session.get(Engagement, engagement_id)
            if engagement is None or engagement.dryrun_at is None:
                return None
            return dryrun.dryrun_message(s, session, engagement, None, s.clock.now())

    return render


def on_dryrun_passed(req: Request) -> None:
    req.ack()
    _outcome(req, "passed", None)


def on_dryrun_issues(req: Request) -> None:
    req.ack()
    s = req.services
    with s.db.read() as session:
        engagement = click_engagement(req, session)
        dryrun.check_may_record(actor_for(req, session, engagement))
    s.slack.open_view(
        req.trigger_id or "", s.renderer.view("dryrun_issues_modal.json.j2", meta={"channel": req.channel_id})
    )


def on_dryrun_issues_submit(req: Request) -> None:
    raw = req.text_field("notes")
    if not raw:
        req.ack(response_action="errors", errors={"notes": "Say what the dry run found."})
        return
    req.ack()
    _outcome(req, "issues", str(raw))


def cmd_cancel(req: Request, cmd: ParsedCommand) -> None:
    s = req.services
    engagement = require_engagement(req)
    with s.db.read() as session:
        if not actor_for(req, session, engagement).is_vendor:
            raise cl.Refused("Only the implementation team cancels an engagement.")
    req.ack(
        s.renderer.message(
            "cancel_confirm.json.j2", customer_name=engagement.customer_name, engagement_id=engagement.id
        )
    )


def on_cancel(req: Request) -> None:
    req.ack()
    s = req.services
    now = s.clock.now()
    engagement_id = parse_id(req.action.get("value"))
    with s.db.session() as session:
        e = click_engagement(req, session)
        if e.id != engagement_id:
            raise UserError("That engagement is not active any more.")
        actor = actor_for(req, session, e)
        if not actor.is_vendor:
            raise cl.Refused("Only the implementation team cancels an engagement.")
        e.status, e.updated_at = "cancelled", now
        session.add(e)
        n = cancel_pending(session, e.id)  # type: ignore[arg-type]
        audit.record(
            session,
            e.id,
            actor,
            "engagement.cancelled",
            e.customer_name,
            {"reminders_cancelled": n},  # type: ignore[arg-type]
            now=now,
        )
        name, channel = e.customer_name, e.channel_id
    reminders = {0: "No reminder was scheduled", 1: "Its scheduled reminder is cancelled"}.get(
        n, f"Its {n} scheduled reminders are cancelled"
    )
    s.outbox.post(
        channel,
        s.notice(
            f"The {name} engagement was cancelled. {reminders}; the checklists and audit trail are kept, "
            f"with nothing left to tick. `{s.command} status` and `{s.command} audit` still show it."
        ),
        kind="cancelled",
        engagement_id=engagement_id,
    )
    refresh_posted_checklists(s, engagement_id)  # they say so, and lose their checkboxes


def register(app: App, services: Services) -> None:
    app.action("dryrun_passed")(listener(services, on_dryrun_passed))
    app.action("dryrun_issues")(listener(services, on_dryrun_issues))
    app.view("dryrun_issues")(listener(services, on_dryrun_issues_submit))
    app.action("cancel_engagement")(listener(services, on_cancel))
