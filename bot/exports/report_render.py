"""The report as CSV (for a spreadsheet) or as one self-contained HTML page with charts.

CSV: one row per engagement (`row` = engagement), then summary rows (`row` = summary,
median_by_size, median_signoff_wait) with the same columns, so a spreadsheet filters them apart.
Every text cell is neutralised against formulas as in the audit CSV (a customer named
`=HYPERLINK(…)` stays text); numbers stay numbers.

HTML: one file, no external resource — styles inline, charts drawn with matplotlib and embedded
as base64 `data:` images — so it opens from a mail attachment or a shared drive. Every string
from the database is escaped by the template engine (Jinja2 with autoescape).
"""

from __future__ import annotations

import base64
import csv
import io
from collections import defaultdict
from datetime import date
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.engagement.report import Report
from bot.exports import charts
from bot.people.audit import neutralise

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HEALTH_COLOURS = {"On track": "#2f9e44", "At risk": "#f08c00", "Late": charts.LATE, "": "#868e96"}
LIVE_COLOUR = "#495057"
MAX_BARS = 40  # engagements in the lateness chart: the latest ones


def _cell(value: object) -> object:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(value)


def columns(report: Report) -> list[str]:
    return [
        "row",
        "engagement_id",
        "customer",
        "size",
        "status",
        "phase",
        "kickoff",
        "planned_golive",
        "forecast_golive",
        "days_late",
        "on_time",
        "health",
        "reason",
        "current_phase",
        "current_phase_days",
        *(f"days_{key}" for key, _name in report.phases),
        *(f"signoff_wait_{key}" for key, _title in report.gates),
        "signoffs_waiting",
        # Time to value (docs/report.md): per engagement, then per group in the summary rows.
        "playbook",
        "consultant",
        "first_value_on",
        "days_to_first_value",
        "days_to_golive",
        *(f"planned_days_{key}" for key, _name in report.phases),
        *(f"overdue_days_{side}" for side in report.sides),
        "rating_median",
        "ratings",
        "group_by",
        "group",
        "engagements",
    ]


def to_csv(report: Report) -> bytes:
    cols = columns(report)
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    writer.writerow(cols)

    def write(values: dict[str, Any]) -> None:
        writer.writerow([_cell(values.get(c, "")) if values.get(c) is not None else "" for c in cols])

    titles = dict(report.gates)
    for r in report.rows:
        values: dict[str, Any] = {
            "row": "engagement",
            "engagement_id": r.id,
            "customer": r.customer,
            "size": r.size,
            "status": r.status,
            "phase": r.phase,
            "kickoff": r.kickoff,
            "planned_golive": r.planned_golive,
            "forecast_golive": r.golive,
            "days_late": r.days_late,
            "on_time": r.on_time,
            "health": r.health,
            "reason": r.reason,
            "current_phase": r.current_phase,
            "current_phase_days": r.current_days,
            "signoffs_waiting": "; ".join(
                f"{titles.get(k, k)} ({w.days} business days)" for k, w in r.waits.items() if w.pending
            ),
        }
        values |= {f"days_{k}": d for k, d in r.phase_days.items()}
        values |= {f"signoff_wait_{k}": w.days for k, w in r.waits.items()}
        values |= {
            "playbook": r.playbook,
            "consultant": r.consultant,
            "first_value_on": r.first_value_on,
            "days_to_first_value": r.days_to_first_value,
            "days_to_golive": r.days_to_golive,
        }
        values |= {f"planned_days_{k}": d for k, d in r.planned_phase_days.items()}
        if r.status != "cancelled":
            values |= {f"overdue_days_{side}": r.overdue_days.get(side, 0) for side in report.sides}
        values |= {"rating_median": r.rating_median, "ratings": len(r.ratings)}
        write(values)
    write({"row": "summary", "customer": "went live on time", "on_time": str(report.went_live_on_time)})
    write({"row": "summary", "customer": "active, forecast on time", "on_time": str(report.forecast_on_time)})
    for size in [*report.sizes, "all"]:
        medians = report.median_phase_days.get(size, {})
        write(
            {"row": "median_by_size", "size": size, "customer": "median business days per phase"}
            | {f"days_{k}": v for k, v in medians.items() if v is not None}
        )
    write(
        {"row": "median_signoff_wait", "customer": "median business days from request to approval"}
        | {f"signoff_wait_{k}": v for k, v in report.median_wait.items() if v is not None}
    )
    for which in ("median", "p90"):
        for stats in report.value_stats:
            spreads = {
                "days_to_first_value": stats.first_value,
                "days_to_golive": stats.golive,
                **{f"overdue_days_{side}": spread for side, spread in stats.overdue.items()},
            }
            spreads |= {f"days_{k}": v for k, v in stats.phase_days.items()}
            spreads |= {f"planned_days_{k}": v for k, v in stats.planned_days.items()}
            if which == "median":  # a p90 of 1-5 scores says nothing the median does not
                spreads["rating_median"] = stats.rating
            write(
                {
                    "row": f"{which}_time_to_value",
                    "customer": f"{which} business days",
                    "group_by": stats.by,
                    "group": stats.group,
                    "engagements": stats.engagements,
                    "on_time": str(stats.on_time),
                    "ratings": stats.rating.n,
                }
                | {k: getattr(v, which) for k, v in spreads.items() if getattr(v, which) is not None}
            )
    return buf.getvalue().encode("utf-8")


# -- HTML -----------------------------------------------------------------------------------------
def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _lateness_chart(report: Report) -> bytes | None:
    rows = [r for r in report.rows if r.days_late is not None]
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: r.days_late or 0, reverse=True)[:MAX_BARS]
    rows.reverse()

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        labels = [f"{r.customer[:32]} ({r.size})" for r in rows]
        colours = [
            HEALTH_COLOURS.get(r.health, "#868e96") if r.status == "active" else "#495057" for r in rows
        ]
        ax.barh(range(len(rows)), [r.days_late or 0 for r in rows], color=colours)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(labels, fontsize=8)
        ax.axvline(0, color=charts.INK, linewidth=1)
        ax.set_xlabel("business days late (negative: ahead of the planned go-live)")
        ax.set_title("Forecast (or actual) go-live against the plan", loc="left", fontsize=11)
        from matplotlib.patches import Patch

        figure.legend(
            handles=[Patch(color=HEALTH_COLOURS[h], label=h) for h in ("On track", "At risk", "Late")]
            + [Patch(color=LIVE_COLOUR, label="live (actual)")],
            loc="outside lower center",
            ncols=4,
            frameon=False,
            fontsize=8,
        )
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.grid(axis="x", color="#e6e9ee")
        ax.set_axisbelow(True)

    return charts.png(draw, width=9, height=1.7 + 0.28 * len(rows))


def _phase_chart(report: Report) -> bytes | None:
    sizes = [
        s for s in report.sizes if any(v is not None for v in report.median_phase_days.get(s, {}).values())
    ]
    if not sizes:
        return None
    keys = report.phases

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        width = 0.8 / len(sizes)
        palette = ["#74c0fc", "#1f5fa8", "#0b2e59", "#adb5bd", "#495057"]
        for n, size in enumerate(sizes):
            medians = report.median_phase_days[size]
            xs = [i + n * width - 0.4 + width / 2 for i in range(len(keys))]
            ax.bar(xs, [medians.get(k) or 0 for k, _ in keys], width=width, label=size, color=palette[n % 5])
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([name for _k, name in keys], fontsize=8)
        ax.set_ylabel("median business days")
        ax.set_title("Time each phase really takes, by size", loc="left", fontsize=11)
        ax.legend(frameon=False, fontsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.grid(axis="y", color="#e6e9ee")
        ax.set_axisbelow(True)

    return charts.png(draw, width=9, height=3.6)


def _wait_chart(report: Report) -> bytes | None:
    gates = [(k, t) for k, t in report.gates if report.median_wait.get(k) is not None]
    if not gates:
        return None

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        ax.barh(range(len(gates)), [report.median_wait[k] or 0 for k, _ in gates], color="#1f5fa8")
        ax.set_yticks(range(len(gates)))
        ax.set_yticklabels([t[:48] for _k, t in gates], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("median business days from the first request to the approval")
        ax.set_title("How long sign-offs wait", loc="left", fontsize=11)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.grid(axis="x", color="#e6e9ee")
        ax.set_axisbelow(True)

    return charts.png(draw, width=9, height=1.2 + 0.35 * len(gates))


def _value_chart(report: Report) -> bytes | None:
    """The distribution of the days to first value and to go-live: a dot per engagement in each
    group (by playbook, size, consultant, then all), the median as a bar, the p90 as a tick."""
    counted = [r for r in report.rows if r.status != "cancelled"]
    measures = (
        ("days_to_first_value", "first_value", "business days to first value"),
        ("days_to_golive", "golive", "business days to go-live"),
    )
    if not any(getattr(r, m) is not None for r in counted for m, _s, _t in measures):
        return None
    groups = report.value_stats
    labels = [s.group if s.by == "all" else f"{s.by}: {s.group}"[:40] for s in groups]

    def draw(figure: Figure) -> None:
        axes = figure.subplots(1, 2, sharey=True)
        for ax, (attr, spread_of, title) in zip(axes, measures, strict=True):
            for y, stats in enumerate(groups):
                chosen = [r for r in counted if stats.by == "all" or getattr(r, stats.by) == stats.group]
                xs = [getattr(r, attr) for r in chosen if getattr(r, attr) is not None]
                # spread the dots of equal values a little so each engagement shows
                seen: dict[int, int] = defaultdict(int)
                ys = []
                for x in xs:
                    ys.append(y + (0.0, -0.14, 0.14)[seen[x] % 3])
                    seen[x] += 1
                ax.scatter(
                    xs, ys, s=18, color=charts.FORECAST, edgecolors=charts.ACTUAL, linewidths=0.6, zorder=3
                )
                spread = getattr(stats, spread_of)
                if spread.median is not None:
                    ax.plot([spread.median] * 2, [y - 0.32, y + 0.32], color=charts.ACTUAL, linewidth=2.5)
                if spread.p90 is not None:
                    ax.plot([spread.p90], [y], marker="|", markersize=14, color=charts.LATE)
            ax.set_yticks(range(len(groups)))
            ax.set_yticklabels(labels, fontsize=8)
            ax.set_xlabel(title, fontsize=9)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            ax.grid(axis="x", color="#e6e9ee")
            ax.set_axisbelow(True)
        axes[0].invert_yaxis()  # once: the axes share it
        figure.suptitle(
            "Time to value: each dot an engagement, the bar its group's median, the red tick the p90",
            x=0.01,
            ha="left",
            fontsize=11,
        )

    return charts.png(draw, width=9, height=1.6 + 0.32 * len(groups))


def to_html(report: Report) -> bytes:
    env = Environment(
        loader=PackageLoader("messages", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    pictures = {
        name: _data_uri(png) if png is not None else None
        for name, png in (
            ("lateness", _lateness_chart(report)),
            ("phases", _phase_chart(report)),
            ("waits", _wait_chart(report)),
            ("value", _value_chart(report)),
        )
    }
    health_counts = {
        label: sum(1 for r in report.rows if r.status == "active" and r.health == label)
        for label in ("On track", "At risk", "Late")
    }
    html = env.get_template("report.html.j2").render(
        report=report,
        charts=pictures,
        health_counts=health_counts,
        health_colours=HEALTH_COLOURS,
        titles=dict(report.gates),
        counts={s: sum(1 for r in report.rows if r.status == s) for s in ("active", "live", "cancelled")},
        waiting_now={
            key: sum(1 for r in report.rows if key in r.waits and r.waits[key].pending)
            for key, _t in report.gates
        },
    )
    return html.encode("utf-8")
