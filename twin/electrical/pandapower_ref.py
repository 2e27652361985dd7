"""The same networks in pandapower, built independently from the hall file's ratings (for tests and the bench).

Not used by the twin itself: pandapower is a test dependency (``pip install -e '.[test]'``). Each builder
takes the loads that our solve put on a network (rack feeds; UPS inputs and the mechanical panel) and
writes them as pandapower elements: the slack as an ``ext_grid``, cables as lines from Ω/km and length,
transformers from their rated values (no-load loss as a constant-impedance ``shunt`` at the primary), the
utility's source impedance as a line of (kV)²/MVA ohms, loads at constant power.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from twin.electrical.network import PowerNetwork
from twin.electrical.solve import PowerResult, PowerSources

__all__ = ["pandapower_downstream", "pandapower_losses_w", "pandapower_upstream", "run", "voltage_pairs"]

#: A pandapower network (pandapower ships no type information).
PandapowerNet = Any

_BIG_KA = 1e3


def _pp() -> ModuleType:
    import pandapower as pp  # noqa: PLC0415 - optional dependency

    return pp


def _line(pp: ModuleType, net: PandapowerNet, a: int, b: int,
          length_m: float, r_ohm_per_km: float, x_ohm_per_km: float, name: str) -> None:
    pp.create_line_from_parameters(net, a, b, length_km=length_m / 1e3, r_ohm_per_km=r_ohm_per_km,
                                   x_ohm_per_km=x_ohm_per_km, c_nf_per_km=0.0, max_i_ka=_BIG_KA, name=name)


def _trafo(pp: ModuleType, net: PandapowerNet, hv: int, lv: int, rated_kva: float, hv_kv: float, lv_kv: float,
           impedance_pct: float, load_loss_kw: float, no_load_loss_kw: float, name: str) -> None:
    pp.create_transformer_from_parameters(
        net, hv, lv, sn_mva=rated_kva / 1e3, vn_hv_kv=hv_kv, vn_lv_kv=lv_kv,
        vkr_percent=load_loss_kw / rated_kva * 100.0, vk_percent=impedance_pct, pfe_kw=0.0, i0_percent=0.0,
        name=name,
    )
    if no_load_loss_kw > 0:
        pp.create_shunt(net, hv, q_mvar=0.0, p_mw=no_load_loss_kw / 1e3, name=f"{name}.no-load")


def pandapower_downstream(net: PowerNetwork, result: PowerResult) -> tuple[PandapowerNet, dict[str, int]]:
    """The downstream trees of the live UPSs, loaded with ``result``'s rack feeds.

    Returns (pandapower net, {our bus name: pandapower bus index}). Elements are created in bulk
    (``create_buses``, ``create_lines_from_parameters``, ...): one pandas append per kind, not per element.
    """
    pp = _pp()
    spec = net.spec
    lv_kv = spec.transformer_units[0].lv_v / 1e3
    pn = pp.create_empty_network(sn_mva=1.0)
    names: list[str] = []
    lines: list[tuple[str, str, float, float, float, str]] = []  # from, to, length m, r Ω/km, x Ω/km, name
    v = dict(zip(net.bus_names, result.bus_v_pu))
    angle = dict(zip(net.bus_names, result.bus_angle_deg))
    roots = [f"{name}.output" for u, name in enumerate(net.ups_names) if result.ups_output_on[u]]
    names += roots
    pdu_out: dict[str, str] = {}
    trafos = [p for p in spec.pdus if p.kind == "transformer" and f"{p.ups}.output" in roots]
    for p in spec.pdus:
        if f"{p.ups}.output" not in roots:
            continue
        names.append(f"{p.name}.input")
        lines.append((f"{p.ups}.output", f"{p.name}.input", p.cable_length_m, p.cable_r_ohm_per_km,
                      p.cable_x_ohm_per_km, f"{p.name}.cable"))
        if p.kind == "transformer":
            names.append(f"{p.name}.output")
        pdu_out[p.name] = f"{p.name}.output" if p.kind == "transformer" else f"{p.name}.input"
    feed_of_row = {f.row: f for f in spec.rack_feeds}
    loads: list[tuple[str, float, float]] = []
    k = 0
    for row in net.hall.spec.rows:
        feed = feed_of_row[row.name]
        tan_phi = math.tan(math.acos(feed.psu_power_factor))
        for _ in range(row.count):
            rack = net.rack_names[k]
            for label, pdu, p_w in (("a", feed.feed_a, result.rack_feed_a_w[k]),
                                    ("b", feed.feed_b, result.rack_feed_b_w[k])):
                if pdu not in pdu_out:
                    continue
                key = f"{rack}.{label}"
                names.append(key)
                # A rack feed cable given in ohms: a line of 1 km at that many Ω/km.
                lines.append((pdu_out[pdu], key, 1e3, feed.cable_r_ohm, feed.cable_x_ohm, f"{key}.feed"))
                loads.append((key, p_w / 1e6, p_w * tan_phi / 1e6))
            k += 1
    index = pp.create_buses(pn, len(names), vn_kv=lv_kv, name=names)
    bus = dict(zip(names, (int(i) for i in index)))
    for key in roots:
        pp.create_ext_grid(pn, bus[key], vm_pu=v[key], va_degree=angle[key])
    _lines(pp, pn, bus, lines)
    for p in trafos:
        _trafo(pp, pn, bus[f"{p.name}.input"], bus[f"{p.name}.output"], p.rated_kva, lv_kv, lv_kv,
               p.impedance_pct, p.load_loss_w / 1e3, p.no_load_loss_w / 1e3, f"{p.name}.transformer")
    if loads:
        pp.create_loads(pn, [bus[b] for b, _, _ in loads], p_mw=[p for _, p, _ in loads],
                        q_mvar=[q for _, _, q in loads], name=[b for b, _, _ in loads])
    return pn, bus


def _lines(pp: ModuleType, pn: PandapowerNet, bus: dict[str, int], lines: list) -> None:
    if not lines:
        return
    cols = list(zip(*lines))
    pp.create_lines_from_parameters(
        pn, [bus[a] for a in cols[0]], [bus[b] for b in cols[1]], length_km=np.array(cols[2]) / 1e3,
        r_ohm_per_km=np.array(cols[3]), x_ohm_per_km=np.array(cols[4]), c_nf_per_km=0.0, max_i_ka=_BIG_KA,
        name=list(cols[5]),
    )


def pandapower_upstream(net: PowerNetwork, result: PowerResult,
                        sources: PowerSources) -> tuple[PandapowerNet, dict[str, int]]:
    """The upstream network (utility through the transformer, or the generator at the switchboard), loaded
    with ``result``'s UPS inputs and mechanical panel. Returns (pandapower net, {bus name: index})."""
    pp = _pp()
    spec = net.spec
    ut, me = spec.utility, spec.mechanical
    lv_kv = spec.transformer_units[0].lv_v / 1e3
    pn = pp.create_empty_network(sn_mva=1.0)
    bus: dict[str, int] = {}
    bus["lv-switchboard"] = pp.create_bus(pn, vn_kv=lv_kv, name="lv-switchboard")
    if sources.ats_on_generator:
        pp.create_ext_grid(pn, bus["lv-switchboard"], vm_pu=1.0, va_degree=0.0, name="generator")
    else:
        bus["utility"] = pp.create_bus(pn, vn_kv=ut.mv_kv, name="utility")
        bus["mv-bus"] = pp.create_bus(pn, vn_kv=ut.mv_kv, name="mv-bus")
        pp.create_ext_grid(pn, bus["utility"], vm_pu=1.0, va_degree=0.0, name="utility")
        z_ohm = ut.mv_kv**2 / ut.sc_mva
        r_ohm, x_ohm = z_ohm * ut.r_over_x / math.hypot(ut.r_over_x, 1.0), z_ohm / math.hypot(ut.r_over_x, 1.0)
        _line(pp, pn, bus["utility"], bus["mv-bus"], 1e3, r_ohm, x_ohm, "utility.source")
        # Each unit in service as its own transformer in parallel (pandapower meshes them); the one of a
        # single-unit hall keeps the branch's name.
        units = spec.transformer_units
        for tr in units:
            if tr.in_service:
                _trafo(pp, pn, bus["mv-bus"], bus["lv-switchboard"], tr.rated_kva, tr.mv_kv, lv_kv, tr.impedance_pct,
                       tr.load_loss_kw, tr.no_load_loss_kw, "transformer" if len(units) == 1 else tr.name)
    for u, ups in enumerate(spec.ups):
        key = f"{ups.name}.input"
        bus[key] = pp.create_bus(pn, vn_kv=lv_kv, name=key)
        _line(pp, pn, bus["lv-switchboard"], bus[key], ups.cable_length_m, ups.cable_r_ohm_per_km,
              ups.cable_x_ohm_per_km, f"{ups.name}.input-cable")
        pp.create_load(pn, bus[key], p_mw=result.ups_input_w[u] / 1e6, q_mvar=result.ups_input_var[u] / 1e6, name=key)
    bus["mechanical-panel"] = pp.create_bus(pn, vn_kv=lv_kv, name="mechanical-panel")
    _line(pp, pn, bus["lv-switchboard"], bus["mechanical-panel"], me.cable_length_m, me.cable_r_ohm_per_km,
          me.cable_x_ohm_per_km, "mechanical.cable")
    p_mech = result.mechanical_w
    pp.create_load(pn, bus["mechanical-panel"], p_mw=p_mech / 1e6,
                   q_mvar=p_mech * math.tan(math.acos(me.power_factor)) / 1e6, name="mechanical")
    return pn, bus


def run(pn: PandapowerNet) -> None:
    """pandapower's Newton-Raphson load flow, converged tightly."""
    _pp().runpp(pn, calculate_voltage_angles=True, init="flat", tolerance_mva=1e-10, numba=False)


def pandapower_losses_w(pn: PandapowerNet) -> float:
    """Total losses of a solved pandapower net: lines, transformers and shunts, W."""
    total = float(pn.res_line.pl_mw.sum())
    if len(pn.trafo):
        total += float(pn.res_trafo.pl_mw.sum())
    if len(pn.shunt):
        total += float(pn.res_shunt.p_mw.sum())
    return total * 1e6


def voltage_pairs(net: PowerNetwork, result: PowerResult, pn: PandapowerNet,
                  bus: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(ours, pandapower's) |V| in pu at every bus of the pandapower net."""
    index = {name: i for i, name in enumerate(net.bus_names)}
    ours = np.array([result.bus_v_pu[index[name]] for name in bus])
    theirs = np.array([pn.res_bus.vm_pu.at[b] for b in bus.values()])
    return ours, theirs
