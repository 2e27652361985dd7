"""The console's plain parts: formats, trends, speed steps, the link's command bookkeeping, and the
frozen fixture's agreement with what the real server sends."""

from __future__ import annotations

import pytest

from tests.tui.data import HALL, SUMMARY, hall, scene
from tui.format import fmt_clock, fmt_pct, fmt_power, fmt_speed, fmt_value, inlet_state, num
from tui.link import BusLink
from tui.model import (
    CommandRecord,
    Trends,
    TwinData,
    command_label,
    find_setpoint,
    injectable_events,
    is_clearing,
    next_speed,
    rows,
    stepped_racks,
    unacknowledged,
)
from tui.palette import ALARM, WARNING
from twin.bus.client import CommandError
from twin.model.units import parse_duration_s


def _keys(obj, prefix: str = "") -> set[str]:
    """Every key path of nested dicts (lists of dicts are looked into by their first element)."""
    out = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(prefix + k)
            out |= _keys(v, prefix + k + ".")
    elif isinstance(obj, list) and obj and isinstance(obj[0], dict):
        out |= _keys(obj[0], prefix + "[].")
    return out


def test_fixture_matches_the_server():
    """The frozen summary and hall carry exactly the keys the real server sends for tiny.toml."""
    from tests.halls import TINY
    from twin.bus.protocol import decode_json, encode_json
    from twin.bus.views import hall_info, summary_body
    from twin.model.load import load_hall
    from twin.sim.twin import HallTwin

    twin = HallTwin(load_hall(TINY), control="embedded")
    state = twin.initial_state()
    twin.step(state)
    clock = {"speed": 1.0, "max_speed": False, "paused": False, "dt_s": 1.0, "server": "x", "step_ms": None,
             "training": False}
    real = decode_json(encode_json(summary_body(twin, state, clock=clock)))
    assert _keys(real) == _keys(SUMMARY)
    assert _keys(decode_json(encode_json(hall_info(twin)))) == _keys(HALL)


def test_formats():
    """Units always shown, unknowns as a dash, clock as hh:mm:ss."""
    assert fmt_clock(3723.9) == "01:02:03" and fmt_clock(90061) == "1d 01:01:01" and fmt_clock(None) == "--:--:--"
    assert fmt_power(950) == "950 W" and fmt_power(23958.3) == "24.0 kW" and fmt_power(1.5e6) == "1.50 MW"
    assert fmt_pct(0.425) == "42 %" and fmt_pct(None) == "—"
    assert fmt_speed({"speed": 10.0, "max_speed": False}) == "×10" and fmt_speed({"max_speed": True}) == "max"
    assert fmt_value(18.0, "°C") == "18 °C" and fmt_value(0.8, "1") == "0.8" and fmt_value(1, "1", integer=True) == "1"
    assert num(float("nan")) is None and num(True) is None and num("3") is None and num(3) == 3.0


@pytest.mark.parametrize("t_c, text, style", [
    (22.0, "ok", ""), (27.5, "above rec.", WARNING), (17.0, "below rec.", WARNING),
    (32.5, "above allowable", ALARM), (14.0, "below allowable", ALARM)])
def test_inlet_state_against_the_ashrae_band(t_c, text, style):
    """Recommended 18–27 °C plain; outside it amber; outside A1's allowable 15–32 °C red."""
    s = inlet_state(t_c, HALL["ashrae"])
    assert s.plain == text and s.style == style


def test_durations():
    assert parse_duration_s("90") == 90 and parse_duration_s("30min") == 1800 and parse_duration_s("1.5h") == 5400
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration_s("soon")
    with pytest.raises(ValueError, match="positive"):
        parse_duration_s("0s")


def test_trends_keep_the_window_and_restart_with_the_clock():
    """One point per new instant, the last window_s kept, a clock going back starts afresh."""
    tr = Trends(window_s=60.0)
    for t in range(0, 200, 10):
        assert tr.add(scene(time_s=t))
    assert not tr.add(scene(time_s=190))  # the same instant twice
    assert [p.time_s for p in tr.points] == [130, 140, 150, 160, 170, 180, 190]
    assert tr.points[-1].max_inlet_c == 27.8
    tr.add(scene(time_s=5))  # a restarted server
    assert [p.time_s for p in tr.points] == [5]


def test_next_speed_steps_through_presets():
    assert next_speed({"speed": 10.0}, +1) == 20.0 and next_speed({"speed": 10.0}, -1) == 5.0
    assert next_speed({"speed": 7.0}, +1) == 10.0  # from the nearest preset
    assert next_speed({"speed": 600.0}, +1) == "max" and next_speed({"max_speed": True}, +1) == "max"
    assert next_speed({"max_speed": True}, -1) == 600.0 and next_speed({"speed": 0.5}, -1) == 0.5


def test_summary_helpers():
    s = scene()
    assert [r["name"] for r in rows(s["racks"])] == ["A01", "A02", "A03", "A04"]
    assert rows(s["racks"])[2]["t_inlet_c"] == 27.8
    assert {a["state"] for a in unacknowledged(s)} == {"UNACK", "RTNUN"}
    assert find_setpoint(s, "CRAH-01.supply_temp_setpoint")["unit"] == "°C"
    assert find_setpoint(s, "nope") is None
    data = TwinData(status="live", summary=s, hall=hall())
    assert data.time_s == 600.0 and not data.training and not data.paused


def test_injectable_events_follow_the_hall():
    """CRAH trips and restarts for every CRAH; utility faults only with a power chain."""
    events = [ev for _, ev in injectable_events(hall())]
    assert {"kind": "crah_trip", "target": "CRAH-01"} in events and {"kind": "utility_outage"} in events
    no_power = {k: v for k, v in hall().items() if k != "power"}
    kinds = {ev["kind"] for _, ev in injectable_events(no_power)}
    assert "crah_trip" in kinds and not kinds & {"utility_outage", "utility_return", "generator_fail_to_start"}


def test_sensor_and_load_faults_come_from_the_hall_and_are_offered_for_clearing():
    """Sensor failure and load steps are offered when the hall view lists sensors and racks; a failed sensor
    is offered for repair and a stepped rack for its return to the hall file's load, both clearing."""
    h, s = hall(), scene()
    events = [ev for _, ev in injectable_events(h, s)]
    assert {"kind": "sensor_fail"} in events and {"kind": "rack_load"} in events
    assert not any(ev["kind"] == "sensor_repair" for ev in events)
    assert stepped_racks(h, s) == []  # the frozen scene runs the file's loads
    s["sensors"] = {"name": ["CRAH-01.supply_temp"], "mode": ["stuck"]}
    s["racks"]["it_power_w"][1] = 12000.0
    labelled = dict((lbl, ev) for lbl, ev in injectable_events(h, s))
    repair = labelled["Repair CRAH-01.supply_temp (stuck)"]
    back = labelled["Return A02 to 6 kW (now 12 kW)"]  # tiny.toml: A02 is a 6 kW rack
    assert back == {"kind": "rack_load", "target": "A02", "it_kw": 6.0}
    assert is_clearing(repair, h) and is_clearing(back, h)
    assert not is_clearing({"kind": "rack_load", "target": "A02", "it_kw": 9.0}, h)
    assert not is_clearing({"kind": "sensor_fail", "target": "CRAH-01.supply_temp", "mode": "open"}, h)
    no_sensors = {k: v for k, v in h.items() if k != "sensors"}  # ideal control, or a 1.1 server
    assert {"kind": "sensor_fail"} not in [ev for _, ev in injectable_events(no_sensors, s)]


def test_command_labels():
    sp = find_setpoint(scene(), "CRAH-01.supply_temp_setpoint")
    assert command_label("set_setpoint", {"target": sp["name"], "value": 17.0}, setpoint=sp) == \
        "set CRAH-01.supply_temp_setpoint = 17 °C"
    assert command_label("alarm_shelve", {"alarm": "X", "duration_s": 1800}) == "shelve X for 30 min"
    assert command_label("set_speed", {"speed": "max"}) == "speed max"
    assert command_label("scenario_event", {"event": {"kind": "crah_trip", "target": "CRAH-01"}}) == \
        "inject crah_trip CRAH-01"
    assert command_label("scenario_event", {"event": {"kind": "sensor_fail", "target": "CRAH-01.supply_temp",
                                                      "mode": "open"}}) == "inject sensor_fail CRAH-01.supply_temp open"
    assert command_label("scenario_event", {"event": {"kind": "rack_load", "target": "A02", "it_kw": 12.5}}) == \
        "inject rack_load A02 12.5 kW"


class _StubClient:
    """A client that is live but whose sends fail (no connection), and that never replies."""

    status = "live"
    summary = None
    summary_seq = None
    hall = None
    events = ()

    def __init__(self, *, fail: bool) -> None:
        self.fail = fail
        self.sent: list[tuple[str, dict, str]] = []

    def poll(self, timeout_s: float = 0.0) -> set[str]:
        return set()

    def send(self, kind, args=None, *, id=None):
        if self.fail:
            raise CommandError("no connection to tcp://127.0.0.1:1")
        self.sent.append((kind, args, id))
        return id

    def reply(self, cid):
        return None

    def close(self) -> None:
        pass


@pytest.mark.parametrize("fail, status", [(True, "unsent"), (False, "timeout")])
def test_link_reports_commands_that_never_got_an_answer(fail, status):
    """A send that fails is ``unsent``; a command with no reply in time is ``timeout``; never left ``sent``."""
    client = _StubClient(fail=fail)
    link = BusLink(lambda: client, reply_timeout_s=0.05, poll_s=0.01)
    record = link.submit("pause", {}, "pause")
    done: list[CommandRecord] = []

    def on_reply(r: CommandRecord) -> None:
        done.append(r)
        link.stop()

    link.run(lambda d: None, on_reply)
    assert [(r.id, r.status) for r in done] == [(record.id, status)]
    assert client.sent == ([] if fail else [("pause", {}, record.id)])
