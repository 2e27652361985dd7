"""The cooling view: every CRAH's state and loop figures, and the setpoints of the selected unit.

The upper table selects a controller (one per CRAH); the lower table lists its registered setpoints
with the value in force, the target, the unit and range, who may write it, and the fate of the last
command sent to it from this console. Enter (or ``e``) on a setpoint opens the edit dialog.
Values shown are always the twin's: a command's effect appears when a summary reports it.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Static

from tui.format import MISSING, fmt_num, fmt_pct, fmt_value, num
from tui.model import CommandRecord, TwinData, rows
from tui.palette import ALARM, DIM, STATUS_STYLE, WARNING
from tui.widgets.tables import cursor_key, sync_rows
from tui.widgets.view import View

__all__ = ["CoolingView"]


def _crah_state(crah: dict) -> Text:
    if crah.get("tripped"):
        return Text("TRIP", style=ALARM)
    if crah.get("powered") is False:
        return Text("NO PWR", style=ALARM)
    if crah.get("running") is False:
        return Text("OFF", style=WARNING)
    return Text("run")


class CoolingView(View):
    """CRAHs above, the selected unit's setpoints below."""

    TITLE = "COOLING"
    DEFAULT_CSS = """
    CoolingView > #crah-table {
        height: auto;
        max-height: 9;
    }
    CoolingView > #setpoints-title {
        height: 1;
        padding: 0 1;
        background: $surface;
    }
    CoolingView > #setpoint-table {
        height: 1fr;
    }
    """
    BINDINGS = [Binding("e", "edit", "Edit setpoint", show=False)]

    class EditSetpoint(Message):
        """The operator asked to edit setpoint ``name``."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.controller: str | None = None
        #: The latest command to each setpoint from this console (set by the app).
        self.commands: dict[str, CommandRecord] = {}

    def compose(self):
        yield self.title_widget()
        crahs = DataTable(id="crah-table", cursor_type="row", cursor_foreground_priority="renderable")
        crahs.add_column("Unit", key="name", width=9)
        crahs.add_column("State", key="state", width=6)
        crahs.add_column("Supply °C", key="supply", width=9)
        crahs.add_column("Set °C", key="set", width=6)
        crahs.add_column("Return °C", key="return", width=9)
        crahs.add_column("Fan", key="fan", width=5)
        crahs.add_column("Valve", key="valve", width=5)
        crahs.add_column("Load", key="cap", width=5)
        yield crahs
        yield Static("", id="setpoints-title")
        sps = DataTable(id="setpoint-table", cursor_type="row", cursor_foreground_priority="renderable")
        sps.add_column("Setpoint", key="name", width=20)
        sps.add_column("In force", key="value", width=8)
        sps.add_column("Target", key="target", width=8)
        sps.add_column("Range", key="range", width=9)
        sps.add_column("Write", key="role", width=8)
        sps.add_column("Command", key="command")
        yield sps

    def on_mount(self) -> None:
        self.set_title("↑↓ unit · tab to setpoints · enter/e edit")

    def focus_main(self) -> None:
        self.query_one("#crah-table", DataTable).focus()

    # --- data ---------------------------------------------------------------------------------

    def show(self, data: TwinData) -> None:
        super().show(data)
        summary = data.summary or {}
        crahs = rows(summary.get("crahs"))
        sync_rows(self.query_one("#crah-table", DataTable), [(c["name"], self._crah_cells(c)) for c in crahs])
        if self.controller is None and crahs:
            self.controller = crahs[0]["name"]
        self._show_setpoints()

    @staticmethod
    def _crah_cells(c: dict) -> list:
        sup, setp = num(c.get("t_supply_c")), num(c.get("supply_setpoint_c"))
        # A supply more than 2 K off its setpoint on a running unit is the coil losing control.
        off = sup is not None and setp is not None and c.get("running") and abs(sup - setp) > 2.0
        cap = num(c.get("capacity_used"))
        return [
            Text(str(c["name"])),
            _crah_state(c),
            Text(fmt_num(sup), style=WARNING if off else "", justify="right"),
            Text(fmt_num(setp), justify="right"),
            Text(fmt_num(c.get("t_return_c")), justify="right"),
            Text(fmt_pct(c.get("fan_speed")), justify="right"),
            Text(fmt_pct(c.get("valve")), justify="right"),
            Text(fmt_pct(cap), style=WARNING if cap is not None and cap > 0.95 else "", justify="right"),
        ]

    def setpoints(self) -> list[dict]:
        """The selected controller's setpoints (empty under ideal control)."""
        for ctl in (self.data.summary or {}).get("controllers") or []:
            if ctl.get("name") == self.controller:
                return list(ctl.get("setpoints") or [])
        return []

    def _show_setpoints(self) -> None:
        ctl = next((c for c in (self.data.summary or {}).get("controllers") or []
                    if c.get("name") == self.controller), None)
        title = Text(no_wrap=True, overflow="ellipsis")
        if ctl is None:
            control = (self.data.hall or {}).get("control")
            title.append("No controller" if self.controller is None else f"{self.controller}: no setpoints",
                         style="bold")
            if control == "ideal":
                title.append("  the twin runs ideal control (no setpoint registry)", style=DIM)
        else:
            title.append(f"Setpoints of {ctl['name']}", style="bold")
            title.append(f"  supply loop {ctl.get('supply_mode', MISSING)} · fan loop {ctl.get('fan_mode', MISSING)}",
                         style=DIM)
        self.query_one("#setpoints-title", Static).update(title)
        table = self.query_one("#setpoint-table", DataTable)
        sync_rows(table, [(sp["name"], self._setpoint_cells(sp)) for sp in self.setpoints()])

    def _setpoint_cells(self, sp: dict) -> list:
        unit, integer = sp.get("unit", ""), bool(sp.get("integer"))
        short = str(sp["name"]).split(".", 1)[-1]
        writable = bool(sp.get("writable"))
        value, target = num(sp.get("value")), num(sp.get("target"))
        ramping = value is not None and target is not None and abs(value - target) > 1e-9
        rng = f"{fmt_value(sp.get('min'), '', integer=integer)}…{fmt_value(sp.get('max'), '', integer=integer)}"
        role = sp.get("write_role", MISSING) if writable else "no"
        rec = self.commands.get(sp["name"])
        cmd = Text("")
        if rec is not None:
            cmd = Text(rec.status, style=STATUS_STYLE.get(rec.status, WARNING) or "")
            if rec.status == "sent":
                cmd.append(f" → {fmt_value(rec.args.get('value'), '', integer=integer)}")
        return [
            Text(short, style="" if writable else DIM),
            Text(fmt_value(value, unit, integer=integer), justify="right"),
            Text(fmt_value(target, unit, integer=integer), style=DIM if not ramping else "", justify="right"),
            Text(rng + ("" if unit in ("", "1") else f" {unit}"), style=DIM),
            Text(role, style=DIM),
            cmd,
        ]

    # --- selection and editing ----------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#crah-table")
    def _crah_highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value
        if name != self.controller:
            self.controller = name
            self._show_setpoints()

    @on(DataTable.RowSelected, "#crah-table")
    def _crah_selected(self) -> None:
        self.query_one("#setpoint-table", DataTable).focus()

    @on(DataTable.RowSelected, "#setpoint-table")
    def _setpoint_selected(self, event: DataTable.RowSelected) -> None:
        self.post_message(self.EditSetpoint(event.row_key.value))

    def action_edit(self) -> None:
        table = self.query_one("#setpoint-table", DataTable)
        key = cursor_key(table)
        if key is not None:
            self.post_message(self.EditSetpoint(key))

    def selected_setpoint(self) -> str | None:
        return cursor_key(self.query_one("#setpoint-table", DataTable))

    def note_command(self, record: CommandRecord) -> None:
        """Remember the latest command to a setpoint and show its status in the table."""
        if record.kind == "set_setpoint":
            self.commands[str(record.args.get("target"))] = record
            if self.data.summary is not None:
                self._show_setpoints()
