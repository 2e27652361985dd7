"""Pilot tests of the console against a fake twin: keys, setpoint edits and replies, STALE, alarms,
engineer actions, pause and speed, the command palette.

The console runs its real bus client against tests/tui/fake_twin.py, which speaks the real protocol
on loopback; assertions read what the operator would read (header, tables, dialog) and what reached
the wire (the fake's received commands).
"""

from __future__ import annotations

import copy

import pytest
from textual.widgets import ContentSwitcher, DataTable, Input
from textual.widgets._footer import FooterKey

from tests.tui.data import hall, scene, setpoint
from tests.tui.fake_twin import FakeTwin
from tests.tui.helpers import console_for, plain, row_text, until
from tui.app import FOOTER_WIDE_ONLY, VIEWS
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.inject import InjectDialog
from tui.dialogs.setpoint import SetpointDialog
from tui.dialogs.shelve import ShelveDialog
from tui.widgets.banner import TrainingBanner
from tui.widgets.command_line import CommandLine
from tui.widgets.header import TwinHeader

SUPPLY = "CRAH-01.supply_temp_setpoint"


async def _live(pilot, app) -> None:
    await until(pilot, lambda: app.twin.status == "live" and app.twin.summary is not None, "the console to go LIVE")


async def test_keys_switch_views_and_the_footer_lists_them(fake_twin):
    """Keys 1–6 show each view and give it the keyboard; the footer names every view with its key (at 80
    columns all but the wide-only ones: test_whatif.py checks those)."""
    app = console_for(fake_twin)
    async with app.run_test(size=(80, 24)) as pilot:
        await _live(pilot, app)
        await until(pilot, lambda: len(app.query(FooterKey)) > 0, "the footer")
        footer = {k.key: k.description for k in app.query(FooterKey)}
        for i, (vid, title) in enumerate(VIEWS):
            if vid not in FOOTER_WIDE_ONLY:
                assert footer[str(i + 1)] == title
        for key, (vid, title) in reversed(list(zip("123456", VIEWS))):
            await pilot.press(key)
            await pilot.pause()
            assert app.query_one(ContentSwitcher).current == vid
            view = app.query_one(f"#{vid}")
            if vid == "trends":  # nothing there takes keys: no hidden table keeps them either
                assert app.focused is None
            else:
                assert app.focused is not None and view in app.focused.ancestors_with_self
            assert plain(view.query_one(".view--title")).startswith(title.upper())
        assert "Tiny test hall" in plain(app.query_one(TwinHeader))


async def test_racks_sort_and_filter(fake_twin):
    """s sorts (hottest inlet first), / filters by name, Escape clears, f keeps racks outside the band."""
    app = console_for(fake_twin)
    async with app.run_test(size=(80, 24)) as pilot:
        await _live(pilot, app)
        table = app.query_one("#racks-table", DataTable)
        assert [r.key.value for r in table.ordered_rows] == ["A01", "A02", "A03", "A04"]
        await pilot.press("s")  # by inlet, hottest first
        inlets = [float(row_text(table, r.key.value)[1]) for r in table.ordered_rows]
        assert table.ordered_rows[0].key.value == "A03" and inlets == sorted(inlets, reverse=True)
        await pilot.press("r")
        assert table.ordered_rows[-1].key.value == "A03"
        await pilot.press("slash", "a", "0", "4")
        assert [r.key.value for r in table.ordered_rows] == ["A04"]
        await pilot.press("escape")
        assert table.row_count == 4 and app.focused is table
        await pilot.press("f")
        assert [r.key.value for r in table.ordered_rows] == ["A03"]
        assert row_text(table, "A03")[5] == "above rec."


async def _open_setpoint(pilot, app, name: str) -> SetpointDialog:
    """Cooling view, tab to the setpoint table, arrow down to ``name``, Enter."""
    await pilot.press("2", "tab")
    table = app.query_one("#setpoint-table", DataTable)
    keys = [r.key.value for r in table.ordered_rows]
    await pilot.press(*["down"] * keys.index(name), "enter")
    await until(pilot, lambda: isinstance(app.screen, SetpointDialog), "the setpoint dialog")
    return app.screen


# (setpoint, typed value, sent value, the twin's status, reason, result)
REPLIES = [
    (SUPPLY, "17", 17.0, "ok", "", {"target": 17.0}),
    (SUPPLY, "24", 24.0, "clamped",
     "CRAH-01.supply_temp_setpoint: change limited to 3 °C per write; target 21 instead of 24", {"target": 21.0}),
    (SUPPLY, "40", 40.0, "out_of_range", "CRAH-01.supply_temp_setpoint: 40 °C outside [14, 27]", {}),
    ("CRAH-01.valve", "0.5", 0.5, "not_writable", "CRAH-01.valve is read-only", {}),
    ("CRAH-01.fallback_speed", "0.6", 0.6, "denied",
     "CRAH-01.fallback_speed needs role engineer or higher; writer is operator", {}),
    ("CRAH-01.enabled", "0", 0, "interlock", "CRAH-01 is the last running unit of its zone", {}),
]


@pytest.mark.parametrize("name, typed, sent, status, reason, result", REPLIES, ids=[r[3] for r in REPLIES])
async def test_setpoint_edit_sends_the_command_and_shows_the_reply(fake_twin, name, typed, sent, status, reason,
                                                                   result):
    """The dialog shows unit, range and value, sends set_setpoint with the typed value and shows the
    twin's status and reason in the dialog, on the command line and in the setpoint's row."""
    fake_twin.respond = lambda header: (status, reason, result)
    app = console_for(fake_twin)
    async with app.run_test(size=(80, 24)) as pilot:
        await _live(pilot, app)
        dialog = await _open_setpoint(pilot, app, name)
        info = plain(dialog.query_one("#sp-info"))
        sp = setpoint(scene(), name)
        assert "Range" in info and "In force" in info
        if name == SUPPLY:
            assert "14 … 27 °C" in info and "at most 3 °C per write" in info
        if not sp["writable"]:
            assert "Read-only" in info
        await pilot.press(*typed, "enter")
        (header,) = fake_twin.wait_received(1)
        assert header["kind"] == "set_setpoint" and header["args"] == {"target": name, "value": sent}
        assert header["role"] == "operator" and header["client"] == "console"
        assert type(header["args"]["value"]) is type(sent)  # an integer setpoint gets an integer
        await until(pilot, lambda: status in plain(dialog.query_one("#sp-status")), f"{status} in the dialog")
        shown = plain(dialog.query_one("#sp-status"))
        assert reason.split(";")[0] in shown.replace("\n", "")
        if status in ("ok", "clamped"):
            assert f"target now {result['target']:g}" in shown
        assert status in plain(app.query_one(CommandLine))
        await pilot.press("escape")
        row = row_text(app.query_one("#setpoint-table", DataTable), name)
        assert row[-1].startswith(status)


async def test_nothing_shows_as_applied_until_the_twin_confirms(fake_twin):
    """While the reply is pending the dialog says so and the table keeps the twin's old target; after
    an ok the target changes only when a summary reports it."""
    fake_twin.hold_replies = True
    app = console_for(fake_twin)
    async with app.run_test(size=(80, 24)) as pilot:
        await _live(pilot, app)
        table = app.query_one("#setpoint-table", DataTable)
        dialog = await _open_setpoint(pilot, app, SUPPLY)
        await pilot.press("1", "7", "enter")
        fake_twin.wait_received(1)
        await pilot.pause(0.2)
        assert "waiting for the twin" in plain(dialog.query_one("#sp-status"))
        assert row_text(table, SUPPLY)[2] == "18 °C"
        assert row_text(table, SUPPLY)[-1] == "sent → 17"
        fake_twin.respond = lambda header: ("ok", "", {"target": 17.0})
        fake_twin.release()
        await until(pilot, lambda: "ok" in plain(dialog.query_one("#sp-status")), "the ok reply")
        assert row_text(table, SUPPLY)[2] == "18 °C"  # replied, but no summary says so yet
        changed = scene()
        setpoint(changed, SUPPLY)["target"] = 17.0
        fake_twin.publish_summary(changed)
        await until(pilot, lambda: row_text(table, SUPPLY)[2] == "17 °C", "the new target from a summary")


async def test_a_command_without_reply_times_out(fake_twin):
    """A command the twin never answers is reported as timeout, not left as sent."""
    fake_twin.hold_replies = True
    app = console_for(fake_twin)
    app.link.reply_timeout_s = 0.3
    async with app.run_test(size=(80, 24)) as pilot:
        await _live(pilot, app)
        await pilot.press("p")
        await until(pilot, lambda: app.last_command is not None and app.last_command.status == "timeout", "timeout")
        assert "timeout" in plain(app.query_one(CommandLine))


async def test_stale_when_heartbeats_stop_and_live_again_when_they_return(fake_twin):
    """No message for three heartbeat periods: STALE in the header; heartbeats again: a new snapshot and LIVE."""
    app = console_for(fake_twin)
    async with app.run_test(size=(80, 24)) as pilot:
        await _live(pilot, app)
        header = app.query_one(TwinHeader)
        assert "LIVE" in plain(header) and "STALE" not in plain(header)
        fake_twin.heartbeats = False
        await until(pilot, lambda: "STALE" in plain(header), "STALE in the header")
        assert app.twin.status == "stale"
        fake_twin.heartbeats = True
        await until(pilot, lambda: "LIVE" in plain(header), "LIVE again")
        assert "STALE" not in plain(header)
        assert fake_twin.snapshots_served == 2  # it resynchronised with a fresh snapshot


async def test_live_again_after_the_server_restarts(fake_twin):
    """A server that goes away and comes back on the same endpoints (a new server id) is picked up."""
    app = console_for(fake_twin)
    endpoints = (fake_twin.state_endpoint, fake_twin.commands_endpoint)
    async with app.run_test(size=(80, 24)) as pilot:
        await _live(pilot, app)
        header = app.query_one(TwinHeader)
        fake_twin.close()
        await until(pilot, lambda: "STALE" in plain(header), "STALE after the server left")
        later = scene(time_s=30.0)
        with FakeTwin(hall(), later, endpoints=endpoints, server_id="fake-twin-2"):
            await until(pilot, lambda: "LIVE" in plain(header) and "00:00:30" in plain(header),
                        "LIVE with the new server's clock", timeout_s=8.0)


def _alarm_state(summary: dict, name: str, state: str, **extra) -> dict:
    """``summary`` with alarm ``name`` moved to ``state`` (shelved alarms move to the shelved list)."""
    s = copy.deepcopy(summary)
    everything = s["alarms"]["active"] + s["alarms"]["shelved"]
    a = next(x for x in everything if x["name"] == name)
    a.update(state=state, **extra)
    s["alarms"]["active"] = [x for x in everything if x["state"] in ("UNACK", "ACKED", "RTNUN")]
    s["alarms"]["shelved"] = [x for x in everything if x["state"] == "SHELVED"]
    return s


async def test_alarms_acknowledge_and_shelve(fake_twin):
    """a acknowledges the selected alarm, s shelves it for the duration typed; the table follows the twin."""
    name = "A03.inlet_above_recommended"
    state = {"summary": scene()}

    def accepted(header, fake):
        if header["kind"] == "alarm_ack":
            state["summary"] = _alarm_state(state["summary"], name, "ACKED", acked_s=600.0)
        elif header["kind"] == "alarm_shelve":
            until_s = 600.0 + header["args"]["duration_s"]
            state["summary"] = _alarm_state(state["summary"], name, "SHELVED", shelved_until_s=until_s)
        fake.publish_summary_now(state["summary"])

    fake_twin.on_accepted = accepted
    app = console_for(fake_twin)
    async with app.run_test(size=(80, 24)) as pilot:
        await _live(pilot, app)
        header = app.query_one(TwinHeader)
        assert "2 unack alarms" in plain(header)  # UNACK and RTNUN both need an acknowledgement
        await pilot.press("4")
        table = app.query_one("#alarm-table", DataTable)
        keys = [r.key.value for r in table.ordered_rows]
        assert row_text(table, name)[1] == "UNACK"
        assert row_text(table, "CRAH-01.supply_temp.failed")[1] == "SHELVED"
        await pilot.press(*["down"] * keys.index(name), "a")
        (ack,) = fake_twin.wait_received(1)
        assert ack["kind"] == "alarm_ack" and ack["args"] == {"alarm": name}
        await until(pilot, lambda: row_text(table, name)[1] == "ACKED", "ACKED in the table")
        assert "1 unack alarm" in plain(header)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ShelveDialog), "the shelve dialog")
        await pilot.press(*"30min", "enter")
        shelve = fake_twin.wait_received(2)[1]
        assert shelve["kind"] == "alarm_shelve" and shelve["args"] == {"alarm": name, "duration_s": 1800.0}
        await until(pilot, lambda: row_text(table, name)[1] == "SHELVED", "SHELVED in the table")
        assert "until 00:40:00" in row_text(table, name)[4]
        assert "ok" in plain(app.query_one(CommandLine)) and "shelve" in plain(app.query_one(CommandLine))


async def test_training_faults_need_an_engineer_and_a_confirmation(fake_twin):
    """An operator cannot inject; an engineer is asked first (n sends nothing, y sends the event) and
    the TRAINING banner shows while the twin reports the injected fault."""
    def accepted(header, fake):
        s = scene()
        s["clock"]["training"] = True
        s["crahs"]["tripped"] = [True]
        s["crahs"]["running"] = [False]
        fake.publish_summary_now(s)

    fake_twin.on_accepted = accepted
    app = console_for(fake_twin, role="operator")
    async with app.run_test(size=(80, 24)) as pilot:
        await _live(pilot, app)
        await pilot.press("i")
        assert not isinstance(app.screen, InjectDialog)
        assert "need role engineer" in plain(app.query_one(CommandLine))
    assert fake_twin.received == []

    app = console_for(fake_twin, role="engineer")
    async with app.run_test(size=(80, 24)) as pilot:
        await _live(pilot, app)
        banner = app.query_one(TrainingBanner)
        assert not banner.display
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, InjectDialog), "the fault list")
        await pilot.press("enter")  # the first fault: Trip CRAH-01
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("n")
        await pilot.pause(0.2)
        assert fake_twin.received == []
        await pilot.press("i", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("y")
        (cmd,) = fake_twin.wait_received(1)
        assert cmd["kind"] == "scenario_event" and cmd["role"] == "engineer"
        assert cmd["args"] == {"event": {"kind": "crah_trip", "target": "CRAH-01"}}
        await until(pilot, lambda: banner.display, "the TRAINING banner")
        assert "TRAINING" in plain(banner) and "CRAH-01 tripped" in plain(banner)


async def test_engineer_only_setpoint_asks_for_confirmation(fake_twin):
    """An engineer writing a limit (write role engineer) confirms first."""
    app = console_for(fake_twin, role="engineer")
    async with app.run_test(size=(80, 24)) as pilot:
        await _live(pilot, app)
        await _open_setpoint(pilot, app, "CRAH-01.fallback_speed")
        await pilot.press("0", ".", "6", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        assert fake_twin.received == []
        await pilot.press("y")
        (cmd,) = fake_twin.wait_received(1)
        assert cmd["args"] == {"target": "CRAH-01.fallback_speed", "value": 0.6}


async def test_pause_resume_and_speed(fake_twin):
    """p pauses (PAUSED shows once the twin says so) and resumes; + and - step through the speed presets."""
    def accepted(header, fake):
        s = copy.deepcopy(fake.summary)
        if header["kind"] in ("pause", "resume"):
            s["clock"]["paused"] = header["kind"] == "pause"
        elif header["kind"] == "set_speed":
            s["clock"]["speed"] = header["args"]["speed"]
        fake.publish_summary_now(s)

    fake_twin.on_accepted = accepted
    app = console_for(fake_twin)
    async with app.run_test(size=(80, 24)) as pilot:
        await _live(pilot, app)
        header = app.query_one(TwinHeader)
        assert "×10" in plain(header)
        await pilot.press("p")
        await until(pilot, lambda: "PAUSED" in plain(header), "PAUSED")
        await pilot.press("p")
        await until(pilot, lambda: "PAUSED" not in plain(header), "running again")
        await pilot.press("plus")
        await until(pilot, lambda: "×20" in plain(header), "×20")
        await pilot.press("minus", )
        await until(pilot, lambda: "×10" in plain(header), "×10")
        kinds = [(c["kind"], c["args"]) for c in fake_twin.received]
        assert kinds == [("pause", {}), ("resume", {}), ("set_speed", {"speed": 20.0}), ("set_speed", {"speed": 10.0})]


async def test_command_palette_has_an_entry_per_action(fake_twin):
    """Views, pause, resume, speeds, every setpoint, every alarm action (and faults for engineers)
    are in the palette; choosing one runs it."""
    app = console_for(fake_twin)
    async with app.run_test(size=(80, 24)) as pilot:
        await _live(pilot, app)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        expected = {"View: Racks", "View: Cooling", "View: Power", "View: Alarms", "View: Trends", "View: Audit",
                    "Pause the twin", "Resume the twin", "Speed ×10", "Speed max", f"Edit {SUPPLY}",
                    "Acknowledge all alarms", "Acknowledge A03.inlet_above_recommended",
                    "Shelve A03.inlet_above_recommended…", "Unshelve CRAH-01.supply_temp.failed",
                    "Racks: filter by name"}
        assert expected <= titles
        assert not any(t.startswith("Training:") for t in titles)
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"Pause the twin")
        await pilot.pause(0.5)
        await pilot.press("enter")
        (cmd,) = fake_twin.wait_received(1)
        assert cmd["kind"] == "pause"
    engineer = console_for(fake_twin, role="engineer")
    async with engineer.run_test(size=(80, 24)) as pilot:
        await _live(pilot, engineer)
        titles = {c.title for c in engineer.get_system_commands(engineer.screen)}
        assert {"Training: Trip CRAH-01", "Training: Fail the utility (outage)"} <= titles


async def test_a_typo_is_not_sent(fake_twin):
    """Enter on a value that is not a number says so and sends nothing."""
    app = console_for(fake_twin)
    async with app.run_test(size=(80, 24)) as pilot:
        await _live(pilot, app)
        dialog = await _open_setpoint(pilot, app, SUPPLY)
        dialog.query_one("#sp-input", Input).value = "1e"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert "type a number" in plain(dialog.query_one("#sp-hint"))
        assert fake_twin.received == []


async def test_a_wide_terminal_shows_more(fake_twin):
    """At 120 columns the racks table adds heat and airflow, and the header spells its figures out."""
    app = console_for(fake_twin)
    async with app.run_test(size=(120, 30)) as pilot:
        await _live(pilot, app)
        table = app.query_one("#racks-table", DataTable)
        assert [c.key.value for c in table.ordered_columns][-2:] == ["heat", "flow"]
        assert row_text(table, "A03")[-1] == "0.604"
        header = plain(app.query_one(TwinHeader))
        assert "Max inlet 27.8 °C A03 (A1 18–27)" in header and "SoC 100 %" in header
        # IT power named by where it is measured: the servers' load, and the racks' inputs (+ PSU losses).
        kpi = fake_twin.summary["hall"]
        assert f"IT load {kpi['it_load_w'] / 1e3:.1f} kW" in header
        assert f"Rack input {kpi['rack_input_w'] / 1e3:.1f} kW" in header
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: len(table.ordered_columns) == 7, "the 80-column table")
