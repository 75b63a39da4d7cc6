"""Checklist items: creating them from the playbook, ticking, assigning, dating, N/A, adding.

Every change goes through one function here that checks who may do it, so a slash command
and a click on a message behave the same. A change that does not change anything (ticking
what is already done) returns None, so nothing is announced twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, func, select

from bot.engagement.playbook import Playbook
from bot.engagement.rules import applies, engagement_fields
from bot.errors import UserError
from bot.events.emit import PHASE_STARTED, phase_json
from bot.events.emit import emit as emit_event
from bot.people import audit
from bot.people.sides import CUSTOMER, NO_SIDE, VENDOR, Actor, member_side, side_of
from storage.db import rowcount
from storage.models import (
    Engagement,
    EngagementPhase,
    Item,
    Member,
    UserProfile,
    saved_id,
    table_of,
)

MAX_TITLE = 200
MAX_REASON = 500
OPEN, DONE, NA = "open", "done", "na"


class Refused(UserError):
    """The actor may not do this; the message says who can."""


@dataclass(frozen=True)
class Change:
    kind: str  # item.done, item.undone, item.assigned, item.due, item.na, item.reopened, item.added
    # detail["phase_reopened"]: the change took back a phase that was complete (see reopen_phase)
    item: Item
    phase: EngagementPhase
    detail: dict[str, object]

    @property
    def ref(self) -> str:
        return f"{self.phase.number}.{self.item.number}"


def create_items(
    session: Session, engagement: Engagement, phases: list[EngagementPhase], playbook: Playbook, now: datetime
) -> int:
    fields = engagement_fields(engagement)
    count = 0
    for phase in phases:
        spec = playbook.phase(phase.key)
        if spec is None:
            continue
        number = 0
        for item in spec.items:
            if not applies(item.when, fields):  # its `when:` on the engagement's fields
                continue
            number += 1
            session.add(
                Item(
                    engagement_id=saved_id(engagement),
                    phase_id=saved_id(phase),
                    number=number,
                    key=item.key,
                    title=item.title,
                    description=item.description,
                    owner_side=item.owner,
                    due_on=phase.planned_end,
                    due_share=item.due,
                    settled_by=item.settled_by,
                    created_at=now,
                    updated_at=now,
                )
            )
            count += 1
    session.flush()
    return count


# Built once with bound parameters (see lifecycle._ACTIVE_IN_CHANNEL): on every command's path.
_PHASE_BY_NUMBER = select(EngagementPhase).where(
    EngagementPhase.engagement_id == bindparam("engagement"), EngagementPhase.number == bindparam("number")
)
_ITEM_BY_NUMBER = select(Item).where(Item.phase_id == bindparam("phase"), Item.number == bindparam("number"))


def phase_by_number(session: Session, engagement: Engagement, number: int) -> EngagementPhase:
    phase = session.exec(_PHASE_BY_NUMBER, params={"engagement": engagement.id, "number": number}).first()
    if phase is None:
        total = session.exec(
            select(func.count())
            .select_from(EngagementPhase)
            .where(EngagementPhase.engagement_id == engagement.id)
        ).one()
        raise UserError(f"There is no phase {number}; this engagement has phases 1 to {total}.")
    return phase


# The phase and the item of a reference in one statement (every item command and click reads
# them: two ORM statements cost about twice one, py-spy/cProfile under a burst of `due`).
_PHASE_AND_ITEM = (
    select(EngagementPhase, Item)
    .join(Item, col(Item.phase_id) == EngagementPhase.id)
    .where(
        EngagementPhase.engagement_id == bindparam("engagement"),
        EngagementPhase.number == bindparam("phase"),
        Item.number == bindparam("item"),
    )
)
_PHASE_OF_ITEM = (
    select(EngagementPhase, Item)
    .join(Item, col(Item.phase_id) == EngagementPhase.id)
    .where(Item.id == bindparam("id"))
)


def find_item(
    session: Session, engagement: Engagement, phase_no: int, item_no: int
) -> tuple[EngagementPhase, Item]:
    found = session.exec(
        _PHASE_AND_ITEM, params={"engagement": engagement.id, "phase": phase_no, "item": item_no}
    ).first()
    if found is not None:
        return found[0], found[1]
    # Not there: say whether the phase or the item is missing.
    phase = phase_by_number(session, engagement, phase_no)
    item = session.exec(_ITEM_BY_NUMBER, params={"phase": phase.id, "number": item_no}).first()
    if item is None:
        n = session.exec(select(func.count()).select_from(Item).where(Item.phase_id == phase.id)).one()
        raise UserError(
            f"Phase {phase_no} ({phase.name}) has no item {phase_no}.{item_no}; it has items 1 to {n}."
        )
    return phase, item


def item_by_id(session: Session, engagement: Engagement, item_id: int) -> tuple[EngagementPhase, Item]:
    """The item with this id and its phase (one statement); refused when it is not this engagement's."""
    found = session.exec(_PHASE_OF_ITEM, params={"id": item_id}).first()
    if found is None or found[1].engagement_id != engagement.id:
        raise UserError("That item no longer belongs to this engagement.")
    return found[0], found[1]


# The items with their phases as they are now, their rows locked until the commit: FOR UPDATE OF
# item on PostgreSQL; SQLite has no row locks, and the writer lock every write session takes
# (BEGIN IMMEDIATE, `storage.db`) already keeps every other writer out. In id order, so that two
# writers naming the same items lock them in the same order.
_ITEMS_LOCKED = (
    select(EngagementPhase, Item)
    .join(Item, col(Item.phase_id) == EngagementPhase.id)
    .where(col(Item.id).in_(bindparam("ids", expanding=True)))
    .order_by(col(Item.id))
    .with_for_update(of=Item)
)


def lock_items(session: Session, item_ids: list[int]) -> dict[int, tuple[EngagementPhase, Item]]:
    """In a write session: each item (by id) and its phase, read as they are now with the items'
    rows locked for the rest of the transaction, so that a change is decided on the row as it is
    and no other writer changes it before the commit. Items gone are missing."""
    rows = session.exec(_ITEMS_LOCKED, params={"ids": sorted(set(item_ids))}).all()
    return {saved_id(item): (phase, item) for phase, item in rows}


_ITEMS_OF = select(Item).where(Item.phase_id == bindparam("phase")).order_by(col(Item.number))


def items_of(session: Session, phase_id: int) -> list[Item]:
    return list(session.exec(_ITEMS_OF, params={"phase": phase_id}).all())


def all_items(session: Session, engagement_id: int) -> list[Item]:
    return list(session.exec(select(Item).where(Item.engagement_id == engagement_id)).all())


def _ref(phase: EngagementPhase, item: Item) -> str:
    return f"{phase.number}.{item.number}"


def _require_side(actor: Actor) -> None:
    """Someone of neither side (another organisation in the channel) reads along, never acts."""
    if not actor.has_side:
        raise Refused(
            "You're not on the implementation team or the customer's side of this engagement, so "
            "you can read along but not change items. Nothing was changed."
        )


def _require_vendor(actor: Actor, what: str) -> None:
    if not actor.is_vendor:
        raise Refused(f"Only the implementation team can {what}. Ask your consultant in this channel.")


def set_done(
    session: Session, phase: EngagementPhase, item: Item, actor: Actor, done: bool, now: datetime
) -> Change | None:
    """Tick or untick. Customers complete customer items; the vendor side any item."""
    _require_side(actor)
    ref = _ref(phase, item)
    if actor.is_customer and item.owner_side != CUSTOMER:
        raise Refused(
            f"{ref} is the implementation team's item, so it is ticked by them. Your team's items "
            "are under the first heading of the checklist; *My tasks* lists yours."
        )
    if item.status == NA:
        raise UserError(
            f"{ref} is marked not applicable; the implementation team reopens it (`undo {ref}`, or "
            "Show all on the checklist) before it can be ticked."
        )
    detail: dict[str, object]
    if done:
        on_behalf = actor.is_vendor and item.owner_side == CUSTOMER
        expected, kind, detail = OPEN, "item.done", {"on_behalf": on_behalf}
        values: dict[str, object] = {
            "status": DONE,
            "done_by": actor.user_id,
            "done_by_team": actor.team_id,
            "done_at": now,
            "on_behalf": on_behalf,
        }
    else:
        expected, kind, detail = DONE, "item.undone", {}
        values = {"status": OPEN, "done_by": None, "done_by_team": None, "done_at": None, "on_behalf": False}
    values |= {"nudge_count": 0, "updated_at": now}
    # Conditional update: of two racing ticks only one changes the row. A Core statement: the ORM's
    # bulk-update path and a refresh were half of a tick's write transaction (cProfile).
    table = table_of(Item)
    result = session.connection().execute(
        update(table).where(table.c.id == item.id, table.c.status == expected).values(**values)
    )
    if result.rowcount == 0:
        session.refresh(item)  # another click got there first: show what it did
        return None
    for name, value in values.items():
        set_committed_value(item, name, value)
    if not done and reopen_phase(session, phase, actor, now):
        detail = {**detail, "phase_reopened": True}
    return Change(kind, item, phase, detail)


def reopen_phase(session: Session, phase: EngagementPhase, actor: Actor, now: datetime) -> bool:
    """A complete phase got open work again (an item reopened or added): it is no longer complete,
    and it becomes the current phase again. True when it was complete.

    The phase pointer goes back to it: phases complete in order, and the engagement moves on (and
    finally goes live, which stops every reminder) from the current phase only. A pointer left
    ahead would let the engagement go live with this phase unfinished. Once the phase is finished
    again, the pointer walks forward past the phases that are still complete."""
    if phase.completed_at is None:
        return False
    table = table_of(EngagementPhase)
    session.execute(update(table).where(table.c.id == phase.id).values(completed_at=None))
    set_committed_value(phase, "completed_at", None)
    moved = session.execute(
        update(Engagement)
        .where(
            col(Engagement.id) == phase.engagement_id,
            col(Engagement.phase_index) > phase.number,
            col(Engagement.status) == "active",
        )
        .values(phase_index=phase.number, updated_at=now)
    )
    audit.record(
        session, phase.engagement_id, actor, "phase.reopened", phase.name, {"phase": phase.number}, now=now
    )
    engagement = session.get(Engagement, phase.engagement_id) if rowcount(moved) else None
    if engagement is not None:  # the engagement is back in this phase
        set_committed_value(engagement, "phase_index", phase.number)
        emit_event(
            session,
            PHASE_STARTED,
            engagement,
            {"phase": phase_json(phase), "completed": [], "reopened": True},
            now=now,
        )
    return True


def assignee_side(session: Session, engagement: Engagement, user_id: str) -> str | None:
    """The side of someone about to be given an item, from what the database knows of them (a
    member, or the users.info cache); None when nothing is known yet."""
    member = session.exec(
        select(Member).where(Member.engagement_id == engagement.id, Member.user_id == user_id)
    ).first()
    if member is not None and (member.side_override or member.team_id):
        return member_side(engagement, member)
    profile = session.get(UserProfile, user_id)
    if profile is not None and profile.team_id:
        return side_of(engagement, profile.team_id, profile.enterprise_id)
    return None


def assign(
    session: Session,
    phase: EngagementPhase,
    item: Item,
    actor: Actor,
    assignee: str | None,
    now: datetime,
    *,
    assignee_side: str | None = None,
    assignee_name: str = "",
) -> Change | None:
    """Give an item an owner. The implementation team's items go to the team only: the customer's
    people could not tick them, and the vendor's work would be ticked off by the customer. The
    customer's items go to either side (a consultant may do one for the customer)."""
    _require_side(actor)
    ref = _ref(phase, item)
    if actor.is_customer and item.owner_side != CUSTOMER:
        raise Refused(f"{ref} is the implementation team's item; they assign it.")
    if item.assignee_id == assignee:
        return None
    who = assignee_name or "That person"
    if assignee and assignee_side is None:
        raise Refused(f"I can't tell which organisation {who} belongs to; mention someone in this channel.")
    if assignee and item.owner_side == VENDOR and assignee_side != VENDOR:
        raise Refused(
            f"{ref} is the implementation team's item, so it goes to someone on the team: {who} "
            f"could not tick it. For work on the customer's side, add a customer item "
            f"(`add {phase.number} <title> owner=customer`)."
        )
    if assignee and assignee_side == NO_SIDE:
        raise Refused(
            f"{who} is not on the customer's side or the implementation team, so could not tick {ref}. "
            f"If they work on it for the customer, first run `side @{assignee_name or 'them'} customer`."
        )
    item.assignee_id = assignee
    item.nudge_count = 0  # progress: the escalation ladder starts again
    item.updated_at = now
    session.add(item)
    return Change("item.assigned", item, phase, {"assignee": assignee})


def set_due(
    session: Session, phase: EngagementPhase, item: Item, actor: Actor, due: date, now: datetime
) -> Change | None:
    _require_vendor(actor, "change due dates")
    if item.due_on == due and item.due_set_by_hand:
        return None
    item.due_on = due
    item.due_set_by_hand = True
    item.nudge_count = 0
    item.updated_at = now
    session.add(item)
    return Change("item.due", item, phase, {"due": due.isoformat()})


def mark_na(
    session: Session, phase: EngagementPhase, item: Item, actor: Actor, reason: str, now: datetime
) -> Change | None:
    _require_vendor(actor, "mark items not applicable")
    reason = " ".join(reason.split())
    if not reason:
        raise UserError("Say why the item does not apply; the reason is kept with it.")
    if len(reason) > MAX_REASON:
        raise UserError(f"The reason is {len(reason)} characters; keep it under {MAX_REASON}.")
    if item.status == NA and item.na_reason == reason:
        return None
    item.status = NA
    item.na_reason = reason
    item.done_by, item.done_by_team, item.done_at, item.on_behalf = actor.user_id, actor.team_id, now, False
    item.updated_at = now
    session.add(item)
    return Change("item.na", item, phase, {"reason": reason})


def reopen(
    session: Session, phase: EngagementPhase, item: Item, actor: Actor, now: datetime
) -> Change | None:
    _require_vendor(actor, "reopen items marked not applicable")
    if item.status != NA:
        return None
    item.status = OPEN
    item.na_reason = None
    item.done_by = item.done_by_team = None
    item.done_at = None
    item.updated_at = now
    session.add(item)
    reopened = reopen_phase(session, phase, actor, now)
    return Change("item.reopened", item, phase, {"phase_reopened": True} if reopened else {})


def add_item(
    session: Session, phase: EngagementPhase, actor: Actor, title: str, owner: str, now: datetime
) -> Change:
    _require_vendor(actor, "add items")
    title = " ".join(title.split())
    if not title:
        raise UserError("Give the item a title.")
    if len(title) > MAX_TITLE:
        raise UserError(f"The title is {len(title)} characters; keep it under {MAX_TITLE}.")
    if owner not in (VENDOR, CUSTOMER):
        raise UserError("`owner=` takes customer or vendor.")
    last = session.exec(select(func.max(Item.number)).where(Item.phase_id == phase.id)).one() or 0
    item = Item(
        engagement_id=phase.engagement_id,
        phase_id=saved_id(phase),
        number=last + 1,
        key=f"custom_{last + 1}",
        title=title,
        owner_side=owner,
        custom=True,
        due_on=phase.planned_end,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    detail: dict[str, object] = {"title": title, "owner": owner}
    if reopen_phase(session, phase, actor, now):
        detail["phase_reopened"] = True
    return Change("item.added", item, phase, detail)


def phase_complete(items: list[Item]) -> bool:
    return all(i.status in (DONE, NA) for i in items)
