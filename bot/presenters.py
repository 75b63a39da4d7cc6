"""Turn database rows into the plain data the message templates render."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot.engagements import lead_of, phases_of
from bot.playbook import Playbook
from storage.models import Engagement, EngagementPhase


def size_weeks(playbook: Playbook, size: str) -> str:
    spec = playbook.sizes.get(size)  # type: ignore[call-overload]
    if spec is None:
        return ""
    lo, hi = (f"{w:g}" for w in (spec.min_weeks, spec.max_weeks))
    return f"{lo}–{hi} weeks"


def engagement_data(
    engagement: Engagement, phases: list[EngagementPhase], playbook: Playbook
) -> dict[str, Any]:
    current = next((p for p in phases if p.number == engagement.phase_index), phases[0] if phases else None)
    golive = engagement.target_on or (phases[-1].planned_end if phases else None)
    return {
        "id": engagement.id,
        "customer_name": engagement.customer_name,
        "size": engagement.size,
        "size_weeks": size_weeks(playbook, engagement.size),
        "kickoff_on": engagement.kickoff_on,
        "target_on": engagement.target_on,
        "golive": golive,
        "timezone": engagement.timezone,
        "country": engagement.country,
        "pilot": engagement.pilot,
        "ingest": engagement.ingest,
        "status": engagement.status,
        "phase_number": current.number if current else 0,
        "phase_name": current.name if current else "",
    }


def phase_rows(phases: list[EngagementPhase]) -> list[dict[str, Any]]:
    return [
        {
            "number": p.number,
            "key": p.key,
            "name": p.name,
            "emoji": p.emoji,
            "start": p.planned_start,
            "end": p.planned_end,
            "completed": p.completed_at is not None,
        }
        for p in phases
    ]


def overview(session: Session, engagement: Engagement, playbook: Playbook) -> dict[str, Any]:
    """Context shared by the welcome and status messages."""
    phases = phases_of(session, engagement.id)  # type: ignore[arg-type]
    lead = lead_of(session, engagement.id)  # type: ignore[arg-type]
    return {
        "e": engagement_data(engagement, phases, playbook),
        "phases": phase_rows(phases),
        "lead": lead.user_id if lead else None,
        "lead_name": lead.display_name if lead else "the lead consultant",
        "progress": {"done": sum(1 for p in phases if p.completed_at), "total": len(phases)},
    }
