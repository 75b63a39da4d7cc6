"""The timeline as a picture (PNG): each phase's plan against what happened and what is forecast.

One row per phase: a thin grey bar for the planned dates, and under it a bar for the actual dates
(dark blue, up to today) followed by the forecast (light blue; orange where it runs past the
planned end, so a late phase shows at a glance, with "+N days late" beside it). A dashed line marks
today, a diamond the dry run, a star the forecast go-live and a flag the target. Drawn with
matplotlib (`bot.engagement.charts`), imported only here and only when a picture is drawn.
"""

from __future__ import annotations

from datetime import date, timedelta

from bot.engagement import charts
from bot.engagement.forecast import DONE, Forecast

ROW = 0.62  # inches per phase


def _days(a: date, b: date) -> float:
    """Width of [a, b] in days for a bar (whole days, b included)."""
    return (b - a).days + 1


def timeline_png(fc: Forecast, *, customer: str, dryrun: date | None = None) -> bytes:
    """The picture of one engagement's timeline, as PNG bytes."""
    phases = list(fc.phases)
    today = fc.today

    def draw(figure) -> None:  # type: ignore[no-untyped-def]
        import matplotlib.dates as mdates
        from matplotlib.patches import Patch

        ax = figure.add_subplot()
        n = len(phases)
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
                            y - 0.08,
                            _days(start, on_plan_end),
                            left=start,
                            height=0.38,
                            color=charts.FORECAST,
                        )
                    if p.late:
                        late_from = max(start, p.planned_end + timedelta(days=1))
                        ax.barh(
                            y - 0.08, _days(late_from, p.end), left=late_from, height=0.38, color=charts.LATE
                        )
            if p.late:
                label = f"+{p.slip} business day{'s' if p.slip != 1 else ''} late"
                ax.annotate(
                    label,
                    (p.end + timedelta(days=1.5), y - 0.08),
                    va="center",
                    fontsize=9,
                    color=charts.LATE,
                    fontweight="bold",
                )
            elif p.state == DONE:
                ax.annotate(
                    f"done {p.finished_on:%-d %b}",
                    (p.end + timedelta(days=1.5), y - 0.08),
                    va="center",
                    fontsize=8,
                    color=charts.MUTED,
                )
        ax.set_yticks(range(n))
        ax.set_yticklabels([f"{p.number}. {p.name}" for p in reversed(phases)])
        for tick, p in zip(ax.get_yticklabels(), reversed(phases), strict=True):
            if p.late:
                tick.set_color(charts.LATE)
                tick.set_fontweight("bold")
        ax.axvline(today, color=charts.TODAY, linestyle="--", linewidth=1.2)
        ax.annotate("today", (today, n - 0.45), ha="center", fontsize=8, color=charts.TODAY)
        if dryrun is not None:
            ax.plot([dryrun], [-0.75], marker="D", color=charts.INK, markersize=8)
            ax.annotate(
                "dry run",
                (dryrun, -0.75),
                xytext=(0, -12),
                textcoords="offset points",
                ha="center",
                fontsize=8,
            )
        ax.plot([fc.planned_golive], [-0.75], marker=">", color=charts.MUTED, markersize=9)
        ax.annotate(
            "target" if fc.has_target else "planned go-live",
            (fc.planned_golive, -0.75),
            xytext=(0, 8),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color=charts.MUTED,
        )
        colour = charts.LATE if fc.slip > 0 and not fc.live else charts.ACTUAL
        ax.plot([fc.golive], [-0.75], marker="*", color=colour, markersize=15)
        ax.annotate(
            ("went live " if fc.live else "go-live ") + f"{fc.golive:%-d %b}",
            (fc.golive, -0.75),
            xytext=(0, -13),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color=colour,
            fontweight="bold",
        )
        dates = [d for p in phases for d in (p.planned_start, p.planned_end, p.start, p.end)]
        dates += [today, fc.planned_golive, fc.golive] + ([dryrun] if dryrun else [])
        lo, hi = min(dates), max(dates)
        pad = max(3, (hi - lo).days // 12)
        ax.set_xlim(lo - timedelta(days=2), hi + timedelta(days=pad + 6))
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
        when = "went live" if fc.live else "forecast go-live"
        slip = (
            ""
            if fc.live or fc.slip == 0
            else (f" ({fc.slip} business days late)" if fc.slip > 0 else f" ({-fc.slip} business days ahead)")
        )
        ax.set_title(
            f"{customer} — timeline on {today:%-d %b %Y}: {when} {fc.golive:%a %-d %b}{slip}",
            loc="left",
            fontsize=11,
            color=charts.INK,
        )
        figure.legend(
            handles=[
                Patch(color=charts.PLAN, label="planned"),
                Patch(color=charts.ACTUAL, label="actual"),
                Patch(color=charts.FORECAST, label="forecast"),
                Patch(color=charts.LATE, label="forecast past the planned end"),
            ],
            loc="lower center",
            fontsize=8,
            frameon=False,
            ncols=4,
        )

    return charts.png(draw, width=10, height=2.2 + ROW * len(phases), margins=(2.0, 0.75, 1.35, 0.4))
