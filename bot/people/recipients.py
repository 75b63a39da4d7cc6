"""Whom a message that asks someone to act is for: the people a reminder mentions.

- An item: its assignee. With none, the people named for its side: on the customer's side its
  contributors, else its approvers, else its main contact; on the implementation team's, the lead
  consultant.
- A sign-off: the gate's approvers.
- The dry run: the people taking part, kept with it; by default the lead consultant, the
  customer's approvers and its main contact.

`present` is who can be notified in the channel (its members); someone named who is not there is
skipped for the next in line (a mention of someone outside the channel notifies nobody). None
means not known: everyone named counts. An empty answer means nobody can be notified: the lead
is told instead (`bot.reminders.nudges`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from bot.people.roles import ALL_GATES, RoleRow
from bot.people.sides import CUSTOMER, VENDOR


@dataclass(frozen=True)
class Named:
    """The people a message is for, and as what (`assignee`, `contributors`, `approvers`,
    `main contact`, `lead`, `participants`); `absent`: named but not in the channel."""

    people: list[str]
    role: str
    absent: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.people)


def _unique(users: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(u for u in users if u))


def _split(users: list[str], present: Collection[str] | None) -> tuple[list[str], list[str]]:
    if present is None:
        return users, []
    return [u for u in users if u in present], [u for u in users if u not in present]


def holders(rows: list[RoleRow], role: str, side: str = CUSTOMER) -> list[str]:
    return _unique(r.user_id for r in rows if r.role == role and r.side == side)


def lead(rows: list[RoleRow]) -> str | None:
    return next((r.user_id for r in rows if r.role == "lead" and r.side == VENDOR), None)


def side_people(rows: list[RoleRow], side: str, present: Collection[str] | None = None) -> Named:
    """Whom an item of `side` nobody has taken is for."""
    absent: list[str] = []
    tiers = (
        [("contributors", "contributor"), ("approvers", "approver"), ("main contact", "main_contact")]
        if side == CUSTOMER
        else [("lead", "lead")]
    )
    for label, role in tiers:
        people, gone = _split(holders(rows, role, side), present)
        absent += gone
        if people:
            return Named(people, label, _unique(absent))
    return Named([], "", _unique(absent))


def for_item(
    rows: list[RoleRow], side: str, assignee: str | None, present: Collection[str] | None = None
) -> Named:
    if assignee:
        here, gone = _split([assignee], present)
        if here:
            return Named(here, "assignee")
        fallback = side_people(rows, side, present)
        return Named(fallback.people, fallback.role, _unique(gone + fallback.absent))
    return side_people(rows, side, present)


def for_gate(rows: list[RoleRow], gate_key: str, present: Collection[str] | None = None) -> Named:
    approvers = _unique(
        r.user_id
        for r in rows
        if r.role == "approver" and r.side == CUSTOMER and r.gate_key in (ALL_GATES, gate_key)
    )
    here, gone = _split(approvers, present)
    return Named(here, "approvers", gone)


def dry_run_default(rows: list[RoleRow]) -> list[str]:
    """Who takes part in the dry run unless someone said otherwise."""
    found = [lead(rows) or "", *holders(rows, "approver"), *holders(rows, "main_contact")]
    return _unique(found)


def dry_run_people(rows: list[RoleRow], stored: str | None, present: Collection[str] | None = None) -> Named:
    """The dry run's participants: the stored list, else the default."""
    people = _unique((stored or "").split(",")) if stored else dry_run_default(rows)
    here, gone = _split(people, present)
    return Named(here, "participants", gone)
