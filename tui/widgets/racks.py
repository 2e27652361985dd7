"""The racks view: every rack's inlet, exhaust, rise and power, against the hall's ASHRAE band.

Sortable (``s`` cycles the column, ``r`` reverses) so the hottest racks can be brought to the top,
and filterable (``/`` by name, ``f`` for racks outside the recommended band only) so a 200-rack hall
fits in 20 lines.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.widgets import DataTable, Input

from tui.format import MISSING, fmt_num, inlet_state, inlet_style, num
from tui.model import TwinData, rows
from tui.palette import ALARM, DIM, WARNING
from tui.widgets.tables import sync_rows
from tui.widgets.view import View

__all__ = ["RacksView"]

#: Sort keys in the order ``s`` cycles through them: (key, label).
SORTS = (("name", "name"), ("inlet", "inlet"), ("exhaust", "exhaust"), ("rise", "rise"), ("power", "power"),
         ("state", "ASHRAE"))


#: (label, key, width) of the columns at 80 columns, and of those added on a wide terminal.
COLUMNS = (("Rack", "name", 10), ("Inlet °C", "inlet", 8), ("Exhaust °C", "exhaust", 10), ("Rise K", "rise", 6),
           ("IT kW", "power", 6), ("ASHRAE", "state", 15), ("Feed", "feed", 5))
WIDE_COLUMNS = (("Heat kW", "heat", 7), ("Airflow m³/s", "flow", 12))


def _severity(t_c: Any, ashrae: dict | None) -> int:
    """0 inside the recommended band, 1 outside it, 2 outside the allowable band (for sorting)."""
    style = inlet_state(t_c, ashrae).style
    return 2 if style == ALARM else 1 if style == WARNING else 0


class RacksView(View):
    """A table of racks with sort and filter."""

    TITLE = "RACKS"
    DEFAULT_CSS = """
    RacksView > #racks-filter {
        display: none;
        height: 1;
        border: none;
        padding: 0 1;
    }
    RacksView.-filtering > #racks-filter {
        display: block;
    }
    RacksView > DataTable {
        height: 1fr;
    }
    """
    BINDINGS = [
        Binding("s", "sort_next", "Sort", show=False),
        Binding("r", "sort_reverse", "Reverse", show=False),
        Binding("slash", "filter", "Filter", show=False),
        Binding("f", "abnormal_only", "Abnormal only", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sort_key = "name"
        self.sort_descending = False
        self.filter_text = ""
        self.abnormal_only = False
        self.wide = False

    def compose(self):
        yield self.title_widget()
        yield Input(placeholder="filter racks by name (enter: keep, esc: clear)", id="racks-filter")
        yield DataTable(id="racks-table", cursor_type="row", cursor_foreground_priority="renderable")

    def on_mount(self) -> None:
        self._set_columns(wide=False)
        self._title()

    def _set_columns(self, *, wide: bool) -> None:
        """The columns that fit: heat and airflow are added when the terminal has room for them."""
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for label, key, width in COLUMNS + (WIDE_COLUMNS if wide else ()):
            table.add_column(label, key=key, width=width)
        self.wide = wide

    def on_resize(self) -> None:
        wide = self.size.width >= 100
        if wide != self.wide:
            self._set_columns(wide=wide)
            self._redraw()

    def focus_main(self) -> None:
        self.query_one(DataTable).focus()

    # --- data ---------------------------------------------------------------------------------

    def show(self, data: TwinData) -> None:
        super().show(data)
        ashrae = (data.hall or {}).get("ashrae")
        racks = rows((data.summary or {}).get("racks"))
        shown = [r for r in racks if self._keep(r, ashrae)]
        shown.sort(key=lambda r: self._sort_value(r, ashrae), reverse=self.sort_descending)
        cells = [(r["name"], self._cells(r, ashrae)[: len(COLUMNS) + (len(WIDE_COLUMNS) if self.wide else 0)])
                 for r in shown]
        sync_rows(self.query_one(DataTable), cells)
        self._title(len(shown), len(racks))

    def _keep(self, rack: dict, ashrae: dict | None) -> bool:
        if self.filter_text and self.filter_text.lower() not in str(rack["name"]).lower():
            return False
        return not self.abnormal_only or _severity(rack.get("t_inlet_c"), ashrae) > 0

    def _sort_value(self, rack: dict, ashrae: dict | None) -> tuple:
        """Missing numbers sort last whichever the direction (they carry no information)."""
        k = self.sort_key
        if k == "name":
            return (0, str(rack["name"]))
        if k == "state":
            v = _severity(rack.get("t_inlet_c"), ashrae) + (num(rack.get("t_inlet_c")) or 0.0) / 1000.0
        elif k == "rise":
            a, b = num(rack.get("t_inlet_c")), num(rack.get("t_exhaust_c"))
            v = None if a is None or b is None else b - a
        else:
            v = num(rack.get({"inlet": "t_inlet_c", "exhaust": "t_exhaust_c", "power": "it_load_w"}[k]))
        missing = v is None
        if self.sort_descending:
            return (not missing, v if v is not None else 0.0, str(rack["name"]))
        return (missing, v if v is not None else 0.0, str(rack["name"]))

    @staticmethod
    def _cells(rack: dict, ashrae: dict | None) -> list:
        t_in, t_out = rack.get("t_inlet_c"), rack.get("t_exhaust_c")
        rise = None if num(t_in) is None or num(t_out) is None else num(t_out) - num(t_in)
        powered = rack.get("powered")
        return [
            Text(str(rack["name"])),
            Text(fmt_num(t_in), style=inlet_style(t_in, ashrae), justify="right"),
            Text(fmt_num(t_out), justify="right"),
            Text(fmt_num(rise), justify="right"),
            Text(fmt_num(None if num(rack.get("it_load_w")) is None else num(rack["it_load_w"]) / 1e3),
                 justify="right"),
            inlet_state(t_in, ashrae),
            Text(MISSING, style=DIM) if powered is None else Text("on") if powered else Text("OFF", style=ALARM),
            Text(fmt_num(None if num(rack.get("heat_w")) is None else num(rack["heat_w"]) / 1e3), justify="right"),
            Text(fmt_num(rack.get("flow_m3s"), 3), justify="right"),
        ]

    def _title(self, shown: int | None = None, total: int | None = None) -> None:
        arrow = "▼" if self.sort_descending else "▲"
        label = dict(SORTS)[self.sort_key]
        parts: list[str | Text] = [f"sort {label} {arrow} (s, r)"]
        filt = f"filter “{self.filter_text}”" if self.filter_text else "filter (/)"
        parts.append(filt + (" · outside rec. only (f)" if self.abnormal_only else " · f abnormal"))
        if shown is not None and total is not None and shown != total:
            parts.append(f"{shown} of {total}")
        self.set_title(*parts)

    def _redraw(self) -> None:
        self.show(self.data)

    # --- actions ------------------------------------------------------------------------------

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        """A click on a column's header sorts by it (again: reverses)."""
        key = event.column_key.value
        if key not in dict(SORTS):
            return
        if key == self.sort_key:
            self.sort_descending = not self.sort_descending
        else:
            self.sort_key, self.sort_descending = key, key != "name"
        self._redraw()

    def action_sort_next(self) -> None:
        keys = [k for k, _ in SORTS]
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        # Temperatures and power are read hottest/largest first; names alphabetically.
        self.sort_descending = self.sort_key != "name"
        self._redraw()

    def action_sort_reverse(self) -> None:
        self.sort_descending = not self.sort_descending
        self._redraw()

    def action_abnormal_only(self) -> None:
        self.abnormal_only = not self.abnormal_only
        self._redraw()

    def action_filter(self) -> None:
        self.add_class("-filtering")
        box = self.query_one("#racks-filter", Input)
        box.value = self.filter_text
        box.focus()

    @on(Input.Changed, "#racks-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._redraw()

    @on(Input.Submitted, "#racks-filter")
    def _filter_done(self) -> None:
        if not self.filter_text:
            self.remove_class("-filtering")
        self.focus_main()

    def key_escape(self) -> None:
        """Escape in the filter box clears the filter and gives the keys back to the table."""
        if self.has_class("-filtering"):
            self.filter_text = ""
            self.query_one("#racks-filter", Input).value = ""
            self.remove_class("-filtering")
            self._redraw()
            self.focus_main()
