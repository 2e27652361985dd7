"""MV/LV transformers in parallel ([[power.transformers]]): the load splits in inverse proportion to the
units' impedances, the units' losses sum to the transformers' loss, a unit out of service leaves the
others with all of it (checked against their rating), pandapower's meshed load flow agrees, and the hall
file's mistakes are one line naming the key."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from tests.electrical.conftest import mech_w, nominal_it_w
from twin.electrical import PowerNetwork, solve_power
from twin.electrical import pandapower_ref as pp_ref
from twin.model.errors import HallError
from twin.model.load import hall_path, parse_hall

REF = hall_path("reference")


def _unit(name: str, *, rated_kva: float = 2500.0, impedance_pct: float = 6.0, load_loss_kw: float = 21.0,
          no_load_loss_kw: float = 3.2, **kw) -> dict:
    return {"name": name, "rated_kva": rated_kva, "impedance_pct": impedance_pct, "load_loss_kw": load_loss_kw,
            "no_load_loss_kw": no_load_loss_kw, **kw}


def _hall(units: list[dict]):
    data = tomllib.loads(REF.read_text(encoding="utf-8"))
    data["power"].pop("transformer", None)
    data["power"]["transformers"] = units
    return parse_hall(data, source=REF)


def _solve(net: PowerNetwork):
    return solve_power(net, nominal_it_w(net), **mech_w(net))


def test_units_share_the_load_in_inverse_proportion_to_their_impedance():
    """Two 2500 kVA units of 5 % and 7.5 % impedance with the same X/R: the same voltage drop across both,
    so |I₁| / |I₂| = |Z₂| / |Z₁| = 1.5 exactly (their ratings are equal: so are their load fractions'
    ratio); each loses R·|I|² plus its no-load loss, and the units' losses sum to the transformers' loss."""
    net = PowerNetwork(_hall([_unit("TR-1", impedance_pct=5.0, load_loss_kw=17.5),
                              _unit("TR-2", impedance_pct=7.5, load_loss_kw=26.25)]))
    res = _solve(net)
    lf = res.transformer_unit_load_fraction
    assert lf[0] / lf[1] == pytest.approx(1.5, rel=1e-12)
    assert res.transformer_load_fraction == lf.max()
    # The units' load loss at their own current: load_loss_kw × (load fraction)² at rated voltage, scaled
    # by the MV bus voltage (the load fraction is the HV side's apparent power, |V|·|I|).
    v_mv = res.bus_v_pu[net.bus_names.index("mv-bus")]
    no_load_w = np.array([3.2e3, 3.2e3]) * v_mv**2
    load_loss_w = np.array([17.5e3, 26.25e3]) * (lf / v_mv) ** 2
    assert np.allclose(res.transformer_unit_loss_w, load_loss_w + no_load_w, rtol=1e-9)
    assert res.transformer_unit_loss_w.sum() == pytest.approx(res.transformer_loss_w, rel=1e-12)
    assert abs(res.balance_w()) < 1e-11 * (res.it_w.sum() + res.mechanical_w)  # round-off
    # Parallel units carry what one unit of their combined rating would: the same switchboard voltage
    # as a single 5000 kVA unit of the parallel impedance (5 % ∥ 7.5 % = 3 % of 2500 kVA = 6 % of 5000;
    # R: 0.7 % ∥ 1.05 % = 0.42 % of 2500 kVA = 0.84 % of 5000, a 42 kW load loss).
    one = PowerNetwork(_hall([_unit("TR-1", rated_kva=5000.0, impedance_pct=6.0, load_loss_kw=42.0,
                                    no_load_loss_kw=6.4)]))
    res_one = _solve(one)
    lv = net.bus_names.index("lv-switchboard")
    assert res.bus_v_pu[lv] == pytest.approx(res_one.bus_v_pu[lv], rel=1e-12)
    assert res.transformer_loss_w == pytest.approx(res_one.transformer_loss_w, rel=1e-9)
    named = res.named()
    assert named["transformer.TR-2.unit_loss_w"] == res.transformer_unit_loss_w[1]


def test_a_unit_out_of_service_leaves_the_other_with_all_of_it():
    """TR-2 tripped: no current, no loss (open on both sides); TR-1 carries the whole switchboard and its
    load fraction is that load over its own rating: 2 × 1250 kVA suffice together, one alone does not."""
    units = [_unit("TR-1", rated_kva=1250.0, load_loss_kw=13.0, no_load_loss_kw=2.0),
             _unit("TR-2", rated_kva=1250.0, load_loss_kw=13.0, no_load_loss_kw=2.0)]
    both = _solve(PowerNetwork(_hall(units)))
    tripped_net = PowerNetwork(_hall([units[0], {**units[1], "in_service": False}]))
    tripped = _solve(tripped_net)
    assert both.transformer_unit_load_fraction[0] == pytest.approx(both.transformer_unit_load_fraction[1], rel=1e-12)
    assert tripped.transformer_unit_loss_w[1] == 0.0 and tripped.transformer_unit_load_fraction[1] == 0.0
    mv = tripped_net.bus_names.index("mv-bus")
    lv_branch = tripped_net.branch_names.index("transformer")
    s_through_va = tripped.bus_v_pu[mv] * tripped.branch_i_a[lv_branch] * np.sqrt(3.0) * 11e3
    assert tripped.transformer_unit_load_fraction[0] == pytest.approx(s_through_va / 1250e3, rel=1e-9)
    assert tripped.transformer_load_fraction == tripped.transformer_unit_load_fraction[0]
    # Checked against its rating: within it while both run, beyond it alone (the hall's ≈ 1.4 MVA).
    assert both.transformer_load_fraction < 1.0 < tripped.transformer_load_fraction
    assert tripped.transformer_unit_loss_w.sum() == pytest.approx(tripped.transformer_loss_w, rel=1e-12)
    assert tripped.transformer_loss_w > both.transformer_loss_w  # one unit: twice the current density


def test_parallel_units_agree_with_pandapower():
    """Two unlike units (ratings, impedances, X/R) meshed in pandapower's Newton-Raphson: each unit's
    loading and losses, and the switchboard voltage, agree with our equivalent-branch sweep."""
    net = PowerNetwork(_hall([_unit("TR-1", rated_kva=2000.0, impedance_pct=5.5, load_loss_kw=18.0),
                              _unit("TR-2", rated_kva=1600.0, impedance_pct=6.5, load_loss_kw=11.0,
                                    no_load_loss_kw=2.4)]))
    res = _solve(net)
    from twin.electrical.solve import PowerSources

    pn, bus = pp_ref.pandapower_upstream(net, res, PowerSources())
    pp_ref.run(pn)
    trafo = pn.res_trafo
    s_hv_va = np.hypot(trafo.p_hv_mw.to_numpy(), trafo.q_hv_mvar.to_numpy()) * 1e6
    assert np.allclose(res.transformer_unit_load_fraction, s_hv_va / np.array([2000e3, 1600e3]), rtol=1e-4)
    no_load_w = pn.res_shunt.p_mw.to_numpy() * 1e6
    assert np.allclose(res.transformer_unit_loss_w, trafo.pl_mw.to_numpy() * 1e6 + no_load_w, rtol=1e-3)
    ours, theirs = pp_ref.voltage_pairs(net, res, pn, bus)
    assert np.max(np.abs(ours - theirs)) < 1e-5


@pytest.mark.parametrize(("units", "says"), [
    ([_unit("TR-1"), _unit("TR-1")], "power.transformers[1].name: 'TR-1' is already used by power.transformers[0]"),
    ([_unit("TR-1"), _unit("TR-2", lv_v=415.0)], "power.transformers[1].lv_v: 415.0 V differs"),
    ([_unit("TR-1", mv_kv=20.0)], "power.transformers[0].mv_kv: 20.0 kV differs from power.utility.mv_kv"),
    ([_unit("TR-1", in_service=False)], "every transformer is out of service"),
])
def test_mistakes_in_the_transformers_are_one_line_naming_the_key(units, says):
    with pytest.raises(HallError) as err:
        _hall(units)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_one_unit_or_the_list_not_both():
    data = tomllib.loads(REF.read_text(encoding="utf-8"))
    data["power"]["transformers"] = [_unit("TR-1")]
    with pytest.raises(HallError, match="not both"):
        parse_hall(data, source=REF)


def test_what_if_studies_check_each_transformer_against_its_rating():
    """A sweep case's loads (twin.sweep.worker.power_loads) list every unit in service with its load over
    its rating: with one of two 1250 kVA units out, the other is over its rating at reference's load."""
    from twin.sim.twin import HallTwin
    from twin.sweep.worker import power_loads

    units = [_unit("TR-1", rated_kva=1250.0, load_loss_kw=13.0, no_load_loss_kw=2.0),
             _unit("TR-2", rated_kva=1250.0, load_loss_kw=13.0, no_load_loss_kw=2.0, in_service=False)]
    twin = HallTwin(_hall(units), control="ideal")
    state = twin.initial_state()
    twin.step(state)
    loads = {name: (kind, f) for name, kind, f in power_loads(twin, state)}
    assert "TR-2" not in loads
    kind, f = loads["TR-1"]
    assert kind == "transformer" and f == state.power.last.transformer_load_fraction > 1.0
    # The bus's summary shows each unit (docs/protocol.md 3.1): the tripped one in service false, carrying 0.
    from twin.bus import protocol as P
    from twin.bus.views import summary_body

    src = P.decode_json(P.encode_json(summary_body(twin, state, clock={})))["sources"]
    assert src["transformers"]["name"] == ["TR-1", "TR-2"] and src["transformers"]["in_service"] == [True, False]
    assert src["transformers"]["load_fraction"][1] == 0.0 and src["transformers"]["loss_w"][1] == 0.0
    assert sum(src["transformers"]["loss_w"]) == pytest.approx(src["transformer_loss_w"], rel=1e-12)
