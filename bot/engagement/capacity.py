"""Consultant capacity: how much each consultant carries, weighted by the engagements' sizes.

A consultant is someone of the vendor's side who is lead or consultant on an engagement that is
active or preparing (made from a CRM deal, its channel being set up: real work starting). Their
load is the sum of their engagements' weights (`SIZE_WEIGHTS`), each engagement counted once
(a lead who is also named consultant is not counted twice).

`GOLIVE_CAPACITY` (weighted units per person; unset: no warning) makes starting an engagement
warn when its lead is over it with the new one, and name the least loaded consultant who still
has room for it — never the lead. Only people carrying an engagement are known here as
consultants: a colleague with none is not suggested (golive cannot tell them from anyone else of
the vendor's workspace).

Every load is one GROUP BY over the members of active and preparing engagements with a lead or
consultant role: App Home and a start cost one query (about 25 ms on SQLite at 10,000 active
engagements with two consultants each). It does not ask each member's side again (as the
portfolio's `vendor_side` does: a third of the query's time): golive gives the lead and consultant
roles only to the vendor's people (`bot.people.roles.set_role`, the start).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, exists, func
from sqlmodel import Session, col, select

from bot.people.sides import VENDOR_ROLES
from messages import Mention, Trusted, fmt
from storage.models import Engagement, Member, MemberRole

# Weighted units per engagement, by size. An enterprise implementation has more of everything the
# team does (phases run longer, more people and gates on the customer's side, more meetings),
# but not in proportion to its length: the weights are the playbook's sizes ranked, so three
# small engagements weigh as much as one enterprise and a medium one. A constant rather than a
# setting: a team that wants other weights sets GOLIVE_CAPACITY to match them.
SIZE_WEIGHTS: dict[str, int] = {"small": 1, "medium": 2, "enterprise": 3}
DEFAULT_WEIGHT = 2  # a size no playbook names any more
COUNTED = ("active", "preparing")


@dataclass(frozen=True)
class Load:
    user_id: str
    name: str
    engagements: int
    units: int


@dataclass(frozen=True)
class OverCapacity:
    """The lead of a new engagement is over capacity with it; `suggest`: the least loaded
    consultant with room for it (None: nobody has)."""

    lead: Load
    capacity: int
    weight: int  # the new engagement's
    suggest: Load | None

    def mrkdwn(self, command: str) -> Trusted:
        """For a message to the lead, with mentions."""
        head = fmt(
            "You now carry {n} engagement{s} weighing {units}, over the team's capacity of "
            "{cap} (GOLIVE_CAPACITY).",
            n=self.lead.engagements,
            s="" if self.lead.engagements == 1 else "s",
            units=units(self.lead.units),
            cap=self.capacity,
        )
        if self.suggest is None:
            return Trusted(head + " Nobody else carrying engagements has room for it.")
        return Trusted(
            head
            + fmt(
                " {who} has the lightest load ({n} engagement{s}, {units}); to hand it over: "
                "`{command} role @{name} lead`",
                who=Mention(self.suggest.user_id),
                n=self.suggest.engagements,
                s="" if self.suggest.engagements == 1 else "s",
                units=units(self.suggest.units),
                command=command,
                name=self.suggest.name,
            )
        )

    def plain(self, command: str) -> str:
        """As plain text (names, no mentions), for the deal's answer and its direct message."""
        head = (
            f"You now carry {self.lead.engagements} engagement{'' if self.lead.engagements == 1 else 's'} "
            f"weighing {units(self.lead.units)}, over the team's capacity of {self.capacity} (GOLIVE_CAPACITY)."
        )
        if self.suggest is None:
            return head + " Nobody else carrying engagements has room for it."
        s = self.suggest
        return (
            f"{head} {s.name} has the lightest load ({s.engagements} "
            f"engagement{'' if s.engagements == 1 else 's'}, {units(s.units)}); to hand it over: "
            f"`{command} role @{s.name} lead`"
        )


def units(n: int) -> str:
    """`1 unit`, `7 units`."""
    return f"{n} unit" if n == 1 else f"{n} units"


def weight_of(size: str) -> int:
    return SIZE_WEIGHTS.get(size, DEFAULT_WEIGHT)


def team_loads(session: Session) -> list[Load]:
    """Every consultant's load, heaviest first (then most engagements, then name): one query."""
    weight = case(
        *((col(Engagement.size) == size, w) for size, w in SIZE_WEIGHTS.items()), else_=DEFAULT_WEIGHT
    )
    # One row per (person, engagement): a member is one person of one engagement (unique), with
    # one or two vendor roles (lead and consultant) counted once, through EXISTS.
    vendor_role = (
        exists()
        .where(col(MemberRole.member_id) == col(Member.id), col(MemberRole.role).in_(VENDOR_ROLES))
        .correlate(Member)
    )
    rows = session.exec(
        select(
            col(Member.user_id),
            func.max(col(Member.display_name)),
            func.count(),
            func.sum(weight),
        )
        .join(Engagement, col(Engagement.id) == col(Member.engagement_id))
        .where(col(Engagement.status).in_(COUNTED), vendor_role)
        .group_by(col(Member.user_id))
    ).all()
    loads = [Load(user, name or user, int(n), int(total or 0)) for user, name, n, total in rows]
    return sorted(loads, key=lambda x: (-x.units, -x.engagements, x.name.casefold(), x.user_id))


def over_capacity(session: Session, capacity: int | None, lead: str, size: str) -> OverCapacity | None:
    """After `lead` was given a new engagement of `size` (in this session): is their load over
    `capacity`? Then who has the lightest load and room for it (not the lead)."""
    if capacity is None:
        return None
    loads = team_loads(session)
    mine = next((x for x in loads if x.user_id == lead), None)
    if mine is None or mine.units <= capacity:
        return None
    weight = weight_of(size)
    others = sorted(
        (x for x in loads if x.user_id != lead and x.units + weight <= capacity),
        key=lambda x: (x.units, x.engagements, x.name.casefold(), x.user_id),
    )
    return OverCapacity(lead=mine, capacity=capacity, weight=weight, suggest=others[0] if others else None)
