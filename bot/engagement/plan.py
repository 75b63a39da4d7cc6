"""The dated plan: each phase gets a planned start and end on business days.

From the kickoff and the size tier (the midpoint of its range) or, when given, the target
go-live. Fixed-length phases (a pilot) come first; the rest share the implementation
timeline by their `share`, each at least one business day, the last ending on go-live.
The work grows with the number of phases, not with the length of the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.engagement.business_days import BusinessCalendar
from bot.engagement.playbook import PhaseSpec, Playbook

DAYS_PER_WEEK = 5


@dataclass(frozen=True)
class PhaseWindow:
    number: int
    key: str
    name: str
    start: date
    end: date


def applicable_phases(playbook: Playbook, *, pilot: bool, ingest: str) -> list[PhaseSpec]:
    return [p for p in playbook.phases if p.when is None or p.when.holds(pilot=pilot, ingest=ingest)]


def plan_phases(
    phases: list[PhaseSpec],
    *,
    playbook: Playbook,
    size: str,
    kickoff: date,
    target: date | None,
    calendar: BusinessCalendar,
) -> list[PhaseWindow]:
    shared = [p for p in phases if p.share is not None]
    windows: list[PhaseWindow] = []
    cursor = calendar.on_or_after(kickoff)
    number = 0
    # Phases listed before the shared ones with a fixed length (e.g. a pilot) come first.
    for p in phases:
        if p.weeks is None:
            continue
        number += 1
        n = max(1, round(p.weeks * DAYS_PER_WEEK))
        end = calendar.add(cursor, n - 1)
        windows.append(PhaseWindow(number, p.key, p.name, cursor, end))
        cursor = calendar.add(end, 1)
    if not shared:
        return windows
    if target is not None:
        total = calendar.count(cursor, calendar.on_or_before(target)) if target >= cursor else 0
    else:
        total = round(playbook.sizes[size].midpoint_weeks * DAYS_PER_WEEK)  # type: ignore[index]
    total = max(total, len(shared))
    # The i-th business day of the timeline is calendar.add(cursor, i): no list of every day.
    share_sum = sum(p.share or 0 for p in shared)
    cumulative = 0
    first = 0
    for i, p in enumerate(shared):
        cumulative += p.share or 0
        remaining_phases = len(shared) - i - 1
        last = round(total * cumulative / share_sum) - 1
        last = max(last, first)  # at least one day
        last = min(last, total - 1 - remaining_phases)  # leave a day for each later phase
        if i == len(shared) - 1:
            last = total - 1
        number += 1
        windows.append(
            PhaseWindow(number, p.key, p.name, calendar.add(cursor, first), calendar.add(cursor, last))
        )
        first = last + 1
    return windows
