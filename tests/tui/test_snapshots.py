"""SVG snapshots of every view at 80 × 24, fed by the fake twin with a frozen clock.

The fake publishes fixed data and its clock never moves, so each screen is the same on every run.
Snapshots live in __snapshots__/test_snapshots/; after an intended change of the console's look,
review the report and rewrite them with ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import math

from textual.widgets import Input

from tests.tui.data import AUDIT, hall, scene
from tests.tui.fake_twin import FakeTwin
from tests.tui.helpers import console_for, plain, until
from tui.dialogs.setpoint import SetpointDialog

SIZE = (80, 24)


def _live(app, *, seq: int | None = None):
    """run_before: wait until the console shows the fake's state (and summary ``seq`` if given)."""
    async def run_before(pilot) -> None:
        await until(pilot, lambda: app.twin.status == "live" and app.twin.summary is not None
                    and (seq is None or app.twin.summary_seq == seq), "the fake's state on screen")
    return run_before


def test_racks_view(snap_compare, fake_twin):
    app = console_for(fake_twin)
    assert snap_compare(app, terminal_size=SIZE, run_before=_live(app))


def test_racks_view_sorted_hottest_first(snap_compare, fake_twin):
    app = console_for(fake_twin)
    assert snap_compare(app, terminal_size=SIZE, press=["s"], run_before=_live(app))


def test_cooling_view(snap_compare, fake_twin):
    app = console_for(fake_twin)
    assert snap_compare(app, terminal_size=SIZE, press=["2"], run_before=_live(app))


def test_power_view(snap_compare, fake_twin):
    app = console_for(fake_twin)
    assert snap_compare(app, terminal_size=SIZE, press=["3"], run_before=_live(app))


def test_alarms_view(snap_compare, fake_twin):
    app = console_for(fake_twin)
    assert snap_compare(app, terminal_size=SIZE, press=["4"], run_before=_live(app))


def test_audit_view(snap_compare, fake_twin):
    app = console_for(fake_twin)
    assert snap_compare(app, terminal_size=SIZE, press=["6"], run_before=_live(app))


def test_trends_view(snap_compare):
    """Ten minutes of samples (one per 10 s of simulated time), published after the snapshot."""
    series = []
    for k in range(61):
        s = scene(time_s=10.0 * k)
        s["hall"]["pue"] = round(1.30 + 0.05 * math.sin(k / 6.0), 4)
        s["hall"]["max_inlet_c"] = round(24.0 + 0.065 * k, 3)
        s["hall"]["cooling_power_w"] = round(5000.0 + 800.0 * math.cos(k / 9.0), 1)
        series.append(s)
    with FakeTwin(hall(), series[0], audit=AUDIT) as fake:
        app = console_for(fake)

        async def run_before(pilot) -> None:
            await _live(app)(pilot)
            # One at a time: the console samples the newest summary at each poll, and a fixed picture
            # needs every sample.
            for s in series[1:]:
                fake.publish_summary(s)
                t = s["clock"]["time_s"]
                await until(pilot, lambda: app.link.trends.points[-1].time_s == t, f"the sample at {t:g} s")
            await until(pilot, lambda: len(app.twin.trends) == 61, "61 trend samples on screen")
            await pilot.press("5")

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_setpoint_dialog_with_a_clamped_reply(snap_compare, fake_twin):
    """The reply lands in the dialog, under the value typed."""
    fake_twin.respond = lambda header: (
        "clamped", "CRAH-01.supply_temp_setpoint: change limited to 3 °C per write; target 21 instead of 24",
        {"target": 21.0})
    app = console_for(fake_twin)

    async def run_before(pilot) -> None:
        await _live(app)(pilot)
        await pilot.press("2", "tab", "enter")
        await until(pilot, lambda: isinstance(app.screen, SetpointDialog), "the dialog")
        app.screen.query_one("#sp-input", Input).cursor_blink = False  # a blinking cursor is not a stable image
        await pilot.press("2", "4", "enter")
        await until(pilot, lambda: "clamped" in plain(app.screen.query_one("#sp-status")), "the reply")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_training_banner(snap_compare):
    """A tripped CRAH injected over the bus: the banner, the trip in red, the header's alarm count."""
    s = scene()
    s["clock"]["training"] = True
    s["crahs"]["tripped"] = [True]
    s["crahs"]["running"] = [False]
    s["crahs"]["fan_speed"] = [0.0]
    s["crahs"]["valve"] = [0.0]
    s["crahs"]["capacity_used"] = [0.0]
    s["alarms"]["active"][0]["state"] = "UNACK"
    with FakeTwin(hall(), s, audit=AUDIT) as fake:
        app = console_for(fake, role="engineer")
        assert snap_compare(app, terminal_size=SIZE, press=["2"], run_before=_live(app))


def test_stale_header(snap_compare, fake_twin):
    """Heartbeats stopped: STALE in the header, the last values kept."""
    app = console_for(fake_twin)

    async def run_before(pilot) -> None:
        await _live(app)(pilot)
        fake_twin.heartbeats = False
        await until(pilot, lambda: app.twin.status == "stale", "STALE")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
