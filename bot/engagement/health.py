"""Health of an engagement — on track, at risk or late — from open work against time left.

- late: open items past their due date, or the planned go-live has passed;
- at risk: the open work needs a clearly faster pace than the plan assumed for the business
  days left, or the current phase ends within two business days with most of it still open;
- on track otherwise.
Each result carries the reason in words, shown next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.engagement.business_days import BusinessCalendar
from storage.models import EngagementPhase, Item

ON_TRACK, AT_RISK, LATE = "on_track", "at_risk", "late"
LABELS = {ON_TRACK: "On track", AT_RISK: "At risk", LATE: "Late"}
EMOJI = {ON_TRACK: ":large_green_circle:", AT_RISK: ":large_yellow_circle:", LATE: ":red_circle:"}
PACE_MARGIN = 1.5
PHASE_END_WINDOW = 2


@dataclass(frozen=True)
class Health:
    level: str
    reason: str

    @property
    def label(self) -> str:
        return LABELS[self.level]

    @property
    def emoji(self) -> str:
        return EMOJI[self.level]


def _fmt(d: date) -> str:
    return d.strftime("%a %-d %b")


def assess(
    *,
    phases: list[EngagementPhase],
    items: list[Item],
    current_phase: int,
    golive: date,
    today: date,
    calendar: BusinessCalendar,
) -> Health:
    numbers = {p.id: p.number for p in phases}
    open_items = [i for i in items if i.status == "open"]
    total = len(items)
    done = total - len(open_items)
    overdue = sorted((i for i in open_items if i.due_on and i.due_on < today), key=lambda i: (i.due_on, i.id))
    if overdue:
        first = overdue[0]
        ref = f"{numbers.get(first.phase_id, '?')}.{first.number}"
        many = f"{len(overdue)} items are" if len(overdue) > 1 else "1 item is"
        return Health(LATE, f"{many} overdue; the oldest, {ref}, was due {_fmt(first.due_on)}.")  # type: ignore[arg-type]
    if open_items and golive < today:
        return Health(
            LATE, f"The planned go-live ({_fmt(golive)}) has passed with {len(open_items)} items open."
        )
    if not open_items:
        return Health(ON_TRACK, f"All {total} items are done.")
    start = phases[0].planned_start if phases else today
    plan_days = max(calendar.count(start, golive), 1)
    left = max(calendar.count(today, golive), 1)
    planned_pace = total / plan_days
    needed_pace = len(open_items) / left
    if len(open_items) >= 3 and needed_pace > PACE_MARGIN * planned_pace:
        return Health(
            AT_RISK,
            f"{len(open_items)} items are open with {left} business days to go-live; "
            f"that is {needed_pace:.1f} a day where the plan assumed {planned_pace:.1f}.",
        )
    phase = next((p for p in phases if p.number == current_phase), None)
    if phase is not None and phase.planned_end >= today:
        phase_items = [i for i in items if i.phase_id == phase.id]
        phase_open = [i for i in phase_items if i.status == "open"]
        days_left = calendar.count(today, phase.planned_end)
        if days_left <= PHASE_END_WINDOW and len(phase_open) * 2 > len(phase_items):
            return Health(
                AT_RISK,
                f"{phase.name} ends {_fmt(phase.planned_end)} with {len(phase_open)} of "
                f"{len(phase_items)} items still open.",
            )
    if phase is not None:
        return Health(
            ON_TRACK,
            f"{done} of {total} items done; {phase.name} is planned to end {_fmt(phase.planned_end)}.",
        )
    return Health(ON_TRACK, f"{done} of {total} items done.")
