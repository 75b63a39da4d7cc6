"""The dated plan: each phase gets a planned start and end on business days.

From the kickoff and the size tier (the midpoint of its range) or, when given, the target
go-live. Fixed-length phases (a pilot) come first; the rest share the implementation
timeline by their `share`, each at least `MIN_PHASE_DAYS` business days, the last ending on go-live.
The work grows with the number of phases, not with the length of the timeline.

A target the phases cannot meet is refused before anything is written (`check_feasible`: each
shared phase needs `MIN_PHASE_DAYS` business days, a fixed-length phase its length); one shorter
than the size's usual range is accepted with a warning (`length_warning`), and so is a date that
is not a business day, with the next business day offered (`business_day_warning`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import cast

from bot.engagement.business_days import BusinessCalendar
from bot.engagement.playbook import PhaseSpec, Playbook, SizeName
from bot.user_input import ValueProblem

DAYS_PER_WEEK = 5
# The fewest business days a phase that shares the timeline can have: a day to do its work and one
# to sign it off. Fewer is not a plan (a target the day after kickoff gave each phase one day).
MIN_PHASE_DAYS = 2


@dataclass(frozen=True)
class PlanWarning:
    """Something about a plan that is allowed but worth a second look; `fix` is the subcommand
    (without the slash command) that would change it, e.g. `target 2026-12-14`."""

    text: str
    fix: str | None = None


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
        total = round(playbook.sizes[cast(SizeName, size)].midpoint_weeks * DAYS_PER_WEEK)
    total = max(total, len(shared))
    # Each phase gets its minimum when the timeline holds it (a target is checked against it
    # before it is accepted, see check_feasible); an older, shorter one still gets a day each.
    least = MIN_PHASE_DAYS if total >= MIN_PHASE_DAYS * len(shared) else 1
    # The i-th business day of the timeline is calendar.add(cursor, i): no list of every day.
    share_sum = sum(p.share or 0 for p in shared)
    cumulative = 0
    first = 0
    for i, p in enumerate(shared):
        cumulative += p.share or 0
        remaining_phases = len(shared) - i - 1
        last = round(total * cumulative / share_sum) - 1
        last = max(last, first + least - 1)  # at least its minimum
        last = min(last, total - 1 - remaining_phases * least)  # leave the minimum to each later phase
        if i == len(shared) - 1:
            last = total - 1
        number += 1
        windows.append(
            PhaseWindow(number, p.key, p.name, calendar.add(cursor, first), calendar.add(cursor, last))
        )
        first = last + 1
    return windows


def _fixed_days(p: PhaseSpec) -> int:
    return max(1, round((p.weeks or 0) * DAYS_PER_WEEK))


def minimum_days(phases: list[PhaseSpec]) -> int:
    """Business days from the kickoff to go-live that the phases need at least."""
    return sum(_fixed_days(p) if p.weeks is not None else MIN_PHASE_DAYS for p in phases)


def earliest_golive(phases: list[PhaseSpec], *, kickoff: date, calendar: BusinessCalendar) -> date:
    return calendar.add(calendar.on_or_after(kickoff), max(minimum_days(phases), 1) - 1)


def _fmt(d: date) -> str:
    return d.strftime("%a %-d %b %Y")


def check_feasible(
    phases: list[PhaseSpec], *, kickoff: date, target: date, calendar: BusinessCalendar
) -> None:
    """Refuse (ValueProblem) a target go-live the phases cannot meet."""
    earliest = earliest_golive(phases, kickoff=kickoff, calendar=calendar)
    if target >= earliest:
        return
    have = calendar.count(calendar.on_or_after(kickoff), target)
    fixed = [p for p in phases if p.weeks is not None]
    need = f"{minimum_days(phases)} business days ({MIN_PHASE_DAYS} for each phase"
    need += f", {', '.join(f'{_fixed_days(p)} for the {p.name}' for p in fixed)})" if fixed else ")"
    raise ValueProblem(
        f"A target go-live on {_fmt(target)} leaves the {len(phases)} phases {have} business "
        f"day{'s' if have != 1 else ''} after the kickoff ({_fmt(kickoff)}); they need at least {need}. "
        f"The earliest target go-live is {_fmt(earliest)} ({earliest.isoformat()})."
    )


def shared_days(phases: list[PhaseSpec], *, kickoff: date, target: date, calendar: BusinessCalendar) -> int:
    """Business days the target leaves the phases that share the timeline (after fixed ones)."""
    cursor = calendar.on_or_after(kickoff)
    fixed = sum(_fixed_days(p) for p in phases if p.weeks is not None)
    if fixed:
        cursor = calendar.add(cursor, fixed)
    return calendar.count(cursor, target) if target >= cursor else 0


def length_warning(
    phases: list[PhaseSpec],
    *,
    playbook: Playbook,
    size: str,
    kickoff: date,
    target: date,
    calendar: BusinessCalendar,
) -> str | None:
    """A warning when the target leaves less than the size's usual range."""
    spec = playbook.sizes.get(cast(SizeName, size))
    if spec is None:
        return None
    days = shared_days(phases, kickoff=kickoff, target=target, calendar=calendar)
    if days >= round(spec.min_weeks * DAYS_PER_WEEK):
        return None
    weeks = f"{days / DAYS_PER_WEEK:.1f}".rstrip("0").rstrip(".")
    return (
        f"The target go-live ({_fmt(target)}) gives the implementation {days} business days "
        f"(about {weeks} weeks); {size} implementations usually take {spec.min_weeks:g}–{spec.max_weeks:g} "
        f"weeks. The plan squeezes every phase, and health shows it as a risk."
    )


def not_business_day(calendar: BusinessCalendar, d: date) -> str | None:
    """Why `d` is not a business day of this calendar ("a Saturday", "a public holiday, Christmas
    Day"), or None when it is one."""
    holiday = calendar.holiday(d)
    if d.weekday() not in calendar.workdays:
        return f"a {d.strftime('%A')}, not a working day"
    if holiday is not None:
        return f"a public holiday ({holiday})"
    return None


def business_day_warning(calendar: BusinessCalendar, d: date, what: str, fix: str) -> PlanWarning | None:
    """A warning offering the next business day when `d` is not one; None when it is. `what` names
    the date ("The target go-live"), `fix` is the subcommand with `{date}` for the offered day."""
    why = not_business_day(calendar, d)
    if why is None:
        return None
    nxt = calendar.on_or_after(d)
    return PlanWarning(
        f"{what}, {_fmt(d)}, is {why}; the next business day is {_fmt(nxt)}.",
        fix.format(date=nxt.isoformat()),
    )


def plan_warnings(
    phases: list[PhaseSpec],
    *,
    playbook: Playbook,
    size: str,
    kickoff: date,
    target: date | None,
    calendar: BusinessCalendar,
    kickoff_given: bool = True,
    target_given: bool = True,
) -> list[PlanWarning]:
    """What to warn about in a plan that is allowed: dates given that are not business days (with
    the next one offered), and a target shorter than the size's usual range."""
    out: list[PlanWarning] = []
    if kickoff_given:
        w = business_day_warning(calendar, kickoff, "The kickoff", "plan kickoff={date}")
        if w is not None:
            out.append(w)
    if target is not None:
        if target_given:
            w = business_day_warning(calendar, target, "The target go-live", "target {date}")
            if w is not None:
                out.append(w)
        text = length_warning(
            phases, playbook=playbook, size=size, kickoff=kickoff, target=target, calendar=calendar
        )
        if text is not None:
            out.append(PlanWarning(text))
    return out


def describe_warnings(warnings: list[PlanWarning] | tuple[PlanWarning, ...], command: str) -> str:
    """The warnings as lines of plain text, each with the command that changes it (for a notice;
    the renderer escapes it)."""
    lines = []
    for w in warnings:
        lines.append(f"• {w.text}" + (f" To change it: `{command} {w.fix}`" if w.fix else ""))
    return "\n".join(lines)
