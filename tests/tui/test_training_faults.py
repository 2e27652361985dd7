"""Training faults end to end: a real twin (tiny.toml from its steady state, paced ×20) on real sockets,
an engineer's console injecting faults through its dialogs, and a separate client watching the twin.

- A stuck supply-air sensor: the CRAH's loop goes on reading the old 18 °C, so when the setpoint is raised
  to 21 °C it shuts the chilled-water valve and the real supply air runs far past 21 °C (with a healthy
  sensor it settles at 21 °C; tests/tui/test_end_to_end.py shows the loop following a setpoint).
- A rack load step: the rack's IT load and heat follow the step, and so does the hall's heat release.
- Clearing both (repair, load set back) ends TRAINING.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from textual.widgets import Input, OptionList

from tests.bus.conftest import endpoints
from tests.tui.data import AUDIT, hall, scene
from tests.tui.fake_twin import FakeTwin
from tests.tui.helpers import console_for, plain, until
from tui.app import ConsoleApp
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.inject import InjectDialog
from tui.dialogs.load import LoadStepDialog
from tui.dialogs.sensor import SensorFailDialog
from tui.widgets.banner import TrainingBanner
from twin.bus.client import TwinClient
from twin.bus.server import ServeOptions, TwinServer
from twin.model.load import bundled_hall
from twin.sim.twin import HallTwin

SENSOR = "CRAH-01.supply_temp"
SP = "CRAH-01.supply_temp_setpoint"


class _Twin:
    """tiny.toml's twin serving from its steady state in a thread, paced at ×20."""

    def __init__(self) -> None:
        twin = HallTwin(bundled_hall("tiny"), control="embedded")
        state = twin.steady(twin.initial_state())
        state.controls.adopt(state)
        self.state_ep, self.commands_ep = endpoints()
        self.server = TwinServer(twin, state, options=ServeOptions(
            speed=20.0, heartbeat_s=0.2, state_endpoint=self.state_ep, commands_endpoint=self.commands_ep))
        self._stop = threading.Event()

    def __enter__(self) -> _Twin:
        self.server.bind()
        self.thread = threading.Thread(target=self.server.run, kwargs={"stop": self._stop.is_set}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.thread.join(timeout=30)
        self.server.close()

    def client(self, role: str, name: str) -> TwinClient:
        return TwinClient(self.state_ep, self.commands_ep, role=role, name=name, topics=("summary", "heartbeat"))


def _watch(twin: _Twin, done, what: str, timeout_s: float = 30.0) -> dict:
    """Follow the twin with an observer until ``done(summary)``; that summary."""
    with twin.client("observer", "watcher") as c:
        assert c.connect(10.0), "the observer could not connect"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            c.poll(0.1)
            if c.summary is not None and done(c.summary):
                return c.summary
        raise AssertionError(f"the twin did not show {what} within {timeout_s:g} s; clock "
                             f"{c.summary['clock']['time_s']:.0f} s, crahs {c.summary['crahs']}")


async def _choose(pilot, app: ConsoleApp, label_start: str) -> None:
    """Open the inject list (key i) and pick the entry whose label starts with ``label_start``."""
    await pilot.press("i")
    await until(pilot, lambda: isinstance(app.screen, InjectDialog), "the inject dialog")
    labels = [lbl for lbl, _ in app.screen.events]
    app.screen.query_one(OptionList).highlighted = next(k for k, lbl in enumerate(labels)
                                                        if lbl.startswith(label_start))
    await pilot.press("enter")


async def _confirm(pilot, app: ConsoleApp) -> None:
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
    await pilot.press("y")
    await until(pilot, lambda: app.last_command is not None and app.last_command.done, "the twin's reply", 10.0)
    assert app.last_command.status == "ok", app.last_command


@pytest.mark.slow
async def test_sensor_failure_and_load_step_from_the_console_act_on_the_twin():
    with _Twin() as twin:
        app = ConsoleApp(lambda: TwinClient(twin.state_ep, twin.commands_ep, role="engineer", name="console",
                                            topics=("summary", "event", "heartbeat")),
                         role="engineer", ui_interval_s=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.twin.status == "live", "the console to go LIVE", 20.0)
            assert SENSOR in app.twin.hall["sensors"]

            # --- a stuck supply sensor ---------------------------------------------------------
            await _choose(pilot, app, "Fail a sensor")
            await until(pilot, lambda: isinstance(app.screen, SensorFailDialog), "the sensor dialog")
            await pilot.press(*"supply", "enter")  # one match: CRAH-01.supply_temp, mode stuck (the first)
            await _confirm(pilot, app)
            assert app.last_command.args == {"event": {"kind": "sensor_fail", "target": SENSOR, "mode": "stuck"}}
            failed = await asyncio.to_thread(_watch, twin, lambda s: SENSOR in s["sensors"]["name"], "the failure")
            assert failed["sensors"]["mode"][failed["sensors"]["name"].index(SENSOR)] == "stuck"
            assert failed["clock"]["training"] is True
            t_supply_before = failed["crahs"]["t_supply_c"][0]
            assert abs(t_supply_before - 18.0) < 1.0  # steady at its setpoint when the sensor stuck
            with twin.client("operator", "operator") as op:
                assert op.connect(10.0) and op.set_setpoint(SP, 21.0).status == "ok"
            # The loop still reads ~18 °C, below 21: it shuts the valve, and the real supply air overshoots.
            runaway = await asyncio.to_thread(
                _watch, twin, lambda s: s["crahs"]["valve"][0] <= 0.01 and s["crahs"]["t_supply_c"][0] > 24.0,
                "the valve shut and the supply air past 24 °C")
            assert runaway["crahs"]["supply_setpoint_c"][0] == pytest.approx(21.0)

            # --- a load step on A03 (8 kW in tiny.toml) -------------------------------------------
            names = app.twin.hall["racks"]
            i = names.index("A03")
            heat_before = runaway["hall"]["heat_released_w"]
            await _choose(pilot, app, "Step a rack")
            await until(pilot, lambda: isinstance(app.screen, LoadStepDialog), "the load step dialog")
            app.screen.query_one("#load-rack", Input).value = "A03"
            await pilot.press("enter", "2", "0", "enter")
            await _confirm(pilot, app)
            stepped = await asyncio.to_thread(
                _watch, twin, lambda s: s["racks"]["it_power_w"][i] == 20000.0, "A03 at 20 kW")
            # Heat is the IT load plus the PSUs' losses: at least the new load, and the hall's release
            # grows by at least the 12 kW added.
            assert stepped["racks"]["heat_w"][i] >= 20000.0
            assert stepped["hall"]["heat_released_w"] - heat_before >= 12000.0 * 0.95

            # --- clearing both ends the drill ------------------------------------------------------
            await until(pilot, lambda: SENSOR in ((app.twin.summary or {}).get("sensors") or {}).get("name", []),
                        "the failure in the console")
            await _choose(pilot, app, f"Repair {SENSOR}")
            await _confirm(pilot, app)
            await until(pilot, lambda: app.twin.summary["racks"]["it_power_w"][i] == 20000.0, "the step shown")
            await _choose(pilot, app, "Return A03 to 8 kW")
            await _confirm(pilot, app)
            cleared = await asyncio.to_thread(
                _watch, twin, lambda s: s["clock"]["training"] is False, "TRAINING over")
            assert cleared["sensors"]["name"] == [] and cleared["racks"]["it_power_w"][i] == 8000.0


async def test_sensor_dialog_offers_the_twins_sensors_and_modes():
    """The sensor list is the hall view's; the filter narrows it; the mode chosen is the one sent; the
    TRAINING banner then names the failed sensor (from the summary's failed sensors)."""
    def accepted(header, fake):
        s = scene()
        s["clock"]["training"] = True
        s["sensors"] = {"name": ["CRAH-01.return_temp"], "mode": ["open"]}
        fake.publish_summary_now(s)

    with FakeTwin(hall(), scene(), audit=AUDIT) as fake:
        fake.on_accepted = accepted
        app = console_for(fake, role="engineer")
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.twin.summary is not None, "the fake's state")
            await _choose(pilot, app, "Fail a sensor")
            await until(pilot, lambda: isinstance(app.screen, SensorFailDialog), "the sensor dialog")
            dialog = app.screen
            assert dialog.sensors == hall()["sensors"] and len(dialog.sensors) == 7
            await pilot.press(*"inlet")
            assert dialog.shown == [n for n in hall()["sensors"] if "inlet" in n] and len(dialog.shown) == 5
            await pilot.click("#mode-open")
            assert dialog.mode == "open"
            dialog.query_one("#sensor-filter", Input).value = "return"
            await pilot.pause(0.05)
            dialog.query_one("#sensor-filter", Input).focus()
            await pilot.press("enter")  # the only match
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
            assert "Fail CRAH-01.return_temp (open)" in plain(app.screen.query_one(".confirm--title"))
            await pilot.press("y")
            (cmd,) = fake.wait_received(1)
            assert cmd["args"] == {"event": {"kind": "sensor_fail", "target": "CRAH-01.return_temp", "mode": "open"}}
            banner = app.query_one(TrainingBanner)
            await until(pilot, lambda: banner.display, "the TRAINING banner")
            assert "CRAH-01.return_temp open" in plain(banner)


def test_sensor_dialog_80x24(snap_compare):
    """The sensor dialog fits 80 × 24: filter, the twin's sensors, the three modes."""
    with FakeTwin(hall(), scene(), audit=AUDIT) as fake:
        app = console_for(fake, role="engineer")

        async def run_before(pilot) -> None:
            await until(pilot, lambda: app.twin.summary is not None, "the fake's state")
            await _choose(pilot, app, "Fail a sensor")
            await until(pilot, lambda: isinstance(app.screen, SensorFailDialog), "the sensor dialog")
            app.screen.query_one("#sensor-filter", Input).cursor_blink = False

        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_load_step_dialog_80x24(snap_compare):
    """The load step dialog with a value out of range: the reason beside the fields, nothing sent."""
    with FakeTwin(hall(), scene(), audit=AUDIT) as fake:
        app = console_for(fake, role="engineer")

        async def run_before(pilot) -> None:
            await until(pilot, lambda: app.twin.summary is not None, "the fake's state")
            await _choose(pilot, app, "Step a rack")
            await until(pilot, lambda: isinstance(app.screen, LoadStepDialog), "the load step dialog")
            for box in app.screen.query(Input):
                box.cursor_blink = False
            await pilot.press(*"a03", "enter", "1", "5", "0", "enter")
            await until(pilot, lambda: "from 0 to 100" in plain(app.screen.query_one("#load-status")), "the reason")

        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
        assert fake.received == []
