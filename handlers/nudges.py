"""The nudge message's buttons (done, snooze, blocked), clearing blocks, and `/golive nudges`."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from slack_bolt import App
from sqlmodel import Session, select

from bot.commands import ParsedCommand
from bot.engagement import checklist as cl
from bot.engagement.phases import record_and_advance
from bot.errors import UserError
from bot.people import audit
from bot.people.members import lead_of
from bot.people.sides import Actor
from bot.refs import parse_choice, parse_id, parse_ref
from bot.reminders.preview import preview
from bot.reminders.working_hours import clock_of, format_days
from bot.services import Services
from bot.slack.gateway import SlackCallFailed
from bot.slack.notes import in_checklist_thread
from bot.slack.nudges import BLOCKED_DM, note_cleared, refresh_message
from bot.slack.publish import refresh_checklist
from bot.slacktext import plain_text
from bot.user_input import ValueProblem, parse_int
from handlers.base import Request, actor_for, click_engagement, item_of_click
from handlers.checklist import after_change
from handlers.engagement import require_engagement
from handlers.listening import after_ack, listener
from storage.models import Engagement, EngagementPhase, Item, NudgeMessage, saved_id

log = logging.getLogger("golive.handlers.nudges")

DONE = re.compile(r"^nudge_done:(\d+)$")
SNOOZE = re.compile(r"^nudge_snooze:(\d+)$")
BLOCKED = re.compile(r"^nudge_blocked:(\d+)$")
UNBLOCK = re.compile(r"^nudge_unblock:(\d+)$")
MAX_SNOOZE_DAYS = 90  # calendar days: the date picker's range
MAX_SNOOZE_BUSINESS_DAYS = 20  # the menu offers 1 and 3


def _button_item(req: Request) -> int:
    """The item id at the end of the clicked button's action id, e.g. 12 in `nudge_done:12`."""
    return parse_id(str(req.action.get("action_id", "")).rpartition(":")[2])


# -- the nudge message ---------------------------------------------------------------------
def refresh_nudge(services: Services, channel: str, ts: str | None) -> None:
    """Queue a re-render of a posted nudge, so each entry shows what happened to it (rendered
    from the database when the outbox sends it)."""
    refresh_message(services, channel, ts)


def _thread_of_click(
    services: Services, engagement_id: int, channel: str, ts: str | None, phase_number: int
) -> Any:
    """Where a note about a nudge's item goes: the nudge's own thread, else the checklist's."""
    if ts:
        with services.db.read() as session:
            row = session.exec(
                select(NudgeMessage).where(NudgeMessage.channel_id == channel, NudgeMessage.ts == ts)
            ).first()
        if row is not None and row.thread_ts:
            return row.thread_ts
    return in_checklist_thread(services, engagement_id, phase_number)


def on_nudge_done(req: Request) -> None:
    """Acked once the click is in the inbox; the item is ticked after (`_nudge_done`)."""
    item_id = _button_item(req)
    after_ack(req, lambda r: _nudge_done(r, item_id))


def _nudge_done(req: Request, item_id: int) -> None:
    """Done as a tick: an item done already changes nothing (a second click, a replay)."""
    services = req.services
    now = services.clock.now()
    with services.db.session() as session:
        engagement, phase, item, actor = item_of_click(req, session, item_id)
        change = cl.set_done(session, phase, item, actor, True, now)
        advanced = record_and_advance(session, engagement, actor, change, now)
        engagement_id, number = saved_id(engagement), phase.number
    refresh_nudge(services, req.channel_id or "", req.message_ts)
    after_change(services, engagement_id, number, advanced, actor=req.user_id, team_id=req.user_team_id)


def may_act(actor: Actor, item: Item) -> bool:
    """Customers snooze, block and tick their own side's items; the implementation team any."""
    return actor.is_vendor or (actor.is_customer and item.owner_side == "customer")


def _check_may_act(actor: Actor, item: Item) -> None:
    if actor.is_customer and item.owner_side != "customer":
        raise cl.Refused("That is the implementation team's item; they manage its reminders.")


def _form_meta(req: Request, engagement: Engagement, item_id: int, tasks_view: str | None) -> dict[str, Any]:
    """A snooze or blocked form's metadata: the engagement's channel (the form acts on it), the
    message clicked (`at`, `ts`: a nudge, in the channel or a direct message, shows the change),
    and the My tasks modal it was opened from (`tasks`: it shows the change too)."""
    meta: dict[str, Any] = {"channel": engagement.channel_id, "item": item_id}
    if req.message_ts:
        meta |= {"ts": req.message_ts, "at": req.channel_id}
    if tasks_view:
        meta["tasks"] = tasks_view
    return meta


def _open_form(req: Request, view: dict[str, Any], *, push: bool) -> None:
    """Open a form, or push it onto the modal it was asked for from (closing it shows that again)."""
    if push:
        req.services.slack.push_view(req.trigger_id or "", view)
    else:
        req.services.slack.open_view(req.trigger_id or "", view)


def _snooze(req: Request, item_id: int, until: date) -> str:
    """Snooze the item's reminders until `until`; the posted checklist shows it. Returns its ref.
    An item snoozed until that day already changes nothing (a second click, a replay): no second
    audit row."""
    services = req.services
    now = services.clock.now()
    with services.db.session() as session:
        engagement, phase, item, actor = item_of_click(req, session, item_id)
        _check_may_act(actor, item)
        if item.snoozed_until == until:
            return f"{phase.number}.{item.number}"
        item.snoozed_until = until
        item.updated_at = now
        session.add(item)
        audit.record(
            session,
            saved_id(engagement),
            actor,
            "item.snoozed",
            f"{phase.number}.{item.number}",
            {"until": until},
            now=now,
        )
        engagement_id, number, ref = saved_id(engagement), phase.number, f"{phase.number}.{item.number}"
    refresh_checklist(services, engagement_id, number)  # its line says "snoozed"
    return ref


def snooze_note(ref: str, until: date) -> str:
    return f":zzz: Reminders for {ref} are snoozed until {until:%a %-d %b}."


def snooze_choice(req: Request, how: str, item_id: int, *, tasks_view: str | None = None) -> Snooze | None:
    """A choice of a snooze menu (the nudge's, My tasks'), read and checked: for `1` or `3`
    business days, the snooze to record (`Snooze.record`, after the ack); for `pick`, the date
    form is opened (pushed onto My tasks when it came from there; the request is acked first) and
    None returned."""
    services = req.services
    days = 0
    if how != "pick":
        try:
            days = parse_int(how, "snooze length", 1, MAX_SNOOZE_BUSINESS_DAYS)
        except ValueProblem:
            raise UserError(
                f"A snooze lasts 1 to {MAX_SNOOZE_BUSINESS_DAYS} business days, or until a date you pick "
                f"within {MAX_SNOOZE_DAYS} days; choose one from the menu."
            ) from None
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        clock = clock_of(engagement)
        today = clock.today(services.clock.now())
        phase, item = cl.item_by_id(session, engagement, item_id)
        _check_may_act(actor_for(req, session, engagement), item)
        ref, title = f"{phase.number}.{item.number}", item.title
        meta = _form_meta(req, engagement, item_id, tasks_view)
    if how == "pick":
        view = services.renderer.view(
            "snooze_modal.json.j2",
            ref=ref,
            title=title,
            initial=clock.calendar.add(today, 5).isoformat(),
            meta=meta,
        )
        req.ack()
        _open_form(req, view, push=tasks_view is not None)
        return None
    until = clock.calendar.add(today, days)
    latest = today + timedelta(days=MAX_SNOOZE_DAYS)
    if until > latest:  # a short working week makes business days long
        raise UserError(
            f"{days} business days ends {until:%-d %b %Y}, past the {MAX_SNOOZE_DAYS}-day limit "
            f"({latest:%-d %b %Y}); pick a date with Snooze until…"
        )
    return Snooze(item_id, until, snooze_note(ref, until))


@dataclass(frozen=True)
class Snooze:
    """A snooze chosen from a menu, checked: `record` writes it (work after the ack)."""

    item_id: int
    until: date
    note: str  # what was done, for the clicker

    def record(self, req: Request) -> None:
        _snooze(req, self.item_id, self.until)


def on_nudge_snooze(req: Request) -> None:
    """1 or 3 business days: acked once the click is in the inbox, snoozed after, and the nudge
    shows it. Snooze until…: the date form."""
    how, item_id = parse_choice((req.action.get("selected_option") or {}).get("value"))
    chosen = snooze_choice(req, how, item_id)
    if chosen is None:
        return

    def work(r: Request) -> None:
        chosen.record(r)
        refresh_nudge(r.services, r.channel_id or "", r.message_ts)

    after_ack(req, work)


def _refresh_where_from(req: Request, note: str) -> None:
    """After a snooze or blocked form: the nudge it came from, or the My tasks modal, shows it."""
    services = req.services
    meta = req.metadata
    if meta.get("ts"):
        refresh_nudge(services, str(meta.get("at") or req.channel_id or ""), meta.get("ts"))
    if meta.get("tasks"):
        from handlers.tasks import refresh_tasks  # My tasks pushes these forms

        refresh_tasks(req, str(meta["tasks"]), note)


def on_snooze_submit(req: Request) -> None:
    services = req.services
    raw = req.field("until")
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        today = clock_of(engagement).today(services.clock.now())
    try:
        until = date.fromisoformat(raw or "")
    except ValueError:
        req.ack(response_action="errors", errors={"until": "Pick a date."})
        return
    earliest, latest = today + timedelta(days=1), today + timedelta(days=MAX_SNOOZE_DAYS)
    if not earliest <= until <= latest:
        req.ack(
            response_action="errors",
            errors={
                "until": f"Pick a day from {earliest:%-d %b %Y} to {latest:%-d %b %Y} "
                f"(after today, within {MAX_SNOOZE_DAYS} days)."
            },
        )
        return
    item_id = parse_id(req.metadata.get("item"))

    def work(r: Request) -> Callable[[], None]:
        ref = _snooze(r, item_id, until)
        return lambda: _refresh_where_from(r, snooze_note(ref, until))

    after_ack(req, work)


def open_blocked_form(req: Request, item_id: int, *, tasks_view: str | None = None) -> None:
    """The "what blocks it?" form for an item: from a nudge, the checklist's ⋯ menu, Details or
    My tasks (pushed onto the modal it came from)."""
    services = req.services
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        _check_may_act(actor_for(req, session, engagement), item)
        ref, title = f"{phase.number}.{item.number}", item.title
        meta = _form_meta(req, engagement, item_id, tasks_view)
    view = services.renderer.view("blocked_modal.json.j2", ref=ref, title=title, meta=meta)
    _open_form(req, view, push=tasks_view is not None or bool(req.view))


def on_nudge_blocked(req: Request) -> None:
    req.ack()
    open_blocked_form(req, _button_item(req))


def on_blocked_submit(req: Request) -> None:
    """The blocked form: acked (closed) once the submission is in the inbox; the block, its note
    in the item's thread and the lead's message after (`_blocked`)."""
    reason = req.text_field("reason")
    if not reason:
        req.ack(response_action="errors", errors={"reason": "Say what is in the way."})
        return
    item_id = parse_id(req.metadata.get("item"))
    after_ack(req, lambda r: _blocked(r, item_id, reason))


def _blocked(req: Request, item_id: int, reason: str) -> Callable[[], None]:
    """Mark the item blocked. Blocked already by the same person for the same reason (a replay
    of a submission done): nothing is written or posted again; where it came from shows it."""
    services = req.services
    now = services.clock.now()
    with services.db.session() as session:
        engagement, phase, item, actor = item_of_click(req, session, item_id)
        _check_may_act(actor, item)
        again = item.blocked_reason == reason[:500] and item.blocked_by == actor.user_id
        if not again:
            item.blocked_reason, item.blocked_by, item.updated_at = reason[:500], actor.user_id, now
            session.add(item)
            audit.record(
                session,
                saved_id(engagement),
                actor,
                "item.blocked",
                f"{phase.number}.{item.number}",
                {"reason": reason},
                now=now,
            )
        lead = lead_of(session, saved_id(engagement))
        ctx = {
            "ref": f"{phase.number}.{item.number}",
            "title": item.title,
            "reason": reason,
            "by": actor.user_id,
            "by_name": actor.name,
            "lead": lead.user_id if lead else None,
            "lead_name": lead.display_name if lead else None,
            "item_id": item_id,
            "cleared_by": None,
            "customer_name": engagement.customer_name,
            "channel": engagement.channel_id,
        }
        engagement_id, number, channel = saved_id(engagement), phase.number, engagement.channel_id
    lead_name = ctx["lead_name"] or "the lead consultant"
    note = f":no_entry: {ctx['ref']} is marked blocked; {lead_name} is told, and its reminders pause."
    if again:
        return lambda: _refresh_where_from(req, note)
    meta = req.metadata
    # In the item's thread (the nudge's, when it came from one), naming people without pinging.
    services.outbox.post(
        channel,
        services.renderer.message("blocked_notice.json.j2", **ctx, direct=False),
        kind="blocked",
        key=str(item_id),
        engagement_id=engagement_id,
        thread_ts=_thread_of_click(
            services, engagement_id, str(meta.get("at") or channel), meta.get("ts"), number
        ),
    )
    refresh_checklist(services, engagement_id, number)

    def answer() -> None:
        _refresh_where_from(req, note)
        # The lead consultant is told privately: they can clear the block from there.
        if ctx["lead"] and ctx["lead"] != actor.user_id:
            try:
                services.slack.dm_recorded(
                    str(ctx["lead"]),
                    services.renderer.message("blocked_notice.json.j2", **ctx, direct=True),
                    kind=BLOCKED_DM,
                    key=str(item_id),
                    engagement_id=engagement_id,
                )
            except SlackCallFailed as exc:
                log.warning("could not tell the lead that %s is blocked: %s", ctx["ref"], exc.error)

    return answer


def _unblock(
    req: Request, session: Session, engagement: Engagement, item: Item, phase: EngagementPhase
) -> dict[str, Any]:
    actor = actor_for(req, session, engagement)
    if not actor.is_vendor:
        raise cl.Refused("A consultant clears blocks, once what was in the way is sorted.")
    if not item.blocked_reason:
        raise UserError(f"{phase.number}.{item.number} is not blocked.")
    now = req.services.clock.now()
    ctx = {
        "ref": f"{phase.number}.{item.number}",
        "title": item.title,
        "reason": item.blocked_reason,
        "by": item.blocked_by,
        "lead": None,
        "item_id": item.id,
        "cleared_by": actor.user_id,
        "cleared_name": actor.name,
        "customer_name": engagement.customer_name,
        "channel": engagement.channel_id,
        "direct": False,
    }
    item.blocked_reason = item.blocked_by = None
    item.nudge_count = 0
    item.updated_at = now
    session.add(item)
    audit.record(
        session, saved_id(engagement), actor, "item.unblocked", f"{phase.number}.{item.number}", now=now
    )
    return ctx


def _after_unblock(
    services: Services, engagement_id: int, item_id: int, phase_number: int, ctx: dict[str, Any]
) -> None:
    message = services.renderer.message("blocked_notice.json.j2", **ctx)
    for kind in ("blocked", BLOCKED_DM):  # the note in the thread, and the lead's copy
        for row in services.slack.posted(engagement_id, kind, str(item_id))[:1]:
            services.outbox.update(row.channel_id, row.ts, message, what="blocked notice")
    note_cleared(services, engagement_id, item_id, ctx["cleared_by"])
    refresh_checklist(services, engagement_id, phase_number)  # and the nudges in its thread


def on_unblock(req: Request) -> None:
    """Acked once the click is in the inbox; the block is cleared after. Cleared already (a
    second click, a replay): "not blocked", nothing written."""
    item_id = _button_item(req)
    after_ack(req, lambda r: _unblock_clicked(r, item_id))


def _unblock_clicked(req: Request, item_id: int) -> None:
    services = req.services
    with services.db.session() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, item_id)
        ctx = _unblock(req, session, engagement, item, phase)
        ids = (saved_id(engagement), saved_id(item), phase.number)
    _after_unblock(services, *ids, ctx)


def cmd_unblock(req: Request, cmd: ParsedCommand) -> None:
    services = req.services
    engagement = require_engagement(req)
    if not cmd.words:
        raise cmd.fail("Which item? e.g. `unblock 2.3`.")
    try:
        phase_no, item_no = parse_ref(cmd.words[0])
    except UserError as exc:
        raise cmd.fail(exc.message) from None
    with services.db.session() as session:
        engagement = session.get(Engagement, engagement.id) or engagement
        phase, item = cl.find_item(session, engagement, phase_no, item_no)
        ctx = _unblock(req, session, engagement, item, phase)
        ids = (saved_id(engagement), saved_id(item), phase.number)
    req.ack(services.notice(f"Cleared the block on {phase_no}.{item_no}; reminders for it resume."))
    _after_unblock(services, *ids, ctx)


# -- nudges pause / resume / preview -------------------------------------------------------
def cmd_nudges(req: Request, cmd: ParsedCommand) -> None:
    services = req.services
    engagement = require_engagement(req)
    verb = cmd.words[0].lower() if cmd.words else "show"
    now = services.clock.now()
    if verb in ("pause", "resume"):
        with services.db.session() as session:
            e = session.get(Engagement, engagement.id)
            assert e is not None
            actor = actor_for(req, session, e)
            if not actor.is_vendor:
                raise cl.Refused("Only the implementation team pauses or resumes reminders.")
            e.nudges_paused = verb == "pause"
            cleared = e.flagged
            if verb == "resume":
                e.flagged = None
            session.add(e)
            audit.record(
                session,
                saved_id(e),
                actor,
                f"nudges.{'paused' if verb == 'pause' else 'resumed'}",
                "nudges",
                {"cleared_flag": cleared} if cleared else {},
                now=now,
            )
        req.ack(
            services.notice(
                "Nudges paused; nothing is sent until you resume them."
                if verb == "pause"
                else "Nudges resumed." + (f" (Cleared: {cleared}.)" if cleared else "")
            )
        )
        return
    if verb != "show":
        raise cmd.fail(f"`{plain_text(verb)[:20]}` is not a nudges action; use pause or resume.")
    with services.db.read() as session:
        e = session.get(Engagement, engagement.id)
        assert e is not None
        ctx = {
            "customer_name": e.customer_name,
            "flagged": e.flagged,
            "paused": e.nudges_paused,
            "preview": preview(session, e, now),
            "tz": e.timezone,
            "country": e.country,
            "hours": f"{e.work_start}-{e.work_end}",
            "days": format_days(tuple(int(d) for d in e.work_days.split(","))),
            "cadence": e.cadence_days,
            "command": services.command,
        }
    req.ack(services.renderer.message("nudges_preview.json.j2", **ctx))


def register(app: App, services: Services) -> None:
    from handlers import escalation  # the lead's direct message about stuck work: step 2 of the ladder

    escalation.register(app, services)
    app.action(DONE)(listener(services, on_nudge_done))
    app.action(SNOOZE)(listener(services, on_nudge_snooze))
    app.action(BLOCKED)(listener(services, on_nudge_blocked))
    app.action(UNBLOCK)(listener(services, on_unblock))
    app.view("nudge_snooze")(listener(services, on_snooze_submit))
    app.view("nudge_blocked")(listener(services, on_blocked_submit))
