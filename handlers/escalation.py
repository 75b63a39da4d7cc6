"""The lead consultant's direct message about stuck work (step 2 of the escalation ladder):
**Nudge again now**, **Snooze** (1, 3 or 5 business days), **Bring in the sponsor** (a polite note
in the thread of what is stuck — the only way the bot ever names the sponsor in the channel).

The message is found by where it was clicked (the DM and its ts), so a click can only act on the
escalation it shows; the first choice is the one that counts (a conditional update), and the
message then says what was done, without buttons.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt import App
from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.engagement import checklist as cl
from bot.errors import UserError
from bot.people import audit
from bot.people.roles import people_with
from bot.people.sides import Actor
from bot.reminders.nudges import Entry, thread_of
from bot.reminders.working_hours import clock_of
from bot.services import Services
from bot.slack.notes import NOTE
from bot.slack.nudges import (
    ESCALATION,
    HANDLED,
    OPEN,
    entry_states,
    load_entries,
    refresh_nudges,
    refresh_row,
)
from bot.user_input import ValueProblem, parse_int
from handlers.base import Request, actor_for
from handlers.listening import after_ack, listener
from storage.db import rowcount
from storage.models import Engagement, Item, NudgeMessage, saved_id
from storage.reminder_rows import ensure

log = logging.getLogger("golive.handlers.escalation")

AGAIN, SNOOZE, SPONSOR = "escalation_again", "escalation_snooze", "escalation_sponsor"
MAX_SNOOZE = 20


def _load(req: Request, session: Session) -> tuple[Engagement, NudgeMessage, Actor]:
    row = session.exec(
        select(NudgeMessage).where(
            NudgeMessage.channel_id == (req.channel_id or ""),
            NudgeMessage.ts == (req.message_ts or ""),
            NudgeMessage.kind == ESCALATION,
        )
    ).first()
    if row is None:
        raise UserError("I don't know that message any more; nothing was changed.")
    engagement = session.get(Engagement, row.engagement_id)
    if engagement is None or engagement.status != "active":
        raise UserError("That engagement is no longer active; nothing was changed.")
    actor = actor_for(req, session, engagement)
    if not actor.is_vendor:
        raise cl.Refused("Only the implementation team acts on stuck work.")
    return engagement, row, actor


def _close(session: Session, row: NudgeMessage, note: str, now: datetime) -> bool:
    """Mark the escalation handled with what was done; False when another click got there first."""
    moved = session.execute(
        update(NudgeMessage)
        .where(col(NudgeMessage.id) == row.id, col(NudgeMessage.status) == OPEN)
        .values(status=HANDLED, note=note[:300], updated_at=now)
    )
    return bool(rowcount(moved))


def _already(services: Services, req: Request, row: NudgeMessage) -> Callable[[], None]:
    """Telling the clicker the escalation was handled already (what was done), to call later."""
    note = row.note or "handled"
    return lambda: req.reply(services.notice(f"This was already taken care of: {note}"))


def _open_entries(
    session: Session, engagement: Engagement, row: NudgeMessage, now: datetime
) -> list[dict[str, Any]]:
    return [e for e in entry_states(session, engagement, load_entries(row), now) if e["state"] != "done"]


def _still_open(req: Request) -> bool:
    """Before the ack (it runs again on a replay): the message must be one of ours, the clicker of
    the team, and the escalation not handled yet (else they are told what was done)."""
    services = req.services
    with services.db.read() as session:
        _engagement, row, _actor = _load(req, session)
    if row.status != OPEN:
        _already(services, req, row)()
        return False
    return True


def on_again(req: Request) -> None:
    """Acked once the click is in the inbox; the reminder is scheduled after (`_again`)."""
    if _still_open(req):
        after_ack(req, _again)


def _again(req: Request) -> Callable[[], None] | None:
    services = req.services
    now = services.clock.now()
    with services.db.session() as session:
        engagement, row, actor = _load(req, session)
        if row.status != OPEN:
            return _already(services, req, row)
        keys = [[e["kind"], e["id"]] for e in _open_entries(session, engagement, row, now)]
        if not keys:
            note = "Everything it named moved on meanwhile; no reminder was needed."
            at = None
        else:
            clock = clock_of(engagement)
            at = clock.next_window(now)
            when = (
                "now"
                if at == now
                else f"at {clock.local(at):%a %-d %b %H:%M} ({engagement.timezone}), their next working hour"
            )
            note = (
                f"{actor.name} asked to nudge them again; a fresh reminder mentioning them goes out {when} "
                "(the next working day, if they already had their two reminders today)."
            )
        # The first choice counts: closed first, so a click that lost (or a replay of one that
        # won) schedules nothing.
        if not _close(session, row, note, now):
            return None
        if at is not None:
            ensure(
                session,
                saved_id(engagement),
                "nudge",
                f"nudge-again:{engagement.id}:{row.id}",
                at,
                {"again": keys},
                now,
            )
        audit.record(
            session, saved_id(engagement), actor, "escalation.nudged", "lead", {"entries": keys}, now=now
        )
    refresh_row(services, row)
    return None


def on_snooze(req: Request) -> None:
    """Acked once the click is in the inbox; the items are snoozed after (`_snooze`)."""
    raw = str((req.action.get("selected_option") or {}).get("value") or "")
    try:
        days = parse_int(raw, "snooze length", 1, MAX_SNOOZE)
    except ValueProblem:
        raise UserError(f"Snooze for 1 to {MAX_SNOOZE} business days: choose one from the menu.") from None
    if _still_open(req):
        after_ack(req, lambda r: _snooze(r, days))


def _snooze(req: Request, days: int) -> Callable[[], None] | None:
    services = req.services
    now = services.clock.now()
    with services.db.session() as session:
        engagement, row, actor = _load(req, session)
        if row.status != OPEN:
            return _already(services, req, row)
        clock = clock_of(engagement)
        until = clock.calendar.add(clock.today(now), days)
        snoozed: list[tuple[Item, str]] = []
        for e in _open_entries(session, engagement, row, now):
            if e["kind"] != "item":
                continue
            item = session.get(Item, e["id"])
            if item is None or item.engagement_id != engagement.id:
                continue
            snoozed.append((item, e["ref"]))
        what = ", ".join(ref for _item, ref in snoozed) if snoozed else "nothing (sign-offs are not snoozed)"
        note = f"{actor.name} snoozed {what} until {until:%a %-d %b}; the reminders start again after that."
        # The first choice counts: closed first, so a click that lost (or a replay of one that
        # won) snoozes nothing and writes no audit row.
        if not _close(session, row, note, now):
            return None
        for item, ref in snoozed:
            item.snoozed_until, item.nudge_count, item.updated_at = until, 0, now
            session.add(item)
            audit.record(
                session,
                saved_id(engagement),
                actor,
                "item.snoozed",
                ref,
                {"until": until, "by_lead": True},
                now=now,
            )
        engagement_id = saved_id(engagement)
    refresh_row(services, row)
    refresh_nudges(services, engagement_id)
    return None


def on_sponsor(req: Request) -> None:
    """Acked once the click is in the inbox; the sponsor is asked after (`_sponsor`)."""
    if _still_open(req):
        after_ack(req, _sponsor)


def _sponsor(req: Request) -> Callable[[], None] | None:
    services = req.services
    now = services.clock.now()
    with services.db.session() as session:
        engagement, row, actor = _load(req, session)
        if row.status != OPEN:
            return _already(services, req, row)
        sponsors = [r for r in people_with(session, engagement, "sponsor") if r.side == "customer"]
        if not sponsors:
            raise UserError(
                f"No executive sponsor is named; name one with `{services.command} role @person sponsor`."
            )
        # The sponsor is asked about what waits on the customer, not on the implementation team.
        stuck = [
            e for e in _open_entries(session, engagement, row, now) if e.get("side", "customer") != "vendor"
        ]
        if not stuck:
            raise UserError(
                "Everything it named moved on meanwhile; there is nothing to ask the sponsor about."
            )
        names = ", ".join(r.name for r in sponsors)
        if not _close(session, row, f"{actor.name} asked {names} for help in the channel.", now):
            return None  # another click (or this one, replayed) got there first
        audit.record(
            session,
            saved_id(engagement),
            actor,
            "escalation.sponsor",
            "sponsor",
            {"sponsors": [r.user_id for r in sponsors], "entries": [e["ref"] for e in stuck]},
            now=now,
        )
        channel, customer, engagement_id = (
            engagement.channel_id,
            engagement.customer_name,
            saved_id(engagement),
        )
    threads: dict[str, tuple[str | None, list[dict[str, Any]]]] = {}
    for e in stuck:
        entry = Entry(**{k: v for k, v in e.items() if k in Entry.__dataclass_fields__})
        topic, parent = thread_of(services, engagement_id, entry)
        threads.setdefault(topic, (parent, []))[1].append(e)
    for topic, (parent, listed) in threads.items():
        message = services.renderer.message(
            "sponsor_note.json.j2",
            sponsors=[r.user_id for r in sponsors],
            entries=listed,
            customer_name=customer,
            by=actor.name,
        )
        services.outbox.post(
            channel,
            message,
            kind=NOTE,
            key=f"sponsor:{row.id}:{topic}",
            engagement_id=engagement_id,
            thread_ts=parent,
        )
    refresh_row(services, row)
    return None


def register(app: App, services: Services) -> None:
    app.action(AGAIN)(listener(services, on_again))
    app.action(SNOOZE)(listener(services, on_snooze))
    app.action(SPONSOR)(listener(services, on_sponsor))
