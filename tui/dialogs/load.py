"""A rack load step for a drill: which rack, and its IT load from now on (kW).

The rack is typed (completed from the hall's racks) or comes from the floor map's cursor. The dialog
shows the rack's load now and in the hall file, and checks the value against what the twin takes
(0 to 100 kW) before sending, with the reason beside the field; the twin judges again.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Static

from tui.format import MISSING, fmt_value, num
from tui.model import RACK_KW_MAX, TwinData, file_load_kw, rows
from tui.palette import DIM, WARNING

__all__ = ["LoadStepDialog"]


class LoadStepDialog(ModalScreen["dict | None"]):
    """Rack and new IT load; dismiss with a ``rack_load`` event (or None)."""

    DEFAULT_CSS = """
    LoadStepDialog {
        align: center middle;
    }
    LoadStepDialog > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    LoadStepDialog #load-title {
        text-style: bold;
    }
    LoadStepDialog Horizontal {
        height: 3;
    }
    LoadStepDialog Horizontal > Label {
        width: 12;
        padding: 1 1 0 0;
    }
    LoadStepDialog Input {
        width: 20;
    }
    LoadStepDialog #load-status {
        height: auto;
        min-height: 1;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, data: TwinData, *, rack: str | None = None) -> None:
        super().__init__()
        self.data = data
        self.racks = list((data.hall or {}).get("racks") or [])
        self.initial_rack = rack if rack in self.racks else ""

    def compose(self):
        with Vertical():
            yield Static("Step a rack's IT load", id="load-title")
            yield Static(Text("The rack draws this load from now on; its heat follows. Enter sends.", style=DIM))
            with Horizontal():
                yield Label("Rack")
                yield Input(self.initial_rack, placeholder="e.g. A01", id="load-rack",
                            suggester=SuggestFromList(self.racks, case_sensitive=False))
            with Horizontal():
                yield Label("IT load kW")
                yield Input(placeholder=f"0 to {RACK_KW_MAX:g}", id="load-kw")
            yield Static("", id="load-status")

    def on_mount(self) -> None:
        self.query_one("#load-kw" if self.initial_rack else "#load-rack", Input).focus()
        self._describe()

    def _rack(self) -> str | None:
        """The rack typed, matched without regard to case."""
        typed = self.query_one("#load-rack", Input).value.strip()
        return next((r for r in self.racks if r.lower() == typed.lower()), None)

    def _describe(self, problem: str = "") -> None:
        status = Text()
        rack = self._rack()
        if rack is not None:
            now = next((num(r.get("it_power_w")) for r in rows((self.data.summary or {}).get("racks"))
                        if r["name"] == rack), None)
            base = file_load_kw(self.data.hall, rack)
            status.append(f"{rack}: now {fmt_value(None if now is None else now / 1e3, 'kW')}, "
                          f"hall file {fmt_value(base, 'kW') if base is not None else MISSING}", style=DIM)
        if problem:
            if status:
                status.append("\n")
            status.append(problem, style=WARNING)
        self.query_one("#load-status", Static).update(status)

    @on(Input.Changed, "#load-rack")
    def _rack_changed(self) -> None:
        self._describe()

    @on(Input.Submitted, "#load-rack")
    def _rack_done(self) -> None:
        if self._rack() is None:
            self._describe(self._no_rack())
        else:
            self.query_one("#load-kw", Input).focus()

    def _no_rack(self) -> str:
        typed = self.query_one("#load-rack", Input).value.strip()
        return f"no rack named {typed!r}" if typed else "type a rack's name"

    @on(Input.Submitted, "#load-kw")
    def _send(self) -> None:
        rack = self._rack()
        if rack is None:
            self._describe(self._no_rack())
            return
        text = self.query_one("#load-kw", Input).value.strip()
        try:
            kw = float(text)
        except ValueError:
            kw = math.nan
        if not (math.isfinite(kw) and 0.0 <= kw <= RACK_KW_MAX):
            self._describe(f"IT load must be a number of kW from 0 to {RACK_KW_MAX:g}, got {text or 'nothing'!r}")
            return
        self.dismiss({"kind": "rack_load", "target": rack, "it_kw": kw})

    def action_cancel(self) -> None:
        self.dismiss(None)
