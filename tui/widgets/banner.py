"""The TRAINING banner: shown while a fault injected over the bus is active.

An injected CRAH trip (a failed sensor, a rack's load step) looks exactly like a real one on every
view; the banner is what tells an operator (and anyone looking over their shoulder) that the hall on
screen is running a drill. The server decides (``summary.clock.training``); the banner only adds which
faults it can see.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.model import TwinData, rows, stepped_racks

__all__ = ["TrainingBanner"]


def _member_of_listed(name: str, names: list[str]) -> bool:
    """``CRAH-01.inlet_temp.A01`` when ``CRAH-01.inlet_temp`` (its whole group) is listed too: said once."""
    return any(name.startswith(n + ".") for n in names)


class TrainingBanner(Static):
    """One line across the screen, hidden while no injected fault is active."""

    DEFAULT_CSS = """
    TrainingBanner {
        height: 1;
        padding: 0 1;
        background: #8b3a8b;
        color: #ffffff;
        text-style: bold;
        display: none;
    }
    TrainingBanner.-active {
        display: block;
    }
    """

    def show(self, data: TwinData) -> None:
        active = data.training
        self.set_class(active, "-active")
        if not active:
            return
        faults = [f"{c['name']} tripped" for c in rows((data.summary or {}).get("crahs")) if c.get("tripped")]
        if ((data.summary or {}).get("hall") or {}).get("utility_ok") is False:
            faults.append("utility lost")
        failed = (data.summary or {}).get("sensors") or {}
        faults += [f"{n} {m}" for n, m in zip(failed.get("name") or [], failed.get("mode") or [])
                   if not _member_of_listed(n, failed.get("name") or [])]
        faults += [f"{name} at {now:g} kW" for name, now, _ in stepped_racks(data.hall, data.summary)]
        text = Text("TRAINING — injected fault active")
        if faults:
            text.append(": " + ", ".join(faults))
        self.update(text)
