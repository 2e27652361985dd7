"""The base of the console's views: a title line with the view's keys, and a body fed by the app.

Each view draws a :class:`~tui.model.TwinData` when the app hands it one (:meth:`View.show`); views
never read the bus. The title line names the view and its own keys, because the footer at 80 columns
has room only for the keys that switch views.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

from tui.model import TwinData
from tui.palette import DIM

__all__ = ["View"]


class View(Vertical):
    """A view: a title line and a body; subclasses fill :meth:`show` and :meth:`focus_main`."""

    DEFAULT_CSS = """
    View {
        height: 1fr;
    }
    View > .view--title {
        height: 1;
        padding: 0 1;
        background: $surface;
    }
    """

    #: The view's name in the title line.
    TITLE = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data = TwinData()

    def title_widget(self) -> Static:
        return Static(Text(self.TITLE, style="bold"), classes="view--title")

    def set_title(self, *parts: str | Text) -> None:
        """Title line: the view's name in bold, then its state and keys in grey."""
        t = Text(self.TITLE, style="bold", no_wrap=True, overflow="ellipsis")
        for p in parts:
            t.append("  ")
            t.append_text(p if isinstance(p, Text) else Text(p, style=DIM))
        self.query_one(".view--title", Static).update(t)

    def show(self, data: TwinData) -> None:
        """Draw a new picture of the twin (called by the app for the visible view)."""
        self.data = data

    def focus_main(self) -> None:
        """Give the keyboard to the view's main widget (called when the view is switched to)."""
