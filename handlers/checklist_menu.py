"""The checklist's menus and forms: the ⋯ menu of an item, *Details*, *Show all*, adding and
suggesting items, and the lead's answer to a date-change request.

The checklist is one message for both sides, so its ⋯ menu offers what makes sense to both, and
each entry answers according to who chose it: the implementation team marks its own items done,
assigns, dates and marks items not applicable; a customer assigns their own side's items, says
what blocks them, and for the date or an item that does not apply sends the lead a note ("Ask to
change the date") instead of being refused. A date-change request reaches the lead privately with
**Move to …** / **Keep …**, and the answer goes to the requester in the item's thread. The shared
*Add or suggest an item…* button opens the add form for the team and a suggestion form for a
customer, whose suggestion reaches the lead privately with **Add it**. *Details* and *Show all*
are private modals, so they offer each person only what they may do.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import date
from typing import Any

from slack_bolt import App
from sqlalchemy import update
from sqlmodel import col, select

from bot.engagement import checklist as cl
from bot.engagement import dependencies as deps
from bot.engagement.lifecycle import local_today, phases_of
from bot.engagement.phases import record_and_advance
from bot.engagement.plan import describe_warnings
from bot.errors import UserError
from bot.people import notified
from bot.people.members import lead_of
from bot.people.sides import CUSTOMER, VENDOR, Actor
from bot.refs import parse_choice, parse_id
from bot.services import Services
from bot.slack.modals import all_items_context
from bot.slack.notes import in_checklist_thread, name_of, tell_about_change, tell_lead
from bot.slack.nudges import LEAD_DM
from bot.slack.presenters import item_row, names_for
from bot.slack.publish import refresh_checklist
from handlers.base import Request, actor_for, click_engagement, remember
from handlers.checklist import Where, after_change, confirm_text, due_problem, due_warnings, record_tick
from handlers.listening import listener
from handlers.nudges import may_act, open_blocked_form
from storage.models import Engagement, EngagementPhase, Item, PostedMessage

log = logging.getLogger("golive.handlers.checklist")

MENU = re.compile(r"^item_menu:(\d+)$")
REOPEN = re.compile(r"^item_reopen:(\d+)$")
DETAILS_DONE = re.compile(r"^item_done:(\d+)$")
DETAILS_BLOCKED = re.compile(r"^item_blocked:(\d+)$")
DETAILS_AFTER = re.compile(r"^item_after:(\d+)$")
MAX_CHOICES = 100  # Block Kit: a select's options, over all its groups
VERBS = ("assign", "due", "na", "details", "reopen", "done", "blocked")
ASK_MOVE, ASK_KEEP, SUGGEST_ADD = "ask_move", "ask_keep", "suggest_add"
ANSWERED = {"moved": "moved", "kept": "kept", "added": "added"}  # a lead's DM key ends with one


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
    s: Services, engagement: Engagement, phase: EngagementPhase, item: Item, actor: Actor, **ctx: Any
) -> dict[str, Any]:
    """An item's form (`mode`: assign, due, na, ask_due, ask_na, after) or its Details, for this
    person. Details offers what they may do to it: Mark done, Blocked… and, for the team, Waits
    for… (the `after` form: which items it waits for)."""
    with s.db.read() as session:
        today = local_today(s.clock.now(), engagement.timezone)
        prereqs = deps.prerequisites_of(session, item.id)  # type: ignore[arg-type]
        waiting = [ref for ref, p in prereqs if p.status == cl.OPEN]
        row = item_row(phase, item, names_for(session, engagement.id), today, engagement.timezone, waiting)  # type: ignore[arg-type]
        lead = lead_of(session, engagement.id)  # type: ignore[arg-type]
        choices = (
            _after_choices(session, engagement, phase, item, prereqs) if ctx.get("mode") == "after" else []
        )
    active = engagement.status == "active" and actor.has_side
    is_open = item.status == cl.OPEN
    ctx.setdefault("after", [{"ref": ref, "title": p.title, "status": p.status} for ref, p in prereqs])
    ctx.setdefault("chosen", [str(p.id) for _ref, p in prereqs])
    return s.renderer.view(
        "item_modal.json.j2",
        it=row,
        lead_name=lead.display_name if lead and lead.display_name else "The lead consultant",
        due=item.due_on.isoformat() if item.due_on else None,
        can_tick=active and is_open and may_act(actor, item),
        can_block=active and is_open and not item.blocked_reason and may_act(actor, item),
        can_plan=active and is_open and actor.is_vendor,
        choices=choices,
        meta={"channel": engagement.channel_id, "item": item.id},
        **{"note": None} | ctx,
    )


def on_menu(req: Request) -> None:
    req.ack()
    s = req.services
    verb, item_id = parse_choice((req.action.get("selected_option") or {}).get("value"))
    if verb not in VERBS:
        raise UserError("That menu entry is not known any more; run the checklist again.")
    if verb == "reopen":  # from checklists posted before not-applicable items were folded
        _reopen(req, item_id)
        return
    with s.db.read() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        actor = actor_for(req, session, engagement, acting=verb not in ("details", "done", "blocked"))
        mode, note = _form_for(verb, item, actor)
    if mode == "done":
        refused = mark_done(req, item_id)
        if refused is not None:
            req.reply(s.error(refused))
        return
    if mode == "blocked":
        open_blocked_form(req, item_id)
        return
    s.slack.open_view(
        req.trigger_id or "", item_view(s, engagement, phase, item, actor, mode=mode, note=note)
    )


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
    """Mark done in an item's Details: done as a tick, and Details shows it."""
    req.ack()
    s = req.services
    item_id = req.action_number()
    note = done_note(req, item_id, mark_done(req, item_id))
    with s.db.read() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        actor = actor_for(req, session, engagement, acting=False)
    view = item_view(s, engagement, phase, item, actor, mode="details", note=note)
    s.slack.update_view(str(req.view.get("id") or ""), view)


def on_details_blocked(req: Request) -> None:
    """Blocked… in an item's Details: the blocked form, on top of Details."""
    req.ack()
    open_blocked_form(req, req.action_number())


# -- what an item waits for -------------------------------------------------------------------
def _after_choices(
    session: Any,
    engagement: Engagement,
    phase: EngagementPhase,
    item: Item,
    prereqs: list[tuple[str, Item]],
) -> list[dict[str, Any]]:
    """The items the `after` form offers, by phase, this phase's first then the ones before: the
    open items (and those it already waits for, wherever they are), never the item itself nor
    later phases' other items (Block Kit holds 100 options)."""
    current = {p.id for _ref, p in prereqs}
    top = max([phase.number] + [int(ref.split(".")[0]) for ref, _p in prereqs])
    groups = []
    room = MAX_CHOICES
    for number in range(top, 0, -1):
        rows = session.exec(
            select(Item)
            .join(EngagementPhase, col(EngagementPhase.id) == Item.phase_id)
            .where(EngagementPhase.engagement_id == engagement.id, EngagementPhase.number == number)
            .order_by(Item.number)
        ).all()
        named = session.exec(
            select(EngagementPhase).where(
                EngagementPhase.engagement_id == engagement.id, EngagementPhase.number == number
            )
        ).first()
        options = [
            {"value": str(i.id), "text": f"{number}.{i.number} {i.title}"}
            for i in rows
            if i.id in current or (i.id != item.id and i.status == cl.OPEN and number <= phase.number)
        ][:room]
        room -= len(options)
        if options:
            groups.append({"label": f"{number}. {named.name if named else ''}", "options": options})
        if room <= 0:
            break
    return groups


def on_details_after(req: Request) -> None:
    """Waits for… in an item's Details (the team only): Details turns into the `after` form."""
    req.ack()
    s = req.services
    with s.db.read() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, req.action_number())
        actor = actor_for(req, session, engagement, acting=False)
    if not actor.is_vendor:
        note = ":lock: The implementation team plans what waits for what."
        view = item_view(s, engagement, phase, item, actor, mode="details", note=note)
    else:
        view = item_view(s, engagement, phase, item, actor, mode="after")
    s.slack.update_view(str(req.view.get("id") or ""), view)


def _after_wanted(req: Request, session: Any, engagement: Engagement) -> list[Item]:
    wanted = []
    for raw in req.field("after") or []:
        _phase, found = cl.item_by_id(session, engagement, parse_id(raw))
        wanted.append(found)
    return wanted


def on_after_submit(req: Request) -> None:
    """The `after` form: the item waits for exactly the items chosen. A circle is refused under the
    field, with the form still open; the change, the due dates that follow it and the refreshed
    checklists come after the ack, with a private confirmation."""
    s = req.services
    item_id = parse_id(req.metadata.get("item"))
    now = s.clock.now()
    try:
        with s.db.read() as session:  # the checks, without writing
            engagement = click_engagement(req, session)
            _phase, item = cl.item_by_id(session, engagement, item_id)
            actor = actor_for(req, session, engagement)
            deps.check_prerequisites(
                session, engagement, actor, item, _after_wanted(req, session, engagement)
            )
    except UserError as exc:
        req.ack(response_action="errors", errors={"after": exc.message})
        return
    req.ack()
    with s.db.session() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        actor = actor_for(req, session, engagement)
        added, removed = deps.set_prerequisites(
            session, engagement, actor, item, _after_wanted(req, session, engagement), now
        )
        text = after_confirmation(session, phase, item, added, removed)
        engagement_id, channel = engagement.id, engagement.channel_id
        numbers = [p.number for p in phases_of(session, engagement.id) if p.number >= phase.number]  # type: ignore[arg-type]
    if added or removed:
        for number in numbers:  # later items may follow its new date
            refresh_checklist(s, engagement_id, number, channel=channel)  # type: ignore[arg-type]
    req.reply(s.notice(text))


def _state(item: Item) -> str:
    return {cl.OPEN: "open", cl.DONE: "done"}.get(item.status, "not applicable")


def waits_for_text(session: Any, phase: EngagementPhase, item: Item, command: str) -> str:
    """What an item waits for, and how to change it (`/golive after 2.3`)."""
    ref = f"{phase.number}.{item.number}"
    now_waits = deps.prerequisites_of(session, item.id)  # type: ignore[arg-type]
    if not now_waits:
        return (
            f"{ref} {item.title} waits for nothing. Make it wait with `{command} after {ref} <items>`, "
            f"e.g. `{command} after {ref} 1.5`."
        )
    listed = ", ".join(f"{r} ({_state(p)})" for r, p in now_waits)
    return (
        f"{ref} {item.title} waits for {listed}. Change it with `{command} after {ref} <more items>`, "
        f"`{command} after {ref} remove <item>` or `{command} after {ref} none`."
    )


def after_confirmation(
    session: Any, phase: EngagementPhase, item: Item, added: list[Item], removed: list[Item]
) -> str:
    """What a change of an item's prerequisites did, in a line or two: what it waits for now and
    its due date (which follows them)."""
    ref = f"{phase.number}.{item.number}"
    now_waits = deps.prerequisites_of(session, item.id)  # type: ignore[arg-type]
    if not added and not removed:
        head = f"{ref} already waits for exactly that; nothing changed."
    elif now_waits:
        listed = ", ".join(f"{r} ({_state(p)})" for r, p in now_waits)
        head = f"{ref} {item.title} now waits for {listed}."
    else:
        head = f"{ref} {item.title} now waits for nothing."
    session.refresh(item)
    if item.due_on is None:
        return head
    how = "set by hand, so it stays" if item.due_set_by_hand else "following what it waits for"
    return f"{head} It is due {item.due_on.strftime('%a %-d %b')} ({how})."


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
    s = req.services
    with s.db.read() as session:
        engagement = click_engagement(req, session)
        side = cl.assignee_side(session, engagement, assignee)
    cached = s.slack.cached_profile(assignee)
    return side, cached.name if cached else ""


def _submit(req: Request, mode: str) -> None:
    s = req.services
    item_id = parse_id(req.metadata.get("item"))
    now = s.clock.now()
    with s.db.read() as session:
        engagement = click_engagement(req, session)
        today = local_today(now, engagement.timezone)
    errors = _form_errors(req, mode, today)
    assignee = str(req.field("assignee") or "") if mode == "assign" else ""
    side, name = _assignee_known(req, assignee) if assignee else (None, "")
    if assignee and side is not None:
        try:  # known person: a refusal goes under the field, with the form still open
            with s.db.read() as session:
                engagement = click_engagement(req, session)
                phase, item = cl.item_by_id(session, engagement, item_id)
                _check_assignable(phase, item, actor_for(req, session, engagement), assignee, side, name)
        except UserError as exc:
            errors["assignee"] = exc.message
    if errors:
        req.ack(response_action="errors", errors=errors)
        return
    req.ack()
    if mode in ("ask_due", "ask_na"):
        _ask(req, mode, item_id)
        return
    if assignee and side is None:  # not known yet: users.info (cached from now on), after the ack
        name = s.slack.profile(assignee).name
        with s.db.read() as session:
            side = cl.assignee_side(session, click_engagement(req, session), assignee)
    with s.db.session() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        actor = actor_for(req, session, engagement)
        if mode == "assign":
            change = cl.assign(
                session, phase, item, actor, assignee, now, assignee_side=side, assignee_name=name
            )
        elif mode == "due":
            change = cl.set_due(session, phase, item, actor, date.fromisoformat(str(req.field("due"))), now)
        else:
            change = cl.mark_na(session, phase, item, actor, req.text_field("reason"), now)
        advanced = record_and_advance(session, engagement, actor, change, now)
        engagement_id, phase_number = engagement.id, phase.number
        warnings = (
            due_warnings(session, engagement, [(phase, item)], item.due_on, today)
            if mode == "due" and item.due_on is not None
            else []
        )
        names = names_for(session, engagement_id) if change is not None else {}  # type: ignore[arg-type]
    if change is not None:
        if assignee:
            remember(s, engagement_id, assignee, req.user_id)  # type: ignore[arg-type]
        tell_about_change(s, engagement_id, change, req.user_id)  # type: ignore[arg-type]
        after_change(s, engagement_id, phase_number, advanced, actor=req.user_id, team_id=req.user_team_id)  # type: ignore[arg-type]
    if warnings:  # allowed, but said, as `/golive due` says it
        done = confirm_text(change, names) if change is not None else ""
        req.reply(s.notice("\n".join([done, describe_warnings(warnings, s.command)]).strip()))


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


def _ask(req: Request, mode: str, item_id: int) -> None:
    """A customer asks the lead to change an item's date, or to drop it: a note in the thread of
    the item's checklist (at the top level only when that checklist is not in the channel), and a
    direct message to the lead; a date-change request there has **Move to …** / **Keep …**."""
    s = req.services
    with s.db.read() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        actor_for(req, session, engagement)  # only people of a side send notes
        lead = lead_of(session, engagement.id)  # type: ignore[arg-type]
        channel, engagement_id, phase_number = engagement.channel_id, engagement.id, phase.number
        ctx: dict[str, Any] = {
            "mode": mode,
            "ref": f"{phase.number}.{item.number}",
            "title": item.title,
            "due": item.due_on,
            "customer_name": engagement.customer_name,
            "lead": lead.user_id if lead else None,
            "lead_name": lead.display_name if lead and lead.display_name else "Implementation team",
        }
    profile = s.slack.cached_profile(req.user_id)
    wanted = req.field("due") if mode == "ask_due" else None
    facts = {
        **ctx,
        "by": req.user_id,
        "by_name": profile.name if profile else req.user_name,
        "wanted": date.fromisoformat(str(wanted)) if wanted else None,
        "reason": req.text_field("reason"),
        "channel": channel,
        "command": s.command,
        "decided": None,
    }
    message = s.renderer.message("item_ask.json.j2", **facts, direct=False)
    s.outbox.post(
        channel,
        message,
        kind="item_ask",
        key=str(item_id),
        engagement_id=engagement_id,
        thread_ts=in_checklist_thread(s, engagement_id, phase_number),  # type: ignore[arg-type]
        top_if_no_thread=True,
    )
    direct = s.renderer.message("item_ask.json.j2", **facts, direct=True)
    # The lead's message keeps what was asked in its ledger key: their answer is read from there
    # (never from the button), and the key's last part records it once it is given.
    key = f"{mode}:{item_id}" + (f":{facts['wanted'].isoformat()}:{req.user_id}" if wanted else "")
    tell_lead(s, engagement_id, direct, key=key, actor_id=req.user_id)  # type: ignore[arg-type]
    remember(s, engagement_id, req.user_id, req.user_id, req.user_team_id)  # type: ignore[arg-type]


# -- the lead's answers ----------------------------------------------------------------------
def _lead_dm(req: Request) -> PostedMessage:
    """The lead's direct message clicked (the ledger row of where the click came from)."""
    with req.services.db.read() as session:
        row = session.exec(
            select(PostedMessage).where(
                PostedMessage.channel_id == (req.channel_id or ""),
                PostedMessage.ts == (req.message_ts or ""),
                PostedMessage.kind == LEAD_DM,
            )
        ).first()
    if row is None:
        raise UserError("I don't know that message any more; nothing was changed.")
    return row


def _answered(row: PostedMessage) -> str | None:
    last = row.key.rpartition(":")[2]
    return last if last in ANSWERED else None


def _close(session: Any, row: PostedMessage, outcome: str, now: Any) -> bool:
    """Record the answer in the message's ledger key; False when another click got there first."""
    moved = session.execute(
        update(PostedMessage)
        .where(col(PostedMessage.id) == row.id, col(PostedMessage.key) == row.key)
        .values(key=f"{row.key}:{outcome}"[:128], updated_at=now)
    )
    return bool(moved.rowcount)


def _already(req: Request, outcome: str) -> None:
    req.reply(req.services.notice(f"This was already answered ({outcome}); nothing was changed."))


def _answer_in_thread(
    s: Services,
    engagement_id: int,
    channel: str,
    phase_number: int,
    *,
    key: str,
    person: str,
    subject: str,
    facts: dict[str, Any],
) -> None:
    """The answer to someone's request, in the item's thread, mentioning them (in its text too: a
    push shows the text); whom it notified is recorded once it landed."""
    message = s.renderer.message("item_ask.json.j2", **facts)
    thread = in_checklist_thread(s, engagement_id, phase_number)
    parent: dict[str, str | None] = {"ts": None}

    def find() -> str | None:
        parent["ts"] = thread()
        return parent["ts"]

    def landed(ts: str) -> None:
        with s.db.session() as session:
            notified.record(
                session,
                engagement_id,
                [person],
                kind="ask_answer",
                subjects=[subject],
                now=s.clock.now(),
                reminder=False,
                channel=channel,
                ts=ts,
                thread_ts=parent["ts"],
            )

    s.outbox.post(
        channel,
        message,
        kind="ask_answer",
        key=key,
        engagement_id=engagement_id,
        thread_ts=find,
        top_if_no_thread=True,
        then=landed,
    )


def on_ask_answer(req: Request) -> None:
    """The lead's **Move to …** / **Keep …** on a date-change request: the date changes (as `due`
    would: audit, checklist, the assignee told) or stays, the requester is answered in the item's
    thread, and the lead's message becomes what was decided. The first answer counts."""
    req.ack()
    s = req.services
    move = req.action.get("action_id") == ASK_MOVE
    row = _lead_dm(req)
    if (outcome := _answered(row)) is not None:
        _already(req, outcome)
        return
    mode, item_part, wanted_raw, requester = [*row.key.split(":"), "", "", "", ""][:4]
    if mode != "ask_due" or not wanted_raw or not requester:
        raise UserError("That request is not one I can answer from here; nothing was changed.")
    wanted = date.fromisoformat(wanted_raw)
    item_id = parse_id(item_part)
    now = s.clock.now()
    with s.db.read() as session:
        engagement = click_engagement(req, session)
        today = local_today(now, engagement.timezone)
    if move and (problem := due_problem(wanted.isoformat(), today)):
        raise UserError(f"{problem} Nothing was changed; `{s.command} due` sets another date.")
    with s.db.session() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        actor = actor_for(req, session, engagement)
        if not actor.is_vendor:
            raise cl.Refused("Only the implementation team answers date-change requests.")
        before = item.due_on
        if not _close(session, row, "moved" if move else "kept", now):
            _already(req, "by another click")
            return
        change = cl.set_due(session, phase, item, actor, wanted, now) if move else None
        record_and_advance(session, engagement, actor, change, now)
        warnings = due_warnings(session, engagement, [(phase, item)], wanted, today) if move else []
        facts: dict[str, Any] = {
            "mode": "answer",
            "ref": f"{phase.number}.{item.number}",
            "title": item.title,
            "due": before,
            "wanted": wanted,
            "moved": move,
            "by": requester,
            "by_name": name_of(session, engagement.id, requester) or "They",  # type: ignore[arg-type]
            "lead_name": actor.name,
            "customer_name": engagement.customer_name,
            "channel": engagement.channel_id,
            "command": s.command,
            "reason": "",
            "lead": None,
            "decided": None,
        }
        engagement_id, phase_number, channel = engagement.id, phase.number, engagement.channel_id
    if change is not None:
        tell_about_change(s, engagement_id, change, req.user_id)  # type: ignore[arg-type]
        after_change(s, engagement_id, phase_number, None, actor=req.user_id, team_id=req.user_team_id)  # type: ignore[arg-type]
    _answer_in_thread(
        s,
        engagement_id,  # type: ignore[arg-type]
        channel,
        phase_number,
        key=f"{row.id}",
        person=requester,
        subject=f"item:{item_id}",
        facts=facts,
    )
    decided = s.renderer.message(
        "item_ask.json.j2",
        **facts
        | {
            "mode": "ask_due",
            "decided": "moved" if move else "kept",
            "warnings": describe_warnings(warnings, s.command) if warnings else "",
        },
        direct=True,
    )
    s.outbox.update(row.channel_id, row.ts, decided, what="date-change request")


def on_assignee_picked(req: Request) -> None:
    """Someone was picked in the assign form: look them up now (users.info, cached), so the
    submission can be checked at once, in the form."""
    req.ack()
    user = (req.action or {}).get("selected_user")
    if user:
        req.services.slack.profile(user)


# -- Show all ------------------------------------------------------------------------------
def all_items_view(s: Services, req: Request, engagement: Engagement, phase_number: int) -> dict[str, Any]:
    with s.db.read() as session:
        phase = cl.phase_by_number(session, engagement, phase_number)
        actor = actor_for(req, session, engagement, acting=False)
        ctx = all_items_context(session, engagement, phase, actor, s.clock.now())
    return s.renderer.view(
        "checklist_all_modal.json.j2",
        **ctx,
        command=s.command,
        meta={"channel": engagement.channel_id, "engagement": engagement.id, "phase": phase_number},
    )


def on_show_all(req: Request) -> None:
    req.ack()
    s = req.services
    number = parse_id(req.action.get("value"))
    with s.db.read() as session:
        engagement = click_engagement(req, session)
    s.slack.open_view(req.trigger_id or "", all_items_view(s, req, engagement, number))


def refresh_all_items(req: Request) -> None:
    """After a change made in the Show all modal: show it there too."""
    s = req.services
    view_id = str(req.view.get("id") or "")
    number = req.metadata.get("phase")
    if not view_id or number is None:
        return
    with s.db.read() as session:
        engagement = click_engagement(req, session)
    s.slack.update_view(view_id, all_items_view(s, req, engagement, parse_id(number)))


def _reopen(req: Request, item_id: int) -> None:
    s = req.services
    now = s.clock.now()
    with s.db.session() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        actor = actor_for(req, session, engagement)
        change = cl.reopen(session, phase, item, actor, now)
        record_and_advance(session, engagement, actor, change, now)
        engagement_id, phase_number = engagement.id, phase.number
    if change is not None:
        after_change(s, engagement_id, phase_number, None)  # type: ignore[arg-type]


def on_reopen(req: Request) -> None:
    req.ack()
    try:
        _reopen(req, req.action_number())
    finally:
        if req.view:
            refresh_all_items(req)


# -- adding and suggesting items -------------------------------------------------------------
def on_add_button(req: Request) -> None:
    """*Add or suggest an item…*: one button on the shared checklist. The implementation team gets
    the add form; a customer a form that suggests an item to the lead."""
    req.ack()
    s = req.services
    number = parse_id(req.action.get("value"))
    with s.db.read() as session:
        engagement = click_engagement(req, session)
        actor = actor_for(req, session, engagement)
        phase = cl.phase_by_number(session, engagement, number)
        ctx = {"number": phase.number, "name": phase.name}
        lead = lead_of(session, engagement.id)  # type: ignore[arg-type]
    view = s.renderer.view(
        "add_item_modal.json.j2",
        phase=ctx,
        suggest=not actor.is_vendor,
        thanks=False,
        customer_name=engagement.customer_name,
        lead_name=lead.display_name if lead and lead.display_name else "The lead consultant",
        meta={"channel": engagement.channel_id, "phase": number},
    )
    s.slack.open_view(req.trigger_id or "", view)


def _title_problem(title: str) -> str | None:
    if not title:
        return "Give the item a title."
    if len(title) > cl.MAX_TITLE:
        return f"The title is {len(title)} characters; keep it under {cl.MAX_TITLE}."
    return None


def on_suggest_submit(req: Request) -> None:
    """A customer's suggestion: to the lead privately, with **Add it**; the form thanks them."""
    s = req.services
    title = req.text_field("title")
    why = req.text_field("why")
    errors = {}
    if problem := _title_problem(title):
        errors["title"] = problem
    if len(why) > cl.MAX_REASON:
        errors["why"] = f"Keep it under {cl.MAX_REASON} characters."
    if errors:
        req.ack(response_action="errors", errors=errors)
        return
    owner = CUSTOMER if req.field("owner") != VENDOR else VENDOR
    with s.db.read() as session:
        engagement = click_engagement(req, session)
        actor = actor_for(req, session, engagement)
        phase = cl.phase_by_number(session, engagement, parse_id(req.metadata.get("phase")))
        lead = lead_of(session, engagement.id)  # type: ignore[arg-type]
        lead_name = lead.display_name if lead and lead.display_name else "The lead consultant"
        facts = {
            "mode": "suggest",
            "phase_number": phase.number,
            "phase_name": phase.name,
            "title": title,
            "owner": owner,
            "reason": why,
            "by": actor.user_id,
            "by_name": actor.name,
            "customer_name": engagement.customer_name,
            "channel": engagement.channel_id,
            "lead": lead.user_id if lead else None,
            "command": s.command,
            "suggestion": {"phase": phase.number, "title": title, "owner": owner, "by": actor.user_id},
            "decided": None,
        }
        engagement_id, customer = engagement.id, engagement.customer_name
    thanks = s.renderer.view(
        "add_item_modal.json.j2",
        phase={"number": facts["phase_number"], "name": facts["phase_name"]},
        suggest=True,
        thanks=True,
        title=title,
        customer_name=customer,
        lead_name=lead_name,
        meta={},
    )
    req.ack(response_action="update", view=thanks)
    message = s.renderer.message("item_ask.json.j2", **facts, direct=True)
    tell_lead(
        s,
        engagement_id,
        message,
        key=f"suggest:{facts['phase_number']}:{actor.user_id}",
        actor_id=req.user_id,
    )  # type: ignore[arg-type]
    remember(s, engagement_id, req.user_id, req.user_id, req.user_team_id)  # type: ignore[arg-type]


class _Again(Exception):
    """Another click answered first: nothing of this one is written."""


def _added_facts(
    session: Any,
    engagement: Engagement,
    actor: Actor,
    change: cl.Change,
    suggestion: dict[str, Any],
    by: str,
    command: str,
) -> dict[str, Any]:
    return {
        "mode": "added",
        "ref": change.ref,
        "title": change.item.title,
        "owner": change.item.owner_side,
        "phase_number": change.phase.number,
        "phase_name": change.phase.name,
        "by": by,
        "by_name": name_of(session, engagement.id, by) or "They",  # type: ignore[arg-type]
        "lead_name": actor.name,
        "customer_name": engagement.customer_name,
        "channel": engagement.channel_id,
        "command": command,
        "reason": "",
        "lead": None,
        "suggestion": suggestion,
        "decided": None,
    }


def on_suggest_add(req: Request) -> None:
    """**Add it** on a customer's suggestion: the item is added (as `add` would), the suggester is
    told in the phase checklist's thread, and the lead's message says what was done. Once."""
    req.ack()
    s = req.services
    row = _lead_dm(req)
    if (outcome := _answered(row)) is not None:
        _already(req, outcome)
        return
    raw = req.action.get("value") or ""
    try:
        suggestion = json.loads(raw)
        number, title = int(suggestion["phase"]), str(suggestion["title"])
        owner, by = str(suggestion.get("owner") or CUSTOMER), str(suggestion.get("by") or "")
    except (ValueError, KeyError, TypeError):
        raise UserError("That suggestion is not one I can read any more; nothing was changed.") from None
    now = s.clock.now()
    try:
        with s.db.session() as session:
            engagement = click_engagement(req, session)
            actor = actor_for(req, session, engagement)
            phase = cl.phase_by_number(session, engagement, number)
            change = cl.add_item(session, phase, actor, title, owner, now)  # the team's only: checked there
            if not _close(session, row, "added", now):
                raise _Again  # another click added it: this transaction is rolled back
            record_and_advance(session, engagement, actor, change, now)
            facts = _added_facts(session, engagement, actor, change, suggestion, by, s.command)
            engagement_id, channel, item_id = engagement.id, engagement.channel_id, change.item.id
    except _Again:
        _already(req, "by another click")
        return
    after_change(s, engagement_id, number, None, actor=req.user_id, team_id=req.user_team_id)  # type: ignore[arg-type]
    if by:
        _answer_in_thread(
            s,
            engagement_id,  # type: ignore[arg-type]
            channel,
            number,
            key=f"{row.id}",
            person=by,
            subject=f"item:{item_id}",
            facts=facts,
        )
    decided = s.renderer.message(
        "item_ask.json.j2", **facts | {"mode": "suggest", "decided": "added"}, direct=True
    )
    s.outbox.update(row.channel_id, row.ts, decided, what="item suggestion")


def on_add_submit(req: Request) -> None:
    s = req.services
    title = req.text_field("title")
    owner = req.field("owner") or "customer"
    if problem := _title_problem(title):
        req.ack(response_action="errors", errors={"title": problem})
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


def register(app: App, services: Services) -> None:
    app.action(MENU)(listener(services, on_menu))
    app.action(REOPEN)(listener(services, on_reopen))
    app.action("checklist_all")(listener(services, on_show_all))
    app.action({"block_id": "assignee", "action_id": "value"})(listener(services, on_assignee_picked))
    app.action("add_item")(listener(services, on_add_button))
    app.view("item_add")(listener(services, on_add_submit))
    app.view("item_suggest")(listener(services, on_suggest_submit))
    app.action(SUGGEST_ADD)(listener(services, on_suggest_add))
    app.action(ASK_MOVE)(listener(services, on_ask_answer))
    app.action(ASK_KEEP)(listener(services, on_ask_answer))
    app.action(DETAILS_DONE)(listener(services, on_details_done))
    app.action(DETAILS_BLOCKED)(listener(services, on_details_blocked))
    app.action(DETAILS_AFTER)(listener(services, on_details_after))
    app.view("item_after")(listener(services, on_after_submit))
    for mode in ("assign", "due", "na", "ask_due", "ask_na"):
        app.view(f"item_{mode}")(listener(services, _submitter(mode)))


def _submitter(mode: str):  # type: ignore[no-untyped-def]
    def submit(req: Request) -> None:
        _submit(req, mode)

    submit.__name__ = f"on_item_{mode}_submit"
    return submit
