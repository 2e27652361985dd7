"""A yes/no question before an action that an engineer should not take by a slip of a key.

Used for engineer-only actions: injecting a training fault into the live twin, and writing a
setpoint reserved for engineers (limits). ``y`` or Enter confirms; ``n`` or Escape cancels.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

__all__ = ["ConfirmDialog"]


class ConfirmDialog(ModalScreen[bool]):
    """Ask; dismiss with True (confirmed) or False."""

    DEFAULT_CSS = """
    ConfirmDialog {
        align: center middle;
    }
    ConfirmDialog > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 1 2;
    }
    ConfirmDialog .confirm--title {
        text-style: bold;
        color: $warning;
        margin-bottom: 1;
    }
    ConfirmDialog Horizontal {
        height: auto;
        margin-top: 1;
        align: right middle;
    }
    ConfirmDialog Button {
        margin-left: 2;
    }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Confirm"),
        Binding("n,escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, title: str, message: str, *, confirm_label: str = "Confirm") -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.confirm_label = confirm_label

    def compose(self):
        with Vertical():
            yield Static(Text(self.title_text), classes="confirm--title")
            yield Static(self.message, id="confirm-message")
            with Horizontal():
                yield Button("Cancel (n)", id="cancel")
                yield Button(f"{self.confirm_label} (y)", id="confirm", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
