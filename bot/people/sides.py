"""Who is on which side of an engagement.

- The vendor's side: users of the installing workspace, and, when the vendor is on Enterprise
  Grid, users of any workspace of the same enterprise (`Engagement.vendor_enterprise_id`).
- The customer's side: users of the engagement's customer organisation
  (`Engagement.customer_team_id`, or its Grid enterprise). It is learned from the channel's
  connected teams when exactly one other organisation is there, pinned by the first customer
  role a consultant gives, and a consultant can change it (`/golive customer @person`).
- Nobody's side: users of any other organisation in the channel (a partner, a reseller), and
  anyone whose organisation cannot be told. They can read along, but cannot tick, block, approve
  or submit forms until a consultant gives them a side (`/golive side @person customer`). A user
  whose organisation is unknown is never defaulted to the vendor.

A consultant's per-person override (`Member.side_override`) wins over all of this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from bot.errors import UserError
from storage.models import Engagement, Member, MemberRole

VENDOR = "vendor"
CUSTOMER = "customer"
NO_SIDE = ""
VENDOR_ROLES = frozenset({"lead", "consultant"})
CUSTOMER_ROLES = frozenset({"approver", "contributor", "sponsor", "main_contact", "it_admin"})

# Why someone has no side; each has its own explanation for the user.
OTHER_ORG = "other_org"
CUSTOMER_UNKNOWN = "customer_unknown"
ORG_UNKNOWN = "org_unknown"


@dataclass(frozen=True)
class Actor:
    """Someone acting on an engagement: their id, home team, name and resolved side."""

    user_id: str
    team_id: str | None
    name: str
    side: str
    roles: frozenset[str] = frozenset()
    enterprise_id: str | None = None
    no_side_reason: str = ""

    @property
    def is_vendor(self) -> bool:
        return self.side == VENDOR

    @property
    def is_customer(self) -> bool:
        return self.side == CUSTOMER

    @property
    def has_side(self) -> bool:
        return self.side in (VENDOR, CUSTOMER)


class NoSide(UserError):
    """The user is on neither side of the engagement, so they may read but not act."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def is_vendor_org(engagement: Engagement, team_id: str | None, enterprise_id: str | None) -> bool:
    if team_id and team_id == engagement.team_id:
        return True
    grid = engagement.vendor_enterprise_id
    return bool(grid) and (enterprise_id == grid or team_id == grid)


def _is_customer_org(engagement: Engagement, team_id: str | None, enterprise_id: str | None) -> bool:
    if team_id and team_id == engagement.customer_team_id:
        return True
    grid = engagement.customer_enterprise_id
    return bool(grid) and (enterprise_id == grid or team_id == grid)


def side_of(
    engagement: Engagement,
    team_id: str | None,
    enterprise_id: str | None = None,
    override: str | None = None,
) -> str:
    """VENDOR, CUSTOMER or NO_SIDE for a user of this home team (and Grid enterprise)."""
    if override in (VENDOR, CUSTOMER):
        return override
    if is_vendor_org(engagement, team_id, enterprise_id):
        return VENDOR
    if _is_customer_org(engagement, team_id, enterprise_id):
        return CUSTOMER
    return NO_SIDE


def why_no_side(engagement: Engagement, team_id: str | None, enterprise_id: str | None = None) -> str:
    if not team_id and not enterprise_id:
        return ORG_UNKNOWN
    if not engagement.customer_team_id and not engagement.customer_enterprise_id:
        return CUSTOMER_UNKNOWN
    return OTHER_ORG


def member_side(engagement: Engagement, member: Member) -> str:
    return side_of(engagement, member.team_id, member.enterprise_id, member.side_override)


# Built once with bound parameters (see lifecycle._ACTIVE_IN_CHANNEL): every click and command.
# The member and their roles in one statement (one row per role; one with no role when none).
_MEMBER_AND_ROLES = (
    select(Member, MemberRole.role)
    .outerjoin(MemberRole, col(MemberRole.member_id) == Member.id)
    .where(Member.engagement_id == bindparam("engagement"), Member.user_id == bindparam("user"))
)


# What the database knows of someone in an engagement: their member row (None if not a member)
# and their roles.
Known = tuple[Member | None, frozenset[str]]


def known_from_rows(rows: Sequence[Any]) -> Known:
    """A Known from rows whose last two columns are a member (or None) and one of their roles."""
    member = rows[0][-2] if rows else None
    return member, frozenset(row[-1] for row in rows if row[-1] is not None)


def resolve_actor(
    session: Session,
    engagement: Engagement,
    *,
    user_id: str,
    home_team: str | None,
    name: str = "",
    enterprise_id: str | None = None,
    known: Known | None = None,
) -> Actor:
    """`known`: the member and roles, when the caller read them with something else."""
    if known is None:
        known = known_from_rows(
            session.exec(_MEMBER_AND_ROLES, params={"engagement": engagement.id, "user": user_id}).all()
        )
    member, member_roles = known
    roles: frozenset[str] = frozenset()
    override = None
    if member is not None:
        roles = member_roles
        home_team = home_team or member.team_id
        enterprise_id = enterprise_id or member.enterprise_id
        name = name or member.display_name
        override = member.side_override
    side = side_of(engagement, home_team, enterprise_id, override)
    reason = "" if side else why_no_side(engagement, home_team, enterprise_id)
    return Actor(
        user_id=user_id,
        team_id=home_team,
        name=name or user_id,
        side=side,
        roles=roles,
        enterprise_id=enterprise_id,
        no_side_reason=reason,
    )
