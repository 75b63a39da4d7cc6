"""The item commands: `done 2.1 2.2`, `undo`, `assign`, `due`, `na`, `after`.

Each is acked once its text parses. The reads, the checks, the write and the answer (the
confirmation, or what is wrong) come after the ack, on the after-the-ack workers as a tick's do
(`handlers.listening.after_ack`), and the answer goes out through the command's response_url.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from bot.commands import ParsedCommand
from bot.engagement import checklist as cl
from bot.engagement import dependencies as deps
from bot.engagement.lifecycle import local_today, phases_of
from bot.engagement.phases import record_and_advance
from bot.engagement.plan import describe_warnings
from bot.errors import UserError
from bot.people.sides import Actor
from bot.refs import parse_ref
from bot.slack.notes import tell_about_changes
from bot.slack.presenters import names_for
from bot.slack.publish import refresh_checklist
from bot.slacktext import plain_text, user_id_from_token
from bot.user_input import ValueProblem, parse_date
from handlers.base import Request, actor_for, remember
from handlers.checklist import announce, confirm_text, due_problem, due_warnings
from handlers.engagement import require_engagement
from handlers.item_waits import after_confirmation, waits_for_text
from handlers.listening import after_ack
from storage.models import Engagement, EngagementPhase, Item, saved_id

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
Warn = Callable[[Session, Engagement, list[tuple[EngagementPhase, Item]]], list[str]]


def _write(
    req: Request,
    engagement: Engagement,
    actor: Actor,
    found: list[tuple[EngagementPhase, Item]],
    fn: Apply,
    now: datetime,
) -> tuple[list[tuple[str, cl.Change | None]], list[int]]:
    """`_apply`'s one write transaction: (ref, change) per item, and the phases it advanced to.

    The items found by the reads are read again here, as they are now, with their rows locked
    until the commit (`cl.lock_items`: FOR UPDATE on PostgreSQL; on SQLite the writer lock keeps
    every other writer out), and each change is decided on that row: a change another writer made
    since the reads is seen, and no other writer changes the row before this one commits."""
    changes: list[tuple[str, cl.Change | None]] = []
    advanced: list[int] = []
    with req.services.db.session() as session:
        rows = cl.lock_items(session, [saved_id(seen) for _phase, seen in found])
        for read, seen in found:
            locked = rows.get(saved_id(seen))
            if locked is None or locked[0].id != read.id:
                raise UserError(f"{read.number}.{seen.number} was just removed; nothing was changed.")
            phase, item = locked
            change = fn(session, phase, item, actor, now)
            moved = record_and_advance(session, engagement, actor, change, now)
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
    services = req.services
    now = services.clock.now()
    # Who, which items, and the checks are read first; the write transaction (and SQLite's
    # writer lock, which every writer of every worker queues on) covers only the items read again
    # under their row locks, the changes, their audit rows and the phase check.
    with services.db.read() as session:
        engagement = require_engagement(req, session=session)
        found = [cl.find_item(session, engagement, p, i) for p, i in refs]
        warnings = warn(session, engagement, found) if warn is not None else []
        actor = actor_for(req, session, engagement)
    changes, advanced = _write(req, engagement, actor, found, fn, now)
    made = [c for _ref, c in changes if c is not None]
    for n in sorted({c.phase.number for c in made}):
        refresh_checklist(services, saved_id(engagement), n, channel=engagement.channel_id)
    for n in advanced:
        announce(services, saved_id(engagement), n)
    names: dict[str, str] = {}
    assignees = {c.item.assignee_id for c in made if c.kind == "item.assigned" and c.item.assignee_id}
    if assignees:
        with services.db.read() as session:
            names = names_for(session, saved_id(engagement), only=assignees)
    lines = [
        confirm_text(c, names) if c is not None else f"{ref} already is that way; nothing changed."
        for ref, c in changes
    ]

    def answer() -> None:
        req.reply(services.notice("\n".join(lines + warnings)))
        if not made:
            return
        if learn:
            remember(services, saved_id(engagement), learn, req.user_id)
        tell_about_changes(services, saved_id(engagement), made, req.user_id)  # one note a person
        if req.user_id:
            remember(services, saved_id(engagement), req.user_id, req.user_id, req.user_team_id)

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
    services = req.services
    refs, rest = _refs(cmd, "a person")
    if len(rest) != 1:
        raise cmd.fail(
            "Say who: mention one person, e.g. `assign 2.3 @ada` (or several items: `assign 2.1 2.2 @ada`)."
        )
    target = rest[0]
    user = req.user_id if target.lower() == "me" else user_id_from_token(target)
    if user is None:
        raise cmd.fail(f"`{plain_text(target)[:40]}` is not a person I can find; mention them with @.")

    def know(
        session: Session, engagement: Engagement, _found: list[tuple[EngagementPhase, Item]]
    ) -> list[str]:
        # After the ack (users.info may be slow): someone not known yet is looked up, so their side
        # and name are known when they are assigned.
        if cl.assignee_side(session, engagement, user) is None:
            services.slack.profile(user)
        return []

    def assign(se: Session, p: EngagementPhase, i: Item, a: Actor, now: datetime) -> cl.Change | None:
        e = se.get(Engagement, p.engagement_id)
        assert e is not None
        side = cl.assignee_side(se, e, user)
        cached = services.slack.cached_profile(user)
        name = cached.name if cached else plain_text(target).lstrip("@")
        return cl.assign(se, p, i, a, user, now, assignee_side=side, assignee_name=name)

    _apply(req, cmd, refs, assign, learn=user, warn=know)


def cmd_due(req: Request, cmd: ParsedCommand) -> None:
    refs, rest = _refs(cmd, "a date")
    if len(rest) != 1:
        raise cmd.fail("Give the date as YYYY-MM-DD, e.g. `due 2.3 2026-12-18`.")
    try:
        due = parse_date(rest[0], "due date")
    except ValueProblem as exc:
        raise cmd.fail(str(exc)) from None

    def check(
        session: Session, engagement: Engagement, found: list[tuple[EngagementPhase, Item]]
    ) -> list[str]:
        # In _apply's reads, before anything is written: the engagement is read once.
        today = local_today(req.services.clock.now(), engagement.timezone)
        problem = due_problem(due.isoformat(), today)
        if problem:
            raise cmd.fail(problem)
        # Allowed but said, with the day to choose instead: a due date that is no business day,
        # or after the planned go-live, or after its phase is planned to end.
        warnings = due_warnings(session, engagement, found, due, today)
        return [describe_warnings(warnings, req.services.command)] if warnings else []

    _apply(req, cmd, refs, lambda se, p, i, a, now: cl.set_due(se, p, i, a, due, now), warn=check)


def cmd_na(req: Request, cmd: ParsedCommand) -> None:
    refs, rest = _refs(cmd, "a reason")
    reason = plain_text(" ".join(rest))
    if not reason:
        raise cmd.fail("Say why the item does not apply, e.g. `na 3.5 no tax software in scope`.")
    _apply(req, cmd, refs, lambda se, p, i, a, now: cl.mark_na(se, p, i, a, reason, now))


_CLEAR = ("none", "nothing")
_REMOVE = ("remove", "not", "drop")


def cmd_after(req: Request, cmd: ParsedCommand) -> None:
    """`after 2.3 1.5 2.1`: 2.3 waits for 1.5 and 2.1 (besides what it waited for); `after 2.3
    remove 1.5`, `after 2.3 none`; `after 2.3` says what it waits for. The team's: the due dates
    follow, and the checklists from the item's phase on are refreshed."""
    usage = (
        f"Say what the item waits for, e.g. `{req.services.command} after 2.3 1.5 2.1`; "
        f"`after 2.3 remove 1.5` or `after 2.3 none` to stop it waiting."
    )
    refs, rest = _refs(cmd, "items")
    item_ref, others = refs[0], refs[1:]
    mode = "add" if others else "show"
    if rest:
        word = rest[0].lower()
        if word in _CLEAR and len(rest) == 1 and not others:
            mode = "clear"
        elif word in _REMOVE and not others and len(rest) > 1:
            mode = "remove"
            others = []
            for token in rest[1:]:
                for part in (p for p in token.split(",") if p):
                    if not _REF_WORD.match(part):
                        raise cmd.fail(f"`{plain_text(part)[:20]}` is not an item reference. {usage}")
                    others.append(parse_ref(part))
        else:
            raise cmd.fail(f"`{plain_text(rest[0])[:20]}` is not an item reference. {usage}")
    after_ack(req, lambda r: _after_work(r, item_ref, others, mode))


def _after_work(
    req: Request, item_ref: tuple[int, int], others: list[tuple[int, int]], mode: str
) -> Callable[[], None]:
    services = req.services
    now = services.clock.now()
    with services.db.session() as session:
        engagement = require_engagement(req, session=session)
        phase, item = cl.find_item(session, engagement, *item_ref)
        named = [cl.find_item(session, engagement, p, i)[1] for p, i in others]
        current = [p for _ref, p in deps.prerequisites_of(session, saved_id(item))]
        if mode == "show":
            text = waits_for_text(session, phase, item, services.command)
            return lambda: req.reply(services.notice(text))
        if mode == "add":
            wanted = current + [i for i in named if i.id not in {c.id for c in current}]
        elif mode == "remove":
            missing = [f"{p}.{i}" for (p, i), it in zip(others, named, strict=True) if it not in current]
            if missing:
                raise UserError(
                    f"{phase.number}.{item.number} does not wait for {', '.join(missing)}; nothing was changed."
                )
            wanted = [c for c in current if c.id not in {i.id for i in named}]
        else:
            wanted = []
        actor = actor_for(req, session, engagement)
        added, removed = deps.set_prerequisites(session, engagement, actor, item, wanted, now)
        text = after_confirmation(session, phase, item, added, removed)
        engagement_id, channel = saved_id(engagement), engagement.channel_id
        numbers = [p.number for p in phases_of(session, engagement_id) if p.number >= phase.number]

    def answer() -> None:
        req.reply(services.notice(text))
        if added or removed:
            for number in numbers:  # later items may follow its new date
                refresh_checklist(services, engagement_id, number, channel=channel)

    return answer
