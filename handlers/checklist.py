"""The checklist in the channel: ticking, and the item commands (`done 2.1 2.2`, `undo`, `assign`,
`due`, `na`, `add`, `checklist`). The ⋯ menu, its forms and *Show all* are in `checklist_menu`."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime

from slack_bolt import App
from sqlmodel import Session

from bot.commands import ParsedCommand
from bot.engagement import checklist as cl
from bot.engagement import item_writes
from bot.engagement.lifecycle import calendar_for, local_today
from bot.engagement.phases import advance_after, record_and_advance
from bot.engagement.plan import PlanWarning, business_day_warning, describe_warnings
from bot.errors import UserError
from bot.people import audit
from bot.people.sides import CUSTOMER_UNKNOWN, Actor, NoSide
from bot.refs import parse_id, parse_phase_number, parse_ref
from bot.services import Services
from bot.slack.notes import tell_about_change
from bot.slack.presenters import names_for
from bot.slack.publish import announce_phase, post_checklist, refresh_checklist
from bot.slacktext import plain_text, user_id_from_token
from bot.values import ValueProblem, parse_date, years_from
from handlers.base import (
    Request,
    actor_for,
    after_ack,
    click_engagement,
    learn_customer,
    listener,
    remember,
)
from handlers.engagement import require_engagement
from storage.models import Engagement, EngagementPhase, Item

log = logging.getLogger("golive.handlers.checklist")

TICK = re.compile(r"^tick:(\d+)$")
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
        announce(s, engagement_id, advanced_to)


def announce(s: Services, engagement_id: int, phase_number: int) -> None:
    """The engagement moved on to `phase_number` (one past the last: it is live): say so."""
    if s.slack.posted(engagement_id, "phase", str(phase_number)):
        # Announced before: a phase that was reopened is finished again, and the engagement is
        # back where it was. Its checklist in the channel is kept up to date; nothing is reposted.
        refresh_checklist(s, engagement_id, phase_number)
    else:
        announce_phase(s, engagement_id, phase_number)


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
    s = req.services
    action = req.action
    item_id = parse_id(str(action.get("action_id", "")).rpartition(":")[2])
    done = any(str(o.get("value")) == str(item_id) for o in action.get("selected_options") or [])
    where = Where()
    change, advanced, refused = _record_tick(req, item_id, done, where)
    if where.engagement_id is not None:
        # Always re-render, and give the ticked item a new block_id even when nothing
        # changed: the user's client shows the box as they clicked it until the block is
        # replaced, so a refused tick goes back to the truth only with a new block.
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

    def answer() -> None:
        if refused is not None:
            req.reply(s.error(refused.message))
        if where.engagement_id is not None and req.view:
            # Ticked in the Show all modal: it shows the change (or the box goes back).
            from handlers.checklist_menu import refresh_all_items

            refresh_all_items(req)

    return answer


def _record_tick(
    req: Request, item_id: int, done: bool, where: Where
) -> tuple[cl.Change | None, int | None, UserError | None]:
    """The tick written, or why not: (change, phase advanced to, refusal)."""
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
    """Who, which item and whether they may are read first (a tick on the checklist message in
    one statement, `cl.find_for_click`: the tick's read was four ORM statements, and the tick's
    read and write took 6.3 ms of thread CPU at 10 clients); the write transaction (and SQLite's
    writer lock) covers only the conditional update, its audit row and the phase check."""
    s = req.services
    with s.db.read() as session:
        one = None
        if req.channel_id and req.message_ts and not req.view:  # a tick on the checklist message
            one = cl.find_for_click(session, req.channel_id, req.message_ts, req.user_id, item_id)
        if one is not None:  # the usual case, in one statement
            engagement, phase, item, known = one
        else:  # in the Show all modal, or something missing: the lookups that say what
            engagement = click_engagement(req, session)
            phase, item = cl.item_by_id(session, engagement, item_id)
            known = None
        where.engagement_id, where.phase_number, where.channel = (
            engagement.id,
            phase.number,
            engagement.channel_id,
        )
        actor = actor_for(req, session, engagement, known=known)
    with s.db.session() as session:
        item = session.merge(item, load=False)
        change = cl.set_done(session, phase, item, actor, done, s.clock.now())
        return change, record_and_advance(session, engagement, actor, change, s.clock.now())


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


# -- commands ------------------------------------------------------------------------------
def cmd_checklist(req: Request, cmd: ParsedCommand) -> None:
    s = req.services
    asked = _phase_number(cmd, plain_text(cmd.words[0])) if cmd.words else None
    found = None
    if req.channel_id:  # the ack path only reads: SQLite's writer lock is not taken
        with s.db.rows() as conn:
            found = cl.engagement_and_phase(conn, req.channel_id, asked)
    if found is not None:  # the usual case, in one statement
        engagement_id, channel, number = found
    else:  # no active engagement, or no such phase: the lookups that say so
        with s.db.read() as session:
            engagement = require_engagement(req, session=session)
            number = engagement.phase_index if asked is None else asked
            cl.phase_by_number(session, engagement, number)
        engagement_id, channel = engagement.id, engagement.channel_id  # type: ignore[assignment]
    req.ack()
    post_checklist(s, engagement_id, number, channel=channel)


def _phase_number(cmd: ParsedCommand, raw: str) -> int:
    try:
        return parse_phase_number(raw)
    except UserError as exc:
        raise cmd.fail(exc.message) from None


MAX_REFS = 50
_REF_WORD = re.compile(r"^[0-9]{1,2}\.[0-9]{1,3}$")


def _refs(cmd: ParsedCommand, what_follows: str | None = None) -> tuple[list[tuple[int, int]], list[str]]:
    """The item references at the start of the command (`done 2.1 2.2 2.3`, commas allowed) and the
    words after them. Without `what_follows`, every word must be a reference."""
    words = cmd.words
    refs: list[tuple[int, int]] = []
    rest_at = len(words)
    for n, word in enumerate(words):
        parts = [p for p in word.split(",") if p]
        if not parts or not all(_REF_WORD.match(p) for p in parts):
            rest_at = n
            break
        for part in parts:
            ref = parse_ref(part)
            if ref not in refs:
                refs.append(ref)
    rest = words[rest_at:]
    if not refs:
        raise cmd.fail(
            f"Which item? `{plain_text(words[0])[:20] if words else ''}` is not an item reference; use phase.item as the checklist shows it, e.g. 2.3 (or several: 2.1 2.2)."
        )
    if rest and what_follows is None:
        raise cmd.fail(
            f"`{plain_text(rest[0])[:20]}` is not an item reference; use phase.item as the checklist shows it, e.g. 2.3 (or several: 2.1 2.2)."
        )
    if len(refs) > MAX_REFS:
        raise cmd.fail(f"That is {len(refs)} items; give at most {MAX_REFS} at once.")
    return refs, rest


Apply = Callable[[Session, EngagementPhase, Item, Actor, datetime], "cl.Change | None"]


# Checks the engagement and the items found before anything is written: raises a UserError to
# refuse, returns warnings to add to the confirmation.
Warn = Callable[[Engagement, list[tuple[EngagementPhase, Item]]], list[str]]


class _Stale(Exception):
    """An item's row did not hold what its change was decided on, though its `updated_at` did
    (a writer that leaves it alone, like the sweep counting nudges): nothing was written."""


def _write(
    req: Request,
    engagement: Engagement,
    actor: Actor,
    found: list[tuple[EngagementPhase, Item]],
    fn: Apply,
    now: datetime,
    *,
    fresh: bool = False,
) -> tuple[list[tuple[str, cl.Change | None]], list[int]]:
    """`_apply`'s one write transaction: (ref, change) per item, and the phases it advanced to.

    The items' rows are read and locked first, in one statement (on SQLite the writer lock keeps
    every other writer out; on PostgreSQL, FOR UPDATE). Each change is decided on the copy of the
    item read before, brought up to that row when it changed since (or always, with `fresh`), and
    written conditionally on the row holding what the decision saw (`write_item`). Under SQLite's
    writer lock this replaced a re-read into the ORM and its flush: `due` at 10 clients waited p50
    47 ms for that lock, each holding it 6 ms. (Deciding first and locking only at the UPDATE was
    tried for PostgreSQL: under a burst of changes to one item most had to be done again: 6.8x a
    bare ack against 5.6x, one run each.)"""
    changes: list[tuple[str, cl.Change | None]] = []
    advanced: list[int] = []
    with req.services.db.session() as session:
        rows = item_writes.lock_items(session, [seen.id for _phase, seen in found])  # type: ignore[misc]
        for phase, seen in found:
            row = rows.get(seen.id)  # type: ignore[arg-type]
            if row is None or row.phase_id != phase.id:
                raise UserError(f"{phase.number}.{seen.number} was just removed; nothing was changed.")
            item = session.merge(seen, load=False)
            if fresh or row.updated_at != seen.updated_at:
                item_writes.catch_up(phase, item, row)  # changed since it was read: decided on it as it is
            read_at = row.updated_at
            with session.no_autoflush:  # the item's row is written by write_item, conditionally
                change = fn(session, phase, item, actor, now)
            if change is not None:
                audit.record_change(session, engagement.id, actor, change, now=now)  # type: ignore[arg-type]
            if not item_writes.write_item(session, item, read_at=read_at):
                raise _Stale
            moved = advance_after(session, engagement, actor, change, now)
            if moved is not None and moved not in advanced:
                advanced.append(moved)
            changes.append((f"{phase.number}.{item.number}", change))
    return changes, advanced


def _apply(
    req: Request,
    cmd: ParsedCommand,
    refs: list[tuple[int, int]],
    fn: Apply,
    *,
    learn: str | None = None,
    warn: Warn | None = None,
) -> None:
    """Apply `fn(session, phase, item, actor, now)` to each item, all or nothing, confirm, then
    update Slack. Every reference is checked before anything is written.

    The command is acked as soon as its text parses; the reads, the checks, the write and the
    confirmation come after, in the after-the-ack slots as a tick's do, and every answer (the
    confirmation, or what is wrong: a reference that does not exist, a date out of range, someone
    on neither side) goes out through the command's response_url. No ack waits for the writer
    lock another request holds, nor for the CPU of the reads. Measured, ten clients setting due
    dates (bench/ack_latency.py): with the write before the ack, p50 3.8-5.3x a bare ack; with the
    reads and checks before it and the write after, 2.1-2.7x; acked at once, see the commit."""
    after_ack(req, lambda r: _apply_after_ack(r, refs, fn, learn=learn, warn=warn))


def _apply_after_ack(
    req: Request,
    refs: list[tuple[int, int]],
    fn: Apply,
    *,
    learn: str | None,
    warn: Warn | None,
) -> Callable[[], None]:
    """`_apply`'s work on an after-the-ack worker: the reads and checks, the write and what it
    queues. Returns the confirmation and what else talks to Slack, made on a listener thread."""
    s = req.services
    now = s.clock.now()
    # Who, which items, and the checks are read first; the write transaction (and SQLite's
    # writer lock, which every writer of every worker queues on) covers only the changes, their
    # audit rows and the phase check.
    with s.db.read() as session:
        one = None
        if len(refs) == 1 and req.channel_id and req.user_id:
            one = cl.find_for_command(session, req.channel_id, req.user_id, *refs[0])
        if one is not None:  # the usual case, in one statement
            engagement, phase, item, known = one
            found = [(phase, item)]
        else:  # several items, or something missing: the lookups that say what
            engagement = require_engagement(req, session=session)
            found = [cl.find_item(session, engagement, p, i) for p, i in refs]
            known = None
        warnings = warn(engagement, found) if warn is not None else []
        actor = actor_for(req, session, engagement, known=known)
    try:
        changes, advanced = _write(req, engagement, actor, found, fn, now)
    except _Stale:
        # All again, each item read anew (its row is locked then: this cannot repeat).
        changes, advanced = _write(req, engagement, actor, found, fn, now, fresh=True)
    made = [c for _ref, c in changes if c is not None]
    for n in sorted({c.phase.number for c in made}):
        refresh_checklist(s, engagement.id, n, channel=engagement.channel_id)  # type: ignore[arg-type]
    for n in advanced:
        announce(s, engagement.id, n)  # type: ignore[arg-type]
    names: dict[str, str] = {}
    assignees = {c.item.assignee_id for c in made if c.kind == "item.assigned" and c.item.assignee_id}
    if assignees:
        with s.db.read() as session:
            names = names_for(session, engagement.id, only=assignees)  # type: ignore[arg-type]
    lines = [
        confirm_text(c, names) if c is not None else f"{ref} already is that way; nothing changed."
        for ref, c in changes
    ]

    def answer() -> None:
        req.reply(s.notice("\n".join(lines + warnings)))
        if not made:
            return
        if learn:
            remember(s, engagement.id, learn, req.user_id)  # type: ignore[arg-type]
        for c in made:
            tell_about_change(s, engagement.id, c, req.user_id)  # type: ignore[arg-type]
        if req.user_id:
            remember(s, engagement.id, req.user_id, req.user_id, req.user_team_id)  # type: ignore[arg-type]

    return answer


def cmd_done(req: Request, cmd: ParsedCommand) -> None:
    refs, _ = _refs(cmd)
    _apply(req, cmd, refs, lambda se, p, i, a, now: cl.set_done(se, p, i, a, True, now))


def _undo(
    session: Session, phase: EngagementPhase, item: Item, actor: Actor, now: datetime
) -> cl.Change | None:
    """Undo a done item; an item marked not applicable comes back on the checklist."""
    if item.status == cl.NA:
        return cl.reopen(session, phase, item, actor, now)
    return cl.set_done(session, phase, item, actor, False, now)


def cmd_undo(req: Request, cmd: ParsedCommand) -> None:
    refs, _ = _refs(cmd)
    _apply(req, cmd, refs, _undo)


def cmd_assign(req: Request, cmd: ParsedCommand) -> None:
    s = req.services
    refs, rest = _refs(cmd, "a person")
    if len(rest) != 1:
        raise cmd.fail(
            "Say who: mention one person, e.g. `assign 2.3 @ada` (or several items: `assign 2.1 2.2 @ada`)."
        )
    target = rest[0]
    user = req.user_id if target.lower() == "me" else user_id_from_token(target)
    if user is None:
        raise cmd.fail(f"`{plain_text(target)[:40]}` is not a person I can find; mention them with @.")
    with s.db.read() as session:
        side = cl.assignee_side(session, require_engagement(req, session=session), user)
    if side is None:
        req.ack()  # users.info may be slow: the answer goes through response_url
        s.slack.profile(user)
        with s.db.read() as session:
            side = cl.assignee_side(session, require_engagement(req, session=session), user)
    cached = s.slack.cached_profile(user)
    name = cached.name if cached else plain_text(target).lstrip("@")
    _apply(
        req,
        cmd,
        refs,
        lambda se, p, i, a, now: cl.assign(se, p, i, a, user, now, assignee_side=side, assignee_name=name),
        learn=user,
    )


def cmd_due(req: Request, cmd: ParsedCommand) -> None:
    refs, rest = _refs(cmd, "a date")
    if len(rest) != 1:
        raise cmd.fail("Give the date as YYYY-MM-DD, e.g. `due 2.3 2026-12-18`.")
    try:
        due = parse_date(rest[0], "due date")
    except ValueProblem as exc:
        raise cmd.fail(str(exc)) from None
    listed = " ".join(f"{p}.{i}" for p, i in refs)

    def check(engagement: Engagement, found: list[tuple[EngagementPhase, Item]]) -> list[str]:
        # In _apply's one transaction, before anything is written: the engagement is read once.
        problem = due_problem(due.isoformat(), local_today(req.services.clock.now(), engagement.timezone))
        if problem:
            raise cmd.fail(problem)
        # Allowed but said, with the day to choose instead: a due date that is no business day,
        # or after its phase is planned to end.
        day = business_day_warning(calendar_for(engagement), due, "The due date", f"due {listed} {{date}}")
        warnings = ([day] if day else []) + [
            PlanWarning(
                f"{phase.number}.{item.number} is now due after {phase.name} is planned to end "
                f"({phase.planned_end:%a %-d %b}): the phase cannot finish on time unless it is done sooner."
            )
            for phase, item in found
            if due > phase.planned_end
        ]
        return [describe_warnings(warnings, req.services.command)] if warnings else []

    _apply(req, cmd, refs, lambda se, p, i, a, now: cl.set_due(se, p, i, a, due, now), warn=check)


def cmd_na(req: Request, cmd: ParsedCommand) -> None:
    refs, rest = _refs(cmd, "a reason")
    reason = plain_text(" ".join(rest))
    if not reason:
        raise cmd.fail("Say why the item does not apply, e.g. `na 3.5 no tax software in scope`.")
    _apply(req, cmd, refs, lambda se, p, i, a, now: cl.mark_na(se, p, i, a, reason, now))


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


def register(app: App, services: Services) -> None:
    from handlers import checklist_menu

    app.action(TICK)(listener(services, on_tick))
    checklist_menu.register(app, services)
