"""Alarms: every ISA-18.2 transition, shelving and its expiry, chatter delays, the hall's alarms, saved state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from twin.control.alarms import (
    AlarmSystem,
    RackInletAlarms,
    define_battery_low,
    define_crah_trip,
    define_generator_failed,
    define_sensor_failed,
    define_ups_on_battery,
)


def make(**kw):
    al = AlarmSystem()
    al.define("crah-01.trip", priority="high", message="tripped", **kw)
    return al


def test_raise_ack_clear():
    """NORMAL → UNACK → ACKED → NORMAL."""
    al = make()
    assert al.state("crah-01.trip") == "NORMAL"
    assert al.update("crah-01.trip", True, 10.0) == "UNACK"
    assert al.acknowledge("crah-01.trip", 12.0)
    assert al.state("crah-01.trip") == "ACKED"
    assert not al.acknowledge("crah-01.trip", 13.0)  # nothing to acknowledge
    assert al.update("crah-01.trip", False, 20.0) == "NORMAL"
    (occ,) = al.summary()
    assert (occ["raised_s"], occ["acked_s"], occ["cleared_s"]) == (10.0, 12.0, 20.0)


def test_clear_before_ack_then_ack_or_realarm():
    """UNACK → RTNUN → (ack) NORMAL; RTNUN → (condition again) UNACK with a new occurrence."""
    al = make()
    al.update("crah-01.trip", True, 1.0)
    assert al.update("crah-01.trip", False, 2.0) == "RTNUN"
    assert al.active()[0]["state"] == "RTNUN"
    assert al.acknowledge("crah-01.trip", 3.0) and al.state("crah-01.trip") == "NORMAL"
    al.update("crah-01.trip", True, 4.0)
    al.update("crah-01.trip", False, 5.0)
    assert al.update("crah-01.trip", True, 6.0) == "UNACK"
    assert [o["raised_s"] for o in al.summary()] == [1.0, 4.0, 6.0]
    assert [e["event"] for e in al.events][:3] == ["raised", "cleared", "acked"]


def test_shelving_suppresses_and_expires_to_the_implied_state():
    """Shelved: nothing annunciated; at expiry UNACK if the condition holds, else NORMAL."""
    al = make()
    al.update("crah-01.trip", True, 0.0)
    al.shelve("crah-01.trip", 60.0, 5.0)
    assert al.state("crah-01.trip") == "SHELVED" and al.active() == []
    assert al.shelved()[0]["shelved_until_s"] == 65.0
    al.update("crah-01.trip", False, 10.0)
    al.update("crah-01.trip", True, 20.0)  # raised while shelved: recorded, not annunciated
    assert al.state("crah-01.trip") == "SHELVED"
    al.advance(64.0)
    assert al.state("crah-01.trip") == "SHELVED"
    al.advance(65.0)
    assert al.state("crah-01.trip") == "UNACK"
    assert al.summary()[1]["shelved"] is True
    # condition gone at expiry → NORMAL
    al.acknowledge("crah-01.trip", 66.0)
    al.shelve("crah-01.trip", 10.0, 70.0)
    al.update("crah-01.trip", False, 71.0)
    al.advance(80.0)
    assert al.state("crah-01.trip") == "NORMAL"
    assert [e["event"] for e in al.events if e["event"].startswith("shelf")] == ["shelf_expired", "shelf_expired"]


def test_unshelve_early():
    """Unshelving before expiry applies the condition at once."""
    al = make()
    al.shelve("crah-01.trip", 100.0, 0.0)
    al.update("crah-01.trip", True, 5.0)
    al.unshelve("crah-01.trip", 6.0)
    assert al.state("crah-01.trip") == "UNACK"
    with pytest.raises(ValueError):
        al.shelve("crah-01.trip", 0.0, 7.0)


def test_on_and_off_delays_filter_chatter():
    """A condition shorter than on_delay never raises; a raise is timed at change + delay; the off-delay
    holds it through short dropouts."""
    al = make(on_delay_s=10.0, off_delay_s=5.0)
    n = "crah-01.trip"
    for t in range(0, 9):  # 9 s of condition: too short
        al.update(n, True, float(t))
        al.advance(float(t))
    al.update(n, False, 9.0)
    al.advance(30.0)
    assert al.state(n) == "NORMAL" and al.summary() == []
    al.update(n, True, 40.0)
    al.advance(49.0)
    assert al.state(n) == "NORMAL"
    al.advance(50.5)
    assert al.state(n) == "UNACK" and al.summary()[0]["raised_s"] == 50.0
    # chatter: dropouts of 3 s do not clear it
    for t0 in (60.0, 70.0):
        al.update(n, False, t0)
        al.advance(t0 + 3.0)
        al.update(n, True, t0 + 3.0)
    assert al.state(n) == "UNACK" and len(al.summary()) == 1
    al.update(n, False, 80.0)
    al.advance(84.0)
    assert al.state(n) == "UNACK"
    al.advance(85.0)
    assert al.state(n) == "RTNUN" and al.summary()[0]["cleared_s"] == 85.0


def test_rack_inlet_alarms_against_ashrae_classes():
    """Recommended band 18–27 °C and the A2 allowable 10–35 °C, with a 0.5 K deadband."""
    al = AlarmSystem()
    ra = RackInletAlarms(al, ["r1", "r2", "r3"], allowable_class="A2", deadband_k=0.5)
    ra.update(np.array([22.0, 27.2, 17.0]), 0.0)
    assert {a["name"] for a in al.active()} == {"r2.inlet_above_recommended", "r3.inlet_below_recommended"}
    ra.update(np.array([22.0, 26.8, 17.0]), 1.0)  # inside the deadband: still active
    assert al.state("r2.inlet_above_recommended") == "UNACK"
    ra.update(np.array([22.0, 26.4, 9.0]), 2.0)
    assert al.state("r2.inlet_above_recommended") == "RTNUN"
    assert al.state("r3.inlet_below_allowable") == "UNACK"
    ra.update(np.array([36.0, 26.4, 20.0]), 3.0)
    prios = {a["name"]: a["priority"] for a in al.active()}
    assert prios["r1.inlet_above_allowable"] == "high" and prios["r1.inlet_above_recommended"] == "medium"
    assert al.summary()[-1]["value"] == 36.0
    with pytest.raises(ValueError):
        RackInletAlarms(AlarmSystem(), ["x"], allowable_class="A5")


def test_equipment_alarms_and_json_summary():
    """The listed equipment alarms exist with their priorities; the summary is JSON-ready."""
    al = AlarmSystem()
    names = [define_crah_trip(al, "crah-03"), define_ups_on_battery(al, "ups-a"), define_generator_failed(al, "gen-1"),
             define_sensor_failed(al, "crah-03.t_inlet")]
    low = define_battery_low(al, "ups-a", threshold_soc=0.25, deadband=0.05)
    for n in names:
        al.update(n, True, 100.0)
    low.update(0.3, 100.0)
    assert al.state("ups-a.battery_low") == "NORMAL"
    low.update(0.2, 200.0)
    low.update(0.27, 210.0)  # inside the deadband
    assert al.state("ups-a.battery_low") == "UNACK"
    low.update(0.31, 220.0)
    assert al.state("ups-a.battery_low") == "RTNUN"
    prio = {a["name"]: a["priority"] for a in al.active()}
    assert prio == {"crah-03.trip": "high", "ups-a.on_battery": "high", "gen-1.failed": "critical",
                    "crah-03.t_inlet.failed": "medium", "ups-a.battery_low": "critical"}
    assert al.active()[0]["priority"] == "critical"
    text = json.dumps(al.summary())
    assert "NaN" not in text
    assert all({"name", "priority", "raised_s"} <= set(o) for o in json.loads(text))


def test_state_round_trip():
    """A restored alarm system has the same states, log and summary, and evolves the same way."""
    def build():
        al = AlarmSystem()
        ra = RackInletAlarms(al, ["r1", "r2"], on_delay_s=5.0)
        define_crah_trip(al, "crah-01", off_delay_s=3.0)
        return al, ra
    a, ra = build()
    ra.update(np.array([28.0, 20.0]), 0.0)
    a.advance(6.0)
    a.update("crah-01.trip", True, 6.0)
    a.acknowledge("crah-01.trip", 7.0)
    a.shelve("r1.inlet_above_recommended", 30.0, 8.0)
    a.update("crah-01.trip", False, 9.0)
    b, rb = build()
    b.load_state_dict(a.state_dict())
    rb.load_state_dict(ra.state_dict())
    assert b.summary() == a.summary() and b.events == a.events
    for t in (10.0, 12.0, 40.0):
        ra.update(np.array([26.0, 20.0]), t)
        rb.update(np.array([26.0, 20.0]), t)
        a.advance(t)
        b.advance(t)
        assert [b.state(n) for n in b.names()] == [a.state(n) for n in a.names()]
    assert b.events == a.events
