"""The command line under the views: the last command the console sent and the twin's answer.

Every command shows here the moment it leaves (``sent``, grey) and changes when the reply comes: the
status in words (ok, clamped, out_of_range, not_writable, denied, interlock) and the twin's reason.
Refusals are amber, commands that never reached the twin red; accepted ones stay plain.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.model import CommandRecord
from tui.palette import DIM, STATUS_STYLE

__all__ = ["CommandLine", "status_text"]

_MARK = {"sent": "…", "ok": "✔", "clamped": "◐"}


def status_text(record: CommandRecord, *, with_label: bool = True) -> Text:
    """``✔ ok · set CRAH-01.supply_temp_setpoint = 21 °C`` or ``✖ out_of_range · … : reason``."""
    style = STATUS_STYLE.get(record.status, STATUS_STYLE["invalid"])
    t = Text(no_wrap=False)
    t.append(f"{_MARK.get(record.status, '✖')} {record.status}", style=style or "bold")
    if with_label:
        t.append(f" · {record.label}")
    if record.status == "sent":
        t.append(" (waiting for the twin)", style=DIM)
    elif record.reason:
        t.append(f": {record.reason}", style=style)
    return t


class CommandLine(Static):
    """One or two lines: the latest command and its reply."""

    DEFAULT_CSS = """
    CommandLine {
        height: auto;
        max-height: 2;
        padding: 0 1;
        background: $surface;
    }
    """

    def on_mount(self) -> None:
        self.update(Text("ctrl+p lists every action", style=DIM))

    def show(self, record: CommandRecord | None) -> None:
        if record is not None:
            self.update(status_text(record))

    def note(self, message: str, style: str = DIM) -> None:
        """A local message (an action that was not sent, e.g. one the role may not take)."""
        self.update(Text(message, style=style))
