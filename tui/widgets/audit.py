"""The audit view: the twin's command log, newest first, as every client sees it.

The log is the server's (a snapshot brings its tail, events add to it), so commands from other
consoles and scripts show here too, with who sent them, the change asked for and the twin's answer.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from tui.format import MISSING, fmt_clock, num
from tui.model import TwinData
from tui.palette import DIM, STATUS_STYLE, WARNING
from tui.widgets.tables import sync_rows
from tui.widgets.view import View

__all__ = ["AuditView"]


_TARGET_W = 16


def _fit(text: str, width: int) -> str:
    """``text`` in ``width`` cells: setpoint names lose their common suffix first, then end in '…'."""
    text = text.replace("_temp_setpoint", "").replace("_setpoint", "")
    return text if len(text) <= width else text[: width - 1] + "…"


def _short(v: object) -> str:
    if v is None:
        return MISSING
    f = num(v)
    if f is not None and not isinstance(v, bool):
        return f"{f:.4g}"
    return str(v)


class AuditView(View):
    """Commands as the server logged them."""

    TITLE = "AUDIT"
    DEFAULT_CSS = """
    AuditView > DataTable {
        height: 1fr;
    }
    """

    def compose(self):
        yield self.title_widget()
        table = DataTable(id="audit-table", cursor_type="row", cursor_foreground_priority="renderable")
        # What the operator scans for comes first (when, outcome, what); who and why scroll into view.
        table.add_column("Sim time", key="time", width=8)
        table.add_column("Status", key="status", width=12)
        table.add_column("Command", key="kind", width=12)
        # Fixed widths up to "Who", so that at 80 columns an operator sees when, what, on what, the change
        # and who without scrolling; long setpoint names end in an ellipsis, the reason scrolls into view.
        table.add_column("Target", key="target", width=_TARGET_W)
        table.add_column("Change", key="change", width=13)
        table.add_column("Who", key="who")
        table.add_column("Reason", key="reason")
        yield table

    def on_mount(self) -> None:
        self.set_title("no commands yet")

    def focus_main(self) -> None:
        self.query_one(DataTable).focus()

    def show(self, data: TwinData) -> None:
        super().show(data)
        records = [e for e in data.events if e.get("kind") not in (None, "snapshot", "ping")]
        table_rows = []
        for i, e in reversed(list(enumerate(records))):
            key = str(e.get("id") or f"row-{i}") + f"#{i}"  # a repeated id is logged again
            table_rows.append((key, self._cells(e)))
        sync_rows(self.query_one(DataTable), table_rows)
        self.set_title(f"{len(records)} command{'s' if len(records) != 1 else ''}, newest first"
                       if records else "no commands yet")

    @staticmethod
    def _cells(e: dict) -> list:
        status = str(e.get("status", MISSING))
        who = "/".join(str(x) for x in (e.get("name") or e.get("client"), e.get("role")) if x)
        old, new = e.get("old"), e.get("new")
        if old is None and new is None:
            change = ""
        elif status in ("ok", "clamped"):
            change = f"{_short(old)} → {_short(new)}"
        else:  # refused: nothing changed, say what was asked
            change = f"asked {_short(new)}"
        return [
            Text(fmt_clock(e.get("sim_time_s")), style=DIM),
            Text(status, style=STATUS_STYLE.get(status, WARNING)),
            Text(str(e.get("kind") or MISSING)),
            Text(_fit(str(e.get("target") or ""), _TARGET_W)),
            Text(change),
            Text(who or MISSING),
            Text(str(e.get("reason") or ""), style=DIM),
        ]
