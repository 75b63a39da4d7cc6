"""The weekly digest: phase and progress, what each side owes this week (naming each item's
owner, and mentioning them as far as the notification budget allows), the next milestone."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from bot.people.recipients import for_item
from bot.people.roles import team
from bot.reminders.budget import Budget
from bot.reminders.milestones import golive_date
from bot.reminders.working_hours import CustomerClock, clock_of
from bot.slack.nudges import names_of
from storage.models import Engagement, EngagementPhase, Gate, Item

MAX_PER_SIDE = 10
# The digest goes out on the week's first working day; a bot that was down sends it on the next.
DIGEST_CATCH_UP_DAYS = 2


def digest_week(clock: CustomerClock, day: date) -> tuple[str, date] | None:
    """On a day the week's digest may be planned (the week's first working day, or the next
    one to catch up), its ISO week (`2026-W49`) and that first working day; else None."""
    week_start = day - timedelta(days=day.weekday())
    first_day = clock.calendar.on_or_after(week_start)
    if first_day <= day <= clock.calendar.add(first_day, DIGEST_CATCH_UP_DAYS - 1):
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}", first_day
    return None


def digest_context(
    session: Session,
    engagement: Engagement,
    now: datetime,
    present: Collection[str] | None = None,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """What the digest says. Each item names whom it is for (`owners`: its assignee, or the
    people named for its side); the digest mentions them — so Slack notifies them of what is due
    this week — as far as the notification budget allows (`mentioned`); the others are named."""
    clock = clock_of(engagement)
    rows = team(session, engagement)
    today = clock.today(now)
    week_end = today + timedelta(days=6 - today.weekday())
    phases = {
        p.id: p
        for p in session.exec(select(EngagementPhase).where(EngagementPhase.engagement_id == engagement.id))
    }
    owed: dict[str, list[dict[str, Any]]] = {"customer": [], "vendor": []}
    for item in session.exec(
        select(Item)
        .where(Item.engagement_id == engagement.id, Item.status == "open", col(Item.due_on) <= week_end)
        .order_by(col(Item.due_on), col(Item.id))
    ).all():
        phase = phases[item.phase_id]
        owed[item.owner_side].append(
            {
                "ref": f"{phase.number}.{item.number}",
                "title": item.title,
                "due": item.due_on,
                "overdue": item.due_on is not None and item.due_on < today,
                "assignee": item.assignee_id,
                "owners": for_item(rows, item.owner_side, item.assignee_id, present).people,
            }
        )
    shown = {side: rows_[:MAX_PER_SIDE] for side, rows_ in owed.items()}
    owners = list(
        dict.fromkeys(u for side in ("customer", "vendor") for it in shown[side] for u in it["owners"])
    )
    mentioned = []
    for user in owners:
        if budget is None or budget.room(user):
            mentioned.append(user)
            if budget is not None:
                budget.spend(user)
    return {
        "mentioned": mentioned,
        "names": names_of(session, engagement.id),  # type: ignore[arg-type]
        "week_of": today - timedelta(days=today.weekday()),
        "owed": shown,
        "owed_more": {side: max(0, len(rows_) - MAX_PER_SIDE) for side, rows_ in owed.items()},
        "milestone": next_milestone(session, engagement, today, clock.local(now)),
    }


def next_milestone(session: Session, engagement: Engagement, today: date, local_now: datetime) -> str:
    """The nearest of: the current phase's end, an open gate, the dry run, go-live."""
    options: list[tuple[date, str]] = []
    current = session.exec(
        select(EngagementPhase).where(
            EngagementPhase.engagement_id == engagement.id, EngagementPhase.number == engagement.phase_index
        )
    ).first()
    if current is not None and current.planned_end >= today:
        options.append((current.planned_end, f"{current.name} ends {current.planned_end:%a %-d %b}"))
        gates = session.exec(select(Gate).where(Gate.phase_id == current.id, Gate.status == "open")).all()
        for g in gates:
            options.append((current.planned_end, f"{g.title} due by {current.planned_end:%a %-d %b}"))
    if engagement.dryrun_at is not None and engagement.dryrun_outcome is None:
        local = engagement.dryrun_at.astimezone(local_now.tzinfo)
        if local.date() >= today:
            options.append((local.date(), f"Dry run {local:%a %-d %b %H:%M}"))
    golive = golive_date(engagement, session)
    if golive is not None and golive >= today:
        options.append((golive, f"Go-live {golive:%a %-d %b}"))
    if not options:
        return "No milestone ahead: everything planned has passed."
    return min(options, key=lambda o: o[0])[1]
