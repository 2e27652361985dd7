"""The two header lines: where the hall stands at a glance, on every view.

Line 1 is the run (hall, simulated time, pace, connection, role, unacknowledged alarms); line 2 the
plant (PUE, IT and cooling power, hottest rack inlet against the ASHRAE band, UPS mode and battery).
Only abnormal figures are coloured (ISA-101), so a calm header means a calm hall.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from tui.format import MISSING, fmt_clock, fmt_num, fmt_power, fmt_speed, inlet_style, num
from tui.model import TwinData, rows, unacknowledged
from tui.palette import ALARM, DIM, PRIORITY_STYLE, WARNING

__all__ = ["TwinHeader"]

_PRIORITIES = ("critical", "high", "medium", "low")


class TwinHeader(Static):
    """Run and plant status, two lines."""

    DEFAULT_CSS = """
    TwinHeader {
        height: 2;
        padding: 0 1;
        background: $panel;
        color: $foreground;
    }
    """

    def __init__(self, *, role: str, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.role = role
        self.data = TwinData()

    def on_mount(self) -> None:
        self.show(self.data)

    def on_resize(self) -> None:
        self.show(self.data)

    def show(self, data: TwinData) -> None:
        """Redraw from a new picture (and from the last one when the width changed)."""
        self.data = data
        width = max(self.size.width, 40)  # the content width (inside the padding)
        wide = width >= 98
        self.update(Group(self._run_line(data, wide, width), _fit(self._plant_parts(data, wide), width)))

    # --- line 1 -------------------------------------------------------------------------------

    def _run_line(self, data: TwinData, wide: bool, width: int) -> Text:
        """Hall, clock, pace, connection and role on the left, alarms on the right; a long hall name
        is shortened, never the figures."""
        rest = Text(no_wrap=True)
        rest.append("  t ")
        rest.append(fmt_clock(data.time_s))
        if data.summary is not None:
            rest.append("  ")
            if data.paused:
                rest.append("PAUSED", style=WARNING)
            else:
                rest.append(fmt_speed(data.clock))
        rest.append("  ")
        rest.append_text(_status_text(data.status, wide))
        rest.append("  ")
        rest.append(self.role, style=DIM)
        alarms = self._alarm_text(data)
        hall = str((data.hall or {}).get("name") or "twin")
        room = width - rest.cell_len - alarms.cell_len - 2
        if len(hall) > room:
            hall = hall[: max(room - 1, 4)] + "…"
        t = Text(hall, style="bold", no_wrap=True, overflow="ellipsis")
        t.append_text(rest)
        t.append(" " * max(width - t.cell_len - alarms.cell_len, 2))
        t.append_text(alarms)
        return t

    @staticmethod
    def _alarm_text(data: TwinData) -> Text:
        if data.summary is None:
            return Text("")
        unack = unacknowledged(data.summary)
        if not unack:
            return Text("0 unack alarms", style=DIM)
        worst = min((_PRIORITIES.index(a.get("priority", "low")) for a in unack
                     if a.get("priority") in _PRIORITIES), default=3)
        return Text(f"{len(unack)} unack alarm{'s' if len(unack) != 1 else ''}",
                    style=PRIORITY_STYLE[_PRIORITIES[worst]])

    # --- line 2 -------------------------------------------------------------------------------

    @staticmethod
    def _plant_parts(data: TwinData, wide: bool) -> list[Text]:
        """The plant figures, one Text per figure (label grey, value plain unless abnormal)."""
        s = data.summary
        if s is None:
            return [Text("waiting for the twin's first state…", style=DIM)]
        kpi = s.get("hall") or {}
        ashrae = (data.hall or {}).get("ashrae") or {}

        def part(label: str, value: str, style: str = "") -> Text:
            t = Text(f"{label} ", style=DIM)
            t.append(value, style=style)
            return t

        # IT load is the servers' own draw; the rack inputs add their PSUs' losses (PUE's denominator).
        parts = [part("PUE", fmt_num(kpi.get("pue"), 2)), part("IT load", fmt_power(kpi.get("it_load_w")))]
        if wide and kpi.get("rack_input_w") is not None:
            parts.append(part("Rack input", fmt_power(kpi.get("rack_input_w"))))
        parts.append(part("Cooling" if wide else "Cool", fmt_power(kpi.get("cooling_power_w"))))
        inlet = kpi.get("max_inlet_c")
        t = part("Max inlet" if wide else "Inlet", f"{fmt_num(inlet)} °C", inlet_style(inlet, ashrae))
        if kpi.get("max_inlet_rack"):
            t.append(f" {kpi['max_inlet_rack']}")
        rec = ashrae.get("recommended_c")
        if rec:
            band = f"{ashrae.get('class', '')} {rec[0]:g}–{rec[1]:g}" if wide else f"{rec[0]:g}–{rec[1]:g}"
            t.append(f" ({band.strip()})", style=DIM)
        parts.append(t)
        ups = rows(s.get("ups"))
        if ups:
            t = Text("UPS ", style=DIM)
            t.append_text(_ups_text(ups, wide))
            parts.append(t)
        if kpi.get("utility_ok") is False:
            parts.append(Text("utility lost", style=ALARM))
        return parts


def _fit(parts: list[Text], width: int) -> Text:
    """Join figures two spaces apart, or one when two do not fit (cut with … as a last resort)."""
    for sep in ("  ", " "):
        line = Text(sep, no_wrap=True, overflow="ellipsis").join(parts)
        if line.cell_len <= width:
            return line
    return line


def _status_text(status: str, wide: bool) -> Text:
    if status == "live":
        return Text("● LIVE")
    if status == "stale":
        # The client keeps asking for a snapshot on its own; LIVE comes back when the twin answers.
        t = Text(" STALE ", style=f"{WARNING} reverse")
        if wide:
            t.append(" reconnecting…", style=DIM)
        return t
    return Text("○ connecting…", style=DIM)


def _ups_text(ups: list[dict], wide: bool) -> Text:
    """The worst UPS: its mode (plain when online or eco) and the lowest battery state of charge."""
    modes = [u.get("mode") for u in ups]
    mode = next((m for m in ("off", "on_battery") if m in modes), modes[0] if modes else None)
    style = ALARM if mode == "off" else WARNING if mode == "on_battery" else ""
    # A narrow header names the mode only when it is not the normal one, to keep its room for figures.
    t = Text("" if mode == "online" and not wide else (mode or MISSING).replace("_", " "), style=style)
    socs = [v for v in (num(u.get("soc")) for u in ups) if v is not None]
    if socs:
        soc = min(socs)
        if t.cell_len:
            t.append(" SoC " if wide else " ", style=DIM)
        t.append(f"{100 * soc:.0f} %", style=ALARM if soc < 0.2 else WARNING if soc < 0.5 else "")
    if not t.cell_len:  # online, with no state of charge to show
        t = Text("online")
    return t
