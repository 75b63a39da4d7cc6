"""A plan that stays true: items that wait for others, due dates that follow them, and what a dry
run or a gate settles.

- An item may wait for prerequisites (`ItemDependency`): from the playbook's `after:`, the item's
  Details (Waits for…) or `/golive after`. While one is open the item is "waiting on 2.1", and its reminders go
  to the prerequisite's owner (`bot.reminders.nudges`).
- Due dates (`schedule`): each item not dated by hand is due at its share of its phase's business
  days (the playbook's `due:`, 100 = the phase's last day), and at least a business day after
  each prerequisite's due date (never past its phase's end). Items the dry run settles are due on
  the dry run's day once it is scheduled, and their prerequisites a business day before it.
- What settles items besides a tick (`settle`): a passed dry run ticks the items `settled_by:
  dry_run`; a gate's approval those settled by its key.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime

from sqlmodel import Session, col, select

from bot.engagement.business_days import BusinessCalendar
from bot.engagement.checklist import Change, Refused
from bot.engagement.playbook import Playbook
from bot.engagement.rules import effective_after
from bot.errors import UserError
from bot.people import audit
from bot.people.sides import Actor
from storage.models import Engagement, EngagementPhase, Item, ItemDependency, saved_id

DRY_RUN = "dry_run"


def create_dependencies(session: Session, engagement: Engagement, playbook: Playbook) -> int:
    """The playbook's `after:` for the items this engagement has; returns how many. An item its
    `when:` left out passes on what it waited for to the items that waited for it."""
    items = {i.key: i for i in session.exec(select(Item).where(Item.engagement_id == engagement.id))}
    after = effective_after(playbook, items)
    n = 0
    for phase in playbook.phases:
        for spec in phase.items:
            item = items.get(spec.key)
            if item is None:
                continue
            for key in after.get(spec.key, ()):
                required = items.get(key)
                if required is not None:
                    session.add(
                        ItemDependency(
                            engagement_id=saved_id(engagement),
                            item_id=saved_id(item),
                            requires_id=saved_id(required),
                        )
                    )
                    n += 1
    session.flush()
    return n


def prerequisites(session: Session, engagement_id: int) -> dict[int, list[int]]:
    """item id → the ids of the items it waits for."""
    out: dict[int, list[int]] = defaultdict(list)
    for item_id, requires_id in session.exec(
        select(ItemDependency.item_id, ItemDependency.requires_id).where(
            ItemDependency.engagement_id == engagement_id
        )
    ).all():
        out[item_id].append(requires_id)
    return out


def waiting_on(session: Session, engagement_id: int) -> dict[int, list[Item]]:
    """item id → its prerequisites still open (only items that wait for something)."""
    deps = prerequisites(session, engagement_id)
    if not deps:
        return {}
    wanted = {r for rs in deps.values() for r in rs}
    open_ = {
        i.id: i
        for i in session.exec(select(Item).where(col(Item.id).in_(wanted), Item.status == "open")).all()
    }
    out = {item_id: [open_[r] for r in rs if r in open_] for item_id, rs in deps.items()}
    return {k: v for k, v in out.items() if v}


def waiting_refs(session: Session, engagement_id: int) -> dict[int, list[str]]:
    """item id → the references ("2.1") of its prerequisites still open, in order, in one
    statement: what the checklist, Details and My tasks show as "waiting on 2.1"."""
    rows = session.exec(
        select(ItemDependency.item_id, EngagementPhase.number, Item.number)
        .join(Item, col(Item.id) == ItemDependency.requires_id)
        .join(EngagementPhase, col(EngagementPhase.id) == Item.phase_id)
        .where(ItemDependency.engagement_id == engagement_id, Item.status == "open")
        .order_by(col(EngagementPhase.number), col(Item.number))
    ).all()
    out: dict[int, list[str]] = defaultdict(list)
    for item_id, phase_number, item_number in rows:
        out[item_id].append(f"{phase_number}.{item_number}")
    return dict(out)


def prerequisites_of(session: Session, item_id: int) -> list[tuple[str, Item]]:
    """The items `item_id` waits for, open or not, with their references, in checklist order."""
    rows = session.exec(
        select(EngagementPhase.number, Item)
        .join(ItemDependency, col(ItemDependency.requires_id) == Item.id)
        .join(EngagementPhase, col(EngagementPhase.id) == Item.phase_id)
        .where(ItemDependency.item_id == item_id)
        .order_by(col(EngagementPhase.number), col(Item.number))
    ).all()
    return [(f"{number}.{item.number}", item) for number, item in rows]


def check_prerequisites(
    session: Session, engagement: Engagement, actor: Actor, item: Item, wanted: list[Item]
) -> tuple[list[Item], list[Item]]:
    """What making `item` wait for exactly `wanted` would change: (added, removed), without
    writing. Refused when the actor is not on the team, or for the item itself or a circle."""
    if not actor.is_vendor:
        raise Refused("Only the implementation team changes what waits for what.")
    current = {saved_id(i): i for _ref, i in prerequisites_of(session, saved_id(item))}
    wanted_ids = {i.id for i in wanted}
    added = [i for i in wanted if i.id not in current]
    removed = [i for i in current.values() if i.id not in wanted_ids]
    deps = prerequisites(session, saved_id(engagement))
    deps[saved_id(item)] = [i for i in deps.get(saved_id(item), []) if i in wanted_ids]
    for requires in added:
        if requires.id == item.id:
            raise UserError("An item cannot wait for itself.")
        if _reaches(deps, saved_id(requires), saved_id(item)):
            raise UserError(
                f"{requires.title[:60]} already waits (perhaps through others) for this item: "
                "they would wait for each other; nothing was changed."
            )
        deps[saved_id(item)].append(saved_id(requires))
    return added, removed


def set_prerequisites(
    session: Session, engagement: Engagement, actor: Actor, item: Item, wanted: list[Item], now: datetime
) -> tuple[list[Item], list[Item]]:
    """Make `item` wait for exactly `wanted`: (added, removed). All or nothing: a circle (or the
    item itself) refuses the whole change. The due dates follow (`schedule`)."""
    added, removed = check_prerequisites(session, engagement, actor, item, wanted)
    if removed:
        for row in session.exec(
            select(ItemDependency).where(
                ItemDependency.item_id == item.id,
                col(ItemDependency.requires_id).in_([r.id for r in removed]),
            )
        ):
            session.delete(row)
    for requires in added:
        session.add(
            ItemDependency(
                engagement_id=saved_id(engagement), item_id=saved_id(item), requires_id=saved_id(requires)
            )
        )
    for kind, rows in (("item.after_removed", removed), ("item.after", added)):
        for requires in rows:
            audit.record(
                session,
                saved_id(engagement),
                actor,
                kind,
                str(item.id),
                {"item": item.id, "after": requires.id},
                now=now,
            )
    if added or removed:
        session.flush()
        schedule(session, engagement, now)
    return added, removed


def _position(calendar: BusinessCalendar, start: date, end: date, share: int) -> date:
    """The business day at `share` percent of [start, end] (100: end), never the phase's first
    day (nobody is due the day the work is given)."""
    if end <= start:
        return end
    n = calendar.count(start, end)
    if n <= 1:
        return end
    offset = max(1, math.ceil(share / 100 * n) - 1)
    day = calendar.add(calendar.on_or_after(start), offset) if offset else calendar.on_or_after(start)
    return min(day, end)


def _order(items: list[Item], deps: dict[int, list[int]]) -> list[Item]:
    """Prerequisites before the items that wait for them (the playbook forbids circles; one made
    by hand is refused, see `check_prerequisites`)."""
    by_id = {i.id: i for i in items}
    done: set[int] = set()
    out: list[Item] = []

    def visit(item: Item, seen: frozenset[int]) -> None:
        if item.id in done or item.id in seen:
            return
        for r in deps.get(saved_id(item), []):
            if r in by_id:
                visit(by_id[r], seen | {saved_id(item)})
        done.add(saved_id(item))
        out.append(item)

    for item in items:
        visit(item, frozenset())
    return out


def schedule(session: Session, engagement: Engagement, now: datetime) -> int:
    """Give every item not dated by hand the due date its phase, share, prerequisites and the dry
    run make; returns how many changed."""
    from bot.engagement.lifecycle import calendar_for, local_today, phases_of  # (lifecycle imports us)

    calendar = calendar_for(engagement)
    phases = {saved_id(p): p for p in phases_of(session, saved_id(engagement))}
    items = list(session.exec(select(Item).where(Item.engagement_id == engagement.id).order_by(col(Item.id))))
    deps = prerequisites(session, saved_id(engagement))
    dry_day = local_today(engagement.dryrun_at, engagement.timezone) if engagement.dryrun_at else None
    due: dict[int, date] = {}
    for item in _order(items, deps):
        phase: EngagementPhase | None = phases.get(item.phase_id)
        if phase is None:
            continue
        if item.due_set_by_hand and item.due_on is not None:
            due[saved_id(item)] = item.due_on
            continue
        if item.settled_by == DRY_RUN and dry_day is not None:
            day = dry_day
        else:
            day = _position(calendar, phase.planned_start, phase.planned_end, item.due_share or 100)
            after = [due[r] for r in deps.get(saved_id(item), []) if r in due]
            if after:
                day = max(day, min(calendar.add(max(after), 1), phase.planned_end))
        due[saved_id(item)] = day
    if dry_day is not None:
        # What the dry run needs is due the business day before it.
        settled = {saved_id(i) for i in items if i.settled_by == DRY_RUN}
        needed = {r for i in settled for r in deps.get(i, [])}
        eve = calendar.add(dry_day, -1)
        for item in items:
            if item.id in needed and not item.due_set_by_hand and due.get(item.id, eve) > eve:
                due[item.id] = eve
    changed = 0
    for item in items:
        planned = due.get(saved_id(item))
        if planned is not None and item.due_on != planned and not item.due_set_by_hand:
            item.due_on = planned
            item.updated_at = now
            session.add(item)
            changed += 1
    session.flush()
    return changed


def _reaches(deps: dict[int, list[int]], start: int, target: int) -> bool:
    """Does `start` (through its prerequisites) wait for `target`?"""
    seen: set[int] = set()
    stack = [start]
    while stack:
        current = stack.pop()
        if current == target:
            return True
        if current in seen:
            continue
        seen.add(current)
        stack.extend(deps.get(current, []))
    return False


def settle(session: Session, engagement: Engagement, what: str, actor: Actor, now: datetime) -> list[Change]:
    """Tick the open items `what` settles (a passed dry run, a gate's approval), as done by `actor`."""
    from bot.engagement.lifecycle import phases_of  # (lifecycle imports us)

    phases = {saved_id(p): p for p in phases_of(session, saved_id(engagement))}
    changes = []
    for item in session.exec(
        select(Item).where(
            Item.engagement_id == engagement.id, Item.settled_by == what, Item.status == "open"
        )
    ).all():
        item.status, item.done_by, item.done_by_team, item.done_at = "done", actor.user_id, actor.team_id, now
        item.on_behalf = actor.side != item.owner_side
        item.updated_at = now
        session.add(item)
        phase = phases[item.phase_id]
        change = Change("item.done", item, phase, {"settled_by": what})
        audit.record_change(session, saved_id(engagement), actor, change, now=now)
        changes.append(change)
    session.flush()
    return changes


def chain_length(open_items: list[Item], deps: dict[int, list[int]]) -> int:
    """The longest run of open items each waiting for the one before (1 for a lone item, 0 for
    none): the least number of business days their work still takes, one after the other."""
    ids = {saved_id(i) for i in open_items}
    memo: dict[int, int] = {}

    def depth(item_id: int, seen: frozenset[int]) -> int:
        if item_id in memo:
            return memo[item_id]
        if item_id in seen:
            return 0
        longest = max((depth(r, seen | {item_id}) for r in deps.get(item_id, []) if r in ids), default=0)
        memo[item_id] = longest + 1
        return memo[item_id]

    return max((depth(i, frozenset()) for i in ids), default=0)
