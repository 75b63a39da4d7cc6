"""The timeline picture (matplotlib, Agg) and the promise that matplotlib stays out of bot start."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import date
from pathlib import Path

from PIL import Image

from bot.engagement import charts
from bot.engagement.timeline_picture import timeline_png
from tests.unit.test_health import KICKOFF, Eng

ROOT = Path(__file__).resolve().parents[2]


def pixels(content: bytes) -> dict[tuple[int, int, int], int]:
    image = Image.open(io.BytesIO(content)).convert("RGB")
    return {c: n for n, c in image.getcolors(maxcolors=1 << 20)}  # type: ignore[misc, union-attr]


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def test_on_plan_nothing_is_drawn_late_and_a_late_phase_is():
    e = Eng("medium", KICKOFF)
    on_plan = pixels(timeline_png(e.forecast(KICKOFF), customer="Acme"))
    assert on_plan.get(rgb(charts.LATE), 0) < 400  # the legend's swatch only
    assert on_plan.get(rgb(charts.FORECAST), 0) > 2000
    e.item("1.1").status = "done"
    late = pixels(timeline_png(e.forecast(date(2026, 11, 12)), customer="Acme"))
    assert late.get(rgb(charts.LATE), 0) > 2000
    assert late.get(rgb(charts.ACTUAL), 0) > 500


def test_a_dollar_in_a_name_is_text_not_mathtext():
    e = Eng("small", KICKOFF)
    content = timeline_png(
        e.forecast(KICKOFF), customer="Acme $x^2$ \\frac{1}{2} & Co", dryrun=date(2026, 11, 18)
    )
    assert Image.open(io.BytesIO(content)).format == "PNG"


def test_matplotlib_and_icalendar_are_not_imported_when_the_bot_starts():
    code = (
        "import sys\n"
        "import handlers, handlers.commands, handlers.timeline, bot.runtime.app, bot.reminders.sweep\n"
        "import bot.slack.timeline_share, bot.engagement.calendar_ics\n"
        "bad = [m for m in ('matplotlib', 'icalendar', 'numpy', 'PIL') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
