"""The one-statement reads of the requests that must be answered fast: a tick, a single-item
command, `/golive checklist`. Each reads in one prebuilt statement what the usual lookups
(`checklist.find_item`, `handlers.base.click_engagement`, the person's roles) read in three or
four, and returns None whenever anything is missing, so that the caller falls back on those
lookups, which say what is wrong."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, bindparam
from sqlmodel import Session, col, select

from bot.people.sides import Known, known_from_rows
from storage.models import (
    CHANNELS_ACTIVE,
    Engagement,
    EngagementPhase,
    Item,
    Member,
    MemberRole,
    PostedMessage,
)

# One statement for an item request's read: the engagement, the item with its phase, and the
# person acting (bound parameter `user`) with their roles, one row per role (an ORM statement
# costs 300-500 us here, measured). What finds the engagement and the item is the caller's.
_ITEM_REQUEST = select(Engagement, EngagementPhase, Item, Member, MemberRole.role)


def _and_the_person(statement: Any) -> Any:
    return statement.outerjoin(
        Member, and_(col(Member.engagement_id) == Engagement.id, col(Member.user_id) == bindparam("user"))
    ).outerjoin(MemberRole, col(MemberRole.member_id) == Member.id)


# A command's: the channel's active engagement and the item of its one reference (the three
# lookups of every single-item command's read).
_COMMAND_ITEM = _and_the_person(
    _ITEM_REQUEST.join(EngagementPhase, col(EngagementPhase.engagement_id) == Engagement.id).join(
        Item, col(Item.phase_id) == EngagementPhase.id
    )
).where(CHANNELS_ACTIVE, EngagementPhase.number == bindparam("phase"), Item.number == bindparam("item"))

# A tick's: the engagement of the message ticked, by the ledger (active, and in the channel it
# was clicked in), and the item ticked (the four lookups of a tick's read: `click_engagement`,
# `item_by_id`, the person's roles).
_CLICK_ITEM = _and_the_person(
    _ITEM_REQUEST.select_from(PostedMessage)
    .join(Engagement, col(Engagement.id) == PostedMessage.engagement_id)
    .join(Item, and_(col(Item.engagement_id) == Engagement.id, col(Item.id) == bindparam("item")))
    .join(EngagementPhase, col(EngagementPhase.id) == Item.phase_id)
).where(
    PostedMessage.channel_id == bindparam("channel"), PostedMessage.ts == bindparam("ts"), CHANNELS_ACTIVE
)


def _item_request(
    session: Session, statement: Any, params: dict[str, Any]
) -> tuple[Engagement, EngagementPhase, Item, Known] | None:
    rows = session.exec(statement, params=params).all()
    if not rows:
        return None
    return rows[0][0], rows[0][1], rows[0][2], known_from_rows(rows)


def find_for_click(
    session: Session, channel_id: str, ts: str, user_id: str, item_id: int
) -> tuple[Engagement, EngagementPhase, Item, Known] | None:
    """For a click on the message `ts`: its engagement (active, in this channel), the item
    `item_id` of it with its phase, and what is known of `user_id` in it; None when any is missing
    or the message is not in the ledger (the caller's usual lookups then say what)."""
    return _item_request(
        session, _CLICK_ITEM, {"channel": channel_id, "ts": ts, "user": user_id, "item": item_id}
    )


# The channel's active engagement with one of its phases, in one Core statement of the three
# columns `/golive checklist` needs (`Database.rows`): the phase asked for, or the current one.
_ENGAGEMENT_AND_PHASE = (
    select(col(Engagement.id), col(Engagement.channel_id), col(EngagementPhase.number))
    .join(EngagementPhase, col(EngagementPhase.engagement_id) == Engagement.id)
    .where(CHANNELS_ACTIVE)
)
_WITH_PHASE_ASKED = _ENGAGEMENT_AND_PHASE.where(EngagementPhase.number == bindparam("number"))
_WITH_CURRENT_PHASE = _ENGAGEMENT_AND_PHASE.where(col(EngagementPhase.number) == Engagement.phase_index)


def engagement_and_phase(
    conn: Connection, channel_id: str, number: int | None
) -> tuple[int, str, int] | None:
    """The channel's active engagement (its id and channel) and the number of its phase `number`
    (None: its current phase); None when either is missing (the caller's usual lookups then say
    which). One Core statement on a `Database.rows` connection: an ORM statement through a
    session costs about twice as much (see there)."""
    if number is None:
        row = conn.execute(_WITH_CURRENT_PHASE, {"channel": channel_id}).first()
    else:
        row = conn.execute(_WITH_PHASE_ASKED, {"channel": channel_id, "number": number}).first()
    return None if row is None else (row[0], row[1], row[2])


def find_for_command(
    session: Session, channel_id: str, user_id: str, phase_no: int, item_no: int
) -> tuple[Engagement, EngagementPhase, Item, Known] | None:
    """The channel's active engagement, the item `phase_no.item_no` with its phase, and what is
    known of `user_id` in it; None when any is missing (the caller's usual lookups then say what)."""
    return _item_request(
        session, _COMMAND_ITEM, {"channel": channel_id, "user": user_id, "phase": phase_no, "item": item_no}
    )
