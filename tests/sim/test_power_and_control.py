"""The coupled twin: ride-through on batteries, generator pickup, CRAH trips, sensor failures, setpoints.

These drive the real HallTwin (embedded controllers, load flow, plant) through scenario events and check
what physics, the equipment ratings or the controllers' own specifications say must happen.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.halls import hall_from, tiny_dict, two_crah_dict
from twin.model.scenario import parse_scenario
from twin.sim.scenario import ScenarioPlayer
from twin.sim.twin import HallTwin


def _tiny_with_power(**edits) -> dict:
    data = tiny_dict(power=True)
    for key, value in edits.items():
        target = data
        *path, last = key.split("__")
        for part in path:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return data


def _run(twin, state, seconds, player=None, every=None):
    samples = []
    for _ in range(int(round(seconds / twin.dt_s))):
        if player is not None:
            player.apply_due(state)
        twin.step(state)
        if every is not None:
            samples.append(every(state))
    return samples


def _scenario(hall, twin, events):
    model = parse_scenario({"scenario": {"name": "test"}, "events": events}, hall=hall)
    return ScenarioPlayer(twin, model)


def test_batteries_carry_the_load_until_the_generator_takes_over():
    """Utility lost: UPSs run on battery (SoC falls by ∫P_battery dt ÷ E), the generator is online exactly its
    start delay later, then the batteries recharge; CRAHs stop until the generator is on."""
    hall = hall_from(_tiny_with_power())
    twin = HallTwin(hall, control="embedded")
    state = twin.initial_state()
    _run(twin, state, 120)
    player = _scenario(hall, twin, [{"at": 120, "kind": "utility_outage"}])
    energy_j = np.array([u.battery_kwh * 3.6e6 for u in hall.spec.power.ups])
    soc0 = state.ups_soc.copy()
    trace = _run(twin, state, 30, player, every=lambda s: (
        s.time_s, s.ups_soc.copy(), s.power.last.battery_w.copy(), bool(s.power.ats.outputs["generator_online"]),
        bool(s.crah_running[0])))
    times = np.array([t for t, *_ in trace])
    online = np.array([o for *_, o, _ in trace])
    running = np.array([r for *_, r in trace])
    delay_s = hall.spec.power.generator.start_delay_s
    assert times[np.argmax(online)] == pytest.approx(120 + delay_s + 1)  # seen by the step after it comes online
    assert not running[times <= 120 + delay_s].any() and running[-1]
    # State of charge fell by exactly the energy the batteries delivered while on battery.
    on_battery = ~online
    delivered_j = sum(twin.dt_s * b for (t, soc, b, o, r) in trace if not o)
    soc_at_pickup = trace[int(np.argmax(online)) - 1][1]
    assert np.allclose((soc0 - soc_at_pickup) * energy_j, delivered_j, rtol=1e-9)
    assert on_battery.sum() == delay_s and np.all(np.array([b for (_, _, b, o, _) in trace if not o]) > 0)
    # On the generator the batteries recharge.
    _run(twin, state, 60, player)
    assert np.all(state.power.last.battery_w < 0) and np.all(state.ups_soc > soc_at_pickup)
    names = {a["name"] for a in state.alarms.summary()}
    assert {"UPS-A.on_battery", "UPS-B.on_battery"} <= names
    assert state.metrics["min_battery_soc"] == pytest.approx(float(soc_at_pickup.min()))


def test_a_battery_too_small_runs_out_and_the_racks_go_dark():
    """No generator start and small batteries: the UPSs shut down when empty, the racks lose power and
    release no heat; battery-low and generator-failed alarms are raised, min_battery_soc is 0."""
    data = _tiny_with_power()
    for ups in data["power"]["ups"]:
        ups["battery_kwh"] = 0.5  # about 2.5 minutes at this load
    hall = hall_from(data)
    twin = HallTwin(hall, control="embedded")
    state = twin.initial_state()
    player = _scenario(hall, twin, [{"at": 0, "kind": "generator_fail_to_start"},
                                    {"at": 30, "kind": "utility_outage"}])
    _run(twin, state, 600, player)
    assert np.all(state.ups_soc == 0.0)
    assert not state.rack_powered.any() and np.all(state.rack_heat_w == 0.0)
    assert state.metrics["min_battery_soc"] == 0.0
    names = {a["name"]: a for a in state.alarms.summary()}
    assert "UPS-A.battery_low" in names and names["UPS-A.battery_low"]["priority"] == "critical"
    assert "generator.failed" in names
    # Still on battery (the utility is out) and its output is off: both alarms stand.
    assert state.alarms.state("UPS-A.on_battery") != "NORMAL" and state.alarms.state("UPS-A.output_off") != "NORMAL"


def test_a_battery_never_gives_more_than_it_holds():
    """Summed over a run-out, the energy the batteries delivered is at most what they held."""
    data = _tiny_with_power()
    for ups in data["power"]["ups"]:
        ups["battery_kwh"] = 0.5
    hall = hall_from(data)
    twin = HallTwin(hall, control="embedded")
    state = twin.initial_state()
    player = _scenario(hall, twin, [{"at": 0, "kind": "generator_fail_to_start"},
                                    {"at": 30, "kind": "utility_outage"}])
    held_j = np.array([u.battery_kwh * 3.6e6 for u in hall.spec.power.ups])
    delivered = _run(twin, state, 400, player, every=lambda s: twin.dt_s * np.maximum(s.power.last.battery_w, 0))
    assert np.all(np.sum(delivered, axis=0) <= held_j * (1 + 1e-9))
    assert np.all(np.sum(delivered, axis=0) > 0.95 * held_j)


def test_crah_trip_makes_the_other_unit_work_harder_and_inlets_settle():
    """CRAH-01 trips: CRAH-02's fan controller speeds up, the inlets rise, then settle at a new level."""
    hall = hall_from(two_crah_dict())
    twin = HallTwin(hall, control="embedded")
    state = twin.initial_state()
    _run(twin, state, 1800)
    fan_before = state.crah_fan_speed[1]
    inlet_before = state.t_intake_c.max()
    player = _scenario(hall, twin, [{"at": state.time_s, "kind": "crah_trip", "target": "CRAH-01"}])
    inlets = _run(twin, state, 2400, player, every=lambda s: s.t_intake_c.max())
    assert not state.crah_running[0] and state.crah_fan_speed[1] > fan_before + 0.1
    assert max(inlets) > inlet_before + 0.3
    last_10min, before_that = np.array(inlets[-600:]), np.array(inlets[-1200:-600])
    assert abs(last_10min.mean() - before_that.mean()) < 0.15  # settled: no more trend ...
    assert np.ptp(last_10min) < 0.5  # ... within the controllers' band (noisy sensors, sampled loops)
    assert "CRAH-01.trip" in {a["name"] for a in state.alarms.summary()}


def test_failed_inlet_sensor_sends_the_fan_controller_to_fallback():
    """An inlet sensor opens: the fan controller goes to its fallback (full speed), the alarm is raised;
    after repair it returns to automatic control."""
    data = _tiny_with_power()
    data["crahs"][0].update(fan_control="inlet", inlet_temp_setpoint_c=21.0)
    hall = hall_from(data)
    twin = HallTwin(hall, control="embedded")
    state = twin.initial_state()
    _run(twin, state, 900)
    assert state.controls.fan[0].mode == "auto" and state.crah_fan_speed[0] < 0.99
    player = _scenario(hall, twin, [
        {"at": state.time_s, "kind": "sensor_fail", "target": "CRAH-01.inlet_temp.A02", "mode": "open"},
        {"at": state.time_s + 300, "kind": "sensor_repair", "target": "CRAH-01.inlet_temp.A02"}])
    _run(twin, state, 120, player)
    assert state.controls.fan[0].mode == "fallback"
    assert state.crah_fan_speed[0] == pytest.approx(1.0)
    _run(twin, state, 300, player)
    assert state.controls.fan[0].mode == "auto"
    raised = {a["name"] for a in state.alarms.summary()}
    assert {"CRAH-01.inlet_temp.failed", "CRAH-01.fan_fallback"} <= raised


def test_setpoint_written_by_a_scenario_ramps_in_simulated_time():
    """A supply setpoint lowered by 2 K is accepted (ok) and reached at the registry's ramp rate, 0.05 K/s."""
    hall = hall_from(_tiny_with_power())
    twin = HallTwin(hall, control="embedded")
    state = twin.initial_state()
    _run(twin, state, 60)
    player = _scenario(hall, twin, [{"at": 60, "kind": "setpoint", "target": "CRAH-01.supply_temp_setpoint",
                                     "value": 16.0}])
    setpoints = _run(twin, state, 60, player, every=lambda s: float(s.crah_setpoint_c[0]))
    assert state.scenario_log[0]["outcome"] == "ok"
    # setpoints[i] is the one in force during the step that starts at t = 60 + i s
    assert setpoints[20] == pytest.approx(18.0 - 0.05 * 20, abs=1e-9)
    assert setpoints[-1] == pytest.approx(16.0)


def test_losses_in_the_hall_close_the_thermal_balance_and_pue_parts_add_up():
    """The hall's heat input is IT + PSU, feed-cable and PDU losses + CRAH fans; PUE = Σ parts = facility ÷ IT."""
    hall = hall_from(_tiny_with_power())
    twin = HallTwin(hall, control="embedded")
    state = twin.initial_state()
    heat_j = 0.0
    for _ in range(900):
        res = state.power.last
        heat_j += twin.dt_s * float(res.rack_feed_w.sum() + res.rack_feed_cable_loss_w.sum()
                                    + res.pdu_loss_w.sum() + twin.crah_fan_power_w(state).sum())
        twin.step(state)
    assert state.heat_in_j == pytest.approx(heat_j, rel=1e-3)  # fans change within a step: small lag
    assert abs(twin.energy_balance_error(state)) < 1e-9
    e = state.energy_j
    parts = twin.power.pue_parts(state)
    assert sum(parts.values()) == pytest.approx(e["facility"] / e["it"], rel=1e-9)
    assert e["facility"] == pytest.approx(e["utility"] + e["generator"], rel=1e-12)
    assert 1.05 < e["facility"] / e["it"] < 2.0


def test_a_load_step_heats_the_hall_from_its_own_step():
    """With ideal control (fans steady), the hall's heat input equals the electrical heat in the hall
    (racks' feeds and cables, PDUs, fans) to round-off, also across a scenario's load step."""
    hall = hall_from(_tiny_with_power())
    twin = HallTwin(hall, control="ideal")
    state = twin.initial_state()
    player = _scenario(hall, twin, [{"at": 30, "kind": "rack_load", "target": "*", "scale": 2.0}])
    heat_j = 0.0
    for _ in range(120):
        player.apply_due(state)
        res = state.power.last
        heat_j += twin.dt_s * float(res.rack_feed_w.sum() + res.rack_feed_cable_loss_w.sum()
                                    + res.pdu_loss_w.sum() + twin.crah_fan_power_w(state).sum())
        twin.step(state)
    assert state.heat_in_j == pytest.approx(heat_j, rel=1e-9)


def test_ideal_control_ignores_setpoint_and_sensor_events():
    """Under ideal control, setpoint and sensor events are accepted in the file and logged as ignored."""
    hall = hall_from(_tiny_with_power())
    twin = HallTwin(hall, control="ideal")
    state = twin.initial_state()
    player = _scenario(hall, twin, [
        {"at": 0, "kind": "setpoint", "target": "CRAH-01.supply_temp_setpoint", "value": 17.0},
        {"at": 0, "kind": "sensor_fail", "target": "CRAH-01.return_temp", "mode": "open"}])
    _run(twin, state, 5, player)
    assert [e["outcome"].split(":")[0] for e in state.scenario_log] == ["ignored", "ignored"]


def test_vectorized_controls_run_the_twin_as_the_per_object_controllers_do():
    """The hall's loops as arrays (the default) and as one object per loop (the reference), through a CRAH
    trip and its restart, a supply setpoint written mid-ramp and a failed inlet sensor: the same air
    temperatures, actuators, alarm log and saved controller state, bit for bit."""
    hall = hall_from(two_crah_dict())
    events = [{"at": 60.0, "kind": "crah_trip", "target": "CRAH-01"},
              {"at": 90.0, "kind": "setpoint", "target": "CRAH-02.supply_temp_setpoint", "value": 16.0},
              {"at": 120.0, "kind": "sensor_fail", "target": "CRAH-02.inlet_temp.A05", "mode": "open"},
              {"at": 200.0, "kind": "crah_restart", "target": "CRAH-01"},
              {"at": 240.0, "kind": "sensor_repair", "target": "CRAH-02.inlet_temp.A05"}]
    runs = []
    for vectorized in (True, False):
        twin = HallTwin(hall, control="embedded")
        twin.vectorized_controls = vectorized
        state = twin.initial_state()
        assert (state.controls.bank is not None) == vectorized
        modes = _run(twin, state, 360, _scenario(hall, twin, events),
                     every=lambda s: (s.controls.fan[0].mode, s.controls.fan[1].mode))
        runs.append((state, modes))
    (a, modes_a), (b, modes_b) = runs
    assert ("off", "fallback") in modes_a  # the history reached what it is meant to test
    assert modes_a == modes_b
    for name in ("t_air_c", "t_intake_c", "crah_valve", "crah_fan_speed", "crah_running", "ups_soc"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.alarms.events == b.alarms.events
    sa, sb = a.controls.state_dict(), b.controls.state_dict()
    assert set(sa) == set(sb)
    for key in sa:
        np.testing.assert_array_equal(np.asarray(sa[key]), np.asarray(sb[key]), err_msg=key)
