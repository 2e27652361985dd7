"""The trends view: PUE, hottest inlet, cooling and IT power over the last minutes of simulated time.

Sparklines show the shape (is the inlet still climbing after a trip?); the line above each gives the
latest value and the range over the window, because a sparkline scales to its own data and a flat
line can hide a 0.01 or a 5 K spread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from tui.format import MISSING, fmt_duration, fmt_num, fmt_power, inlet_style
from tui.model import TrendPoint, TwinData
from tui.palette import DIM
from tui.widgets.view import View

__all__ = ["TrendsView"]

#: (key, label, value of a point, formatter, resolution). Values are rounded to the resolution before
#: they are drawn: a sparkline stretches whatever spread it gets to its full height, and round-off
#: noise in a constant figure would otherwise look like a swing.
SERIES: tuple[tuple[str, str, Callable[[TrendPoint], float | None], Callable[[float | None], str], float], ...] = (
    ("pue", "PUE", lambda p: p.pue, lambda v: fmt_num(v, 2), 0.01),
    ("inlet", "Max inlet", lambda p: p.max_inlet_c, lambda v: f"{fmt_num(v)} °C", 0.1),
    ("cooling", "Cooling power", lambda p: p.cooling_power_w, fmt_power, 100.0),
    ("it", "IT load", lambda p: p.it_load_w, fmt_power, 100.0),
)


class TrendsView(View):
    """Four sparklines with their latest value and range."""

    TITLE = "TRENDS"
    DEFAULT_CSS = """
    TrendsView > #trends-body {
        height: 1fr;
        padding: 0 1;
    }
    TrendsView .trend--label {
        height: 1;
    }
    TrendsView Sparkline {
        height: 1fr;
        min-height: 2;
    }
    TrendsView Sparkline > .sparkline--max-color {
        color: #bcbcbc;
    }
    TrendsView Sparkline > .sparkline--min-color {
        color: #6c6c6c;
    }
    """

    def compose(self):
        yield self.title_widget()
        # The sparklines share the height: 3 rows each at 80 × 24, taller on a taller terminal.
        with Vertical(id="trends-body"):
            for key, label, _, _, _ in SERIES:
                yield Static(Text(label, style="bold"), id=f"trend-{key}-label", classes="trend--label")
                yield Sparkline([], id=f"trend-{key}")

    def on_mount(self) -> None:
        self.set_title("waiting for samples")

    def focus_main(self) -> None:
        # Nothing here takes keys; the keyboard must not stay with a hidden view's table.
        self.app.set_focus(None)

    def show(self, data: TwinData) -> None:
        super().show(data)
        points = data.trends
        ashrae = (data.hall or {}).get("ashrae")
        for key, label, get, fmt, resolution in SERIES:
            values = [v for v in (get(p) for p in points) if v is not None]
            drawn = [round(v / resolution) * resolution for v in _resample(values, 240)]
            self.query_one(f"#trend-{key}", Sparkline).data = drawn
            t = Text(f"{label} ", style="bold")
            latest = values[-1] if values else None
            t.append(fmt(latest) if values else MISSING, style=inlet_style(latest, ashrae) if key == "inlet" else "")
            if values:
                t.append(f"   min {fmt(min(values))}  max {fmt(max(values))}", style=DIM)
            self.query_one(f"#trend-{key}-label", Static).update(t)
        if len(points) >= 2:
            span = points[-1].time_s - points[0].time_s
            self.set_title(f"last {fmt_duration(span)} of simulated time · {len(points)} samples")
        else:
            self.set_title("waiting for samples")


def _resample(values: Sequence[float], n: int) -> list[float]:
    """At most ``n`` values (bucket means): a sparkline shows a column per bucket anyway."""
    if len(values) <= n:
        return list(values)
    out = []
    for i in range(n):
        a, b = i * len(values) // n, (i + 1) * len(values) // n
        chunk = values[a:max(b, a + 1)]
        out.append(sum(chunk) / len(chunk))
    return out
