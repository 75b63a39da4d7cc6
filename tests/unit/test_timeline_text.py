"""The text timeline: week columns, what each cell means, today, the milestones."""

from __future__ import annotations

from datetime import date

from bot.engagement.timeline import ACTUAL, FORECAST, LATE, LEGEND, MAX_COLUMNS, NAME, PLANNED, text_timeline
from tests.unit.test_health import KICKOFF, Eng


def rows(text: str) -> dict[str, str]:
    """Row label (phase number, "Today", "Milestones", …) → its cells."""
    out = {}
    for line in text.splitlines():
        label = line[:NAME].strip()
        out[label.split(" ")[0] if label[:1].isdigit() else label] = line[NAME:]
    return out


def test_on_plan_each_phase_is_forecast_in_its_planned_weeks():
    e = Eng("medium", KICKOFF)  # 7 weeks from Mon 2 Nov
    text = text_timeline(e.forecast(KICKOFF), dryrun=date(2026, 12, 14))
    lines = text.splitlines()
    assert lines[0].startswith("Week of") and "Nov" in lines[0] and "Dec" in lines[0]
    assert lines[1][NAME:].split() == ["2", "9", "16", "23", "30", "7", "14"]
    assert lines[-1] == LEGEND
    r = rows(text)
    assert r["Today"][1] == "▼"  # this week
    assert r["1"].startswith(ACTUAL * 2)  # Discovery is worked on from today
    assert FORECAST in r["2"] and LATE not in text.split("Milestones")[0]
    milestones = r["Milestones"]
    assert milestones.index("D") == 6 * 3  # the dry run in the week of 14 Dec
    assert milestones.index("T") in (6 * 3 + 1, 6 * 3 + 2) and "G" in milestones


def test_a_late_phase_is_drawn_differently_and_labelled():
    e = Eng("medium", KICKOFF)
    e.item("1.1").status = "done"
    text = text_timeline(e.forecast(date(2026, 11, 12)))
    r = rows(text)
    assert LATE in r["1"] and r["1"].rstrip().endswith("d late")
    assert PLANNED in r["5"] and LATE in r["5"]  # the last phase planned earlier, forecast later
    assert r["Milestones"].index("T") < r["Milestones"].index("G")


def test_a_finished_phase_says_when():
    e = Eng("medium", KICKOFF)
    e.finish(1, on=date(2026, 11, 3))
    r = rows(text_timeline(e.forecast(date(2026, 11, 4))))
    assert r["1"].rstrip().endswith("done 3 Nov")


def test_a_long_plan_groups_weeks_into_columns():
    e = Eng("enterprise", KICKOFF, target=date(2027, 10, 29))
    text = text_timeline(e.forecast(KICKOFF))
    header = text.splitlines()[1][NAME:]
    assert len(header.split()) <= MAX_COLUMNS
    assert text.splitlines()[-1].endswith("(a column is 3 weeks)")
    assert max(len(line) for line in text.splitlines()[:-1]) <= NAME + 3 * MAX_COLUMNS + 12
