"""Choosing a what-if: which N-1 set, steady or for how long (engineers only; the app checks first)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.model import WHATIF_MODES, whatif_mode
from tui.palette import DIM

__all__ = ["WhatIfDialog"]


class WhatIfDialog(ModalScreen["dict | None"]):
    """Pick a set (Enter) after choosing the mode (``m`` cycles steady, 10 min, 30 min, 1 h); dismiss with
    the command's args (``{"set": ..., "duration_s": ...}``) or None."""

    DEFAULT_CSS = """
    WhatIfDialog {
        align: center middle;
    }
    WhatIfDialog > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 1 2;
    }
    WhatIfDialog #whatif-dialog-title {
        text-style: bold;
    }
    WhatIfDialog OptionList {
        height: auto;
        max-height: 8;
        margin-top: 1;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("m", "mode", "Mode")]

    def __init__(self, sets: list[tuple[str, str]]) -> None:
        super().__init__()
        self.sets = sets
        self.mode_index = 0

    @property
    def duration_s(self) -> float | None:
        return WHATIF_MODES[self.mode_index]

    def compose(self):
        with Vertical():
            yield Static("What-if: N-1 from the twin as it is now", id="whatif-dialog-title")
            yield Static(Text("The twin runs on; the cases run on the cluster and the result shows in the "
                              "what-if view.", style=DIM))
            yield Static(self._mode_text(), id="whatif-mode")
            yield OptionList(*[Option(label, id=k) for k, label in self.sets], id="whatif-sets")

    def _mode_text(self) -> Text:
        t = Text("Mode: ")
        t.append(whatif_mode(self.duration_s), style="bold")
        t.append("  (m changes it)", style=DIM)
        return t

    def action_mode(self) -> None:
        self.mode_index = (self.mode_index + 1) % len(WHATIF_MODES)
        self.query_one("#whatif-mode", Static).update(self._mode_text())

    @on(OptionList.OptionSelected, "#whatif-sets")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        args: dict = {"set": event.option.id}
        if self.duration_s is not None:
            args["duration_s"] = self.duration_s
        self.dismiss(args)

    def action_cancel(self) -> None:
        self.dismiss(None)
