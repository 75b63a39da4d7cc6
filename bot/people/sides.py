"""Who is on which side of an engagement.

A user whose home workspace differs from the installing workspace is on the customer side
(in interactivity payloads that is `user.team_id`; elsewhere users.info, cached). Users of
the installing workspace are on the vendor side. A consultant can override anyone's side.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from storage.models import Engagement, Member, MemberRole

VENDOR = "vendor"
CUSTOMER = "customer"
VENDOR_ROLES = frozenset({"lead", "consultant"})
CUSTOMER_ROLES = frozenset({"approver", "contributor", "sponsor"})


@dataclass(frozen=True)
class Actor:
    """Someone acting on an engagement: their id, home team, name and resolved side."""

    user_id: str
    team_id: str | None
    name: str
    side: str
    roles: frozenset[str] = frozenset()

    @property
    def is_vendor(self) -> bool:
        return self.side == VENDOR

    @property
    def is_customer(self) -> bool:
        return self.side == CUSTOMER


def side_from_team(engagement: Engagement, home_team: str | None) -> str:
    if home_team and home_team != engagement.team_id:
        return CUSTOMER
    return VENDOR


def resolve_actor(
    session: Session,
    engagement: Engagement,
    *,
    user_id: str,
    home_team: str | None,
    name: str = "",
) -> Actor:
    member = session.exec(
        select(Member).where(Member.engagement_id == engagement.id, Member.user_id == user_id)
    ).first()
    roles: frozenset[str] = frozenset()
    if member is not None:
        roles = frozenset(
            session.exec(select(MemberRole.role).where(MemberRole.member_id == member.id)).all()
        )
        home_team = home_team or member.team_id
        name = name or member.display_name
    side = member.side_override if member is not None and member.side_override else None
    if side is None:
        side = side_from_team(engagement, home_team)
    return Actor(user_id=user_id, team_id=home_team, name=name or user_id, side=side, roles=roles)
