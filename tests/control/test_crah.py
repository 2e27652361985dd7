"""CRAH controllers: closed loops, fallback on sensor failure and bumpless return, modes, saved state."""

from __future__ import annotations

import io

import numpy as np
import pytest

from twin.control.crah import CrahFanController, CrahSupplyController


class Room:
    """A toy plant: inlet temperatures fall with fan speed, supply temperature with valve opening."""

    def __init__(self) -> None:
        self.t_inlet_c = np.array([25.0, 26.0, 24.0])
        self.t_supply_c = 20.0

    def step(self, fan_speed: float, valve: float, dt: float = 1.0, heat_k: float = 0.0) -> None:
        target = 20.0 + heat_k + 8.0 * (1.0 - fan_speed) + np.array([0.0, 1.0, -1.0])
        self.t_inlet_c += dt / 60.0 * (target - self.t_inlet_c)
        self.t_supply_c += dt / 30.0 * (26.0 - 12.0 * valve - self.t_supply_c)

    def inputs(self, running: bool = True) -> dict:
        return {"t_inlet_c": self.t_inlet_c.copy(), "t_return_c": 32.0, "t_supply_c": self.t_supply_c,
                "running": running}


def run(fan, sup, room, t0, t1, **kw):
    rows = []
    for k in range(t0, t1):
        inp = room.inputs(kw.get("running", True))
        o = fan.step(float(k), inp)
        s = sup.step(float(k), inp)
        rows.append((k, fan.mode, o["fan_speed_cmd"], o["fan_speed"], sup.mode, s["valve"]))
        room.step(o["fan_speed"], s["valve"], heat_k=kw.get("heat_k", 0.0))
    return rows


def test_closed_loops_reach_their_setpoints():
    """Both loops settle: max inlet at its setpoint, supply air at its setpoint (direct action)."""
    fan = CrahFanController("crah-01.fan", n_inlets=3, seed=1)
    sup = CrahSupplyController("crah-01.supply", seed=2)
    room = Room()
    rows = run(fan, sup, room, 0, 3000)
    assert rows[-1][1] == "auto" and rows[-1][4] == "auto"
    assert room.t_inlet_c.max() == pytest.approx(24.0, abs=0.1)
    assert room.t_supply_c == pytest.approx(18.0, abs=0.1)
    assert rows[10][5] > 0  # supply warmer than 18 °C → valve opens


def test_fan_enters_fallback_on_sensor_failure_and_returns_bumplessly():
    """An open inlet sensor sends the fan to its fallback speed; after repair it resumes from there."""
    fan = CrahFanController("crah-01.fan", n_inlets=3, seed=1, period_s=2.0, return_after_valid_samples=3)
    sup = CrahSupplyController("crah-01.supply", seed=2)
    room = Room()
    run(fan, sup, room, 0, 1000)
    auto_cmd = fan.outputs["fan_speed_cmd"]
    assert fan.mode == "auto" and auto_cmd < 0.95
    fan.inlet_sensors.set_failure("open", at_s=1000.0, index=1)
    fan.inlet_sensors.set_failure("ok", at_s=1400.0, index=1)
    rows = run(fan, sup, room, 1000, 1600)
    modes = {k: m for k, m, *_ in rows}
    cmds = {k: c for k, _, c, *_ in rows}
    assert modes[1000] == "fallback" and cmds[1000] == 1.0
    assert all(modes[k] == "fallback" for k in range(1000, 1400))
    # at 1400 the jump back from 0 °C fails the rate check; valid at 1402, 1404, 1406 → auto at 1406
    assert modes[1404] == "fallback" and modes[1406] == "auto"
    assert cmds[1406] == pytest.approx(1.0)  # bumpless: starts from the fallback speed
    steps = np.abs(np.diff([cmds[k] for k in range(1406, 1600, 2)]))
    assert steps.max() < 0.02  # then moves gradually (kp · ΔT per sample)
    assert cmds[1598] < 0.99


def test_fallback_hold_policy_keeps_last_auto_speed():
    """With fallback_policy='hold' the fan keeps its last auto command while the sensor is failed."""
    fan = CrahFanController("crah-02.fan", n_inlets=3, seed=1, fallback_policy="hold", control_on="return",
                            return_temp_setpoint_c=30.0)
    sup = CrahSupplyController("crah-02.supply", seed=2)
    room = Room()
    run(fan, sup, room, 0, 400)
    last = fan.outputs["fan_speed_cmd"]
    fan.return_sensor.set_failure("open", at_s=400.0)
    rows = run(fan, sup, room, 400, 500)
    assert all(r[1] == "fallback" and r[2] == pytest.approx(last) for r in rows)


def test_supply_controller_fallback_opens_valve():
    """A failed supply-air sensor sends the valve to its fallback opening (default fully open)."""
    fan = CrahFanController("crah-01.fan", n_inlets=3, seed=1)
    sup = CrahSupplyController("crah-01.supply", seed=2)
    room = Room()
    run(fan, sup, room, 0, 600)
    sup.sensor.set_failure("open", at_s=600.0)
    rows = run(fan, sup, room, 600, 700)
    assert rows[0][4] == "fallback" and sup.outputs["valve_cmd"] == 1.0
    assert rows[-1][5] == pytest.approx(1.0)


def test_off_manual_and_restart():
    """Unit not running → off (fan stops, valve closes); manual holds; restart resumes auto."""
    fan = CrahFanController("crah-01.fan", n_inlets=3, seed=1)
    sup = CrahSupplyController("crah-01.supply", seed=2)
    room = Room()
    run(fan, sup, room, 0, 300)
    rows = run(fan, sup, room, 300, 400, running=False)
    assert rows[-1][1] == "off" and rows[-1][3] == 0.0 and rows[-1][4] == "off" and rows[-1][5] == 0.0
    rows = run(fan, sup, room, 400, 500)
    assert rows[0][1] == "auto" and rows[-1][3] > 0.3
    fan.mode = "manual"
    fan.manual_speed = 0.6
    assert fan.requested_mode == "manual"
    rows = run(fan, sup, room, 500, 600)
    assert rows[-1][1] == "manual" and rows[-1][3] == pytest.approx(0.6)
    fan.enabled = 0
    rows = run(fan, sup, room, 600, 700)
    assert rows[-1][1] == "off"
    with pytest.raises(ValueError):
        fan.mode = "fallback"


def test_switching_controlled_variable_is_bumpless():
    """Changing control_on from inlet to return keeps the fan command continuous."""
    fan = CrahFanController("crah-01.fan", n_inlets=3, seed=1, period_s=1.0)
    sup = CrahSupplyController("crah-01.supply", seed=2)
    room = Room()
    run(fan, sup, room, 0, 800)
    before = fan.outputs["fan_speed_cmd"]
    fan.control_on = "return"
    rows = run(fan, sup, room, 800, 802)
    assert rows[0][2] == pytest.approx(before)
    assert abs(rows[1][2] - before) < 0.01


def test_state_round_trip_gives_identical_future():
    """CRAH controllers restored from state dicts (noise RNG included) give the same future outputs."""
    def build():
        return (CrahFanController("crah-01.fan", n_inlets=3, seed=1, setpoint_rate_k_per_s=0.01),
                CrahSupplyController("crah-01.supply", seed=2))
    fan, sup = build()
    room = Room()
    run(fan, sup, room, 0, 500)
    fan.inlet_sensors.set_failure("open", at_s=520.0, index=0)
    fan.inlet_sensors.set_failure("ok", at_s=560.0, index=0)
    fan.inlet_temp_setpoint_c = 23.0
    fan2, sup2 = build()
    for src, dst in ((fan, fan2), (sup, sup2)):  # through a checkpoint file format
        buf = io.BytesIO()
        np.savez(buf, **src.state_dict())
        buf.seek(0)
        dst.load_state_dict(dict(np.load(buf)))
    room2 = Room()
    room2.t_inlet_c, room2.t_supply_c = room.t_inlet_c.copy(), room.t_supply_c
    a = run(fan, sup, room, 500, 800)
    b = run(fan2, sup2, room2, 500, 800)
    assert a == b
