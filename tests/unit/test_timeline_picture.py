"""The timeline picture (matplotlib, Agg) and the promise that matplotlib stays out of bot start."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import date
from pathlib import Path

from PIL import Image

from bot.exports import charts
from bot.exports.timeline_picture import timeline_png
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
        "import handlers, handlers.commands, handlers.timeline, golive.app, bot.reminders.sweep\n"
        "import bot.slack.timeline_share, bot.exports.calendar_ics\n"
        "bad = [m for m in ('matplotlib', 'icalendar', 'numpy', 'PIL') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _drawn(fc, **kw):  # type: ignore[no-untyped-def]
    """The figure `timeline_png` draws, kept to look at (same size and margins)."""
    from bot.exports import timeline_picture as tp

    kept = {}
    original = tp.charts.png

    def png(draw, **size):  # type: ignore[no-untyped-def]
        original(lambda figure: (draw(figure), kept.setdefault("figure", figure)), **size)
        return b""

    tp.charts.png = png  # type: ignore[assignment]
    try:
        tp.timeline_png(fc, **kw)
    finally:
        tp.charts.png = original  # type: ignore[assignment]
    return kept["figure"]


def _texts(figure):  # type: ignore[no-untyped-def]
    """Every piece of text drawn: titles, tick labels, annotations, the legend's."""
    from matplotlib.text import Text

    return [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_one_legend_says_what_every_mark_means_and_no_mark_is_labelled_twice():
    e = Eng("small", KICKOFF)
    figure = _drawn(e.forecast(KICKOFF), customer="Acme", dryrun=date(2026, 11, 18))
    [ax] = figure.axes
    assert len(figure.legends) == 1 and ax.get_legend() is None
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels == [
        "planned",
        "actual",
        "forecast",
        "forecast past the planned end",
        "today",
        "planned go-live",
        "go-live",
        "dry run",
    ]
    # Each said once, in the legend; the marks carry their dates only.
    words = [t.get_text() for t in _texts(figure)]
    for label in labels:
        assert words.count(label) == 1, (label, words)
    assert {"18 Nov", "20 Nov"} <= set(words)


def test_long_phase_and_customer_names_wrap_and_nothing_is_drawn_past_the_edges():
    e = Eng("small", KICKOFF)
    e.phases[3].name = "Testing, Validation and the Parallel Run with Finance"
    customer = (
        "Acme Corporation International Holdings GmbH & Co. KG, Europe, Middle East and Africa Division"
    )
    e.item("1.1").status = "done"
    figure = _drawn(e.forecast(date(2026, 11, 12)), customer=customer, dryrun=date(2026, 11, 20))
    renderer = figure.canvas.get_renderer()
    width, height = figure.get_figwidth() * figure.dpi, figure.get_figheight() * figure.dpi
    shown = []
    for t in _texts(figure):
        box = t.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= width and box.y0 >= 0 and box.y1 <= height, t.get_text()
        shown.append(t.get_text())
    assert "4. Testing, Validation\nand the Parallel Run\nwith Finance" in shown
    title = next(s for s in shown if s.startswith("Acme Corporation"))
    assert title.replace("\n", " ").startswith(customer) and "timeline on 12 Nov 2026" in title
