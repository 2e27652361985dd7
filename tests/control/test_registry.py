"""Setpoint registry: every write status, max step, rate limit in simulated time, listing, saved state."""

from __future__ import annotations

import math

import pytest

from twin.control.crah import CrahFanController, CrahSupplyController, last_running_interlock, register_crah_setpoints
from twin.control.registry import STATUSES, Role, SetpointRegistry, attribute


class Box:
    def __init__(self) -> None:
        self.setpoint_c = 18.0
        self.limit_w = 1000.0
        self.speed = 0.5


def make():
    box = Box()
    reg = SetpointRegistry()
    reg.register("crah-01.supply_temp_setpoint", unit="°C", min_value=14.0, max_value=27.0,
                 **dict(zip(("getter", "setter"), attribute(box, "setpoint_c"), strict=True)),
                 write_role="operator", max_step=3.0, rate_per_s=0.1)
    reg.register("ups-a.max_charge", unit="W", min_value=0.0, max_value=5000.0,
                 **dict(zip(("getter", "setter"), attribute(box, "limit_w"), strict=True)),
                 write_role=Role.ENGINEER, interlock=lambda n, v, t: "generator overloaded" if v > 4000 else None)
    reg.register("crah-01.fan_speed", unit="1", min_value=0.0, max_value=1.0, getter=lambda: box.speed,
                 writable=False)
    return box, reg


def test_ok_and_rate_limit_in_simulated_time():
    """An ok write sets the target; the effective value ramps at exactly rate × elapsed time."""
    box, reg = make()
    r = reg.write("crah-01.supply_temp_setpoint", 20.0, "operator", 100.0)
    assert (r.status, r.old_value, r.new_value, r.target) == ("ok", 18.0, 18.0, 20.0)
    assert reg.read("crah-01.supply_temp_setpoint") == 20.0
    for t in (100.0, 105.0, 110.0, 119.5, 120.0, 500.0):
        assert reg.effective("crah-01.supply_temp_setpoint", t) == pytest.approx(min(18.0 + 0.1 * (t - 100.0), 20.0))
    reg.advance(107.0)
    assert box.setpoint_c == pytest.approx(18.7)
    reg.advance(130.0)
    assert box.setpoint_c == 20.0
    # A write during a ramp starts from the effective value
    reg.write("crah-01.supply_temp_setpoint", 18.0, "engineer", 200.0)
    r = reg.write("crah-01.supply_temp_setpoint", 21.0, "operator", 205.0)
    assert r.old_value == pytest.approx(19.5) and r.new_value == pytest.approx(19.5) and r.target == 21.0
    assert reg.effective("crah-01.supply_temp_setpoint", 215.0) == pytest.approx(20.5)


def test_clamped_by_max_step():
    """A change larger than max_step moves the target by max_step only."""
    _, reg = make()
    r = reg.write("crah-01.supply_temp_setpoint", 25.0, "operator", 0.0)
    assert r.status == "clamped" and r.target == 21.0 and "3" in r.reason
    r = reg.write("crah-01.supply_temp_setpoint", 15.0, "operator", 1.0)
    assert r.status == "clamped" and r.target == 18.0


def test_out_of_range_changes_nothing():
    """A value outside [min, max] is refused and leaves target and bound value alone."""
    box, reg = make()
    r = reg.write("crah-01.supply_temp_setpoint", 30.0, "engineer", 0.0)
    assert r.status == "out_of_range" and r.target == 18.0 and box.setpoint_c == 18.0
    assert "14" in r.reason and "27" in r.reason


def test_not_writable_denied_interlock_invalid():
    """Read-only, insufficient role, interlock and bad values each get their own status."""
    box, reg = make()
    assert reg.write("crah-01.fan_speed", 0.7, "engineer", 0.0).status == "not_writable"
    r = reg.write("ups-a.max_charge", 3000.0, "operator", 0.0)
    assert r.status == "denied" and "engineer" in r.reason
    assert reg.write("crah-01.supply_temp_setpoint", 19.0, "observer", 0.0).status == "denied"
    assert reg.write("crah-01.supply_temp_setpoint", 19.0, "janitor", 0.0).status == "denied"
    r = reg.write("ups-a.max_charge", 4500.0, "engineer", 0.0)
    assert r.status == "interlock" and r.reason == "generator overloaded" and box.limit_w == 1000.0
    r = reg.write("ups-a.max_charge", 3000.0, Role.ENGINEER, 0.0)
    assert r.status == "ok" and box.limit_w == 3000.0 and r.new_value == 3000.0  # no rate: at once
    for bad in (math.nan, math.inf, -math.inf, "20", None, [20.0]):
        assert reg.write("crah-01.supply_temp_setpoint", bad, "engineer", 0.0).status == "invalid"
    r = reg.write("crah-99.nothing", 1.0, "engineer", 0.0)
    assert r.status == "invalid" and r.old_value is None


def test_every_status_is_reachable():
    """The statuses above are exactly the documented set."""
    assert set(STATUSES) == {"ok", "clamped", "out_of_range", "not_writable", "denied", "interlock", "invalid"}


def test_listing_and_state_round_trip():
    """The listing carries metadata; a restored registry continues the same ramp."""
    box, reg = make()
    reg.write("crah-01.supply_temp_setpoint", 20.0, "operator", 10.0)
    rows = {r["name"]: r for r in reg.listing(15.0)}
    assert rows["crah-01.supply_temp_setpoint"]["value"] == pytest.approx(18.5)
    assert rows["crah-01.supply_temp_setpoint"]["unit"] == "°C"
    assert rows["ups-a.max_charge"]["write_role"] == "engineer" and rows["ups-a.max_charge"]["interlocked"]
    assert not rows["crah-01.fan_speed"]["writable"]
    box2, reg2 = make()
    reg2.load_state_dict(reg.state_dict())
    for t in (12.0, 20.0, 40.0):
        reg.advance(t)
        reg2.advance(t)
        assert box.setpoint_c == box2.setpoint_c


def test_crah_setpoints_and_last_running_interlock():
    """CRAH setpoints write into controller attributes; the last running unit of a zone stays on."""
    reg = SetpointRegistry()
    fans = [CrahFanController(f"crah-0{i}.fan", n_inlets=1, seed=i) for i in (1, 2)]
    sups = [CrahSupplyController(f"crah-0{i}.supply", seed=10 + i) for i in (1, 2)]
    lock = last_running_interlock(fans, zone_name="zone A")
    for i, (f, s) in enumerate(zip(fans, sups, strict=True), start=1):
        register_crah_setpoints(reg, f"crah-0{i}", s, f, interlock=lock)
    for f in fans:
        f.step(0.0, {"t_inlet_c": [24.0], "t_return_c": 30.0, "running": True})
    r = reg.write("crah-01.supply_temp_setpoint", 19.0, "operator", 0.0)
    assert r.status == "ok"
    reg.advance(10.0)
    assert sups[0].supply_temp_setpoint_c == pytest.approx(18.5)  # 0.05 K/s
    assert reg.write("crah-01.enabled", 0.5, "operator", 0.0).status == "invalid"
    assert reg.write("crah-01.enabled", 0, "operator", 0.0).status == "ok"
    assert fans[0].requested_mode == "off"
    r = reg.write("crah-02.enabled", 0, "operator", 1.0)
    assert r.status == "interlock" and "last running CRAH of zone A" in r.reason
    assert reg.write("crah-01.fallback_speed", 0.8, "operator", 0.0).status == "denied"
    assert reg.write("crah-01.fan_speed", 0.8, "engineer", 0.0).status == "not_writable"
