"""The power chain's load flow: every watt accounted for, published curves reproduced, batteries and
lost feeds behave as a 2N chain does."""

from __future__ import annotations

import numpy as np
import pytest

from tests.electrical.conftest import mech_w, nominal_it_w
from twin.electrical import LossCurve, PowerSources, chiller_cop, loss_locations, solve_power
from twin.model.power import PSU_CURVES, UPS_DOUBLE_CONVERSION_CURVE, UPS_ECO_CURVE, CoolingPlant


def _states(n_ups: int) -> dict[str, PowerSources]:
    first_off = np.arange(n_ups) == 0
    return {
        "normal": PowerSources(),
        "eco": PowerSources(ups_eco=np.ones(n_ups, dtype=bool)),
        "utility-lost-generator-starting": PowerSources(utility_available=False),
        "on-generator": PowerSources(utility_available=False, generator_online=True, ats_on_generator=True),
        "utility-back-before-retransfer": PowerSources(generator_online=True, ats_on_generator=True),
        "ups-a-off": PowerSources(ups_output_on=~first_off),
        "ups-a-input-lost": PowerSources(ups_input_available=~first_off),
        "ups-a-battery-test": PowerSources(ups_on_battery=first_off),
    }


STATES = list(_states(2))


@pytest.mark.parametrize("state", STATES)
def test_every_watt_is_accounted_for(net, rng, state):
    """utility + generator = IT + every loss + mechanical − battery discharge, to round-off."""
    sources = _states(net.n_ups)[state]
    it = nominal_it_w(net) * rng.uniform(0.3, 1.1, net.n_racks)
    res = solve_power(net, it, sources=sources, ups_charge_w=rng.uniform(0, 5e4, net.n_ups), **mech_w(net))
    losses = res.losses_w()
    total = res.it_w.sum() + sum(losses.values()) + res.mechanical_w - res.battery_w.sum()
    scale = res.it_w.sum() + res.mechanical_w  # the balance may be 0 (all on battery): compare with the flows
    assert abs(res.facility_w - total) < 1e-12 * scale
    assert abs(res.balance_w()) < 1e-12 * scale
    # The same sum by place: losses in the hall plus outside it.
    where = loss_locations(res)
    assert np.isclose(where.hall_w + where.outside_total_w, sum(losses.values()), rtol=1e-12)
    assert where.hall_w > 0 and where.outside_total_w > 0
    # Power into each UPS = out + loss − battery; branch losses sum to the cable and transformer losses.
    assert np.allclose(res.ups_input_w, res.ups_output_w + res.ups_loss_w - res.battery_w, rtol=1e-12, atol=1e-6)
    assert np.isclose(res.branch_loss_w.sum() - res.grid_source_loss_w,
                      sum(v for k, v in losses.items() if k not in ("psu", "ups")), rtol=1e-10)
    assert np.all(res.psu_loss_w >= 0) and np.all(res.ups_loss_w >= 0)


def test_normal_operation_is_plausible(net):
    """Both UPSs share the load, voltages stay within a few % and every rack is powered."""
    res = solve_power(net, nominal_it_w(net), **mech_w(net))
    assert res.rack_powered.all() and np.allclose(res.rack_feed_a_w, res.rack_feed_b_w)
    assert np.all(res.ups_input_w > 0) and np.all(res.battery_w == 0)
    assert 0.95 < res.bus_v_pu.min() and res.bus_v_pu.max() <= 1.0 + 1e-12
    assert 0.85 < res.it_w.sum() / (res.facility_w - res.mechanical_w) < 0.93  # chain: PSU 96 %, UPS ≈ 94 %, …
    assert res.utility_w > 0 and res.generator_w == 0


@pytest.mark.parametrize(("points", "name"), [(UPS_DOUBLE_CONVERSION_CURVE, "double conversion"),
                                              (UPS_ECO_CURVE, "eco")])
def test_ups_curve_reproduces_published_points(points, name):
    """Output ÷ input of the UPS loss curve equals each published efficiency point."""
    curve = LossCurve.from_efficiency(*points)
    assert np.allclose(curve.efficiency(np.array(points[0])), points[1], rtol=0, atol=1e-12), name
    # Between points the loss is continuous and positive; at no load it stays at the first point's loss.
    x = np.linspace(0.0, 1.2, 241)
    assert np.all(curve.loss(x) > 0) and np.all(np.abs(np.diff(curve.loss(x))) < 0.002)


def test_ups_loss_in_the_solve_follows_the_curve(net):
    """A solved UPS's output ÷ (output + loss) is the curve's efficiency at its load, in both modes."""
    for eco in (False, True):
        res = solve_power(net, nominal_it_w(net), sources=PowerSources(ups_eco=np.full(net.n_ups, eco)))
        for u in range(net.n_ups):
            curve = net.ups_eco_curve[u] if eco else net.ups_curve[u]
            x = res.ups_output_w[u] / net.ups_rated_va[u]
            eta = res.ups_output_w[u] / (res.ups_output_w[u] + res.ups_loss_w[u])
            assert np.isclose(eta, curve.efficiency(x), rtol=1e-12)
            assert res.ups_eco[u] == eco


@pytest.mark.parametrize("psu", list(PSU_CURVES))
def test_psu_curves_reproduce_80plus_points(psu):
    """The PSU loss curves give the 80 PLUS 230 V internal redundant efficiencies at their load points."""
    loads, eff = PSU_CURVES[psu]
    assert np.allclose(LossCurve.from_efficiency(loads, eff).efficiency(np.array(loads)), eff, atol=1e-12)


def test_rack_feed_power_is_it_over_psu_efficiency(net):
    """With PSUs at 2× the IT load, a rack at nominal load runs its Titanium PSUs at 50 %: η = 96 %."""
    it = nominal_it_w(net)
    res = solve_power(net, it)
    loaded = it > 0
    assert np.allclose(res.psu_load_fraction[loaded], 0.5)
    assert np.allclose(res.rack_feed_w[loaded], it[loaded] / 0.96, rtol=1e-12)
    assert np.allclose(res.psu_loss_w, res.rack_feed_w - res.it_w, rtol=1e-12)


def test_ups_on_battery_carries_output_and_losses(net):
    """UPS-A loses its input: its battery supplies output + losses, its input draws nothing, and UPS-B
    keeps running from the switchboard; the racks still get their full power."""
    first = np.arange(net.n_ups) == 0
    normal = solve_power(net, nominal_it_w(net))
    res = solve_power(net, nominal_it_w(net), sources=PowerSources(ups_input_available=~first), ups_charge_w=1e4)
    assert res.ups_on_battery[0] and not res.ups_on_battery[1:].any()
    assert res.ups_input_w[0] == 0.0
    assert np.isclose(res.battery_w[0], res.ups_output_w[0] + res.ups_loss_w[0], rtol=1e-14)
    assert np.isclose(res.ups_output_w[0], normal.ups_output_w[0], rtol=1e-9)  # the load does not notice
    assert np.all(res.battery_w[1:] < 0)  # the others charge as asked
    assert np.allclose(res.battery_w[1:], -np.minimum(1e4, net.ups_charge_max_w[1:]))


def test_utility_loss_before_generator_runs_everything_on_battery(net):
    """Utility lost, generator not yet online: every UPS on battery, mechanical loads unpowered, no
    facility power; the batteries supply IT + chain losses."""
    res = solve_power(net, nominal_it_w(net), sources=PowerSources(utility_available=False), **mech_w(net))
    assert not res.switchboard_live and res.ups_on_battery.all()
    assert res.facility_w == 0.0 and res.mechanical_w == 0.0 and res.transformer_loss_w == 0.0
    assert np.isclose(res.battery_w.sum(), res.it_w.sum() + sum(res.losses_w().values()), rtol=1e-9)


def test_on_generator_the_generator_supplies_everything(net):
    """With the ATS on the running generator, the generator supplies the whole facility; the idle
    transformer draws only its no-load loss from a returned utility."""
    on_gen = PowerSources(utility_available=False, generator_online=True, ats_on_generator=True)
    res = solve_power(net, nominal_it_w(net), sources=on_gen, **mech_w(net))
    assert res.utility_w == 0.0 and res.generator_w > res.it_w.sum()
    assert 0 < res.generator_load_fraction < 1.2
    back = solve_power(net, nominal_it_w(net), sources=PowerSources(generator_online=True, ats_on_generator=True),
                       **mech_w(net))
    no_load_w = net.spec.transformer.no_load_loss_kw * 1e3
    assert np.isclose(back.utility_w, back.transformer_loss_w) and np.isclose(back.utility_w, no_load_w, rtol=1e-3)
    assert np.isclose(back.generator_w, res.generator_w, rtol=1e-12)


def test_one_side_out_moves_every_rack_to_the_other(net):
    """UPS-A off: its PDUs are dead and every rack draws its whole power through its B feed."""
    first = np.arange(net.n_ups) == 0
    it = nominal_it_w(net)
    res = solve_power(net, it, sources=PowerSources(ups_output_on=~first))
    a_side = net.rack_ups[:, 0] == 0
    assert res.rack_powered.all() and np.allclose(res.it_w, it)
    assert np.all(res.rack_feed_a_w[a_side] == 0) and np.allclose(res.rack_feed_b_w[a_side], res.rack_feed_w[a_side])
    dead_pdus = net.pdu_ups == 0
    assert np.all(res.pdu_input_w[dead_pdus] == 0) and np.all(res.pdu_loss_w[dead_pdus] == 0)
    assert res.ups_output_w[0] == 0 and res.ups_loss_w[0] == 0
    both_off = solve_power(net, it, sources=PowerSources(ups_output_on=np.zeros(net.n_ups, dtype=bool)))
    assert not both_off.rack_powered.any() and both_off.it_w.sum() == 0


def test_results_by_name(net):
    """Named results: one entry per component and quantity, under its name."""
    res = solve_power(net, nominal_it_w(net))
    named = res.named()
    rack, ups, pdu = net.rack_names[0], net.ups_names[0], net.pdu_names[0]
    assert named[f"rack.{rack}.feed_w"] == res.rack_feed_w[0]
    assert named[f"rack.{rack}.psu_loss_w"] == res.psu_loss_w[0]
    assert named[f"ups.{ups}.battery_w"] == res.battery_w[0]
    assert named[f"pdu.{pdu}.loss_w"] == res.pdu_loss_w[0]
    assert named[f"bus.{ups}.output.v_pu"] == 1.0
    assert named["power.transformer_loss_w"] == res.transformer_loss_w


def test_chiller_cop_follows_temperatures():
    """COP ≈ 5.9 at 12 °C supply and 25 °C outdoors; warmer water helps, hotter weather hurts."""
    plant = CoolingPlant()
    cop = chiller_cop(plant)
    assert 5.5 < cop < 6.3
    assert chiller_cop(plant, chw_supply_c=14.0) > cop > chiller_cop(plant, outdoor_c=35.0)
    assert chiller_cop(plant, outdoor_c=-20.0) == plant.cop_max


def _fields(res) -> dict[str, np.ndarray]:
    return {f: np.asarray(getattr(res, f), dtype=float) for f in (
        "it_w", "psu_loss_w", "rack_feed_cable_loss_w", "pdu_loss_w", "pdu_cable_loss_w", "ups_output_w",
        "ups_loss_w", "ups_input_w", "ups_cable_loss_w", "transformer_loss_w", "utility_w", "generator_w",
        "bus_v_pu", "branch_i_a", "branch_loss_w")}


@pytest.mark.parametrize("state", STATES)
def test_a_solve_that_takes_over_the_last_downstream_gives_a_fresh_solves_answer(net, rng, state):
    """Step after step the racks keep their loads while fans, chillers and chargers move: the second solve
    takes over the racks and the trees below the UPSs (fewer sweeps) and still answers what a solve from
    scratch answers, with every watt accounted for; a changed rack load or a UPS switched off is seen."""
    sources = _states(net.n_ups)[state]
    it = nominal_it_w(net) * rng.uniform(0.3, 1.1, net.n_racks)
    mech = mech_w(net)
    warm: dict = {}
    first = solve_power(net, it, sources=sources, warm=warm, **mech)
    moved = {**mech, "crah_fan_w": mech["crah_fan_w"] * 1.07, "chiller_w": mech["chiller_w"] * 0.97}
    again = solve_power(net, it, sources=sources, ups_charge_w=2e3, warm=warm, **moved)
    fresh = solve_power(net, it, sources=sources, ups_charge_w=2e3, **moved)
    eco = bool(np.any(again.ups_eco))  # eco mode passes the moving input voltage to the trees: solved again
    assert again.sweeps < fresh.sweeps or eco
    scale = fresh.it_w.sum() + fresh.mechanical_w
    assert abs(again.balance_w()) < 1e-12 * scale
    for name, value in _fields(fresh).items():
        np.testing.assert_allclose(_fields(again)[name], value, rtol=1e-9, atol=1e-9 * scale, err_msg=name)
    assert again.mechanical_w != first.mechanical_w or not again.switchboard_live
    # One rack's load changes: the trees are solved again (its feed carries more).
    it2 = it.copy()
    it2[3] *= 1.5
    changed = solve_power(net, it2, sources=sources, warm=warm, **moved)
    fresh2 = solve_power(net, it2, sources=sources, **moved)
    if changed.rack_powered[3]:
        assert changed.rack_feed_w[3] > again.rack_feed_w[3]
    for name, value in _fields(fresh2).items():
        np.testing.assert_allclose(_fields(changed)[name], value, rtol=1e-9, atol=1e-9 * scale, err_msg=name)


def test_a_ups_switched_off_between_solves_is_not_taken_over(net):
    """The same loads, but UPS A's output off in the second solve: its racks move to B (nothing reused)."""
    warm: dict = {}
    solve_power(net, nominal_it_w(net), warm=warm, **mech_w(net))
    off = PowerSources(ups_output_on=np.arange(net.n_ups) != 0)
    res = solve_power(net, nominal_it_w(net), sources=off, warm=warm, **mech_w(net))
    fresh = solve_power(net, nominal_it_w(net), sources=off, **mech_w(net))
    assert res.ups_output_w[0] == 0.0 and np.allclose(res.rack_feed_a_w + res.rack_feed_b_w, res.rack_feed_w)
    np.testing.assert_allclose(res.ups_output_w, fresh.ups_output_w, rtol=1e-9)
    np.testing.assert_allclose(res.pdu_input_w, fresh.pdu_input_w, rtol=1e-9, atol=1e-6)
