"""Failing a sensor for a drill: which one (typed to filter the hall's list) and how it fails.

The list is the one the twin publishes (the hall view's ``sensors``: each CRAH's supply, return and
rack-inlet sensors), so the console offers exactly what the twin can fail. The modes are the twin's
own (twin/control/sensors.py): stuck, open (dead) and noisy.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, RadioButton, RadioSet, Static
from textual.widgets.option_list import Option

from tui.model import SENSOR_MODES
from tui.palette import DIM

__all__ = ["SensorFailDialog"]


class SensorFailDialog(ModalScreen["dict | None"]):
    """Pick a sensor and a failure mode; dismiss with a ``sensor_fail`` event (or None)."""

    DEFAULT_CSS = """
    SensorFailDialog {
        align: center middle;
    }
    SensorFailDialog > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    SensorFailDialog #sensor-title {
        text-style: bold;
    }
    SensorFailDialog #sensor-filter {
        margin-top: 1;
    }
    SensorFailDialog OptionList {
        height: auto;
        max-height: 8;
    }
    SensorFailDialog RadioSet {
        width: 100%;
        height: auto;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, sensors: list[str], modes: list[str] | None = None) -> None:
        super().__init__()
        self.sensors = list(sensors)
        self.modes = [m for m in (modes or list(SENSOR_MODES)) if m]
        self.shown: list[str] = list(self.sensors)

    def compose(self):
        with Vertical():
            yield Static("Fail a sensor", id="sensor-title")
            yield Static(Text("Its loop acts on what it reads. Type to filter, then Enter.", style=DIM))
            yield Input(placeholder="filter, e.g. CRAH-01.supply", id="sensor-filter")
            yield OptionList(*[Option(n, id=n) for n in self.sensors], id="sensor-list")
            with RadioSet(id="sensor-mode"):
                for i, m in enumerate(self.modes):
                    yield RadioButton(SENSOR_MODES.get(m, m), value=i == 0, id=f"mode-{m}")

    def on_mount(self) -> None:
        self.query_one("#sensor-filter", Input).focus()

    @property
    def mode(self) -> str:
        pressed = self.query_one(RadioSet).pressed_index
        return self.modes[pressed if pressed >= 0 else 0]

    @on(Input.Changed, "#sensor-filter")
    def _filter(self, event: Input.Changed) -> None:
        text = event.value.strip().lower()
        self.shown = [n for n in self.sensors if text in n.lower()]
        box = self.query_one(OptionList)
        box.clear_options()
        box.add_options([Option(n, id=n) for n in self.shown])
        if self.shown:
            box.highlighted = 0

    @on(Input.Submitted, "#sensor-filter")
    def _filter_done(self) -> None:
        """Enter in the filter: the only match is chosen; otherwise the list takes the keys."""
        if len(self.shown) == 1:
            self._choose(self.shown[0])
        else:
            self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected, "#sensor-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self._choose(str(event.option.id))

    def _choose(self, name: str) -> None:
        self.dismiss({"kind": "sensor_fail", "target": name, "mode": self.mode})

    def action_cancel(self) -> None:
        self.dismiss(None)
