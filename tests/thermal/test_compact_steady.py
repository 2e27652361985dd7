"""Rack and CRAH compact models in the full twin, and the direct steady solve against time marching."""

from __future__ import annotations

import numpy as np
import pytest

from tests.halls import hall_from, tiny_dict
from twin.model import bundled_hall
from twin.sim.twin import HallTwin, NoSteadyState


def _rise_expected_k(hall, factor=1.0):
    """P/(ṁ c_p) from the hall file's own numbers: server airflow per kW, air properties."""
    air = hall.spec.air
    return np.array([r.it_w / (air.density_kg_m3 * air.cp_j_kgk * r.airflow_m3s_per_w * r.it_w * f)
                     for r, f in zip(hall.racks, np.broadcast_to(factor, len(hall.racks)))])


def test_rack_exhaust_rise_is_power_over_server_airflow():
    """At steady state every rack's exhaust − inlet = P/(ṁ c_p) with the servers' airflow, not the CRAH's."""
    data = tiny_dict()  # no power chain: the heat released is the IT load alone
    hall = hall_from(data)
    twin = HallTwin(hall)
    state = twin.steady()
    rise = state.t_rack_c - state.t_intake_c
    expected = _rise_expected_k(hall)
    assert np.allclose(rise, expected, rtol=1e-9)
    crah_flow = hall.crahs[0].rated_flow_m3s * hall.crahs[0].fan_speed
    with_crah_flow = np.array([r.it_w for r in hall.racks]) / (twin.air.rho_cp * crah_flow)
    assert not np.allclose(rise, with_crah_flow, rtol=0.05)


def test_psu_losses_heat_the_racks():
    """With a power chain, a rack releases IT + its PSUs' and feed cable's losses; its servers' airflow
    (set by the IT load) carries all of it: the rise grows by 1/η of the PSUs (80 PLUS Titanium: ≈ 4–10 %)."""
    hall = bundled_hall("tiny")
    twin = HallTwin(hall)
    state = twin.steady()
    it_w = np.array([r.it_w for r in hall.racks])
    ratio = state.rack_heat_w / it_w
    assert np.all((ratio > 1.02) & (ratio < 1.12)), ratio
    rise = state.t_rack_c - state.t_intake_c
    assert np.allclose(rise, _rise_expected_k(hall) * ratio, rtol=1e-9)


def test_server_fans_ramp_with_inlet_temperature():
    """Above the ramp start the servers move more air, so the rise shrinks by the fan factor."""
    data = tiny_dict()
    for row in data["rows"]:
        row["fan_ramp_start_c"] = 16.0
        row["fan_ramp_per_k"] = 0.05
    hall = hall_from(data)
    twin = HallTwin(hall)
    state = twin.steady()
    factor = np.minimum(1.0 + 0.05 * (state.t_intake_c - 16.0), hall.racks[0].fan_max_factor)
    assert np.all(factor > 1.05)
    rise = state.t_rack_c - state.t_intake_c
    # The applied airflow may lag the demand by the reflow tolerance (2 %).
    assert np.allclose(rise, _rise_expected_k(hall, factor), rtol=0.025)
    assert np.allclose(state.rack_flow_m3s, 0.0755e-3 * twin.racks.it_w * factor, rtol=0.025)


def test_steady_solve_agrees_with_long_transient_at_every_rack_inlet():
    """The direct steady field matches a 6 h transient run within 0.01 K at every inlet (spec: 0.1 K)."""
    twin = HallTwin(bundled_hall("tiny"), dt_s=2.0)
    steady = twin.steady()
    state = twin.initial_state()
    for _ in range(int(6 * 3600 / twin.dt_s)):
        twin.step(state)
    assert np.abs(steady.t_intake_c - state.t_intake_c).max() < 0.01
    assert np.abs(steady.t_rack_c - state.t_rack_c).max() < 0.01
    assert np.abs(steady.t_air_c - state.t_air_c).max() < 0.01
    # At steady state the coils remove exactly the heat released (racks with their PSUs, fans, PDUs).
    heat_w = steady.rack_heat_w.sum() + twin.mover_heat_w(steady).sum()
    assert np.isclose(steady.crah_heat_removed_w.sum(), heat_w, rtol=1e-6)


def test_crah_supply_at_setpoint_unless_capacity_limited():
    """A hot room: the coil runs at its rating and the supply floats above setpoint, then recovers."""
    data = tiny_dict()
    data["hall"]["initial_temp_c"] = 38.0
    data["crahs"][0]["rated_cooling_kw"] = 30.0
    hall = hall_from(data)
    twin = HallTwin(hall)
    state = twin.initial_state()
    for _ in range(20):
        twin.step(state)
    assert state.t_coil_c[0] > hall.crahs[0].supply_setpoint_c + 1.0
    assert np.isclose(state.crah_heat_removed_w[0], 30e3, rtol=0.01)
    for _ in range(3600):
        twin.step(state)
    # The setpoint holds for the supply air, i.e. after the fan's heat (the fan sits after the coil).
    fan_rise_k = twin.crah_fan_power_w(state)[0] / (twin.air.rho_cp * state.crah_flow_m3s[0])
    assert np.isclose(state.t_coil_c[0] + fan_rise_k, hall.crahs[0].supply_setpoint_c)
    assert state.crah_heat_removed_w[0] < 30e3


def test_no_steady_state_when_heat_exceeds_cooling_capacity():
    """More heat than running coil capacity: a clear error, not a meaningless field."""
    data = tiny_dict()
    data["crahs"][0]["rated_cooling_kw"] = 10.0
    with pytest.raises(NoSteadyState, match="no steady state"):
        HallTwin(hall_from(data)).steady()


def test_coil_regimes_reproduce_the_coil_law(rng):
    """α·T_return + β of the regime each unit is in equals the ideally controlled coil, at random points."""
    from twin.thermal.compact import coil_affine, coil_regime, coil_supply_c

    n = 20_000
    t_ret = rng.uniform(5.0, 45.0, n)
    setpoint = rng.uniform(14.0, 24.0, n)
    t_chw = rng.uniform(6.0, 20.0, n)
    eff = rng.uniform(0.3, 1.0, n)
    rated = rng.uniform(0.0, 200e3, n)
    mdot_cp = rng.uniform(0.0, 20e3, n) * (rng.random(n) > 0.05)  # some units stopped
    args = (setpoint, t_chw, eff, rated, mdot_cp)
    regime = coil_regime(t_ret, *args)
    alpha, beta = coil_affine(regime, *args)
    assert np.allclose(alpha * t_ret + beta, coil_supply_c(t_ret, *args))
    assert set(np.unique(regime)) == {0, 1, 2, 3}
    assert np.all(coil_supply_c(t_ret, *args) <= t_ret)  # a coil never heats


def test_steady_agrees_with_transient_when_server_fans_ramp():
    """With the fan law active the long transient settles on the law's fixed point: within 0.05 K of steady."""
    data = tiny_dict()
    for row in data["rows"]:
        row["fan_ramp_start_c"] = 18.0
        row["fan_ramp_per_k"] = 0.2
        row["fan_max_factor"] = 3.0
    twin = HallTwin(hall_from(data), dt_s=2.0)
    steady = twin.steady()
    assert np.all(steady.rack_flow_m3s > 1.02 * 0.0755e-3 * steady.rack_it_w)  # the fans did ramp
    state = twin.initial_state()
    for _ in range(int(4 * 3600 / twin.dt_s)):
        twin.step(state)
    assert np.abs(steady.t_intake_c - state.t_intake_c).max() < 0.05
    assert np.abs(steady.t_rack_c - state.t_rack_c).max() < 0.05
    assert np.allclose(steady.rack_flow_m3s, state.rack_flow_m3s, rtol=0.005)


def test_rack_powering_up_from_zero_gets_its_airflow():
    """A rack at 0 kW that starts drawing 150 W gets server airflow (no relative dead band at zero)."""
    data = tiny_dict()
    data["rows"][0]["it_kw"] = [4.0, 0.0, 8.0, 5.0]
    twin = HallTwin(hall_from(data))
    state = twin.initial_state()
    for _ in range(60):
        twin.step(state)
    assert state.rack_flow_m3s[1] == 0.0
    state.rack_it_w[1] = 150.0
    state.rack_heat_w[1] = 150.0
    for _ in range(3600):
        twin.step(state)
    assert np.isclose(state.rack_flow_m3s[1], 0.0755e-3 * 150.0, rtol=0.02)
    # A 150 W rack of 150 kJ/K takes hours to settle (τ = C/(ṁ c_p) ≈ 3 h); its steady rise is P/(ṁ c_p).
    settled = twin.steady(state)
    assert np.isclose(settled.t_rack_c[1] - settled.t_intake_c[1], 150.0 / (twin.air.rho_cp * 0.0755e-3 * 150.0))
