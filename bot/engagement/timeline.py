"""The timeline as text: one row per phase, one column per week (or per few weeks on a long plan).

For Slack messages (a code block: monospace, no emoji), when a picture cannot be shared and in
`status` and `plan`. Each cell says what the phase does that week, strongest first:

    █  worked on (actual)          ▓  forecast past the planned end (late)
    ▒  forecast                    ·  planned, but not happening then any more

A `▼` over the columns marks today; a last row marks the dry run `D`, the target go-live `T` and
the forecast go-live `G`. Pure: from a `Forecast`, no database.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from bot.engagement.forecast import DONE, Forecast, PhaseForecast

ACTUAL, FORECAST, LATE, PLANNED, EMPTY = "█", "▒", "▓", "·", " "
CELL = 3  # characters per column
NAME = 14  # characters of the row label ("1 Discovery   ")
MAX_COLUMNS = 18
LEGEND = "█ actual ▒ forecast ▓ late · planned ▼ today D dry run T target G forecast go-live"


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _overlaps(a: date, b: date, lo: date, hi: date) -> bool:
    return a <= hi and lo <= b


def _cell(p: PhaseForecast, lo: date, hi: date, today: date) -> str:
    """What the phase does in [lo, hi]."""
    if p.started_on is not None:
        actual_end = p.finished_on or min(today, p.end)
        if _overlaps(p.started_on, actual_end, lo, hi):
            return ACTUAL
    if p.state != DONE:
        start = max(p.start, today) if p.started_on is not None else p.start
        if _overlaps(start, p.end, lo, hi):
            late_from = max(start, p.planned_end + timedelta(days=1))
            return LATE if p.late and _overlaps(late_from, p.end, lo, hi) else FORECAST
    if _overlaps(p.planned_start, p.planned_end, lo, hi):
        return PLANNED
    return EMPTY


def _label(p: PhaseForecast) -> str:
    text = f"{p.number} {p.name}"
    return (text[: NAME - 2] + "…" if len(text) > NAME - 1 else text).ljust(NAME)


def _suffix(p: PhaseForecast) -> str:
    if p.state == DONE:
        return f" done {p.finished_on:%-d %b}" + (f", {p.slip}d late" if p.late else "")
    if p.late:
        return f" {p.slip}d late"
    return ""


def text_timeline(fc: Forecast, *, dryrun: date | None = None) -> str:
    """The timeline as lines of text (no code fence); empty when there are no phases."""
    if not fc.phases:
        return ""
    today = fc.today
    days = [d for p in fc.phases for d in (p.planned_start, p.planned_end, p.start, p.end)]
    days += [fc.planned_golive, fc.golive] + ([dryrun] if dryrun else [])
    first, last = _monday(min(days)), _monday(max(days))
    weeks = (last - first).days // 7 + 1
    step = max(1, math.ceil(weeks / MAX_COLUMNS))  # weeks per column
    columns = math.ceil(weeks / step)
    spans = [
        (first + timedelta(weeks=c * step), first + timedelta(weeks=(c + 1) * step) - timedelta(days=1))
        for c in range(columns)
    ]

    def column_of(d: date) -> int | None:
        for n, (lo, hi) in enumerate(spans):
            if lo <= d <= hi:
                return n
        return None

    months, dates = [" "] * (columns * CELL + 3), []
    previous_month, free = None, 0  # the first position a month's name may take
    for n, (lo, _hi) in enumerate(spans):
        if (lo.year, lo.month) != previous_month:
            label = lo.strftime("%b")
            at = max(n * CELL, free)
            if at + len(label) <= len(months):
                months[at : at + len(label)] = label
                free = at + len(label) + 1
            previous_month = (lo.year, lo.month)
        dates.append(f"{lo.day:>2} ")
    header = "Week of".ljust(NAME)
    lines = [header + "".join(months).rstrip(), " " * NAME + "".join(dates).rstrip()]
    marker = [" "] * (columns * CELL)
    today_col = column_of(today)
    if today_col is not None:
        marker[today_col * CELL + 1] = "▼"
        lines.append("Today".ljust(NAME) + "".join(marker).rstrip())
    for p in fc.phases:
        cells = "".join(_cell(p, lo, hi, today) * (CELL - 1) + " " for lo, hi in spans)
        lines.append(_label(p) + cells.rstrip() + _suffix(p))
    milestones = [" "] * (columns * CELL)
    for mark, d in (("D", dryrun), ("T", fc.planned_golive), ("G", fc.golive)):
        column = column_of(d) if d else None
        if column is None:
            continue
        at = column * CELL
        while at < column * CELL + CELL - 1 and milestones[at] != " ":
            at += 1
        milestones[at] = mark
    lines.append("Milestones".ljust(NAME) + "".join(milestones).rstrip())
    lines.append(LEGEND + (f" (a column is {step} weeks)" if step > 1 else ""))
    return "\n".join(lines)
