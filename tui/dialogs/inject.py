"""The training faults an engineer may inject into the running twin (listed from the hall)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.palette import DIM

__all__ = ["InjectDialog"]


class InjectDialog(ModalScreen["dict | None"]):
    """Pick one event; dismiss with its scenario event dict (the app asks for confirmation next)."""

    DEFAULT_CSS = """
    InjectDialog {
        align: center middle;
    }
    InjectDialog > Vertical {
        width: 60;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: thick $warning;
        background: $surface;
        padding: 1 2;
    }
    InjectDialog #inject-title {
        text-style: bold;
    }
    InjectDialog OptionList {
        height: auto;
        max-height: 12;
        margin-top: 1;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, events: list[tuple[str, dict]]) -> None:
        super().__init__()
        self.events = events

    def compose(self):
        with Vertical():
            yield Static("Inject a training fault", id="inject-title")
            yield Static(Text("The live twin will act on it; every console shows TRAINING while it lasts.",
                              style=DIM))
            yield OptionList(*[Option(label, id=str(i)) for i, (label, _) in enumerate(self.events)],
                             id="inject-list")

    @on(OptionList.OptionSelected, "#inject-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.events[int(event.option.id)][1])

    def action_cancel(self) -> None:
        self.dismiss(None)
