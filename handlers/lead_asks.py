"""What a customer asks of the lead, and the lead's answers.

A customer asks to change an item's date or to drop it (the ⋯ menu's forms) and suggests items
(*Add or suggest an item…*): a note in the item's checklist thread and a private message to the
lead (`tell_lead`). A date-change request there has **Move to …** / **Keep …**, a suggestion
**Add it**; the answer goes to the requester in the checklist's thread, mentioning them, and the
lead's message turns into what was decided. The answer is recorded in that message's ledger key
with a conditional update, so a second click or a stale copy changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from slack_bolt import App
from sqlalchemy import update
from sqlmodel import col, select

from bot.engagement import checklist as cl
from bot.engagement.lifecycle import local_today
from bot.engagement.phases import record_and_advance
from bot.engagement.plan import describe_warnings
from bot.errors import UserError
from bot.people import notified
from bot.people.members import lead_of
from bot.people.sides import CUSTOMER, VENDOR, Actor
from bot.refs import parse_id
from bot.services import Services
from bot.slack.notes import in_checklist_thread, name_of, tell_about_change, tell_lead
from bot.slack.nudges import LEAD_DM
from handlers.base import Request, actor_for, click_engagement, item_of_click, remember
from handlers.checklist import after_change, due_problem, due_warnings
from handlers.listening import after_ack, listener
from storage.models import Engagement, PostedMessage, saved_id

log = logging.getLogger("golive.handlers.checklist")

ASK_MOVE, ASK_KEEP, SUGGEST_ADD = "ask_move", "ask_keep", "suggest_add"
ANSWERED = {"moved": "moved", "kept": "kept", "added": "added"}  # a lead's DM key ends with one


def ask_lead(req: Request, mode: str, item_id: int) -> None:
    """A customer asks the lead to change an item's date, or to drop it: a note in the thread of
    the item's checklist (at the top level only when that checklist is not in the channel), and a
    direct message to the lead; a date-change request there has **Move to …** / **Keep …**."""
    services = req.services
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        actor_for(req, session, engagement)  # only people of a side send notes
        lead = lead_of(session, saved_id(engagement))
        channel, engagement_id, phase_number = engagement.channel_id, saved_id(engagement), phase.number
        ctx: dict[str, Any] = {
            "mode": mode,
            "ref": f"{phase.number}.{item.number}",
            "title": item.title,
            "due": item.due_on,
            "customer_name": engagement.customer_name,
            "lead": lead.user_id if lead else None,
            "lead_name": lead.display_name if lead and lead.display_name else "Implementation team",
        }
    profile = services.slack.cached_profile(req.user_id)
    wanted = req.field("due") if mode == "ask_due" else None
    facts = {
        **ctx,
        "by": req.user_id,
        "by_name": profile.name if profile else req.user_name,
        "wanted": date.fromisoformat(str(wanted)) if wanted else None,
        "reason": req.text_field("reason"),
        "channel": channel,
        "command": services.command,
        "decided": None,
    }
    message = services.renderer.message("item_ask.json.j2", **facts, direct=False)
    services.outbox.post(
        channel,
        message,
        kind="item_ask",
        key=str(item_id),
        engagement_id=engagement_id,
        thread_ts=in_checklist_thread(services, engagement_id, phase_number),
        top_if_no_thread=True,
    )
    direct = services.renderer.message("item_ask.json.j2", **facts, direct=True)
    # The lead's message keeps what was asked in its ledger key: their answer is read from there
    # (never from the button), and the key's last part records it once it is given.
    key = f"{mode}:{item_id}" + (f":{facts['wanted'].isoformat()}:{req.user_id}" if wanted else "")
    tell_lead(services, engagement_id, direct, key=key, actor_id=req.user_id)
    remember(services, engagement_id, req.user_id, req.user_id, req.user_team_id)


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
    services: Services,
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
    message = services.renderer.message("item_ask.json.j2", **facts)
    thread = in_checklist_thread(services, engagement_id, phase_number)
    parent: dict[str, str | None] = {"ts": None}

    def find() -> str | None:
        parent["ts"] = thread()
        return parent["ts"]

    def landed(ts: str) -> None:
        with services.db.session() as session:
            notified.record(
                session,
                engagement_id,
                [person],
                kind="ask_answer",
                subjects=[subject],
                now=services.clock.now(),
                reminder=False,
                channel=channel,
                ts=ts,
                thread_ts=parent["ts"],
            )

    services.outbox.post(
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
    thread, and the lead's message becomes what was decided. The first answer counts: the checks
    come before the ack; the answer is written after it, with the click in the inbox."""
    services = req.services
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
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        today = local_today(services.clock.now(), engagement.timezone)
    if move and (problem := due_problem(wanted.isoformat(), today)):
        raise UserError(f"{problem} Nothing was changed; `{services.command} due` sets another date.")
    after_ack(req, lambda r: _answer_ask(r, row, move, item_id, wanted, requester, today))


def _answer_ask(
    req: Request, row: PostedMessage, move: bool, item_id: int, wanted: date, requester: str, today: date
) -> Callable[[], None] | None:
    """The lead's answer written (`_close`: once; a replay of an answer given finds it answered and
    changes nothing), then told."""
    services = req.services
    now = services.clock.now()
    with services.db.session() as session:
        engagement, phase, item, actor = item_of_click(req, session, item_id)
        if not actor.is_vendor:
            raise cl.Refused("Only the implementation team answers date-change requests.")
        before = item.due_on
        if not _close(session, row, "moved" if move else "kept", now):
            return lambda: _already(req, "by another click")
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
            "by_name": name_of(session, saved_id(engagement), requester) or "They",
            "lead_name": actor.name,
            "customer_name": engagement.customer_name,
            "channel": engagement.channel_id,
            "command": services.command,
            "reason": "",
            "lead": None,
            "decided": None,
        }
        engagement_id, phase_number, channel = saved_id(engagement), phase.number, engagement.channel_id
    if change is not None:
        tell_about_change(services, engagement_id, change, req.user_id)
        after_change(services, engagement_id, phase_number, None, actor=req.user_id, team_id=req.user_team_id)
    _answer_in_thread(
        services,
        engagement_id,
        channel,
        phase_number,
        key=f"{row.id}",
        person=requester,
        subject=f"item:{item_id}",
        facts=facts,
    )
    decided = services.renderer.message(
        "item_ask.json.j2",
        **facts
        | {
            "mode": "ask_due",
            "decided": "moved" if move else "kept",
            "warnings": describe_warnings(warnings, services.command) if warnings else "",
        },
        direct=True,
    )
    services.outbox.update(row.channel_id, row.ts, decided, what="date-change request")
    return None


def title_problem(title: str) -> str | None:
    if not title:
        return "Give the item a title."
    if len(title) > cl.MAX_TITLE:
        return f"The title is {len(title)} characters; keep it under {cl.MAX_TITLE}."
    return None


def on_suggest_submit(req: Request) -> None:
    """A customer's suggestion: to the lead privately, with **Add it**; the form thanks them."""
    services = req.services
    title = req.text_field("title")
    why = req.text_field("why")
    errors = {}
    if problem := title_problem(title):
        errors["title"] = problem
    if len(why) > cl.MAX_REASON:
        errors["why"] = f"Keep it under {cl.MAX_REASON} characters."
    if errors:
        req.ack(response_action="errors", errors=errors)
        return
    owner = CUSTOMER if req.field("owner") != VENDOR else VENDOR
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        actor = actor_for(req, session, engagement)
        phase = cl.phase_by_number(session, engagement, parse_id(req.metadata.get("phase")))
        lead = lead_of(session, saved_id(engagement))
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
            "command": services.command,
            "suggestion": {"phase": phase.number, "title": title, "owner": owner, "by": actor.user_id},
            "decided": None,
        }
        engagement_id, customer = saved_id(engagement), engagement.customer_name
    thanks = services.renderer.view(
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
    message = services.renderer.message("item_ask.json.j2", **facts, direct=True)
    tell_lead(
        services,
        engagement_id,
        message,
        key=f"suggest:{facts['phase_number']}:{actor.user_id}",
        actor_id=req.user_id,
    )
    remember(services, engagement_id, req.user_id, req.user_id, req.user_team_id)


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
        "by_name": name_of(session, saved_id(engagement), by) or "They",
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
    told in the phase checklist's thread, and the lead's message says what was done. Once: checked
    before the ack, written after it with the click in the inbox (a replay of an answer given finds
    it answered and adds nothing)."""
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
    after_ack(req, lambda r: _add_suggested(r, row, suggestion, number, title, owner, by))


def _add_suggested(
    req: Request, row: PostedMessage, suggestion: dict[str, Any], number: int, title: str, owner: str, by: str
) -> Callable[[], None] | None:
    services = req.services
    now = services.clock.now()
    try:
        with services.db.session() as session:
            engagement = click_engagement(req, session)
            actor = actor_for(req, session, engagement)
            phase = cl.phase_by_number(session, engagement, number)
            change = cl.add_item(session, phase, actor, title, owner, now)  # the team's only: checked there
            if not _close(session, row, "added", now):
                raise _Again  # another click added it: this transaction is rolled back
            record_and_advance(session, engagement, actor, change, now)
            facts = _added_facts(session, engagement, actor, change, suggestion, by, services.command)
            engagement_id, channel, item_id = (
                saved_id(engagement),
                engagement.channel_id,
                saved_id(change.item),
            )
    except _Again:
        return lambda: _already(req, "by another click")
    after_change(services, engagement_id, number, None, actor=req.user_id, team_id=req.user_team_id)
    if by:
        _answer_in_thread(
            services,
            engagement_id,
            channel,
            number,
            key=f"{row.id}",
            person=by,
            subject=f"item:{item_id}",
            facts=facts,
        )
    decided = services.renderer.message(
        "item_ask.json.j2", **facts | {"mode": "suggest", "decided": "added"}, direct=True
    )
    services.outbox.update(row.channel_id, row.ts, decided, what="item suggestion")
    return None


def register(app: App, services: Services) -> None:
    app.view("item_suggest")(listener(services, on_suggest_submit))
    app.action(SUGGEST_ADD)(listener(services, on_suggest_add))
    app.action(ASK_MOVE)(listener(services, on_ask_answer))
    app.action(ASK_KEEP)(listener(services, on_ask_answer))
