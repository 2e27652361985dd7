"""The alarms view: active and shelved alarms with their ISA-18.2 states; acknowledge and shelve.

Unacknowledged alarms (UNACK, and RTNUN: cleared but never acknowledged) are bold in their priority's
colour; acknowledged ones are plain, shelved ones grey with their expiry. The view only asks (it posts
a request to the app, which sends the command); an alarm's state changes on screen when the twin's
next summary says so.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from tui.format import fmt_clock
from tui.model import TwinData
from tui.palette import DIM, PRIORITY_STYLE
from tui.widgets.tables import cursor_key, sync_rows
from tui.widgets.view import View

__all__ = ["AlarmsView"]

_PRIORITY_SHORT = {"critical": "CRIT", "high": "HIGH", "medium": "MED", "low": "LOW"}


class AlarmsView(View):
    """Active alarms first (by priority, then time raised), then shelved ones."""

    TITLE = "ALARMS"
    DEFAULT_CSS = """
    AlarmsView > DataTable {
        height: 1fr;
    }
    """
    BINDINGS = [
        Binding("a", "ack", "Acknowledge", show=False),
        Binding("A", "ack_all", "Acknowledge all", show=False),
        Binding("s", "shelve", "Shelve", show=False),
        Binding("u", "unshelve", "Unshelve", show=False),
    ]

    class Request(Message):
        """The operator asked for ``kind`` (alarm_ack, alarm_shelve, alarm_unshelve) on ``alarms``."""

        def __init__(self, kind: str, alarms: list[str]) -> None:
            super().__init__()
            self.kind = kind
            self.alarms = alarms

    def compose(self):
        yield self.title_widget()
        table = DataTable(id="alarm-table", cursor_type="row", cursor_foreground_priority="renderable")
        table.add_column("Pri", key="priority", width=4)
        table.add_column("State", key="state", width=7)
        table.add_column("Alarm", key="name", width=27)
        table.add_column("Raised", key="raised", width=8)
        table.add_column("Message", key="message")
        yield table

    def on_mount(self) -> None:
        self._title(0, 0)

    def focus_main(self) -> None:
        self.query_one(DataTable).focus()

    def alarms(self) -> tuple[list[dict], list[dict]]:
        a = (self.data.summary or {}).get("alarms") or {}
        return list(a.get("active") or []), list(a.get("shelved") or [])

    def show(self, data: TwinData) -> None:
        super().show(data)
        active, shelved = self.alarms()
        table_rows = [(a["name"], self._cells(a)) for a in active]
        table_rows += [(a["name"], self._cells(a)) for a in shelved if a["name"] not in {r[0] for r in table_rows}]
        sync_rows(self.query_one(DataTable), table_rows)
        self._title(len(active), len(shelved))

    @staticmethod
    def _cells(a: dict) -> list:
        prio = str(a.get("priority", "low"))
        pstyle = PRIORITY_STYLE.get(prio, "")
        state = str(a.get("state", ""))
        if state in ("UNACK", "RTNUN"):
            style = pstyle  # needs the operator: in colour
        elif state == "SHELVED":
            style = DIM
        else:
            style = ""  # acknowledged: steady, plain (ISA-101)
        message = Text(str(a.get("message", "")), style=DIM if state == "SHELVED" else "")
        if state == "SHELVED" and a.get("shelved_until_s") is not None:
            message = Text(f"until {fmt_clock(a['shelved_until_s'])} · ", style=DIM) + message
        return [
            Text(_PRIORITY_SHORT.get(prio, prio), style=pstyle if state != "SHELVED" else DIM),
            Text(state, style=style),
            Text(str(a["name"]), style=style if state != "ACKED" else ""),
            Text(fmt_clock(a.get("raised_s")) if a.get("raised_s") is not None else "", style=DIM),
            message,
        ]

    def _title(self, active: int, shelved: int) -> None:
        counts = f"{active} active, {shelved} shelved" if active or shelved else "no active alarms"
        self.set_title(counts, "a ack · A ack all · s shelve · u unshelve")

    # --- actions ------------------------------------------------------------------------------

    def selected(self) -> str | None:
        return cursor_key(self.query_one(DataTable))

    def action_ack(self) -> None:
        name = self.selected()
        if name is not None:
            self.post_message(self.Request("alarm_ack", [name]))

    def action_ack_all(self) -> None:
        active, _ = self.alarms()
        names = [a["name"] for a in active if a.get("state") in ("UNACK", "RTNUN")]
        if names:
            self.post_message(self.Request("alarm_ack", names))

    def action_shelve(self) -> None:
        name = self.selected()
        if name is not None:
            self.post_message(self.Request("alarm_shelve", [name]))

    def action_unshelve(self) -> None:
        name = self.selected()
        if name is not None:
            self.post_message(self.Request("alarm_unshelve", [name]))
