"""Health of an engagement — on track, at risk or late — with the factors behind it.

Health follows the forecast (`bot.engagement.forecast`), not single dates:

- the forecast go-live against the target: late when it misses it by more than a week
  (`LATE_SLIP` business days), at risk when by more than `SLIP_TOLERANCE`; late too once the
  target has passed and the engagement is not live; ahead of plan is said as such;
- overdue items per side and sign-offs waiting longer than `SIGNOFF_PATIENCE` business days:
  at risk, unless the forecast is at least a week ahead of the target (then they are shown, but a
  project five weeks ahead is not at risk for three items set to an early date by hand);
- the dry run close to go-live (`DRYRUN_WINDOW` business days): none scheduled, one past without a
  result, or one that found issues is at risk; issues found with go-live within
  `DRYRUN_LATE_WINDOW` business days is late;
- a plan shorter than the size's usual range is at risk: the dates may be kept, but nothing in
  the plan itself says they can be.

The level is the worst factor's; the reason shown first is that factor. Pure: no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from bot.engagement.business_days import BusinessCalendar
from bot.engagement.forecast import Forecast, business_days_between, local_date
from storage.models import Item

ON_TRACK, AT_RISK, LATE = "on_track", "at_risk", "late"
RANK = {ON_TRACK: 0, AT_RISK: 1, LATE: 2}
LABELS = {ON_TRACK: "On track", AT_RISK: "At risk", LATE: "Late"}
EMOJI = {ON_TRACK: ":large_green_circle:", AT_RISK: ":large_yellow_circle:", LATE: ":red_circle:"}
# A factor that is fine but worth saying (ahead of plan, a passed dry run) or a watch item that does
# not lower the health (overdue items while well ahead).
FACTOR_EMOJI = {ON_TRACK: ":white_check_mark:", AT_RISK: ":warning:", LATE: ":rotating_light:"}
WATCH_EMOJI = ":eyes:"

SLIP_TOLERANCE = 2  # business days the forecast go-live may be after the target and still be on track
LATE_SLIP = 5  # more than this (a week) is late
AHEAD_MARGIN = 5  # forecast at least this far ahead of the target: overdue items are only watched
SIGNOFF_PATIENCE = 2  # business days a sign-off request may wait before it is a risk
DRYRUN_WINDOW = 10  # business days before go-live in which a missing or failed dry run matters
DRYRUN_LATE_WINDOW = 3  # issues found this close to go-live: late
AHEAD_NOTE = " Well ahead of plan, so not a risk yet."


@dataclass(frozen=True)
class Factor:
    level: str  # on_track (said, not a risk) | at_risk | late
    text: str
    watch: bool = False  # a concern that does not lower the health (e.g. overdue while well ahead)

    @property
    def emoji(self) -> str:
        return WATCH_EMOJI if self.watch else FACTOR_EMOJI[self.level]


@dataclass(frozen=True)
class Waiting:
    """A sign-off request waiting for a decision."""

    gate: str
    since: datetime


@dataclass(frozen=True)
class DryRun:
    at: date | None  # local date of the scheduled dry run
    outcome: str | None  # passed | issues


@dataclass(frozen=True)
class Health:
    level: str
    factors: tuple[Factor, ...] = field(default=())
    headline: str = ""  # what the forecast says of the go-live, whatever the worst factor is

    @property
    def label(self) -> str:
        return LABELS[self.level]

    @property
    def emoji(self) -> str:
        return EMOJI[self.level]

    @property
    def reason(self) -> str:
        return self.factors[0].text if self.factors else ""


def fmt(d: date) -> str:
    return d.strftime("%a %-d %b")


def _weeks_or_days(n: int) -> str:
    n = abs(n)
    if n >= 10:
        weeks = round(n / 5)
        return f"{weeks} weeks" if weeks != 1 else "a week"
    return f"{n} business day{'s' if n != 1 else ''}"


def _forecast_factor(fc: Forecast, *, today: date, open_items: int) -> Factor:
    target = fc.planned_golive
    the = "the target" if fc.has_target else "the planned go-live"
    if fc.live:
        when = "on time" if fc.slip <= 0 else f"{_weeks_or_days(fc.slip)} after {the}"
        return Factor(ON_TRACK, f"Went live {fmt(fc.golive)}, {when} ({fmt(target)}).")
    if target < today and open_items:
        return Factor(
            LATE,
            f"{the.capitalize()} ({fmt(target)}) has passed with {open_items} items open; "
            f"the forecast is {fmt(fc.golive)}.",
        )
    if fc.slip > LATE_SLIP:
        return Factor(
            LATE, f"Forecast go-live {fmt(fc.golive)}, {_weeks_or_days(fc.slip)} after {the} ({fmt(target)})."
        )
    if fc.slip > SLIP_TOLERANCE:
        return Factor(
            AT_RISK,
            f"Forecast go-live {fmt(fc.golive)}, {_weeks_or_days(fc.slip)} after {the} ({fmt(target)}).",
        )
    if fc.slip < -SLIP_TOLERANCE:
        return Factor(
            ON_TRACK,
            f"Forecast go-live {fmt(fc.golive)}, {_weeks_or_days(fc.slip)} ahead of {the} ({fmt(target)}).",
        )
    return Factor(ON_TRACK, f"Forecast go-live {fmt(fc.golive)}, in line with {the} ({fmt(target)}).")


def _overdue_factor(
    items: list[Item], phase_numbers: dict[int, int], today: date, *, ahead: bool
) -> Factor | None:
    overdue = sorted(
        (i for i in items if i.status == "open" and i.due_on is not None and i.due_on < today),
        key=lambda i: (i.due_on, i.id or 0),
    )
    if not overdue:
        return None
    first = overdue[0]
    assert first.due_on is not None  # overdue items have a due date
    ref = f"{phase_numbers.get(first.phase_id, '?')}.{first.number}"
    many = f"{len(overdue)} items are" if len(overdue) > 1 else "1 item is"
    customer = sum(1 for i in overdue if i.owner_side == "customer")
    vendor = len(overdue) - customer
    sides = " · ".join(
        part
        for part in (f"customer {customer}" if customer else "", f"vendor {vendor}" if vendor else "")
        if part
    )
    text = f"{many} overdue; the oldest, {ref}, was due {fmt(first.due_on)} ({sides})."
    return Factor(AT_RISK, text + (AHEAD_NOTE if ahead else ""), watch=ahead)


def _signoff_factor(
    waiting: list[Waiting], today: date, calendar: BusinessCalendar, tz: str, *, ahead: bool
) -> Factor | None:
    if not waiting:
        return None
    rows = sorted(
        ((business_days_between(calendar, local_date(w.since, tz), today), w.gate) for w in waiting),
        reverse=True,
    )
    days, gate = rows[0]
    more = f" and {len(rows) - 1} more" if len(rows) > 1 else ""
    if days > SIGNOFF_PATIENCE:
        text = f"{gate}{more} waiting for approval for {days} business days."
        return Factor(AT_RISK, text + (AHEAD_NOTE if ahead else ""), watch=ahead)
    when = "since today" if days <= 0 else f"for {days} business day{'s' if days != 1 else ''}"
    return Factor(ON_TRACK, f"{gate}{more} waiting for approval {when}.", watch=True)


def _dryrun_factor(dry: DryRun, fc: Forecast, today: date, calendar: BusinessCalendar) -> Factor | None:
    if fc.live:
        return None
    golive = fc.planned_golive
    days_to_golive = business_days_between(calendar, today, golive)
    if dry.outcome == "passed":
        return Factor(ON_TRACK, "The dry run passed.")
    if dry.outcome == "issues":
        if days_to_golive <= DRYRUN_LATE_WINDOW:
            return Factor(
                LATE,
                f"The dry run found issues and go-live ({fmt(golive)}) is {max(days_to_golive, 0)} "
                "business days away; schedule another.",
            )
        return Factor(AT_RISK, "The dry run found issues; schedule another before go-live.")
    if dry.at is not None and dry.at < today:
        return Factor(AT_RISK, f"The dry run of {fmt(dry.at)} has no result recorded.")
    if days_to_golive > DRYRUN_WINDOW:
        return None
    if dry.at is None:
        return Factor(
            AT_RISK,
            f"No dry run is scheduled and go-live ({fmt(golive)}) is {max(days_to_golive, 0)} business days away.",
        )
    return Factor(ON_TRACK, f"Dry run scheduled for {fmt(dry.at)}.", watch=True)


def _plan_length_factor(
    fc: Forecast, calendar: BusinessCalendar, *, size: str, min_weeks: float | None, max_weeks: float | None
) -> Factor | None:
    if fc.live or min_weeks is None or not fc.phases:
        return None
    start = fc.phases[0].planned_start
    days = calendar.count(start, fc.planned_golive)
    if days >= round(min_weeks * 5):
        return None
    usual = f"{min_weeks:g}–{max_weeks:g} weeks" if max_weeks is not None else f"at least {min_weeks:g} weeks"
    weeks = days / 5
    length = f"{weeks:.1f}".rstrip("0").rstrip(".") + " weeks" if days >= 5 else f"{days} business days"
    return Factor(AT_RISK, f"The plan gives {length}; {size} implementations usually take {usual}.")


def assess(
    *,
    forecast: Forecast,
    items: list[Item],
    phase_numbers: dict[int, int],
    waiting: list[Waiting],
    dryrun: DryRun,
    size: str,
    min_weeks: float | None,
    max_weeks: float | None,
    today: date,
    timezone: str,
    calendar: BusinessCalendar,
) -> Health:
    """The health and its factors, worst first. `phase_numbers` maps phase ids to numbers (for
    item references); `waiting` are the open sign-off requests."""
    open_items = sum(1 for i in items if i.status == "open")
    main = _forecast_factor(forecast, today=today, open_items=open_items)
    ahead = forecast.slip <= -AHEAD_MARGIN
    found = [main]
    if not forecast.live:
        for factor in (
            _overdue_factor(items, phase_numbers, today, ahead=ahead),
            _signoff_factor(waiting, today, calendar, timezone, ahead=ahead),
            _dryrun_factor(dryrun, forecast, today, calendar),
            _plan_length_factor(forecast, calendar, size=size, min_weeks=min_weeks, max_weeks=max_weeks),
        ):
            if factor is not None:
                found.append(factor)
    counted = [f for f in found if not f.watch]
    level = max((f.level for f in counted), key=lambda lv: RANK[lv], default=ON_TRACK)
    # Worst first; among equals the forecast first, then in the order above; watch items last.
    ordered = sorted(enumerate(found), key=lambda pair: (pair[1].watch, -RANK[pair[1].level], pair[0]))
    return Health(level=level, factors=tuple(f for _n, f in ordered), headline=main.text)
