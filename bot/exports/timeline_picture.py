"""The timeline as a picture (PNG): each phase's plan against what happened and what is forecast.

One row per phase: a thin grey bar for the planned dates, and under it a bar for the actual dates
(dark blue, up to today) followed by the forecast (light blue; orange where it runs past the
planned end, so a late phase shows at a glance, with "+N days late" beside it). A dashed line marks
today, a diamond the dry run, a star the forecast go-live and a triangle the target (or the planned
go-live). One legend, under the chart, says what every colour and mark means; the marks carry only
their dates, staggered so that close ones do not overlap. Nothing is cut: long phase names wrap
over lines and the margin grows to hold them, a long customer name wraps the title, and the
chart's right edge makes room for the labels beside the bars. Drawn with matplotlib
(`bot.exports.charts`), imported only here and only when a picture is drawn.
"""

from __future__ import annotations

import textwrap
from datetime import date, timedelta
from typing import Any

from bot.engagement.forecast import DONE, Forecast
from bot.exports import charts

ROW = 0.62  # inches per phase
WIDTH = 10.0  # inches
LEFT, BOTTOM, RIGHT, TOP = 2.0, 0.95, 0.35, 0.45  # margins, inches (the left one grows for long names)
NAME_WIDTH = 24  # characters of a phase name per line
TITLE_WIDTH = 96  # characters of the title per line
TITLE_LINE = 0.22  # inches per further line of the title
MARKS_Y = -0.75  # the row of the dry run, target and go-live marks


def _days(a: date, b: date) -> float:
    """Width of [a, b] in days for a bar (whole days, b included)."""
    return (b - a).days + 1


def phase_label(number: int, name: str) -> str:
    """A phase's name on the y axis, wrapped over lines rather than cut."""
    return "\n".join(textwrap.wrap(f"{number}. {name}", NAME_WIDTH, break_long_words=True)) or str(number)


def title_lines(fc: Forecast, customer: str) -> list[str]:
    when = "went live" if fc.live else "forecast go-live"
    slip = (
        ""
        if fc.live or fc.slip == 0
        else (f" ({fc.slip} business days late)" if fc.slip > 0 else f" ({-fc.slip} business days ahead)")
    )
    what = f"timeline on {fc.today:%-d %b %Y}: {when} {fc.golive:%a %-d %b}{slip}"
    whole = f"{customer} — {what}"
    if len(whole) <= TITLE_WIDTH:
        return [whole]
    return [*textwrap.wrap(customer, TITLE_WIDTH, break_long_words=True), what]


def timeline_png(fc: Forecast, *, customer: str, dryrun: date | None = None) -> bytes:
    """The picture of one engagement's timeline, as PNG bytes."""
    extra = TITLE_LINE * (len(title_lines(fc, customer)) - 1)
    height = 2.2 + ROW * len(fc.phases) + extra
    return charts.png(
        lambda figure: draw_timeline(figure, fc, customer=customer, dryrun=dryrun),
        width=WIDTH,
        height=height,
        margins=(LEFT, BOTTOM, RIGHT, TOP + extra),
    )


def draw_timeline(figure: Any, fc: Forecast, *, customer: str, dryrun: date | None = None) -> None:
    """Draw the timeline on a matplotlib figure whose axes' margins were set (see `timeline_png`)."""
    import matplotlib.dates as mdates
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    phases = list(fc.phases)
    today = fc.today
    ax = figure.add_subplot()
    n = len(phases)
    beside: list[Any] = []  # the labels right of the bars: the chart makes room for them
    for row, p in enumerate(phases):
        y = n - 1 - row
        # the plan: thin, on top
        ax.barh(
            y + 0.22,
            _days(p.planned_start, p.planned_end),
            left=p.planned_start,
            height=0.16,
            color=charts.PLAN,
        )
        # what happened: from the actual start to its end (finished) or to today (current)
        if p.started_on is not None:
            actual_end = p.finished_on or min(today, p.end)
            if actual_end >= p.started_on:
                ax.barh(
                    y - 0.08,
                    _days(p.started_on, actual_end),
                    left=p.started_on,
                    height=0.38,
                    color=charts.ACTUAL,
                )
        # what is forecast: from tomorrow (started) or its forecast start, to its forecast end
        if p.state != DONE:
            start = max(p.start, today + timedelta(days=1)) if p.started_on is not None else p.start
            if p.end >= start:
                on_plan_end = min(p.end, p.planned_end)
                if on_plan_end >= start:
                    ax.barh(
                        y - 0.08, _days(start, on_plan_end), left=start, height=0.38, color=charts.FORECAST
                    )
                if p.late:
                    late_from = max(start, p.planned_end + timedelta(days=1))
                    ax.barh(y - 0.08, _days(late_from, p.end), left=late_from, height=0.38, color=charts.LATE)
        if p.late:
            label = f"+{p.slip} business day{'s' if p.slip != 1 else ''} late"
            beside.append(
                ax.annotate(
                    label,
                    (p.end + timedelta(days=1.5), y - 0.08),
                    va="center",
                    fontsize=9,
                    color=charts.LATE,
                    fontweight="bold",
                )
            )
        elif p.state == DONE:
            beside.append(
                ax.annotate(
                    f"done {p.finished_on:%-d %b}",
                    (p.end + timedelta(days=1.5), y - 0.08),
                    va="center",
                    fontsize=8,
                    color=charts.MUTED,
                )
            )
    ax.set_yticks(range(n))
    ax.set_yticklabels([phase_label(p.number, p.name) for p in reversed(phases)], linespacing=1.1)
    for tick, p in zip(ax.get_yticklabels(), reversed(phases), strict=True):
        if p.late:
            tick.set_color(charts.LATE)
            tick.set_fontweight("bold")
    ax.axvline(today, color=charts.TODAY, linestyle="--", linewidth=1.2)
    # The marks, each with its date only (the legend says what they are); close ones alternate
    # above and below their row so their dates never overlap.
    golive_colour = charts.LATE if fc.slip > 0 and not fc.live else charts.ACTUAL
    marks = [(fc.planned_golive, ">", charts.MUTED, 9), (fc.golive, "*", golive_colour, 15)]
    if dryrun is not None:
        marks.append((dryrun, "D", charts.INK, 8))
    marks.sort(key=lambda m: m[0])
    shown: list[date] = []
    for when, marker, colour, size in marks:
        ax.plot([when], [MARKS_Y], marker=marker, color=colour, markersize=size, linestyle="none")
        if when in shown:
            continue  # the same day as a mark before: one date for both
        above = bool(shown) and (when - shown[-1]).days < 8 and len(shown) % 2 == 1
        shown.append(when)
        ax.annotate(
            f"{when:%-d %b}",
            (when, MARKS_Y),
            xytext=(0, 9 if above else -11),
            textcoords="offset points",
            ha="center",
            va="bottom" if above else "top",
            fontsize=8,
            color=colour,
            fontweight="bold" if marker == "*" else "normal",
        )
    dates = [d for p in phases for d in (p.planned_start, p.planned_end, p.start, p.end)]
    dates += [today, fc.planned_golive, fc.golive] + ([dryrun] if dryrun else [])
    lo, hi = min(dates), max(dates)
    pad = max(3, (hi - lo).days // 12)
    ax.set_xlim(lo - timedelta(days=2), hi + timedelta(days=pad))
    ax.set_ylim(-1.3, n - 0.3)
    ax.xaxis.set_major_locator(
        mdates.WeekdayLocator(byweekday=mdates.MO, interval=max(1, (hi - lo).days // 70))
    )
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%-d %b"))
    ax.grid(axis="x", color="#e6e9ee", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.tick_params(axis="x", labelsize=8, labelrotation=0)
    ax.set_title("\n".join(title_lines(fc, customer)), loc="left", fontsize=11, color=charts.INK)
    planned = "target" if fc.has_target else "planned go-live"
    figure.legend(
        handles=[
            Patch(color=charts.PLAN, label="planned"),
            Patch(color=charts.ACTUAL, label="actual"),
            Patch(color=charts.FORECAST, label="forecast"),
            Patch(color=charts.LATE, label="forecast past the planned end"),
            Line2D([], [], color=charts.TODAY, linestyle="--", linewidth=1.2, label="today"),
            Line2D([], [], color=charts.MUTED, marker=">", linestyle="none", markersize=7, label=planned),
            Line2D([], [], color=charts.ACTUAL, marker="*", linestyle="none", markersize=10, label="go-live"),
            *(
                [
                    Line2D(
                        [], [], color=charts.INK, marker="D", linestyle="none", markersize=6, label="dry run"
                    )
                ]
                if dryrun is not None
                else []
            ),
        ],
        loc="lower center",
        fontsize=8,
        frameon=False,
        ncols=4,
    )
    _make_room(figure, ax, beside)


def _make_room(figure: Any, ax: Any, beside: list[Any]) -> None:
    """Widen the left margin to hold the longest phase name, and the date range to hold the
    labels beside the bars: nothing is drawn past the picture's edges."""
    renderer = figure.canvas.get_renderer()
    width = figure.get_figwidth() * figure.dpi
    names = max((t.get_window_extent(renderer).width for t in ax.get_yticklabels()), default=0.0)
    needed = (names + 14) / width  # the names, and the gap between them and the axis
    box = ax.get_position()
    if needed > box.x0:
        figure.subplots_adjust(left=min(needed, 0.45))
    if not beside:
        return
    box = ax.get_position()
    right = max(t.get_window_extent(renderer).x1 for t in beside)
    limit = (box.x1 * width) + RIGHT * figure.dpi * 0.8
    if right > limit:
        lo, hi = ax.get_xlim()
        per_pixel = (hi - lo) / (box.width * width)
        ax.set_xlim(lo, hi + (right - limit) * per_pixel * 1.15)
