"""People in an engagement: members (with home team and name) and the lead consultant."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from storage.models import Engagement, Member, MemberRole, saved_id


def add_member(
    session: Session,
    engagement: Engagement,
    *,
    user_id: str,
    team_id: str | None,
    display_name: str,
    added_by: str,
    now: datetime,
    enterprise_id: str | None = None,
) -> Member:
    member = session.exec(
        select(Member).where(Member.engagement_id == engagement.id, Member.user_id == user_id)
    ).first()
    if member is None:
        member = Member(
            engagement_id=saved_id(engagement),
            user_id=user_id,
            team_id=team_id,
            enterprise_id=enterprise_id,
            display_name=display_name[:200],
            added_by=added_by,
            added_at=now,
        )
        session.add(member)
        session.flush()
    else:
        if team_id and not member.team_id:
            member.team_id = team_id
        if enterprise_id and not member.enterprise_id:
            member.enterprise_id = enterprise_id
        if display_name and not member.display_name:
            member.display_name = display_name[:200]
        session.add(member)
    return member


def lead_of(session: Session, engagement_id: int) -> Member | None:
    return session.exec(
        select(Member)
        .join(MemberRole, col(MemberRole.member_id) == Member.id)
        .where(Member.engagement_id == engagement_id, MemberRole.role == "lead")
    ).first()
