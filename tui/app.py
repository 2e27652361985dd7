"""`twin console`: the operator's terminal console on a live twin (textual).

Layout, top to bottom: the header (run and plant status), the TRAINING banner (only during a drill),
the eight views (racks, cooling, power, alarms, trends, audit, floor map, what-if; keys 1–8), the command line (the last
command and the twin's answer) and the footer. It works at 80 × 24 and uses a larger terminal for
longer tables.

Threads: a worker thread owns the bus client (:class:`tui.link.BusLink`) and posts pictures of the
twin (:class:`TwinUpdated`) and finished commands (:class:`CommandDone`) to the app; the app sends
commands by queueing them on the link. The app's state is two reactives, ``twin`` and
``last_command``; the header, the views and open dialogs redraw from them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer
from textual.worker import get_current_worker

from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.inject import InjectDialog
from tui.dialogs.load import LoadStepDialog
from tui.dialogs.sensor import SensorFailDialog
from tui.dialogs.setpoint import SetpointDialog
from tui.dialogs.shelve import ShelveDialog
from tui.dialogs.whatif import WhatIfDialog
from tui.link import BusLink, ClientLike
from tui.model import (
    SPEEDS,
    CommandRecord,
    TwinData,
    command_label,
    injectable_events,
    is_clearing,
    next_speed,
    unacknowledged,
    whatif_sets,
)
from tui.palette import ALARM, ISA101_THEME, WARNING
from tui.widgets.alarms import AlarmsView
from tui.widgets.audit import AuditView
from tui.widgets.banner import TrainingBanner
from tui.widgets.command_line import CommandLine
from tui.widgets.cooling import CoolingView
from tui.widgets.floor import FloorView
from tui.widgets.header import TwinHeader
from tui.widgets.power import PowerView
from tui.widgets.racks import RacksView
from tui.widgets.trends import TrendsView
from tui.widgets.view import View
from tui.widgets.whatif import WhatIfView

__all__ = ["FOOTER_WIDE_ONLY", "VIEWS", "ConsoleApp"]

#: View ids in the order of their keys (1–8) and their titles.
VIEWS: tuple[tuple[str, str], ...] = (("racks", "Racks"), ("cooling", "Cooling"), ("power", "Power"),
                                      ("alarms", "Alarms"), ("trends", "Trends"), ("audit", "Audit"),
                                      ("floor", "Floor"), ("whatif", "What-if"))

#: Views whose key the footer shows only on a terminal this wide or wider: at 80 columns the first seven
#: views, pause and the palette fill it, and pause matters more. The key works at any width, and the
#: palette and the view's title line name it.
FOOTER_WIDE_ONLY = {"whatif"}
_WIDE_FOOTER_COLUMNS = 92


def _view_bindings(key: str, vid: str, title: str) -> list[Binding]:
    """The key of a view; for a wide-only one, first a binding the footer shows where it has room
    (check_action hides it elsewhere, and the key then falls through to the second, never shown)."""
    if vid not in FOOTER_WIDE_ONLY:
        return [Binding(key, f"view('{vid}')", title)]
    return [Binding(key, f"view_wide('{vid}')", title), Binding(key, f"view('{vid}')", title, show=False)]


class ConsoleApp(App[None]):
    """The operator console.

    Args:
        client_factory: makes the bus client (called in the worker thread); a
            :class:`twin.bus.client.TwinClient` in use, anything with its interface in tests.
        role: the role the console claims (observer, operator, engineer); engineer-only actions are
            offered only to engineers (the server checks again).
        ui_interval_s: shortest time between two redraws from live data.
        trend_window_s: simulated time the trends view covers.
    """

    CSS_PATH = "console.tcss"
    TITLE = "twin console"
    BINDINGS = [
        *[b for i, (vid, title) in enumerate(VIEWS) for b in _view_bindings(str(i + 1), vid, title)],
        Binding("p", "pause_resume", "Pause"),
        Binding("plus,equals_sign", "faster", "Faster", show=False),
        Binding("minus", "slower", "Slower", show=False),
        Binding("i", "inject", "Inject fault", show=False),
        Binding("w", "whatif", "What-if", show=False),
        # Not in the footer: at 80 columns the eight views, pause and the palette fill it (q still quits, and
        # the palette lists Quit).
        Binding("q", "quit", "Quit", show=False),
    ]

    twin: reactive[TwinData] = reactive(TwinData, always_update=True, init=False)
    last_command: reactive[CommandRecord | None] = reactive(None, always_update=True, init=False)
    view: reactive[str] = reactive("racks", init=False)

    class TwinUpdated(Message):
        """A new picture of the twin from the bus worker."""

        def __init__(self, data: TwinData) -> None:
            super().__init__()
            self.data = data

    class CommandDone(Message):
        """A command's reply (or its failure to reach the twin) from the bus worker."""

        def __init__(self, record: CommandRecord) -> None:
            super().__init__()
            self.record = record

    class BusFailed(Message):
        """The bus worker could not run (e.g. a malformed endpoint)."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, client_factory: Callable[[], ClientLike], *, role: str = "operator",
                 ui_interval_s: float = 0.25, trend_window_s: float = 600.0) -> None:
        super().__init__()
        self.role = role
        self.link = BusLink(client_factory, ui_interval_s=ui_interval_s, trend_window_s=trend_window_s)

    # --- layout and life ----------------------------------------------------------------------

    def compose(self):
        yield TwinHeader(role=self.role, id="header")
        yield TrainingBanner("", id="training")
        with ContentSwitcher(initial="racks", id="views"):
            yield RacksView(id="racks")
            yield CoolingView(id="cooling")
            yield PowerView(id="power")
            yield AlarmsView(id="alarms")
            yield TrendsView(id="trends")
            yield AuditView(id="audit")
            yield FloorView(id="floor")
            yield WhatIfView(id="whatif")
        yield CommandLine("", id="command-line")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._pin_console_size()
        self.register_theme(ISA101_THEME)
        self.theme = ISA101_THEME.name
        self.current_view().focus_main()
        self.run_bus()

    def on_unmount(self) -> None:
        self.link.stop()

    def on_resize(self) -> None:
        self._pin_console_size()
        self.refresh_bindings()  # the footer's wide-only keys come and go with the width

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # False hides the binding from the footer and lets the key fall through to the next binding of
        # the same key (the hidden one, which always works).
        if action == "view_wide":
            return self.size.width >= _WIDE_FOOTER_COLUMNS
        return True

    def _pin_console_size(self) -> None:
        # DataTable measures every updated cell through rich's Console, whose size, when not set, asks the
        # terminal (a system call per cell): with 200 racks refreshed 4 times a second that kept the UI
        # thread busy enough to answer keys a second late. Textual knows the size; tell the console.
        self.console.size = (max(self.size.width, 1), max(self.size.height, 1))

    @work(thread=True, exclusive=True, name="bus", group="bus", exit_on_error=False)
    def run_bus(self) -> None:
        """The bus worker: every client call happens in this thread."""
        worker = get_current_worker()
        try:
            self.link.run(lambda d: self._post(self.TwinUpdated(d)), lambda r: self._post(self.CommandDone(r)),
                          cancelled=lambda: worker.is_cancelled)
        except Exception as exc:  # noqa: BLE001 - shown to the operator instead of a traceback
            self._post(self.BusFailed(f"{type(exc).__name__}: {exc}"))

    def _post(self, message: Message) -> None:
        try:
            self.post_message(message)
        except RuntimeError:
            pass  # the app's loop has closed: nobody is left to tell

    # --- data from the worker -----------------------------------------------------------------

    @on(TwinUpdated)
    def _twin_updated(self, message: TwinUpdated) -> None:
        try:
            self.twin = message.data
        finally:
            self.link.ui_ready.set()  # ready for the next picture

    def watch_twin(self, data: TwinData) -> None:
        try:
            header = self.query_one(TwinHeader)
        except NoMatches:
            return  # the app is closing and its widgets are gone; a live twin's last picture came late
        header.show(data)
        self.query_one(TrainingBanner).show(data)
        self.current_view().show(data)

    @on(CommandDone)
    def _command_done(self, message: CommandDone) -> None:
        self.last_command = message.record

    def watch_last_command(self, record: CommandRecord | None) -> None:
        if record is None or not self.query(CommandLine):  # none yet, or the app is closing
            return
        self.query_one(CommandLine).show(record)
        self.query_one(CoolingView).note_command(record)

    @on(BusFailed)
    def _bus_failed(self, message: BusFailed) -> None:
        self.query_one(CommandLine).note(f"bus stopped: {message.error}", ALARM)

    # --- views --------------------------------------------------------------------------------

    def current_view(self) -> View:
        return self.query_one(f"#{self.view}", View)

    def action_view(self, name: str) -> None:
        self.view = name

    def action_view_wide(self, name: str) -> None:
        self.action_view(name)

    def watch_view(self, name: str) -> None:
        self.query_one(ContentSwitcher).current = name
        view = self.current_view()
        view.show(self.twin)
        view.focus_main()

    # --- commands -----------------------------------------------------------------------------

    def send_command(self, kind: str, args: dict, label: str | None = None) -> CommandRecord:
        """Queue a command for the twin; its status shows at once as ``sent``, then as the reply."""
        record = self.link.submit(kind, args, label or command_label(kind, args))
        self.last_command = record
        return record

    def _note(self, message: str, style: str = WARNING) -> None:
        self.query_one(CommandLine).note(message, style)

    def _connected(self) -> bool:
        if self.twin.summary is None:
            self._note("not connected to the twin yet")
            return False
        return True

    def action_pause_resume(self) -> None:
        if self._connected():
            self.send_command("resume" if self.twin.paused else "pause", {})

    def action_pause(self) -> None:
        if self._connected():
            self.send_command("pause", {})

    def action_resume(self) -> None:
        if self._connected():
            self.send_command("resume", {})

    def action_speed(self, speed: float | str) -> None:
        if self._connected():
            self.send_command("set_speed", {"speed": speed})

    def action_faster(self) -> None:
        if self._connected():
            self.action_speed(next_speed(self.twin.clock, +1))

    def action_slower(self) -> None:
        if self._connected():
            self.action_speed(next_speed(self.twin.clock, -1))

    def edit_setpoint(self, name: str) -> None:
        self.push_screen(SetpointDialog(name, role=self.role))

    @on(CoolingView.EditSetpoint)
    def _edit_setpoint(self, message: CoolingView.EditSetpoint) -> None:
        self.edit_setpoint(message.name)

    def ack_alarms(self, names: Iterable[str]) -> None:
        for name in names:
            self.send_command("alarm_ack", {"alarm": name})

    def shelve_alarm(self, name: str) -> None:
        def chosen(seconds: float | None) -> None:
            if seconds is not None:
                self.send_command("alarm_shelve", {"alarm": name, "duration_s": seconds})

        self.push_screen(ShelveDialog(name), chosen)

    @on(AlarmsView.Request)
    def _alarm_request(self, message: AlarmsView.Request) -> None:
        if message.kind == "alarm_ack":
            self.ack_alarms(message.alarms)
        elif message.kind == "alarm_shelve":
            for name in message.alarms:
                self.shelve_alarm(name)
        else:
            for name in message.alarms:
                self.send_command("alarm_unshelve", {"alarm": name})

    def _engineer(self) -> bool:
        if self.role != "engineer":
            self._note(f"training faults need role engineer; this console is {self.role} "
                       f"(start it with --role engineer)")
            return False
        return True

    def action_inject(self) -> None:
        if not self._engineer() or not self._connected():
            return
        events = injectable_events(self.twin.hall, self.twin.summary)
        if not events:
            self._note("this hall offers no training faults")
            return
        self.push_screen(InjectDialog(events), lambda ev: self._picked(ev) if ev else None)

    def _picked(self, event: dict) -> None:
        """An entry of the inject list: a fault to confirm, or one that needs its details first."""
        hall = self.twin.hall or {}
        if event.get("kind") == "sensor_fail" and "target" not in event:
            self.push_screen(SensorFailDialog(hall.get("sensors") or [], hall.get("sensor_modes")),
                             lambda ev: self.inject(ev) if ev else None)
        elif event.get("kind") == "rack_load" and "target" not in event:
            # The rack under the floor map's cursor, when the operator came from there.
            rack = self.query_one(FloorView).rack_name if self.view == "floor" else None
            self.push_screen(LoadStepDialog(self.twin, rack=rack), lambda ev: self.inject(ev) if ev else None)
        else:
            self.inject(event)

    def inject(self, event: dict) -> None:
        """Ask for confirmation, then inject ``event`` (a scenario event) into the running twin."""
        if not self._engineer():
            return
        label = next((lbl for lbl, ev in injectable_events(self.twin.hall, self.twin.summary) if ev == event),
                     None)
        if label is None and event.get("kind") == "sensor_fail":
            label = f"Fail {event.get('target')} ({event.get('mode', 'stuck')})"
        elif label is None and event.get("kind") == "rack_load" and event.get("it_kw") is not None:
            label = f"Step {event.get('target')} to {event['it_kw']:g} kW"
        label = label or command_label("scenario_event", {"event": event})

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.send_command("scenario_event", {"event": event})

        if is_clearing(event, self.twin.hall):  # undoing a drill is not injecting a fault
            self.push_screen(ConfirmDialog(
                f"Clear training fault: {label}",
                "The twin returns the equipment to service (or the rack to its hall-file load) for every "
                "client; TRAINING ends when no injected fault is left.",
                confirm_label=label.split()[0]), confirmed)
            return
        self.push_screen(ConfirmDialog(
            f"Training fault: {label}",
            "The running twin will act on this fault as if it were real, for every client. Consoles show "
            "TRAINING until it is cleared (restart the unit, return the utility, repair the sensor, set "
            "the rack's load back).",
            confirm_label="Inject"), confirmed)

    # --- what-ifs -----------------------------------------------------------------------------

    def action_whatif(self) -> None:
        """Start a what-if (key w): engineers only; one at a time; the set chosen in a small dialog."""
        self.action_view("whatif")
        if self.role != "engineer":
            self._note(f"what-ifs need role engineer; this console is {self.role} (start it with --role engineer)")
            return
        if not self._connected():
            return
        running = self.twin.whatif_running
        if running is not None:
            self._note(f"what-if {running.get('id')} (N-1 {running.get('set')}) is still running: one at a time")
            return
        self.push_screen(WhatIfDialog(whatif_sets(self.twin.hall)), self._whatif_chosen)

    def _whatif_chosen(self, args: dict | None) -> None:
        if args:
            self.send_command("whatif", args)

    # --- command palette ----------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action of the console, named, with the live setpoints and alarms of the twin."""
        for i, (vid, title) in enumerate(VIEWS):
            yield SystemCommand(f"View: {title}", f"switch to the {title.lower()} view (key {i + 1})",
                                lambda v=vid: self.action_view(v))
        yield SystemCommand("Racks: filter by name", "type part of a rack name (key / in the racks view)",
                            lambda: (self.action_view("racks"), self.query_one(RacksView).action_filter()))
        yield SystemCommand("Racks: next sort column", "inlet, exhaust, rise, power, ASHRAE, name (key s)",
                            lambda: (self.action_view("racks"), self.query_one(RacksView).action_sort_next()))
        yield SystemCommand("Racks: only those outside the recommended band", "toggle (key f)",
                            lambda: (self.action_view("racks"), self.query_one(RacksView).action_abnormal_only()))
        yield SystemCommand("Floor map: next colour mode", "ASHRAE band, inlet, rise, IT power, feed load (key m)",
                            lambda: (self.action_view("floor"), self.query_one(FloorView).next_mode()))
        yield SystemCommand("Floor map: the hottest rack", "put the cursor on it (key h in the floor map)",
                            lambda: (self.action_view("floor"), self.query_one(FloorView).to_hottest()))
        yield SystemCommand("Pause the twin", "stop the simulated clock (key p)", self.action_pause)
        yield SystemCommand("Resume the twin", "run the simulated clock again (key p)", self.action_resume)
        for speed in SPEEDS:
            text = "max" if speed == "max" else f"×{speed:g}"
            yield SystemCommand(f"Speed {text}", "simulated seconds per wall second (keys + and -)",
                                lambda s=speed: self.action_speed(s))
        summary = self.twin.summary or {}
        for ctl in summary.get("controllers") or []:
            for sp in ctl.get("setpoints") or []:
                ro = "" if sp.get("writable") else " (read-only)"
                yield SystemCommand(f"Edit {sp['name']}{ro}",
                                    f"{sp.get('description', '')} [{sp.get('min')}…{sp.get('max')} {sp.get('unit')}]",
                                    lambda n=sp["name"]: self.edit_setpoint(n))
        alarms = summary.get("alarms") or {}
        unack = unacknowledged(summary)
        if unack:
            yield SystemCommand("Acknowledge all alarms", f"{len(unack)} unacknowledged",
                                lambda: self.ack_alarms([a["name"] for a in unacknowledged(self.twin.summary)]))
        for a in alarms.get("active") or []:
            yield SystemCommand(f"Acknowledge {a['name']}", str(a.get("message", "")),
                                lambda n=a["name"]: self.ack_alarms([n]))
            yield SystemCommand(f"Shelve {a['name']}…", "hide it for a time you choose",
                                lambda n=a["name"]: self.shelve_alarm(n))
        for a in alarms.get("shelved") or []:
            yield SystemCommand(f"Unshelve {a['name']}", str(a.get("message", "")),
                                lambda n=a["name"]: self.send_command("alarm_unshelve", {"alarm": n}))
        yield SystemCommand("What-if: N-1 from the live twin…", "engineer only; choose the set (key w)",
                            self.action_whatif)
        if self.role == "engineer":
            for label, event in injectable_events(self.twin.hall, self.twin.summary):
                yield SystemCommand(f"Training: {label}", "engineer only; asks for confirmation",
                                    lambda ev=event: self._picked(ev))
        yield from super().get_system_commands(screen)
