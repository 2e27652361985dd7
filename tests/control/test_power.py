"""Generator + ATS timeline, fail-to-start, battery charge taper, saved state."""

from __future__ import annotations

import io

import numpy as np
import pytest

from twin.control.power import BatteryChargeController, GeneratorATSController, charge_power_w


def timeline(gen, outage, t_end, dt=1.0):
    rows = {}
    t = 0.0
    while t <= t_end:
        rows[t] = gen.step(t, {"utility_ok": not (outage[0] <= t < outage[1])})
        t += dt
    return rows


def test_generator_online_transfer_retransfer_and_stop():
    """Online exactly start_delay after the loss, ATS transfers; retransfer after the delay; stop after cool-down."""
    gen = GeneratorATSController("gen-1", start_delay_s=12.0, retransfer_delay_s=300.0, cooldown_s=120.0)
    r = timeline(gen, (100.0, 1000.0), 2000.0)
    assert not r[99.0]["generator_running"]
    assert r[100.0]["generator_running"] and not r[100.0]["generator_online"]
    assert not r[111.0]["generator_online"] and not r[111.0]["ats_on_generator"]
    assert r[112.0]["generator_online"] and r[112.0]["ats_on_generator"]
    assert r[999.0]["ats_on_generator"] and r[1299.0]["ats_on_generator"]
    assert not r[1300.0]["ats_on_generator"] and r[1300.0]["generator_running"]
    assert r[1419.0]["generator_running"] and not r[1420.0]["generator_running"]
    assert not any(v["generator_failed"] for v in r.values())


def test_online_time_with_other_periods():
    """With a 0.5 s period and 0.5 s steps the online instant is still loss + start_delay."""
    gen = GeneratorATSController("gen-1", start_delay_s=10.0, period_s=0.5)
    r = timeline(gen, (20.5, 1e9), 60.0, dt=0.5)
    assert not r[30.0]["generator_online"] and r[30.5]["generator_online"] and r[30.5]["ats_on_generator"]


def test_utility_flicker_resets_retransfer_timer():
    """A new loss while waiting to retransfer keeps the load on the generator and restarts the wait."""
    gen = GeneratorATSController("gen-1", start_delay_s=10.0, retransfer_delay_s=100.0, cooldown_s=50.0)
    ok = lambda t: not (10 <= t < 200 or 250 <= t < 260)  # noqa: E731
    r = {float(t): gen.step(float(t), {"utility_ok": ok(t)}) for t in range(0, 600)}
    assert r[255.0]["ats_on_generator"]
    assert r[359.0]["ats_on_generator"] and not r[360.0]["ats_on_generator"]  # 260 + 100
    assert not r[410.0]["generator_running"]


def test_fail_to_start_keeps_generator_off_and_flags_failed():
    """A generator that fails to start never goes online; failed is flagged and latched."""
    gen = GeneratorATSController("gen-1", start_delay_s=15.0, fail_to_start=True)
    r = timeline(gen, (100.0, 1000.0), 1500.0)
    assert not any(v["generator_online"] or v["ats_on_generator"] for v in r.values())
    assert not r[114.0]["generator_failed"] and r[115.0]["generator_failed"]
    assert not r[115.0]["generator_running"] and gen.state == "utility"
    assert r[1500.0]["generator_failed"]
    gen.reset_failure()
    gen.fail_to_start = False
    r2 = {t: gen.step(t, {"utility_ok": False}) for t in (1501.0, 1516.0)}
    assert r2[1516.0]["ats_on_generator"]


def test_utility_back_before_generator_online_aborts_start():
    """Utility returning during cranking: no transfer, the engine cools down and stops."""
    gen = GeneratorATSController("gen-1", start_delay_s=15.0, cooldown_s=30.0)
    r = timeline(gen, (100.0, 105.0), 200.0)
    assert not any(v["ats_on_generator"] for v in r.values())
    assert r[130.0]["generator_running"] and not r[135.0]["generator_running"]


def test_state_round_trip():
    """A restored ATS controller continues the same timeline."""
    a = GeneratorATSController("gen-1", start_delay_s=12.0, retransfer_delay_s=30.0, cooldown_s=20.0)
    ok = lambda t: not (10 <= t < 50)  # noqa: E731
    for t in range(0, 20):
        a.step(float(t), {"utility_ok": ok(t)})
    b = GeneratorATSController("gen-1", start_delay_s=12.0, retransfer_delay_s=30.0, cooldown_s=20.0)
    buf = io.BytesIO()
    np.savez(buf, **a.state_dict())
    buf.seek(0)
    b.load_state_dict(dict(np.load(buf)))
    for t in range(20, 150):
        assert a.step(float(t), {"utility_ok": ok(t)}) == b.step(float(t), {"utility_ok": ok(t)})


def test_battery_charge_taper():
    """Constant power below the taper SoC, linear to 0 at full, capped by max_charge_w, 0 without input."""
    kw = dict(rated_charge_w=10_000.0, taper_start_soc=0.8, max_charge_w=10_000.0)
    assert charge_power_w(0.3, **kw) == 10_000.0
    assert charge_power_w(0.8, **kw) == 10_000.0
    assert charge_power_w(0.9, **kw) == pytest.approx(5_000.0)
    assert charge_power_w(0.99, **kw) == pytest.approx(500.0)
    assert charge_power_w(1.0, **kw) == 0.0
    assert charge_power_w(0.5, **{**kw, "max_charge_w": 4_000.0}) == 4_000.0
    c = BatteryChargeController("ups-a.charger", rated_charge_w=10_000.0, taper_start_soc=0.8)
    assert c.step(0.0, {"soc": 0.5, "input_live": True})["charge_w"] == 10_000.0
    assert c.step(0.5, None)["charge_w"] == 10_000.0  # held between samples
    assert c.step(1.0, {"soc": 0.5, "input_live": False}) == {"charge_w": 0.0, "charging": False}


def test_battery_charges_with_exponential_tail():
    """Integrated, the taper makes SoC approach 1 exponentially: time constant E·(1−s0)/P in the taper."""
    energy_j, p_w, s0 = 3.6e8, 1.0e5, 0.8  # 100 kWh, 100 kW charger
    c = BatteryChargeController("ups-a.charger", rated_charge_w=p_w, taper_start_soc=s0)
    soc, t = 0.5, 0.0
    while soc < s0:
        soc += c.step(t, {"soc": soc, "input_live": True})["charge_w"] / energy_j
        t += 1.0
    assert t == pytest.approx(0.3 * energy_j / p_w, abs=2)  # constant power phase
    tau = energy_j * (1 - s0) / p_w
    t_taper = t
    while t < t_taper + tau:
        soc += c.step(t, {"soc": soc, "input_live": True})["charge_w"] / energy_j
        t += 1.0
    assert 1 - soc == pytest.approx((1 - s0) * 0.36788, rel=0.01)
