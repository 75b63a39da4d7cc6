"""The checklist's menus and forms: the ⋯ menu of an item, *Details*, *Show all*, and adding
items.

The checklist is one message for both sides, so its ⋯ menu offers what makes sense to both, and
each entry answers according to who chose it: the implementation team marks its own items done,
assigns, dates and marks items not applicable; a customer assigns their own side's items, says
what blocks them, and for the date or an item that does not apply asks the lead instead of being
refused (`handlers.lead_asks`, with the lead's answers and customers' suggestions). The shared
*Add or suggest an item…* button opens the add form for the team and a suggestion form for a
customer. *Details* and *Show all* are private modals, so they offer each person only what they
may do; the team's **Waits for…** in Details is `handlers.item_waits`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from slack_bolt import App
from sqlmodel import Session

from bot.engagement import checklist as cl
from bot.engagement import dependencies as deps
from bot.engagement.lifecycle import local_today
from bot.engagement.phases import record_and_advance
from bot.engagement.plan import describe_warnings
from bot.errors import UserError
from bot.people.members import lead_of
from bot.people.sides import VENDOR, Actor
from bot.refs import parse_choice, parse_id
from bot.services import Services
from bot.slack.gateway import HASH_CONFLICT, SlackCallFailed
from bot.slack.modals import all_items_context
from bot.slack.notes import tell_about_change
from bot.slack.presenters import item_row, names_for
from handlers.base import Request, actor_for, click_engagement, item_of_click, remember
from handlers.checklist import Where, after_change, confirm_text, due_problem, due_warnings, record_tick
from handlers.lead_asks import ask_lead, title_problem
from handlers.listening import after_ack, listener
from handlers.nudges import may_act, open_blocked_form
from storage.models import Engagement, EngagementPhase, Item, saved_id

log = logging.getLogger("golive.handlers.checklist")

MENU = re.compile(r"^item_menu:(\d+)$")
REOPEN = re.compile(r"^item_reopen:(\d+)$")
DETAILS_DONE = re.compile(r"^item_done:(\d+)$")
DETAILS_BLOCKED = re.compile(r"^item_blocked:(\d+)$")
VERBS = ("assign", "due", "na", "details", "reopen", "done", "blocked")


# -- the ⋯ menu ------------------------------------------------------------------------------
def _form_for(verb: str, item: Item, actor: Actor) -> tuple[str, str | None]:
    """Which form a menu entry opens for this person (or `done` / `blocked`: the tick, the blocked
    form), and a note to show with it."""
    if verb == "details":
        return "details", None
    if verb == "done":
        if may_act(actor, item):
            return "done", None
        return "details", (
            "This is the implementation team's item: they mark it done once it is. Your team's "
            "items are the ones with a checkbox; *My tasks* lists yours."
        )
    if verb == "blocked":
        if may_act(actor, item):
            return "blocked", None
        return "details", (
            "This is the implementation team's item, so they manage its reminders. If something of "
            "yours holds it up, say so in the channel."
        )
    if actor.is_vendor:
        return verb, None
    if verb == "assign":
        if item.owner_side == "customer":
            return "assign", None
        return "details", (
            "This is the implementation team's item, so they assign it and tick it. "
            "Your team's items are under the first heading of the checklist; *My tasks* lists yours."
        )
    return ("ask_due" if verb == "due" else "ask_na"), None


def item_view(
    services: Services, engagement: Engagement, phase: EngagementPhase, item: Item, actor: Actor, **ctx: Any
) -> dict[str, Any]:
    """An item's form (`mode`: assign, due, na, ask_due, ask_na, after) or its Details, for this
    person. Details offers what they may do to it: Mark done, Blocked… and, for the team, Waits
    for… (the `after` form, whose `choices` come from `handlers.item_waits`)."""
    with services.db.read() as session:
        today = local_today(services.clock.now(), engagement.timezone)
        prereqs = deps.prerequisites_of(session, saved_id(item))
        waiting = [ref for ref, p in prereqs if p.status == cl.OPEN]
        row = item_row(
            phase, item, names_for(session, saved_id(engagement)), today, engagement.timezone, waiting
        )
        lead = lead_of(session, saved_id(engagement))
    active = engagement.status == "active" and actor.has_side
    is_open = item.status == cl.OPEN
    ctx.setdefault("after", [{"ref": ref, "title": p.title, "status": p.status} for ref, p in prereqs])
    ctx.setdefault("chosen", [str(p.id) for _ref, p in prereqs])
    return services.renderer.view(
        "item_modal.json.j2",
        it=row,
        lead_name=lead.display_name if lead and lead.display_name else "The lead consultant",
        due=item.due_on.isoformat() if item.due_on else None,
        can_tick=active and is_open and may_act(actor, item),
        can_block=active and is_open and not item.blocked_reason and may_act(actor, item),
        can_plan=active and is_open and actor.is_vendor,
        meta={"channel": engagement.channel_id, "item": item.id},
        **{"note": None, "choices": []} | ctx,
    )


def on_menu(req: Request) -> None:
    """An entry of an item's ⋯ menu. Mark done (and Reopen, on older checklists) changes the item:
    acked once the click is in the inbox, written after; every other entry opens a form."""
    services = req.services
    verb, item_id = parse_choice((req.action.get("selected_option") or {}).get("value"))
    if verb not in VERBS:
        raise UserError("That menu entry is not known any more; run the checklist again.")
    if verb == "reopen":  # from checklists posted before not-applicable items were folded
        after_ack(req, lambda r: _reopen_clicked(r, item_id))
        return
    with services.db.read() as session:
        engagement, phase, item, actor = item_of_click(
            req, session, item_id, acting=verb not in ("details", "done", "blocked")
        )
        mode, note = _form_for(verb, item, actor)
    if mode == "done":
        after_ack(req, lambda r: _done_clicked(r, item_id))
        return
    req.ack()
    if mode == "blocked":
        open_blocked_form(req, item_id)
        return
    services.slack.open_view(
        req.trigger_id or "", item_view(services, engagement, phase, item, actor, mode=mode, note=note)
    )


def _done_clicked(req: Request, item_id: int) -> Callable[[], None] | None:
    """⋯ → Mark done, after the ack: done as a tick; what stopped it is said to the clicker."""
    refused = mark_done(req, item_id)
    if refused is None:
        return None
    return lambda: req.reply(req.services.error(refused))


def mark_done(req: Request, item_id: int) -> str | None:
    """Mark an item done as a tick of its checkbox does (the same checks, audit and refreshes of
    the checklist and of the nudges listing it): from ⋯ → Mark done, Details and My tasks.
    Returns what stopped it, or None when it is done (now, or already)."""
    where = Where()
    change, advanced, refused = record_tick(req, item_id, True, where)
    if where.engagement_id is not None and change is not None:
        after_change(
            req.services,
            where.engagement_id,
            where.phase_number,
            advanced,
            actor=req.user_id,
            team_id=req.user_team_id,
            channel=where.channel,
        )
    return refused.message if refused is not None else None


def done_note(req: Request, item_id: int, refused: str | None) -> str:
    """What a Mark done shows in the modal it was clicked in."""
    if refused is not None:
        return f":warning: {refused}"
    with req.services.db.read() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        ref, title = f"{phase.number}.{item.number}", item.title
    return f":white_check_mark: {ref} {title} is done."


def on_details_done(req: Request) -> None:
    """Mark done in an item's Details: done as a tick (after the ack, the click in the inbox), and
    Details shows it."""
    item_id = req.action_number()
    after_ack(req, lambda r: _details_done(r, item_id))


def _details_done(req: Request, item_id: int) -> Callable[[], None]:
    services = req.services
    refused = mark_done(req, item_id)
    note = done_note(req, item_id, refused)
    with services.db.read() as session:
        engagement, phase, item, actor = item_of_click(req, session, item_id, acting=False)
    view = item_view(services, engagement, phase, item, actor, mode="details", note=note)
    return lambda: _show_details(req, view, refused)


def _show_details(req: Request, view: dict[str, Any], refused: str | None) -> None:
    """Details shows what Mark done did, sent with the hash the click saw: when the person turned
    Details into another form since (Waits for…), Slack refuses (`hash_conflict`) and that form
    stays. The tick is in the checklist either way; only a refusal is then said privately."""
    services = req.services
    view_id = str(req.view.get("id") or "")
    try:
        services.slack.update_view(view_id, view, view_hash=req.view.get("hash"))
    except SlackCallFailed as exc:
        if exc.error != HASH_CONFLICT:
            raise
        log.info("Details %s changed since Mark done was clicked; left as it is", view_id)
        if refused is not None:
            req.reply(services.error(refused))


def on_details_blocked(req: Request) -> None:
    """Blocked… in an item's Details: the blocked form, on top of Details."""
    req.ack()
    open_blocked_form(req, req.action_number())


def _form_errors(req: Request, mode: str, today: date) -> dict[str, str]:
    """Every problem of the submitted form at once, by the field it is about."""
    errors: dict[str, str] = {}
    if mode in ("due", "ask_due"):
        problem = due_problem(req.field("due"), today)
        if problem:
            errors["due"] = problem
    if mode in ("na", "ask_na") and not req.text_field("reason"):
        errors["reason"] = (
            "Say why; the reason is kept with the item."
            if mode == "na"
            else "Say why, so the team can decide."
        )
    if mode in ("na", "ask_na", "ask_due") and len(req.text_field("reason")) > cl.MAX_REASON:
        errors["reason"] = f"Keep it under {cl.MAX_REASON} characters."
    return errors


def _assignee_known(req: Request, assignee: str) -> tuple[str | None, str]:
    """(side, name) of the person picked, from the database (their users.info was looked up when
    they were picked); side None when they are not known yet."""
    services = req.services
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        side = cl.assignee_side(session, engagement, assignee)
    cached = services.slack.cached_profile(assignee)
    return side, cached.name if cached else ""


def _submit(req: Request, mode: str) -> None:
    services = req.services
    item_id = parse_id(req.metadata.get("item"))
    now = services.clock.now()
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        today = local_today(now, engagement.timezone)
    errors = _form_errors(req, mode, today)
    assignee = str(req.field("assignee") or "") if mode == "assign" else ""
    side, name = _assignee_known(req, assignee) if assignee else (None, "")
    if assignee and side is not None:
        try:  # known person: a refusal goes under the field, with the form still open
            with services.db.read() as session:
                engagement = click_engagement(req, session)
                phase, item = cl.item_by_id(session, engagement, item_id)
                _check_assignable(phase, item, actor_for(req, session, engagement), assignee, side, name)
        except UserError as exc:
            errors["assignee"] = exc.message
    if errors:
        req.ack(response_action="errors", errors=errors)
        return
    if mode in ("ask_due", "ask_na"):
        # Only messages (a note, the lead's DM), nothing of the item changes: not recorded in the
        # inbox, as a replay would send them twice.
        req.ack()
        ask_lead(req, mode, item_id)
        return
    # The form closes once the submission is in the inbox; the change is written after.
    after_ack(req, lambda r: _submit_after_ack(r, mode, item_id, assignee, side, name))


def _submit_after_ack(
    req: Request, mode: str, item_id: int, assignee: str, side: str | None, name: str
) -> Callable[[], None] | None:
    """An item form's change (assign, due, not applicable). The item already that way (a replay of
    a submission done) changes nothing: `cl.assign`, `set_due`, `mark_na` say so."""
    services = req.services
    now = services.clock.now()
    if assignee and side is None:  # not known yet: users.info (cached from now on), after the ack
        name = services.slack.profile(assignee).name
        with services.db.read() as session:
            side = cl.assignee_side(session, click_engagement(req, session), assignee)
    with services.db.session() as session:
        engagement, phase, item, actor = item_of_click(req, session, item_id)
        if mode == "assign":
            change = cl.assign(
                session, phase, item, actor, assignee, now, assignee_side=side, assignee_name=name
            )
        elif mode == "due":
            change = cl.set_due(session, phase, item, actor, date.fromisoformat(str(req.field("due"))), now)
        else:
            change = cl.mark_na(session, phase, item, actor, req.text_field("reason"), now)
        advanced = record_and_advance(session, engagement, actor, change, now)
        engagement_id, phase_number = saved_id(engagement), phase.number
        today = local_today(now, engagement.timezone)
        warnings = (
            due_warnings(session, engagement, [(phase, item)], item.due_on, today)
            if mode == "due" and item.due_on is not None
            else []
        )
        names = names_for(session, engagement_id) if change is not None else {}
    if change is not None:
        if assignee:
            remember(services, engagement_id, assignee, req.user_id)
        tell_about_change(services, engagement_id, change, req.user_id)
        after_change(
            services, engagement_id, phase_number, advanced, actor=req.user_id, team_id=req.user_team_id
        )
    if not warnings:
        return None
    # Allowed, but said, as `/golive due` says it.
    done = confirm_text(change, names) if change is not None else ""
    said = services.notice("\n".join([done, describe_warnings(warnings, services.command)]).strip())
    return lambda: req.reply(said)


def _check_assignable(
    phase: EngagementPhase, item: Item, actor: Actor, assignee: str, side: str, name: str
) -> None:
    """The checks of `cl.assign`, without writing: so a refusal can be shown in the form."""
    ref = f"{phase.number}.{item.number}"
    who = name or "That person"
    if actor.is_customer and item.owner_side != "customer":
        raise cl.Refused(f"{ref} is the implementation team's item; they assign it.")
    if item.owner_side == VENDOR and side != VENDOR:
        raise cl.Refused(
            f"{ref} is the implementation team's item: pick someone on the team ({who} could not tick it)."
        )
    if not side:
        raise cl.Refused(
            f"{who} is on neither side of this engagement; a consultant can run `side @{name or 'them'} customer`."
        )


def on_assignee_picked(req: Request) -> None:
    """Someone was picked in the assign form: look them up now (users.info, cached), so the
    submission can be checked at once, in the form."""
    req.ack()
    user = (req.action or {}).get("selected_user")
    if user:
        req.services.slack.profile(user)


# -- Show all ------------------------------------------------------------------------------
def all_items_view(
    services: Services, req: Request, engagement: Engagement, phase_number: int
) -> dict[str, Any]:
    with services.db.read() as session:
        phase = cl.phase_by_number(session, engagement, phase_number)
        actor = actor_for(req, session, engagement, acting=False)
        ctx = all_items_context(session, engagement, phase, actor, services.clock.now())
    return services.renderer.view(
        "checklist_all_modal.json.j2",
        **ctx,
        command=services.command,
        meta={"channel": engagement.channel_id, "engagement": engagement.id, "phase": phase_number},
    )


def on_show_all(req: Request) -> None:
    req.ack()
    services = req.services
    number = parse_id(req.action.get("value"))
    with services.db.read() as session:
        engagement = click_engagement(req, session)
    services.slack.open_view(req.trigger_id or "", all_items_view(services, req, engagement, number))


def refresh_all_items(req: Request) -> None:
    """After a change made in the Show all modal: show it there too."""
    services = req.services
    view_id = str(req.view.get("id") or "")
    number = req.metadata.get("phase")
    if not view_id or number is None:
        return
    with services.db.read() as session:
        engagement = click_engagement(req, session)
    # Changed since the click by another change's refresh (the modal holds only this list):
    # rendered again then, it is the newest.
    services.slack.update_view_newest(
        view_id,
        lambda: all_items_view(services, req, engagement, parse_id(number)),
        view_hash=req.view.get("hash"),
    )


def _reopen_clicked(req: Request, item_id: int) -> Callable[[], None] | None:
    """Reopen, after the ack: an item open already changes nothing (`cl.reopen`). Clicked in Show
    all, the modal shows the item as it is now, also when the reopen was refused."""
    try:
        _reopen(req, item_id)
    except UserError as exc:
        refused: UserError | None = exc
    else:
        refused = None
    if refused is None and not req.view:
        return None

    def answer() -> None:
        try:
            if refused is not None:
                req.reply(req.services.error(refused.message, refused.usage))
        finally:
            if req.view:
                refresh_all_items(req)

    return answer


def _reopen(req: Request, item_id: int) -> None:
    services = req.services
    now = services.clock.now()
    with services.db.session() as session:
        engagement, phase, item, actor = item_of_click(req, session, item_id)
        change = cl.reopen(session, phase, item, actor, now)
        record_and_advance(session, engagement, actor, change, now)
        engagement_id, phase_number = saved_id(engagement), phase.number
    if change is not None:
        after_change(services, engagement_id, phase_number, None)


def on_reopen(req: Request) -> None:
    """Reopen in Show all: acked once the click is in the inbox, reopened after."""
    item_id = req.action_number()
    after_ack(req, lambda r: _reopen_clicked(r, item_id))


# -- adding and suggesting items -------------------------------------------------------------
def on_add_button(req: Request) -> None:
    """*Add or suggest an item…*: one button on the shared checklist. The implementation team gets
    the add form; a customer a form that suggests an item to the lead."""
    req.ack()
    services = req.services
    number = parse_id(req.action.get("value"))
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        actor = actor_for(req, session, engagement)
        phase = cl.phase_by_number(session, engagement, number)
        ctx = {"number": phase.number, "name": phase.name}
        lead = lead_of(session, saved_id(engagement))
    view = services.renderer.view(
        "add_item_modal.json.j2",
        phase=ctx,
        suggest=not actor.is_vendor,
        thanks=False,
        customer_name=engagement.customer_name,
        lead_name=lead.display_name if lead and lead.display_name else "The lead consultant",
        meta={"channel": engagement.channel_id, "phase": number},
    )
    services.slack.open_view(req.trigger_id or "", view)


def on_add_submit(req: Request) -> None:
    title = req.text_field("title")
    owner = req.field("owner") or "customer"
    if problem := title_problem(title):
        req.ack(response_action="errors", errors={"title": problem})
        return
    number = parse_id(req.metadata.get("phase"))
    # The form closes once the submission is in the inbox; the item is added after.
    after_ack(req, lambda r: _add_after_ack(r, number, title, owner))


def _add_after_ack(req: Request, number: int, title: str, owner: str) -> None:
    """Add the item. Adding is not idempotent by itself: on a replay, an item of that title already
    in the phase is the one this submission added before its process stopped, and nothing is added
    again."""
    services = req.services
    now = services.clock.now()
    with services.db.session() as session:
        engagement = click_engagement(req, session)
        phase = cl.phase_by_number(session, engagement, number)
        actor = actor_for(req, session, engagement)
        if req.replaying is not None and _has_custom_item(session, phase, title):
            log.info("replayed item_add: %r is in phase %s already; not added again", title, number)
            return
        record_and_advance(
            session, engagement, actor, cl.add_item(session, phase, actor, title, owner, now), now
        )
        engagement_id, phase_number = saved_id(engagement), phase.number
    after_change(services, engagement_id, phase_number, None, actor=req.user_id, team_id=req.user_team_id)


def _has_custom_item(session: Session, phase: EngagementPhase, title: str) -> bool:
    """An item added by hand (not from the playbook) with this title is in the phase."""
    wanted = " ".join(title.split())
    return any(i.custom and i.title == wanted for i in cl.items_of(session, saved_id(phase)))


def register(app: App, services: Services) -> None:
    app.action(MENU)(listener(services, on_menu))
    app.action(REOPEN)(listener(services, on_reopen))
    app.action("checklist_all")(listener(services, on_show_all))
    app.action({"block_id": "assignee", "action_id": "value"})(listener(services, on_assignee_picked))
    app.action("add_item")(listener(services, on_add_button))
    app.view("item_add")(listener(services, on_add_submit))
    app.action(DETAILS_DONE)(listener(services, on_details_done))
    app.action(DETAILS_BLOCKED)(listener(services, on_details_blocked))
    for mode in ("assign", "due", "na", "ask_due", "ask_na"):
        app.view(f"item_{mode}")(listener(services, _submitter(mode)))


def _submitter(mode: str) -> Callable[[Request], None]:
    def submit(req: Request) -> None:
        _submit(req, mode)

    submit.__name__ = f"on_item_{mode}_submit"
    return submit
