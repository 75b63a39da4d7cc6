"""The forecast: when each phase really started and ended, and when the rest will.

Planned dates come from the plan (`bot.engagement.plan`). Actual dates come from what happened: a
phase starts when the one before it completes (the first at the kickoff) and ends when it
completes. The forecast, per phase:

- a finished phase is what happened;
- the current phase ends when its open items are done at the pace so far: items done per business
  day since it started, weighed with the pace the plan assumed as if the phase had already run its
  planned length at that pace. On its first day that is the plan; one quick tick does not promise
  the moon, two idle days do not make it late, and a phase that stalls shows it within days;
- a phase not started yet keeps its planned length in business days and starts the business day
  after the one before it ends: a phase finished early pulls the rest in, a slow one pushes them out;
- the current phase takes at least as many business days as its longest chain of open items, each
  waiting for the one before (`deps`), and with a gate not approved yet it ends no earlier than the
  business day after its work (the decision takes a day); the last phase — go-live — ends no
  earlier than a scheduled dry run that has not passed (`dryrun_on`).

The forecast go-live is the end of the last phase (its actual end once live). Everything counts
business days of the engagement's calendar; the work grows with the number of phases and items,
never with the length of the timeline. Pure: it reads no database (see `outlook` for that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.engagement.business_days import BusinessCalendar
from storage.models import EngagementPhase, Item

DONE, CURRENT, UPCOMING = "done", "current", "upcoming"


def business_days_between(calendar: BusinessCalendar, a: date, b: date) -> int:
    """Business days from `a` to `b`: positive when b is later (the business days in (a, b]),
    negative when earlier, 0 on the same business day or across a weekend."""
    if b > a:
        return calendar.count(a + timedelta(days=1), b)
    if b < a:
        return -calendar.count(b + timedelta(days=1), a)
    return 0


@dataclass(frozen=True)
class PhaseForecast:
    number: int
    key: str
    name: str
    planned_start: date
    planned_end: date
    started_on: date | None  # actual
    finished_on: date | None  # actual
    start: date  # forecast (actual when known)
    end: date  # forecast (actual when finished)
    state: str  # done | current | upcoming
    items: int  # every item of the phase
    done: int
    na: int
    open: int
    slip: int  # business days the (forecast) end is after the planned end; negative: early

    @property
    def applicable(self) -> int:
        return self.items - self.na

    @property
    def late(self) -> bool:
        return self.slip > 0


@dataclass(frozen=True)
class Forecast:
    today: date
    phases: tuple[PhaseForecast, ...]
    planned_golive: date
    golive: date  # forecast, or actual once live
    live: bool
    slip: int  # business days the forecast go-live is after the planned one; negative: ahead
    has_target: bool = False  # the planned go-live is a target someone set (else the plan's end)

    def phase(self, number: int) -> PhaseForecast | None:
        return next((p for p in self.phases if p.number == number), None)


def local_date(at: datetime, tz: str) -> date:
    return at.astimezone(ZoneInfo(tz)).date()


def _counts(items: list[Item]) -> tuple[int, int, int]:
    done = sum(1 for i in items if i.status == "done")
    na = sum(1 for i in items if i.status == "na")
    return done, na, len(items) - done - na


def remaining_days(*, open_items: int, done: int, applicable: int, planned_days: int, elapsed: int) -> int:
    """Business days the open items still need, at the pace so far blended with the plan's: the
    items done plus the applicable ones (the plan's pace over its planned days), over the business
    days elapsed plus the planned ones."""
    if open_items <= 0:
        return 0
    pace = (done + max(applicable, 1)) / (max(elapsed, 0) + max(planned_days, 1))
    return max(1, math.ceil(open_items / pace - 1e-9))


def forecast(
    *,
    phases: list[EngagementPhase],
    items: list[Item],
    current: int,
    live: bool,
    kickoff: date,
    target: date | None,
    today: date,
    timezone: str,
    calendar: BusinessCalendar,
    deps: dict[int, list[int]] | None = None,
    gate_phases: set[int] | None = None,
    dryrun_on: date | None = None,
) -> Forecast:
    """The forecast of one engagement (see the module docstring). `phases` in order; `current` is
    the engagement's phase pointer; `live` once every phase is complete. `deps`: each item's
    prerequisites; `gate_phases`: the phases with a gate not approved yet; `dryrun_on`: the day of
    a scheduled dry run that has not passed."""
    from bot.engagement.dependencies import chain_length  # (it imports the lifecycle lazily)

    by_phase: dict[int | None, list[Item]] = {}
    for item in items:
        by_phase.setdefault(item.phase_id, []).append(item)
    out: list[PhaseForecast] = []
    previous_end: date | None = None  # forecast end of the phase before
    previous_finished: date | None = None  # actual end of the phase before
    for index, phase in enumerate(phases):
        its = by_phase.get(phase.id, [])
        done, na, open_ = _counts(its)
        planned_days = max(calendar.count(phase.planned_start, phase.planned_end), 1)
        finished = local_date(phase.completed_at, timezone) if phase.completed_at else None
        if index == 0:
            started = min(kickoff, finished) if finished else (kickoff if kickoff <= today else None)
        else:
            started = previous_finished
        if finished is not None:
            state = DONE
            start, end = started or finished, finished
        elif phase.number == current and not live:
            state = CURRENT
            start = started or calendar.on_or_after(kickoff)
            if start > today:  # not begun yet (a kickoff ahead): as planned from its start
                end = calendar.add(calendar.on_or_after(start), planned_days - 1)
            else:
                # The pace is measured from the planned start when the phase began early: idle
                # days before its window are not behind plan, work done in them is a head start.
                elapsed = calendar.count(max(start, phase.planned_start), today - timedelta(days=1))
                left = remaining_days(
                    open_items=open_,
                    done=done,
                    applicable=len(its) - na,
                    planned_days=planned_days,
                    elapsed=elapsed,
                )
                first = calendar.on_or_after(today)
                if deps:  # work that waits for other work takes a business day a link at least
                    left = max(left, chain_length([i for i in its if i.status == "open"], deps))
                if gate_phases and phase.id in gate_phases and open_ == 0:
                    left = max(left, 1)  # its sign-off still to come
                end = calendar.add(first, left - 1) if left else first
        else:
            state = UPCOMING
            start = (
                calendar.add(previous_end, 1) if previous_end else calendar.on_or_after(phase.planned_start)
            )
            end = calendar.add(start, planned_days - 1)
        if index == len(phases) - 1 and state != DONE and dryrun_on is not None and end < dryrun_on:
            end = calendar.on_or_after(dryrun_on)  # go-live never before the dry run
        slip = business_days_between(calendar, phase.planned_end, end)
        out.append(
            PhaseForecast(
                number=phase.number,
                key=phase.key,
                name=phase.name,
                planned_start=phase.planned_start,
                planned_end=phase.planned_end,
                started_on=started if state != UPCOMING else None,
                finished_on=finished,
                start=start,
                end=end,
                state=state,
                items=len(its),
                done=done,
                na=na,
                open=open_,
                slip=slip,
            )
        )
        previous_end = end
        previous_finished = finished
    planned = target or (phases[-1].planned_end if phases else today)
    golive = out[-1].end if out else planned
    return Forecast(
        today=today,
        phases=tuple(out),
        planned_golive=planned,
        golive=golive,
        live=live,
        slip=business_days_between(calendar, planned, golive),
        has_target=target is not None,
    )
