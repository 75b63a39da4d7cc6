"""The go-live: `/golive target`, the cutover (**Confirm go-live**, `/golive live`) and
`/golive cancel`. The dry run is `handlers.dryrun`."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import App

from bot.commands import ParsedCommand
from bot.engagement import checklist as cl
from bot.engagement import phases, ratings
from bot.engagement.lifecycle import calendar_for
from bot.errors import UserError
from bot.people import audit
from bot.refs import parse_id
from bot.reminders.working_hours import clock_of
from bot.services import Services
from bot.slack.golive import announce_live, refresh_cutover
from bot.slack.home import refresh_homes
from bot.slack.publish import refresh_posted_checklists
from bot.slack.ratings import ask_to_rate
from handlers.base import Request, actor_for, click_engagement
from handlers.engagement import require_engagement
from handlers.listening import after_ack, listener
from storage.models import Engagement, saved_id
from storage.reminder_rows import cancel_pending


# -- the target ----------------------------------------------------------------------------
def cmd_target(req: Request, cmd: ParsedCommand) -> None:
    from handlers.plan import cmd_plan

    if len(cmd.words) != 1:
        raise cmd.fail("Give the go-live date as YYYY-MM-DD.")
    cmd.options = {"target": cmd.words[0]}
    cmd_plan(req, cmd)


# -- the cutover ---------------------------------------------------------------------------
def _cutover(req: Request, engagement_id: int | None) -> None:
    """Confirm go-live: the implementation team, once the final approval is recorded. When it is
    early or something is still open, a form shows that first; else it goes live at once."""
    services = req.services
    now = services.clock.now()
    with services.db.read() as session:
        engagement = (
            session.get(Engagement, engagement_id) if engagement_id is not None else None
        ) or click_engagement(req, session)
        if engagement.status != "active":
            raise UserError("That engagement is not active any more.")
        if not actor_for(req, session, engagement).is_vendor:
            raise cl.Refused("Only the implementation team confirms the go-live cutover.")
        state = phases.readiness(session, engagement)
        if not state.approved:
            missing = ", ".join(g.title for g in state.final_gates if g.status != "approved")
            raise UserError(
                f"The final approval is not recorded yet ({missing}): request it with "
                f"`{services.command} signoff`, and the customer's approver approves it. Nothing was changed."
            )
        today = clock_of(engagement).today(now)
        early = state.planned is not None and today < state.planned
        view = None
        if early or state.open_items or state.other_gates:
            calendar = calendar_for(engagement)
            view = services.renderer.view(
                "golive_confirm_modal.json.j2",
                customer_name=engagement.customer_name,
                early=early,
                planned=state.planned,
                early_days=calendar.count(today, state.planned) - 1 if early and state.planned else 0,
                open_items=[{"ref": ref, "title": i.title} for ref, i in state.open_items[:10]],
                more=max(0, len(state.open_items) - 10),
                other_gates=[g.title for g in state.other_gates],
                meta={"channel": engagement.channel_id, "engagement": engagement.id},
            )
        engagement_id = saved_id(engagement)
    if view is not None:
        req.ack()
        services.slack.open_view(req.trigger_id or "", view)
        return
    after_ack(req, lambda r: _go_live(r, engagement_id))


def _go_live(req: Request, engagement_id: int) -> Callable[[], None] | None:
    """Go live (work after the ack, the request in the inbox). Live already (a second click, a
    replay): said, nothing written or announced again (`phases.go_live`)."""
    services = req.services
    now = services.clock.now()
    with services.db.session() as session:
        engagement = session.get(Engagement, engagement_id)
        if engagement is None:
            raise UserError("That engagement is gone.")
        went = phases.go_live(session, engagement, actor_for(req, session, engagement), now)
        # The final gates' approvers are asked to rate the go-live (`bot.engagement.ratings`).
        sample = services.settings.golive_ratings_sample
        rate = ratings.open_golive_asks(session, engagement, now, sample=sample) if went else []
    if not went:
        return lambda: req.reply(services.notice("It is live already; nothing was changed."))
    announce_live(services, engagement_id)
    for rating_id in rate:
        ask_to_rate(services, rating_id)
    refresh_cutover(services, engagement_id)
    refresh_posted_checklists(services, engagement_id)
    refresh_homes(services, engagement_id)
    return None


def on_golive_confirm(req: Request) -> None:
    """Confirm go-live, for the engagement of the message clicked (the ledger's): a button value
    naming another engagement (a forged or edited payload) is refused."""
    wanted = parse_id(req.action.get("value"))
    with req.services.db.read() as session:
        engagement_id = click_engagement(req, session).id
    if wanted is not None and wanted != engagement_id:
        raise UserError("That button belongs to another engagement's message, so nothing was changed.")
    _cutover(req, engagement_id)


def on_golive_confirm_submit(req: Request) -> None:
    """The confirmation form: closed once the submission is in the inbox; live after."""
    engagement_id = req.meta_id("engagement")
    after_ack(req, lambda r: _go_live(r, engagement_id))


def cmd_live(req: Request, cmd: ParsedCommand) -> None:
    engagement = require_engagement(req)
    _cutover(req, engagement.id)


def cmd_cancel(req: Request, cmd: ParsedCommand) -> None:
    services = req.services
    engagement = require_engagement(req)
    with services.db.read() as session:
        if not actor_for(req, session, engagement).is_vendor:
            raise cl.Refused("Only the implementation team cancels an engagement.")
    req.ack(
        services.renderer.message(
            "cancel_confirm.json.j2", customer_name=engagement.customer_name, engagement_id=engagement.id
        )
    )


def on_cancel(req: Request) -> None:
    """Cancel (the confirmation's button): acked once the click is in the inbox, cancelled after."""
    engagement_id = parse_id(req.action.get("value"))
    after_ack(req, lambda r: _cancel(r, engagement_id))


def _cancel(req: Request, engagement_id: int) -> None:
    """Cancelled already (a second click, a replay): the engagement is no longer the channel's
    active one, so this is refused as "not active" and nothing is written or posted again."""
    services = req.services
    now = services.clock.now()
    with services.db.session() as session:
        e = click_engagement(req, session)
        if e.id != engagement_id:
            raise UserError("That engagement is not active any more.")
        actor = actor_for(req, session, e)
        if not actor.is_vendor:
            raise cl.Refused("Only the implementation team cancels an engagement.")
        e.status, e.updated_at = "cancelled", now
        session.add(e)
        n = cancel_pending(session, e.id)
        audit.record(
            session,
            e.id,
            actor,
            "engagement.cancelled",
            e.customer_name,
            {"reminders_cancelled": n},
            now=now,
        )
        name, channel = e.customer_name, e.channel_id
    reminders = {0: "No reminder was scheduled", 1: "Its scheduled reminder is cancelled"}.get(
        n, f"Its {n} scheduled reminders are cancelled"
    )
    services.outbox.post(
        channel,
        services.notice(
            f"The {name} engagement was cancelled. {reminders}; the checklists and audit trail are kept, "
            f"with nothing left to tick. `{services.command} status` and `{services.command} audit` still show it."
        ),
        kind="cancelled",
        engagement_id=engagement_id,
    )
    refresh_posted_checklists(services, engagement_id)  # they say so, and lose their checkboxes


def register(app: App, services: Services) -> None:
    app.action("cancel_engagement")(listener(services, on_cancel))
    app.action("golive_confirm")(listener(services, on_golive_confirm))
    app.view("golive_confirm")(listener(services, on_golive_confirm_submit))
