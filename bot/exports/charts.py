"""Pictures as PNG bytes with matplotlib, imported only when a picture is drawn.

matplotlib is slow to import and holds tens of megabytes, so nothing imports it at bot start:
`png` imports it on first use. It draws on the Agg backend through `Figure` directly, never
pyplot (whose global state is not thread-safe: the outbox's workers draw in threads), one
picture at a time. Text is never read as mathtext, so a `$` in a customer's name is just a `$`.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()

# Colours shared by every picture (colour-blind safe pairs: blue/orange, with grey for the plan).
PLAN = "#c7cdd6"
ACTUAL = "#1f5fa8"
FORECAST = "#7fb0e6"
LATE = "#d9480f"
TODAY = "#222222"
INK = "#1d2330"
MUTED = "#5b6472"


def png(
    draw: Callable[[Any], None],
    *,
    width: float,
    height: float,
    dpi: int = 110,
    margins: tuple[float, float, float, float] | None = None,
) -> bytes:
    """Draw on a new figure of `width` x `height` inches with `draw(figure)`; the PNG's bytes.

    `margins` (left, bottom, right, top, in inches) place the axes by hand; without them
    matplotlib's constrained layout fits them, which costs a second drawing pass (a third of the
    time of a small picture: the timeline, drawn for every weekly digest, gives its margins)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _LOCK, rc_context({"text.parse_math": False, "font.size": 10, "svg.fonttype": "none"}):
        figure = Figure(figsize=(width, height), dpi=dpi, layout=None if margins else "constrained")
        FigureCanvasAgg(figure)
        if margins:
            left, bottom, right, top = margins
            figure.subplots_adjust(
                left=left / width, bottom=bottom / height, right=1 - right / width, top=1 - top / height
            )
        draw(figure)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
        return buffer.getvalue()
