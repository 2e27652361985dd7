"""Editing one setpoint: its unit, range, limits and current value, a new value, and the twin's answer.

The dialog stays open after sending, and the reply lands in it, under the field the operator just
typed in: ``ok``, ``clamped`` (with the target the twin took instead), or a refusal with its reason
(out_of_range, not_writable, denied, interlock). The values in the dialog are the twin's, refreshed
from every summary; nothing here claims a value is applied before the twin says so.

The console does not refuse a value itself (the twin's registry is the one judge, and its answer is
what the operator must learn to read); it only warns beside the field when a value is outside the
range the twin published.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from tui.dialogs.confirm import ConfirmDialog
from tui.format import MISSING, fmt_value, num
from tui.model import CommandRecord, TwinData, command_label, find_setpoint
from tui.palette import DIM, WARNING
from tui.widgets.command_line import status_text

__all__ = ["SetpointDialog"]


class SetpointDialog(ModalScreen[None]):
    """Edit setpoint ``name`` (Enter sends, Escape closes)."""

    DEFAULT_CSS = """
    SetpointDialog {
        align: center middle;
    }
    SetpointDialog > Vertical {
        width: 72;
        max-width: 100%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    SetpointDialog #sp-title {
        text-style: bold;
    }
    SetpointDialog Horizontal {
        height: 3;
        margin-top: 1;
    }
    SetpointDialog Horizontal > Label {
        padding: 1 1 0 0;
    }
    SetpointDialog #sp-input {
        width: 20;
    }
    SetpointDialog #sp-status {
        height: auto;
        min-height: 1;
    }
    """
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, name: str, *, role: str) -> None:
        super().__init__()
        self.setpoint_name = name
        self.role = role
        self.sent: dict[str, CommandRecord] = {}
        self.last: CommandRecord | None = None

    # --- layout -------------------------------------------------------------------------------

    def compose(self):
        sp = self._setpoint() or {}
        with Vertical():
            yield Static(self.setpoint_name, id="sp-title")
            yield Static(Text(str(sp.get("description") or ""), style=DIM), id="sp-desc")
            yield Static("", id="sp-info")
            with Horizontal():
                yield Label("New value")
                yield Input(self._initial(sp), id="sp-input", type="number", select_on_focus=True)
                yield Label(str(sp.get("unit") or "") if sp.get("unit") not in (None, "1") else "", id="sp-unit")
            yield Static("", id="sp-hint")
            yield Static("", id="sp-status")
            yield Static(Text("enter send · esc close", style=DIM))

    @staticmethod
    def _initial(sp: dict) -> str:
        v = num(sp.get("target"))
        return "" if v is None else fmt_value(v, "", integer=bool(sp.get("integer")))

    def on_mount(self) -> None:
        self.watch(self.app, "twin", self._twin_changed)
        self.watch(self.app, "last_command", self._command_changed, init=False)
        self.query_one("#sp-input", Input).focus()

    def _setpoint(self) -> dict | None:
        data: TwinData | None = getattr(self.app, "twin", None)
        return find_setpoint(data.summary if data else None, self.setpoint_name)

    # --- live values --------------------------------------------------------------------------

    def _twin_changed(self, data: TwinData | None) -> None:
        sp = self._setpoint()
        info = Text()
        if sp is None:
            info.append("This setpoint is not in the twin's latest state.", style=WARNING)
            self.query_one("#sp-info", Static).update(info)
            return
        unit, integer = sp.get("unit", ""), bool(sp.get("integer"))
        info.append("In force ", style=DIM)
        info.append(fmt_value(sp.get("value"), unit, integer=integer))
        info.append("   target ", style=DIM)
        info.append(fmt_value(sp.get("target"), unit, integer=integer))
        info.append("\nRange ", style=DIM)
        lo, hi = fmt_value(sp.get("min"), "", integer=integer), fmt_value(sp.get("max"), unit, integer=integer)
        info.append(f"{lo} … {hi}")
        if num(sp.get("max_step")) is not None:
            info.append(f"   at most {fmt_value(sp['max_step'], unit)} per write", style=DIM)
        if num(sp.get("rate_per_s")) is not None:
            info.append(f"   ramps {fmt_value(sp['rate_per_s'], unit)}/s", style=DIM)
        info.append("\n")
        if not sp.get("writable"):
            info.append("Read-only", style=WARNING)
            info.append(" (the twin will refuse a write)", style=DIM)
        else:
            info.append("Written by ", style=DIM)
            info.append(f"{sp.get('write_role', MISSING)} or above")
            info.append(f"; you are {self.role}", style=DIM)
        if sp.get("interlocked"):
            info.append("; interlocked", style=DIM)
        self.query_one("#sp-info", Static).update(info)

    @on(Input.Changed, "#sp-input")
    def _check(self, event: Input.Changed) -> None:
        """Warn (never block) when the value is outside the published range."""
        hint = self.query_one("#sp-hint", Static)
        sp = self._setpoint() or {}
        v = _parse(event.value)
        lo, hi = num(sp.get("min")), num(sp.get("max"))
        if event.value.strip() and v is None:
            hint.update(Text("not a number", style=WARNING))
        elif v is not None and lo is not None and hi is not None and not lo <= v <= hi:
            hint.update(Text(f"outside {fmt_value(lo, '')} … {fmt_value(hi, '')}: the twin will refuse it",
                             style=WARNING))
        else:
            hint.update("")

    # --- sending ------------------------------------------------------------------------------

    @on(Input.Submitted, "#sp-input")
    def _submitted(self, event: Input.Submitted) -> None:
        v = _parse(event.value)
        if v is None:
            self.query_one("#sp-hint", Static).update(Text("type a number, then Enter", style=WARNING))
            return
        sp = self._setpoint() or {}
        value: float | int = int(round(v)) if sp.get("integer") and v == round(v) else v
        if sp.get("write_role") == "engineer" and self.role == "engineer":
            unit = sp.get("unit", "")
            self.app.push_screen(
                ConfirmDialog("Engineer-only setpoint",
                              f"Write {self.setpoint_name} = {fmt_value(value, unit)} in the running twin? "
                              f"This is a limit operators may not change.", confirm_label="Write"),
                lambda yes: self._send(value) if yes else None)
            return
        self._send(value)

    def _send(self, value: float | int) -> None:
        sp = self._setpoint()
        args = {"target": self.setpoint_name, "value": value}
        record = self.app.send_command("set_setpoint", args, command_label("set_setpoint", args, setpoint=sp))
        self.sent[record.id] = record
        self._show(record)
        self.query_one("#sp-input", Input).select_all()  # the next value typed replaces this one

    def _command_changed(self, record: CommandRecord | None) -> None:
        if record is not None and record.id in self.sent:
            self.sent[record.id] = record
            self._show(record)

    def _show(self, record: CommandRecord) -> None:
        self.last = record
        t = status_text(record, with_label=False)
        if record.accepted:
            sp = self._setpoint() or {}
            target = record.result.get("target")
            t.append(f" — target now {fmt_value(target, sp.get('unit', ''), integer=bool(sp.get('integer')))}",
                     style="")
        self.query_one("#sp-status", Static).update(t)

    def action_close(self) -> None:
        self.dismiss(None)


def _parse(text: str) -> float | None:
    try:
        v = float(text.strip())
    except ValueError:
        return None
    return num(v)
