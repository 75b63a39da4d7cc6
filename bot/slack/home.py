"""The App Home tab: a consultant's engagements at a glance."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from bot.services import Services
from bot.slack.presenters import overview
from storage.models import Engagement, Member

MAX_ENGAGEMENTS = 20


def home_view(s: Services, user_id: str) -> dict[str, Any]:
    with s.db.read() as session:
        rows = session.exec(
            select(Engagement)
            .join(Member, col(Member.engagement_id) == col(Engagement.id))
            .where(Member.user_id == user_id, Engagement.status == "active")
            .order_by(col(Engagement.id).desc())
            .limit(MAX_ENGAGEMENTS)
        ).all()
        engagements = [
            overview(session, e, s.playbook, s.clock.now()) | {"channel": e.channel_id} for e in rows
        ]
    return s.renderer.view("home.json.j2", engagements=engagements, command=s.command)
