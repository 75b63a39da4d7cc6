"""The checklist in the channel: ticking, the item menu and its forms, and the commands."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from slack_bolt import App

from bot.commands import ParsedCommand
from bot.engagement import checklist as cl
from bot.engagement.lifecycle import local_today
from bot.engagement.phases import record_and_advance
from bot.errors import UserError
from bot.people.sides import CUSTOMER_UNKNOWN, Actor, NoSide
from bot.refs import parse_choice, parse_id, parse_phase_number, parse_ref
from bot.services import Services
from bot.slack.presenters import item_row, names_for
from bot.slack.publish import announce_phase, post_checklist, refresh_checklist
from bot.slacktext import plain_text, user_id_from_token
from bot.values import ValueProblem, parse_date, years_from
from handlers.base import Request, actor_for, click_engagement, learn_customer, listener, remember
from handlers.engagement import require_engagement
from storage.models import Item

log = logging.getLogger("golive.handlers.checklist")

TICK = re.compile(r"^tick:(\d+)$")
MENU = re.compile(r"^item_menu:(\d+)$")
MAX_DUE_YEARS = 2


# -- shared steps --------------------------------------------------------------------------
def after_change(
    s: Services,
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
        remember(s, engagement_id, actor, actor, team_id)
    refresh_checklist(s, engagement_id, phase_number, redraw=redraw, channel=channel)
    if advanced_to is not None:
        announce_phase(s, engagement_id, advanced_to)


def confirm_text(change: cl.Change, names: dict[str, str]) -> str:
    ref, title = change.ref, change.item.title
    match change.kind:
        case "item.done":
            extra = " on the customer's behalf" if change.detail.get("on_behalf") else ""
            return f":white_check_mark: {ref} {title} — marked done{extra}."
        case "item.undone":
            return f":leftwards_arrow_with_hook: {ref} {title} — reopened."
        case "item.assigned":
            who = names.get(str(change.detail.get("assignee")), "them")
            return f":bust_in_silhouette: {ref} {title} — assigned to {who}."
        case "item.due":
            return f":calendar: {ref} {title} — due {change.item.due_on:%a %-d %b %Y}."
        case "item.na":
            return f":no_entry_sign: {ref} {title} — marked not applicable."
        case "item.reopened":
            return f":leftwards_arrow_with_hook: {ref} {title} — back on the checklist."
        case "item.added":
            return f":heavy_plus_sign: {ref} {title} — added for the {change.item.owner_side} side."
    return f"{ref} updated."


# -- ticking -------------------------------------------------------------------------------
def on_tick(req: Request) -> None:
    req.ack()
    s = req.services
    action = req.action
    item_id = parse_id(str(action.get("action_id", "")).rpartition(":")[2])
    done = any(str(o.get("value")) == str(item_id) for o in action.get("selected_options") or [])
    where = Where()
    change, advanced, refused = None, None, None
    try:
        change, advanced = _tick(req, item_id, done, where)
    except NoSide as exc:
        # Nothing was written. When the customer's organisation was not known yet and this user's
        # is the only other one in the channel, it is learned and the tick goes ahead.
        if exc.reason == CUSTOMER_UNKNOWN and learn_customer(req):
            try:
                change, advanced = _tick(req, item_id, done, where)
            except UserError as again:
                refused = again
        else:
            refused = exc
    except UserError as exc:
        refused = exc
    if refused is not None:
        req.reply(s.error(refused.message))
    if where.engagement_id is None:
        return  # not an item of an active engagement: nothing to draw again
    # Always re-render, and give the ticked item a new block_id even when nothing changed: the
    # user's client shows the box as they clicked it until the block is replaced, so a refused
    # tick goes back to the truth only with a new block.
    after_change(
        s,
        where.engagement_id,
        where.phase_number,
        advanced,
        actor=req.user_id if change else None,
        team_id=req.user_team_id,
        redraw={item_id},
        channel=where.channel,
    )


@dataclass
class Where:
    """The engagement, phase and channel a click turned out to be about (filled by `_tick`)."""

    engagement_id: int | None = None
    phase_number: int = 0
    channel: str | None = None


def _tick(req: Request, item_id: int, done: bool, where: Where) -> tuple[cl.Change | None, int | None]:
    """Who, which item and whether they may are read first; the write transaction (and SQLite's
    writer lock) covers only the conditional update, its audit row and the phase check."""
    s = req.services
    with s.db.read() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        where.engagement_id, where.phase_number, where.channel = engagement.id, phase.number, engagement.channel_id
        actor = actor_for(req, session, engagement)
    with s.db.session() as session:
        item = session.merge(item, load=False)
        change = cl.set_done(session, phase, item, actor, done, s.clock.now())
        return change, record_and_advance(session, engagement, actor, change, s.clock.now())


# -- the item menu -------------------------------------------------------------------------
def on_menu(req: Request) -> None:
    req.ack()
    s = req.services
    verb, item_id = parse_choice((req.action.get("selected_option") or {}).get("value"))
    with s.db.session() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        actor = actor_for(req, session, engagement, acting=verb != "details")
        if verb == "reopen":
            change = cl.reopen(session, phase, item, actor, s.clock.now())
            record_and_advance(session, engagement, actor, change, s.clock.now())
            engagement_id, phase_number = engagement.id, phase.number
        else:
            _check_menu_permission(verb, item, actor)
            today = local_today(s.clock.now(), engagement.timezone)
            row = item_row(phase, item, names_for(session, engagement.id), today)  # type: ignore[arg-type]
            meta = {"channel": req.channel_id, "item": item_id}
            due = item.due_on.isoformat() if item.due_on else None
    if verb == "reopen":
        if change is not None:
            after_change(s, engagement_id, phase_number, None)  # type: ignore[arg-type]
        return
    view = s.renderer.view("item_modal.json.j2", mode=verb, it=row, meta=meta, due=due)
    s.slack.open_view(req.trigger_id or "", view)


def _check_menu_permission(verb: str, item: Item, actor: Actor) -> None:
    if verb not in ("assign", "due", "na", "details"):
        raise UserError("That menu entry is not known any more; run the checklist again.")
    if verb == "details":
        return
    if verb == "assign" and (actor.is_vendor or item.owner_side == "customer"):
        return
    if verb in ("due", "na") and actor.is_vendor:
        return
    what = {
        "assign": "assign the implementation team's items",
        "due": "change due dates",
        "na": "mark items not applicable",
    }[verb]
    raise cl.Refused(f"Only the implementation team can {what}. Ask your consultant in this channel.")


def _submit(req: Request, mode: str) -> None:
    s = req.services
    meta = req.metadata
    item_id = parse_id(meta.get("item"))
    now = s.clock.now()
    if mode == "due":
        raw = req.field("due")
        with s.db.read() as session:
            engagement = click_engagement(req, session)
            today = local_today(now, engagement.timezone)
        problem = _due_problem(raw, today)
        if problem:
            req.ack(response_action="errors", errors={"due": problem})
            return
    if mode == "na":
        reason = req.text_field("reason")
        if not reason:
            req.ack(response_action="errors", errors={"reason": "Say why; the reason is kept with the item."})
            return
    req.ack()
    assignee = req.field("assignee") if mode == "assign" else None
    with s.db.session() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        actor = actor_for(req, session, engagement)
        if mode == "assign":
            change = cl.assign(session, phase, item, actor, assignee, now)
        elif mode == "due":
            change = cl.set_due(session, phase, item, actor, date.fromisoformat(raw), now)
        else:
            change = cl.mark_na(session, phase, item, actor, reason, now)
        advanced = record_and_advance(session, engagement, actor, change, now)
        engagement_id, phase_number = engagement.id, phase.number
    if change is not None:
        if assignee:
            remember(s, engagement_id, assignee, req.user_id)  # type: ignore[arg-type]
        after_change(s, engagement_id, phase_number, advanced, actor=req.user_id, team_id=req.user_team_id)  # type: ignore[arg-type]


def _due_problem(raw: str | None, today: date) -> str | None:
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


# -- commands ------------------------------------------------------------------------------
def cmd_checklist(req: Request, cmd: ParsedCommand) -> None:
    s = req.services
    engagement = require_engagement(req)
    number = engagement.phase_index
    if cmd.words:
        number = _phase_number(cmd, plain_text(cmd.words[0]))
    with s.db.session() as session:
        cl.phase_by_number(session, engagement, number)
    req.ack()
    post_checklist(s, engagement.id, number)  # type: ignore[arg-type]


def _phase_number(cmd: ParsedCommand, raw: str) -> int:
    try:
        return parse_phase_number(raw)
    except UserError as exc:
        raise cmd.fail(exc.message) from None


def _item_command(req: Request, cmd: ParsedCommand, need_args: int = 0) -> tuple[int, int]:
    if len(cmd.words) < 1 + need_args:
        raise cmd.fail("Something is missing.")
    try:
        return parse_ref(cmd.words[0])
    except UserError as exc:
        raise cmd.fail(exc.message) from None


def _apply(req: Request, cmd: ParsedCommand, fn: Any, *, learn: str | None = None) -> None:
    """Resolve the item, apply `fn(session, phase, item, actor, now)`, confirm, then update Slack."""
    s = req.services
    phase_no, item_no = _item_command(req, cmd)
    now = s.clock.now()
    # The ack path's one write transaction: find, check, change, audit, advance.
    with s.db.session() as session:
        engagement = require_engagement(req, session=session)
        phase, item = cl.find_item(session, engagement, phase_no, item_no)
        actor = actor_for(req, session, engagement)
        change = fn(session, phase, item, actor, now)
        advanced = record_and_advance(session, engagement, actor, change, now)
    if change is None:
        req.ack(s.notice(f"{phase_no}.{item_no} already is that way; nothing changed."))
        return
    names: dict[str, str] = {}
    if change.kind == "item.assigned" and change.item.assignee_id:
        with s.db.read() as session:
            names = names_for(session, engagement.id, only={change.item.assignee_id})  # type: ignore[arg-type]
    req.ack(s.notice(confirm_text(change, names)))
    if learn:
        remember(s, engagement.id, learn, req.user_id)  # type: ignore[arg-type]
    after_change(
        s,
        engagement.id,  # type: ignore[arg-type]
        phase_no,
        advanced,
        actor=req.user_id,
        team_id=req.user_team_id,
        channel=engagement.channel_id,
    )


def cmd_done(req: Request, cmd: ParsedCommand) -> None:
    _apply(req, cmd, lambda se, p, i, a, now: cl.set_done(se, p, i, a, True, now))


def cmd_undo(req: Request, cmd: ParsedCommand) -> None:
    _apply(req, cmd, lambda se, p, i, a, now: cl.set_done(se, p, i, a, False, now))


def cmd_assign(req: Request, cmd: ParsedCommand) -> None:
    if len(cmd.words) < 2:
        raise cmd.fail("Say who: mention them, e.g. `assign 2.3 @ada`.")
    target = cmd.words[1]
    user = req.user_id if target.lower() == "me" else user_id_from_token(target)
    if user is None:
        raise cmd.fail(f"`{plain_text(target)[:40]}` is not a person I can find; mention them with @.")
    _apply(req, cmd, lambda se, p, i, a, now: cl.assign(se, p, i, a, user, now), learn=user)


def cmd_due(req: Request, cmd: ParsedCommand) -> None:
    if len(cmd.words) < 2:
        raise cmd.fail("Give the date as YYYY-MM-DD.")
    try:
        due = parse_date(cmd.words[1], "due date")
    except ValueProblem as exc:
        raise cmd.fail(str(exc)) from None
    engagement = require_engagement(req)
    problem = _due_problem(due.isoformat(), local_today(req.services.clock.now(), engagement.timezone))
    if problem:
        raise cmd.fail(problem)
    _apply(req, cmd, lambda se, p, i, a, now: cl.set_due(se, p, i, a, due, now))


def cmd_na(req: Request, cmd: ParsedCommand) -> None:
    reason = plain_text(" ".join(cmd.words[1:]))
    if not reason:
        raise cmd.fail("Say why the item does not apply, e.g. `na 3.5 no tax software in scope`.")
    _apply(req, cmd, lambda se, p, i, a, now: cl.mark_na(se, p, i, a, reason, now))


def cmd_add(req: Request, cmd: ParsedCommand) -> None:
    s = req.services
    if len(cmd.words) < 2:
        raise cmd.fail(
            "Give the phase number and a title, e.g. `add 2 Share the SSO metadata owner=customer`."
        )
    number = _phase_number(cmd, plain_text(cmd.words[0]))
    owner = cmd.options.get("owner", "vendor").lower()
    if owner not in ("customer", "vendor"):
        raise cmd.fail("`owner=` takes customer or vendor.")
    engagement = require_engagement(req)
    now = s.clock.now()
    with s.db.session() as session:
        phase = cl.phase_by_number(session, engagement, number)
        actor = actor_for(req, session, engagement)
        change = cl.add_item(session, phase, actor, plain_text(" ".join(cmd.words[1:])), owner, now)
        record_and_advance(session, engagement, actor, change, now)
        names = names_for(session, engagement.id)  # type: ignore[arg-type]
    req.ack(s.notice(confirm_text(change, names)))
    after_change(s, engagement.id, change.phase.number, None)  # type: ignore[arg-type]


def on_add_button(req: Request) -> None:
    req.ack()
    s = req.services
    number = parse_id(req.action.get("value"))
    with s.db.session() as session:
        engagement = click_engagement(req, session)
        actor = actor_for(req, session, engagement)
        if not actor.is_vendor:
            raise cl.Refused("Only the implementation team adds items. Ask your consultant in this channel.")
        phase = cl.phase_by_number(session, engagement, number)
        ctx = {"number": phase.number, "name": phase.name}
    view = s.renderer.view(
        "add_item_modal.json.j2", phase=ctx, meta={"channel": req.channel_id, "phase": number}
    )
    s.slack.open_view(req.trigger_id or "", view)


def on_add_submit(req: Request) -> None:
    s = req.services
    title = req.text_field("title")
    owner = req.field("owner") or "customer"
    if not title:
        req.ack(response_action="errors", errors={"title": "Give the item a title."})
        return
    req.ack()
    now = s.clock.now()
    with s.db.session() as session:
        engagement = click_engagement(req, session)
        phase = cl.phase_by_number(session, engagement, parse_id(req.metadata.get("phase")))
        actor = actor_for(req, session, engagement)
        record_and_advance(
            session, engagement, actor, cl.add_item(session, phase, actor, title, owner, now), now
        )
        engagement_id, phase_number = engagement.id, phase.number
    after_change(s, engagement_id, phase_number, None, actor=req.user_id, team_id=req.user_team_id)  # type: ignore[arg-type]


def on_assign_submit(req: Request) -> None:
    _submit(req, "assign")


def on_due_submit(req: Request) -> None:
    _submit(req, "due")


def on_na_submit(req: Request) -> None:
    _submit(req, "na")


def register(app: App, services: Services) -> None:
    app.action(TICK)(listener(services, on_tick))
    app.action(MENU)(listener(services, on_menu))
    app.view("item_assign")(listener(services, on_assign_submit))
    app.view("item_due")(listener(services, on_due_submit))
    app.view("item_na")(listener(services, on_na_submit))
    app.action("add_item")(listener(services, on_add_button))
    app.view("item_add")(listener(services, on_add_submit))
