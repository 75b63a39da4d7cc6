"""An engagement's outlook: its forecast and its health, from the rows the database holds.

`outlook_of` is pure (rows in, outlook out); `load_outlook` reads what it needs in a few queries.
Callers that already hold the phases and items (the status message) pass them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlmodel import Session, col, select

from bot.engagement.dependencies import prerequisites
from bot.engagement.forecast import Forecast, forecast, local_date
from bot.engagement.health import DryRun, Health, Waiting, assess
from bot.engagement.lifecycle import calendar_for, local_today, phases_of
from bot.engagement.playbook import Playbook, SizeName
from storage.models import Engagement, EngagementPhase, Gate, Item, SignoffRequest, saved_id


@dataclass(frozen=True)
class Outlook:
    forecast: Forecast
    health: Health


def waiting_signoffs(session: Session, engagement_id: int) -> list[Waiting]:
    """The engagement's sign-off requests waiting for a decision (one query)."""
    rows = session.exec(
        select(Gate.title, SignoffRequest.requested_at)
        .join(SignoffRequest, col(SignoffRequest.gate_id) == col(Gate.id))
        .where(Gate.engagement_id == engagement_id, SignoffRequest.status == "open")
    ).all()
    return [Waiting(gate=title, since=at) for title, at in rows]


def outlook_of(
    engagement: Engagement,
    phases: list[EngagementPhase],
    items: list[Item],
    waiting: list[Waiting],
    playbook: Playbook,
    now: datetime,
    *,
    deps: dict[int, list[int]] | None = None,
    gate_phases: set[int] | None = None,
) -> Outlook:
    """`deps` (items' prerequisites) and `gate_phases` (phases with a gate not approved) make the
    forecast walk what waits for what; callers that read many engagements at once may leave them."""
    tz = engagement.timezone
    today = local_today(now, tz)
    calendar = calendar_for(engagement)
    dryrun_on = (
        local_date(engagement.dryrun_at, tz)
        if engagement.dryrun_at is not None and engagement.dryrun_outcome != "passed"
        else None
    )
    fc = forecast(
        phases=phases,
        items=items,
        current=engagement.phase_index,
        live=engagement.status == "live",
        kickoff=engagement.kickoff_on,
        target=engagement.target_on,
        today=today,
        timezone=tz,
        calendar=calendar,
        deps=deps,
        gate_phases=gate_phases,
        dryrun_on=dryrun_on,
    )
    size = playbook.sizes.get(cast(SizeName, engagement.size))
    health = assess(
        forecast=fc,
        items=items,
        phase_numbers={p.id: p.number for p in phases if p.id is not None},
        waiting=waiting,
        dryrun=DryRun(
            at=local_date(engagement.dryrun_at, tz) if engagement.dryrun_at else None,
            outcome=engagement.dryrun_outcome,
        ),
        size=engagement.size,
        min_weeks=size.min_weeks if size else None,
        max_weeks=size.max_weeks if size else None,
        today=today,
        timezone=tz,
        calendar=calendar,
    )
    return Outlook(forecast=fc, health=health)


def gate_phases(session: Session, engagement_id: int) -> set[int]:
    """The phases with a gate not approved yet."""
    return set(
        session.exec(
            select(Gate.phase_id).where(Gate.engagement_id == engagement_id, Gate.status != "approved")
        ).all()
    )


def load_outlook(
    session: Session,
    engagement: Engagement,
    playbook: Playbook,
    now: datetime,
    *,
    phases: list[EngagementPhase] | None = None,
    items: list[Item] | None = None,
) -> Outlook:
    """The engagement's outlook; `phases` and `items` when the caller has read them already."""
    if phases is None:
        phases = phases_of(session, saved_id(engagement))
    if items is None:
        items = list(session.exec(select(Item).where(Item.engagement_id == engagement.id)).all())
    return outlook_of(
        engagement,
        phases,
        items,
        waiting_signoffs(session, saved_id(engagement)),
        playbook,
        now,
        deps=prerequisites(session, saved_id(engagement)),
        gate_phases=gate_phases(session, saved_id(engagement)),
    )
