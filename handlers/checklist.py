"""The checklist in the channel: ticking, `/golive checklist` and `add`, and the steps every change
to items shares. The item commands (`done 2.1 2.2`, `undo`, `assign`, `due`, `na`) are in
`item_commands`; the ⋯ menu, its forms and *Show all* in `checklist_menu`."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date

from slack_bolt import App
from sqlmodel import Session

from bot.commands import ParsedCommand
from bot.engagement import checklist as cl
from bot.engagement.lifecycle import calendar_for, phases_of, planned_golive
from bot.engagement.phases import record_and_advance
from bot.engagement.plan import PlanWarning, business_day_warning
from bot.errors import UserError
from bot.people.sides import CUSTOMER_UNKNOWN, NoSide
from bot.refs import parse_id, parse_phase_number
from bot.services import Services
from bot.slack.presenters import names_for
from bot.slack.publish import announce_phase, post_checklist, refresh_checklist
from bot.slacktext import plain_text
from bot.user_input import years_from
from handlers.base import Request, actor_for, click_engagement, learn_customer, remember
from handlers.engagement import require_engagement
from handlers.listening import after_ack, listener
from storage.models import Engagement, EngagementPhase, Item, saved_id

log = logging.getLogger("golive.handlers.checklist")

TICK = re.compile(r"^tick:(\d+)$")
MAX_DUE_YEARS = 2


# -- shared steps --------------------------------------------------------------------------
def after_change(
    services: Services,
    engagement_id: int,
    phase_number: int,
    advanced_to: int | None,
    *,
    actor: str | None = None,
    team_id: str | None = None,
    redraw: Collection[int] = (),
    channel: str | None = None,
) -> None:
    """Slack work after a change: learn who acted, update the posted checklist, announce a new phase.
    `redraw`: items whose checkbox must be drawn again even if their state did not change."""
    if actor:
        remember(services, engagement_id, actor, actor, team_id)
    refresh_checklist(services, engagement_id, phase_number, redraw=redraw, channel=channel)
    if advanced_to is not None:
        announce(services, engagement_id, advanced_to)


def announce(services: Services, engagement_id: int, phase_number: int) -> None:
    """The engagement moved on to `phase_number` (one past the last: it is live): say so."""
    if services.slack.posted(engagement_id, "phase", str(phase_number)):
        # Announced before: a phase that was reopened is finished again, and the engagement is
        # back where it was. Its checklist in the channel is kept up to date; nothing is reposted.
        refresh_checklist(services, engagement_id, phase_number)
    else:
        announce_phase(services, engagement_id, phase_number)


def confirm_text(change: cl.Change, names: dict[str, str]) -> str:
    ref, title = change.ref, change.item.title
    match change.kind:
        case "item.done":
            extra = " on the customer's behalf" if change.detail.get("on_behalf") else ""
            return f":white_check_mark: {ref} {title} — marked done{extra}."
        case "item.undone":
            return f":leftwards_arrow_with_hook: {ref} {title} — reopened.{_phase_note(change)}"
        case "item.assigned":
            who = names.get(str(change.detail.get("assignee")), "them")
            return f":bust_in_silhouette: {ref} {title} — assigned to {who}."
        case "item.due":
            return f":calendar: {ref} {title} — due {change.item.due_on:%a %-d %b %Y}."
        case "item.na":
            return f":no_entry_sign: {ref} {title} — marked not applicable."
        case "item.reopened":
            return f":leftwards_arrow_with_hook: {ref} {title} — back on the checklist.{_phase_note(change)}"
        case "item.added":
            side = "customer's" if change.item.owner_side == "customer" else "implementation team's"
            return f":heavy_plus_sign: {ref} {title} — added to the {side} items.{_phase_note(change)}"
    return f"{ref} updated."


def _phase_note(change: cl.Change) -> str:
    if not change.detail.get("phase_reopened"):
        return ""
    return (
        f" {change.phase.name} was complete and is open again: it is the current phase until it is finished."
    )


# -- ticking -------------------------------------------------------------------------------
def on_tick(req: Request) -> None:
    """Acked at once. A burst of ticks queues for the after-the-ack workers, not in front of the
    next request's ack; they do the write and queue the refresh, and the Slack calls (the
    refusal, the modal's update) are made after, on a listener thread."""
    after_ack(req, _tick_after_ack)


def _tick_after_ack(req: Request) -> Callable[[], None]:
    services = req.services
    action = req.action
    item_id = parse_id(str(action.get("action_id", "")).rpartition(":")[2])
    done = any(str(o.get("value")) == str(item_id) for o in action.get("selected_options") or [])
    where = Where()
    change, advanced, refused = record_tick(req, item_id, done, where)
    if where.engagement_id is not None:
        # Always re-render, and give the ticked item a new block_id even when nothing
        # changed: the user's client shows the box as they clicked it until the block is
        # replaced, so a refused tick goes back to the truth only with a new block.
        after_change(
            services,
            where.engagement_id,
            where.phase_number,
            advanced,
            actor=req.user_id if change else None,
            team_id=req.user_team_id,
            redraw={item_id},
            channel=where.channel,
        )

    def answer() -> None:
        if refused is not None:
            req.reply(services.error(refused.message))
        if where.engagement_id is not None and req.view:
            # Ticked in the Show all modal: it shows the change (or the box goes back).
            from handlers.checklist_menu import refresh_all_items

            refresh_all_items(req)

    return answer


def record_tick(
    req: Request, item_id: int, done: bool, where: Where
) -> tuple[cl.Change | None, int | None, UserError | None]:
    """The tick written, or why not: (change, phase advanced to, refusal). Every way of marking an
    item done (the checkbox, ⋯ → Mark done, Details, My tasks) goes through here: the same checks,
    the same audit."""
    try:
        return (*_tick(req, item_id, done, where), None)
    except NoSide as exc:
        # Nothing was written. When the customer's organisation was not known yet and this user's
        # is the only other one in the channel, it is learned and the tick goes ahead.
        if exc.reason != CUSTOMER_UNKNOWN or not learn_customer(req):
            return None, None, exc
        try:
            return (*_tick(req, item_id, done, where), None)
        except UserError as again:
            return None, None, again
    except UserError as exc:
        return None, None, exc


@dataclass
class Where:
    """The engagement, phase and channel a click turned out to be about (filled by `_tick`)."""

    engagement_id: int | None = None
    phase_number: int = 0
    channel: str | None = None


def _tick(req: Request, item_id: int, done: bool, where: Where) -> tuple[cl.Change | None, int | None]:
    """Who, which item and whether they may are read first, with the lookups every click uses; the
    write transaction (and SQLite's writer lock) reads the item again with its row locked and
    decides on it as it is, then writes the conditional update, its audit row and the phase check."""
    services = req.services
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        where.engagement_id, where.phase_number, where.channel = (
            engagement.id,
            phase.number,
            engagement.channel_id,
        )
        actor = actor_for(req, session, engagement)
    with services.db.session() as session:
        locked = cl.lock_items(session, [item_id]).get(item_id)
        if locked is None:
            raise UserError("That item no longer belongs to this engagement.")
        phase, item = locked
        change = cl.set_done(session, phase, item, actor, done, services.clock.now())
        return change, record_and_advance(session, engagement, actor, change, services.clock.now())


def due_problem(raw: str | None, today: date) -> str | None:
    """Why a due date cannot be used (None when it can): from today to two years ahead."""
    if not raw:
        return "Pick a date."
    try:
        due = date.fromisoformat(raw)
    except ValueError:
        return "Pick a date from the calendar."
    latest = years_from(today, MAX_DUE_YEARS)
    if due < today:
        return (
            f"Pick today ({today:%-d %b %Y}) or a later day up to {latest:%-d %b %Y}; "
            "a due date in the past is overdue at once."
        )
    if due > latest:
        return f"{due:%-d %b %Y} is too far ahead; pick a date from today ({today:%-d %b %Y}) to {latest:%-d %b %Y}."
    return None


def due_warnings(
    session: Session,
    engagement: Engagement,
    found: list[tuple[EngagementPhase, Item]],
    due: date,
    today: date,
) -> list[PlanWarning]:
    """What is allowed but worth saying about a due date set by hand (`/golive due`, the ⋯ form, a
    date-change request accepted), each with the command that changes it: a day that is no business
    day (the next one offered), and a date after the planned go-live or after the item's phase is
    planned to end."""
    listed = " ".join(f"{p.number}.{i.number}" for p, i in found)
    day = business_day_warning(calendar_for(engagement), due, "The due date", f"due {listed} {{date}}")
    warnings = [day] if day else []
    golive = planned_golive(engagement, phases_of(session, saved_id(engagement)))
    for phase, item in found:
        ref = f"{phase.number}.{item.number}"
        end = phase.planned_end
        fix = f"due {ref} {end.isoformat()}" if end >= today else None
        if golive is not None and due > golive:
            warnings.append(
                PlanWarning(
                    f"{ref} is now due after the planned go-live ({golive:%a %-d %b %Y}): it holds the "
                    f"go-live up unless it is done sooner. {phase.name} is planned to end {end:%a %-d %b %Y}.",
                    fix,
                )
            )
        elif due > end:
            warnings.append(
                PlanWarning(
                    f"{ref} is now due after {phase.name} is planned to end ({end:%a %-d %b %Y}): the "
                    "phase cannot finish on time unless it is done sooner.",
                    fix,
                )
            )
    return warnings


# -- commands ------------------------------------------------------------------------------
def cmd_checklist(req: Request, cmd: ParsedCommand) -> None:
    """Post the phase's checklist again (rendering it, collapsing the older copy). Acked once its
    text parses, like the item commands: which engagement and phase, or why not, is work after
    the ack, answered through the response_url (with the reads before it, the ack of a checklist
    at ten clients took twice a bare Bolt app's, bench/ack_latency.py)."""
    services = req.services
    asked = _phase_number(cmd, plain_text(cmd.words[0])) if cmd.words else None

    def work(r: Request) -> None:
        with services.db.read() as session:
            engagement = require_engagement(r, session=session)
            number = engagement.phase_index if asked is None else asked
            cl.phase_by_number(session, engagement, number)  # says so when there is no such phase
        post_checklist(services, saved_id(engagement), number, channel=engagement.channel_id)

    after_ack(req, work)


def _phase_number(cmd: ParsedCommand, raw: str) -> int:
    try:
        return parse_phase_number(raw)
    except UserError as exc:
        raise cmd.fail(exc.message) from None


def cmd_add(req: Request, cmd: ParsedCommand) -> None:
    services = req.services
    if len(cmd.words) < 2:
        raise cmd.fail(
            "Give the phase number and a title, e.g. `add 2 Share the SSO metadata owner=customer`."
        )
    number = _phase_number(cmd, plain_text(cmd.words[0]))
    owner = cmd.options.get("owner", "vendor").lower()
    if owner not in ("customer", "vendor"):
        raise cmd.fail("`owner=` takes customer or vendor.")
    engagement = require_engagement(req)
    now = services.clock.now()
    with services.db.session() as session:
        phase = cl.phase_by_number(session, engagement, number)
        actor = actor_for(req, session, engagement)
        change = cl.add_item(session, phase, actor, plain_text(" ".join(cmd.words[1:])), owner, now)
        record_and_advance(session, engagement, actor, change, now)
        names = names_for(session, saved_id(engagement))
    req.ack(services.notice(confirm_text(change, names)))
    after_change(services, saved_id(engagement), change.phase.number, None)


def register(app: App, services: Services) -> None:
    from handlers import checklist_menu, item_waits, lead_asks

    app.action(TICK)(listener(services, on_tick))
    checklist_menu.register(app, services)
    item_waits.register(app, services)
    lead_asks.register(app, services)
