"""The console's what-if view (key 8) and its start key (w): against the fake twin for the screen and the
keys, and against a real server with a real Dask LocalCluster for the whole path."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, OptionList

from tests.bus.conftest import ServerThread
from tests.tui.data import AUDIT, hall, scene, whatif_done, whatif_running
from tests.tui.fake_twin import FakeTwin
from tests.tui.helpers import console_for, plain, row_text, until
from tui.app import ConsoleApp
from tui.dialogs.whatif import WhatIfDialog
from tui.widgets.command_line import CommandLine
from twin.bus.client import TwinClient

SIZE = (80, 24)


def _live(app):
    async def run_before(pilot) -> None:
        await until(pilot, lambda: app.twin.status == "live" and app.twin.summary is not None, "the fake's state")
    return run_before


def _table(app) -> DataTable:
    return app.query_one("#whatif-table", DataTable)


def test_whatif_view(snap_compare, fake_twin):
    """The result of an N-1 of every kind: the verdict on top, the unsolvable case first, then the warnings."""
    app = console_for(fake_twin, role="engineer")

    async def run_before(pilot) -> None:
        await _live(app)(pilot)
        fake_twin.publish_event(whatif_done())
        await until(pilot, lambda: len(app.twin.whatifs_finished) == 1, "the what-if result")

    assert snap_compare(app, terminal_size=SIZE, press=["8"], run_before=run_before)


def test_whatif_dialog(snap_compare, fake_twin):
    """The engineer's choice: the sets a hall with a power chain offers, and the mode (m: 10 min run)."""
    app = console_for(fake_twin, role="engineer")
    assert snap_compare(app, terminal_size=SIZE, press=["w", "m"], run_before=_live(app))


async def test_an_operator_is_told_why_not(fake_twin):
    """w on an operator's console: the reason on the command line, no dialog, nothing sent."""
    app = console_for(fake_twin, role="operator")
    async with app.run_test(size=SIZE) as pilot:
        await _live(app)(pilot)
        await pilot.press("w")
        line = plain(app.query_one(CommandLine))
        assert "what-ifs need role engineer; this console is operator" in line
        assert not isinstance(app.screen, WhatIfDialog)
        assert app.view == "whatif"
        assert "engineers only" in plain(app.query_one("#whatif .view--title"))
    assert fake_twin.received == []


async def test_an_engineer_starts_one_and_sees_it_run_then_its_result(fake_twin):
    """w, m (10 min), Enter on the first set sends whatif {set: crah, duration_s: 600}; the running event
    shows RUNNING and stops a second start; the result replaces it, worst first."""
    app = console_for(fake_twin, role="engineer")
    async with app.run_test(size=SIZE) as pilot:
        await _live(app)(pilot)
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WhatIfDialog), "the what-if dialog")
        sets = [o.id for o in app.screen.query_one(OptionList).options]
        assert sets == ["crah", "ups", "pdu", "feed", "all"]  # tiny has a power chain
        await pilot.press("m", "enter")
        (cmd,) = fake_twin.wait_received(1)
        assert (cmd["kind"], cmd["args"], cmd["role"]) == ("whatif", {"set": "crah", "duration_s": 600.0}, "engineer")
        await until(pilot, lambda: "what-if N-1 crah (10 min transient)" in plain(app.query_one(CommandLine)),
                    "the command on the command line")

        fake_twin.publish_event(whatif_running())
        running = app.query_one("#whatif-running")
        await until(pilot, lambda: "RUNNING" in plain(running), "the running line")
        assert "N-1 crah, 2 cases, steady, from the twin at 00:10:30" in plain(running)
        await pilot.press("w")
        assert "is still running: one at a time" in plain(app.query_one(CommandLine))
        assert not isinstance(app.screen, WhatIfDialog)

        fake_twin.publish_event(whatif_done(id="9a7c01d2e3f4", set="crah"))
        await until(pilot, lambda: _table(app).row_count == 14, "the result's rows")
        assert not running.display
        cases = [row_text(_table(app), r.key.value)[1] for r in _table(app).ordered_rows]
        assert cases == [r["case"] for r in whatif_done()["rows"]]  # the server's order: worst first
        first = row_text(_table(app), _table(app).ordered_rows[0].key.value)
        assert first[0] == "ERROR" and first[1] == "without CRAH-01"
        second = row_text(_table(app), _table(app).ordered_rows[1].key.value)
        assert second[:6] == ["WARN", "without UPS-B", "A01", "20.1 °C", "PDU-A", "84 %"]
        assert plain(app.query_one("#whatif-verdict")).startswith("N-1 cooling: fails: without CRAH-01")

        # An earlier result is one key away.
        fake_twin.publish_event(whatif_done(id="b1", verdict="N-1 power: passes (5 cases): later",
                                            rows=whatif_done()["rows"][-5:]))
        await until(pilot, lambda: _table(app).row_count == 5, "the newer result")
        await pilot.press("left_square_bracket")
        assert _table(app).row_count == 14 and "1 before the latest" in plain(app.query_one("#whatif .view--title"))
        await pilot.press("right_square_bracket")
        assert _table(app).row_count == 5


def test_a_late_joiner_gets_the_recent_whatifs_from_the_snapshot():
    """(1.3) A console that connects after a what-if ended still shows it: snapshots carry them."""
    with FakeTwin(hall(), scene(), audit=AUDIT) as fake:
        fake.snapshot_extra = {"whatifs": [whatif_done()]}
        with TwinClient(fake.state_endpoint, fake.commands_endpoint, topics=("summary", "event", "heartbeat")) as c:
            assert c.connect(5.0)
            assert list(c.whatifs) == [whatif_done()["id"]]
            assert c.whatifs[whatif_done()["id"]]["verdict"] == whatif_done()["verdict"]


@pytest.mark.slow
async def test_the_view_shows_a_real_whatif_run_on_a_local_cluster():
    """A real server on tiny.toml with its own one-worker LocalCluster: w, Enter (N-1 CRAH) from the
    engineer's console, and the view shows what the server computed: base ok, CRAH-01 out unsolvable."""
    from multiprocessing import resource_tracker

    # The cluster's worker processes register semaphores with multiprocessing's resource tracker, which is
    # started at the first use with this process's stderr; inside run_test stderr is textual's capture
    # (no file descriptor), so start it before. (`twin serve` is a process of its own: no console in it.)
    resource_tracker.ensure_running()
    with ServerThread(whatif_workers=1, speed=50.0) as srv:
        app = ConsoleApp(lambda: TwinClient(srv.state_ep, srv.commands_ep, role="engineer", name="console",
                                            topics=("summary", "event", "heartbeat")), role="engineer",
                         ui_interval_s=0.1)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.twin.status == "live", "the console to go LIVE")
            await pilot.press("w")
            await until(pilot, lambda: isinstance(app.screen, WhatIfDialog), "the what-if dialog")
            await pilot.press("enter")
            # The server's reply says it started. (Its "running" event may be replaced by the result before
            # the console's next look: with the cluster's imports warm, two tiny cases take under 2 s.)
            await until(pilot, lambda: app.last_command is not None and app.last_command.status == "ok",
                        "the what-if's start", 20.0)
            assert app.last_command.kind == "whatif" and "started" in app.last_command.reason
            await until(pilot, lambda: app.twin.whatifs_finished, "the what-if's result", 180.0)
            assert app.twin.whatifs_finished[-1]["id"] == app.last_command.result["whatif"]
            body = srv.server.whatif.recent[-1]
            assert body["state"] == "done", body
            await until(pilot, lambda: _table(app).row_count == 2, "the what-if's rows")
            shown = " ".join(plain(app.query_one("#whatif-verdict")).split())  # (plain() wraps at its width)
            assert shown.startswith(" ".join(body["verdict"].split()))
            rows = {row_text(_table(app), r.key.value)[1]: row_text(_table(app), r.key.value)
                    for r in _table(app).ordered_rows}
            assert rows["without CRAH-01"][0] == "ERROR"
            base = next(r for r in body["rows"] if r["case"] == "base")
            assert rows["base"][2:4] == [base["max_inlet_rack"], f"{base['max_inlet_c']:.1f} °C"]
    # The frozen fixture of the snapshots still has the real event's shape.
    assert set(whatif_done()) == set(body)
    assert set(whatif_done()["rows"][1]) == set(next(r for r in body["rows"] if r["case"] == "base"))


async def test_key_8_works_at_any_width_and_the_footer_names_it_where_it_fits(fake_twin):
    """At 80 columns the footer keeps its seven views and pause (no room for an eighth); from 92 on it
    shows 8 What-if too. The key works at both widths."""
    for size, in_footer in (((80, 24), False), ((100, 30), True)):
        app = console_for(fake_twin)
        async with app.run_test(size=size) as pilot:
            await _live(app)(pilot)
            footer = app.query_one("Footer")
            await pilot.pause()
            labels = " ".join(str(k.render()) for k in footer.query("FooterKey"))
            assert ("What-if" in labels) is in_footer, labels
            assert "Pause" in labels and "Floor" in labels
            await pilot.press("8")
            assert app.view == "whatif"
