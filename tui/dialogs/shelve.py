"""How long to shelve an alarm: shelving is always for a time (ISA-18.2), never for good."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.format import fmt_duration
from tui.palette import DIM, WARNING
from twin.model.units import parse_duration_s

__all__ = ["ShelveDialog"]

#: The server's limit (a week).
MAX_SHELVE_S = 7 * 86400


class ShelveDialog(ModalScreen["float | None"]):
    """Ask a duration for shelving ``alarm``; dismiss with seconds, or None when cancelled."""

    DEFAULT_CSS = """
    ShelveDialog {
        align: center middle;
    }
    ShelveDialog > Vertical {
        width: 60;
        max-width: 100%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 1 2;
    }
    ShelveDialog #shelve-title {
        text-style: bold;
    }
    ShelveDialog Input {
        margin: 1 0 0 0;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, alarm: str, *, default: str = "1h") -> None:
        super().__init__()
        self.alarm = alarm
        self.default = default

    def compose(self):
        with Vertical():
            yield Static(f"Shelve {self.alarm}", id="shelve-title")
            yield Static(Text("It comes back by itself when the time is up. Durations: 90s, 30min, 2h.",
                              style=DIM))
            yield Input(self.default, id="shelve-duration")
            yield Static("", id="shelve-hint")

    @on(Input.Submitted, "#shelve-duration")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            seconds = parse_duration_s(event.value)
        except ValueError as exc:
            self.query_one("#shelve-hint", Static).update(Text(str(exc), style=WARNING))
            return
        if seconds > MAX_SHELVE_S:
            self.query_one("#shelve-hint", Static).update(
                Text(f"at most {fmt_duration(MAX_SHELVE_S)} (7 days)", style=WARNING))
            return
        self.dismiss(seconds)

    def action_cancel(self) -> None:
        self.dismiss(None)
