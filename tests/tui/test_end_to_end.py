"""End to end: a real `twin serve` on tiny.toml, the console connected to it, a setpoint changed from
the console's dialog; a separate client then sees the new setpoint in the twin's state and the CRAH
answering it (its supply air follows the setpoint down, its chilled-water valve opens)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from tests.halls import TINY
from tests.tui.helpers import plain, row_text, until
from tui.app import ConsoleApp
from tui.cli import free_loopback_endpoints
from tui.dialogs.setpoint import SetpointDialog
from twin.bus.audit import read_audit
from twin.bus.client import CommandError, TwinClient

REPO = Path(__file__).resolve().parents[2]
SUPPLY = "CRAH-01.supply_temp_setpoint"


def _crah(client: TwinClient) -> dict:
    c = client.summary["crahs"]
    sp = next(s for ctl in client.summary["controllers"] for s in ctl["setpoints"] if s["name"] == SUPPLY)
    return {"t_supply_c": c["t_supply_c"][0], "valve": c["valve"][0], "setpoint_c": c["supply_setpoint_c"][0],
            "target_c": sp["target"], "time_s": client.summary["clock"]["time_s"]}


def _watch(state: str, commands: str, done, timeout_s: float) -> dict:
    """Follow the twin with a separate observer client until ``done(crah)``; the last reading."""
    with TwinClient(state, commands, role="observer", name="e2e-observer", topics=("summary", "heartbeat")) as c:
        assert c.connect(10.0), "the observer could not connect"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            c.poll(0.1)
            reading = _crah(c)
            if done(reading):
                return reading
        raise AssertionError(f"the twin did not get there in {timeout_s:g} s; last: {_crah(c)}")


@pytest.mark.slow
async def test_setpoint_change_from_the_console_reaches_the_twin(tmp_path):
    state, commands = free_loopback_endpoints()
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "serve", str(TINY), "--state", state, "--commands", commands,
         "--speed", "20", "--from-steady", "--out", str(tmp_path)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        app = ConsoleApp(lambda: TwinClient(state, commands, role="operator", name="console",
                                            topics=("summary", "event", "heartbeat")), ui_interval_s=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.twin.status == "live", "the console to go LIVE", timeout_s=20.0)
            # Settled: the supply air sits at its 18 °C setpoint before the change.
            before = await asyncio.to_thread(
                _watch, state, commands, lambda r: r["time_s"] > 60 and abs(r["t_supply_c"] - 18.0) < 0.5, 20.0)
            await pilot.press("2", "tab", "enter")
            await until(pilot, lambda: isinstance(app.screen, SetpointDialog), "the setpoint dialog")
            dialog = app.screen
            await pilot.press("1", "5", "enter")
            await until(pilot, lambda: "ok" in plain(dialog.query_one("#sp-status")), "the twin's ok", 10.0)
            assert "target now 15 °C" in plain(dialog.query_one("#sp-status"))
            await pilot.press("escape")
            table = app.query_one("#setpoint-table", DataTable)
            await until(pilot, lambda: row_text(table, SUPPLY)[2] == "15 °C", "target 15 °C in the console", 10.0)

            # The twin, seen by another client: the new target, the ramped setpoint, and the CRAH following.
            after = await asyncio.to_thread(
                _watch, state, commands,
                lambda r: r["setpoint_c"] <= 15.5 and r["t_supply_c"] <= before["t_supply_c"] - 1.5, 30.0)
            assert after["target_c"] == 15.0
            assert after["valve"] > before["valve"] + 0.05, (before, after)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    records = [r for r in read_audit(tmp_path / "audit.jsonl") if r.get("kind") == "set_setpoint"]
    assert [(r["name"], r["role"], r["target"], r["new"], r["status"]) for r in records] == \
        [("console", "operator", SUPPLY, 15.0, "ok")]
    assert server.returncode == 143  # SIGTERM: stopped cleanly, final checkpoint written
    assert (tmp_path / "checkpoint.npz").exists()


def test_free_endpoints_are_loopback_and_distinct():
    a, b = free_loopback_endpoints()
    assert a != b and a.startswith("tcp://127.0.0.1:") and b.startswith("tcp://127.0.0.1:")


def test_ping_fails_cleanly_without_a_server():
    """The probe `twin up` relies on: no server, a CommandError (not a hang)."""
    state, commands = free_loopback_endpoints()
    with TwinClient(state, commands, role="observer", topics=("heartbeat",)) as c, pytest.raises(CommandError):
        c.request("ping", timeout_s=0.3)
