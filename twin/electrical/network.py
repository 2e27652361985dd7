"""The power chain of a hall as arrays: buses, branches and index maps (built once per hall).

A double-conversion UPS regulates its output voltage, so the chain splits into radial networks:

- upstream: utility source ─ source impedance ─ MV bus ─ transformer ─ LV switchboard ─ cables ─ UPS
  inputs and the mechanical panel (with the ATS on the generator, the switchboard is the slack bus and
  the utility side is left out);
- downstream, one tree per UPS: UPS output (slack, 1.0 pu) ─ cable ─ PDU input ─ [isolation transformer
  ─ PDU output] ─ rack feed cable ─ rack feed bus (one per rack and side, A and B).

All quantities are per unit on S_base = 1 MVA and the nominal voltage of each level (the utility's MV,
the transformer's LV); transformers have nominal ratios, so they are series impedances in per unit, with
their no-load loss as a constant shunt conductance at the primary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twin.electrical.curves import LossCurve
from twin.electrical.radial import RadialForest
from twin.model.load import HallModel
from twin.model.power import PSU_CURVES, PowerChain

__all__ = ["S_BASE_VA", "PowerNetwork", "Upstream"]

S_BASE_VA = 1e6


def _trafo_z_pu(rated_va: float, impedance_pct: float, load_loss_w: float) -> complex:
    z = impedance_pct / 100.0 * S_BASE_VA / rated_va
    r = load_loss_w / rated_va * S_BASE_VA / rated_va
    return complex(r, math.sqrt(max(z * z - r * r, 0.0)))


def _cable_z_pu(length_m: float, r_ohm_per_km: float, x_ohm_per_km: float, v_base: float) -> complex:
    z_base = v_base**2 / S_BASE_VA
    return complex(r_ohm_per_km, x_ohm_per_km) * length_m / 1e3 / z_base


@dataclass(frozen=True)
class Upstream:
    """One upstream topology (utility or generator) and where its buses sit in the full bus list.

    Local bus numbers index the forest's arrays; in a radial forest branch k is the one into bus k, so
    the branch into the MV bus is the source impedance and the branch into the LV switchboard is the
    transformer.
    """

    forest: RadialForest
    bus_index: np.ndarray  # into PowerNetwork.bus_names
    branch_index: np.ndarray  # into PowerNetwork.branch_names, per non-root bus (−1 at the root)
    ups_in: np.ndarray  # local bus of each UPS input
    mech: int  # local bus of the mechanical panel
    lv: int  # local bus of the LV switchboard (the root when the generator holds it)
    mv: int | None  # local bus of the MV side (its shunt is the transformer's no-load loss); None on the generator


class PowerNetwork:
    """The hall's power chain, built once from a :class:`HallModel` (whose file has a ``[power]`` section).

    Names (index maps): ``rack_names``, ``ups_names``, ``pdu_names``, ``crah_names``, ``bus_names``,
    ``branch_names``; every result array is ordered like one of them.
    """

    def __init__(self, hall: HallModel) -> None:
        power = hall.spec.power
        if power is None:
            raise ValueError(f"{hall.path or hall.name}: the hall file has no [power] section")
        self.hall = hall
        self.spec: PowerChain = power
        v_mv = power.utility.mv_kv * 1e3
        units = power.transformer_units
        v_lv = units[0].lv_v  # the same on every unit (twin.model.checks)
        i_base_mv = S_BASE_VA / (math.sqrt(3.0) * v_mv)
        i_base_lv = S_BASE_VA / (math.sqrt(3.0) * v_lv)

        self.rack_names = tuple(r.name for r in hall.racks)
        self.crah_names = tuple(c.name for c in hall.crahs)
        self.ups_names = tuple(u.name for u in power.ups)
        self.pdu_names = tuple(p.name for p in power.pdus)
        n_ups, n_pdu, n_rack = len(self.ups_names), len(self.pdu_names), len(self.rack_names)
        ups_of = {n: i for i, n in enumerate(self.ups_names)}
        pdu_of = {n: i for i, n in enumerate(self.pdu_names)}

        # --- equipment arrays ---
        # UPS efficiency curves are given against output ÷ rated kVA (the ratings assume unity power factor).
        self.ups_rated_va = np.array([u.rated_kva * 1e3 for u in power.ups])
        self.ups_eco = np.array([u.mode == "eco" for u in power.ups])
        self.ups_curve = tuple(LossCurve.from_efficiency(u.efficiency_load, u.efficiency) for u in power.ups)
        self.ups_eco_curve = tuple(LossCurve.from_efficiency(u.eco_efficiency_load, u.eco_efficiency)
                                   for u in power.ups)
        self.ups_charge_max_w = np.array([u.battery_max_charge_kw * 1e3 for u in power.ups])
        self.ups_charge_eff = np.array([u.charge_efficiency for u in power.ups])
        self.ups_tan_phi_in = np.array([math.tan(math.acos(u.input_power_factor)) for u in power.ups])
        self.battery_j = np.array([u.battery_kwh * 3.6e6 for u in power.ups])
        self.pdu_ups = np.array([ups_of[p.ups] for p in power.pdus], dtype=np.int64)
        self.pdu_rated_va = np.array([p.rated_kva * 1e3 for p in power.pdus])
        self.pdu_is_transformer = np.array([p.kind == "transformer" for p in power.pdus])
        # The MV/LV transformers in parallel: one branch between the MV bus and the switchboard whose
        # impedance is that of the units in service in parallel (the same ratio on each, so they share one
        # voltage drop and the current splits in inverse proportion to their impedances), and whose
        # no-load shunt is theirs summed. A unit out of service is open on both sides: no current, no loss.
        self.transformer_names = tuple(t.name for t in units)
        self.transformer_in_service = np.array([t.in_service for t in units], dtype=bool)
        self.transformer_unit_rated_va = np.array([t.rated_kva * 1e3 for t in units])
        self.transformer_unit_z_pu = np.array([_trafo_z_pu(t.rated_kva * 1e3, t.impedance_pct, t.load_loss_kw * 1e3)
                                               for t in units])
        on = self.transformer_in_service
        self.transformer_unit_g_pu = np.where(on, [t.no_load_loss_kw * 1e3 / S_BASE_VA for t in units], 0.0)
        self.transformer_rated_va = float(self.transformer_unit_rated_va[on].sum())  # the capacity in service
        self.generator_rated_va = power.generator.rated_kva * 1e3 if power.generator else 0.0
        self.mech_tan_phi = math.tan(math.acos(power.mechanical.power_factor))

        feed_of_row = {f.row: f for f in power.rack_feeds}
        feeds = [feed_of_row[row.name] for row in hall.spec.rows for _ in range(row.count)]  # racks in file order
        self.rack_pdu = np.array([[pdu_of[f.feed_a], pdu_of[f.feed_b]] for f in feeds],
                                 dtype=np.int64).reshape(n_rack, 2)
        self.rack_ups = self.pdu_ups[self.rack_pdu] if n_rack else np.zeros((0, 2), dtype=np.int64)
        nominal_it_w = np.array([r.it_w for r in hall.racks])
        self.psu_rated_w = np.maximum(np.array([f.psu_rating_fraction for f in feeds]) * nominal_it_w, 1.0)
        self.psu_tan_phi = np.array([math.tan(math.acos(f.psu_power_factor)) for f in feeds])
        self.psu_classes = tuple(
            (LossCurve.from_efficiency(*PSU_CURVES[cls]), np.flatnonzero([f.psu == cls for f in feeds]))
            for cls in PSU_CURVES if any(f.psu == cls for f in feeds)
        )

        # --- buses and branches: names, shared by both upstream topologies and the downstream trees ---
        bus_names: list[str] = ["utility", "mv-bus", "lv-switchboard"]
        bus_names += [f"{u}.input" for u in self.ups_names] + ["mechanical-panel"]
        branch_names: list[str] = ["utility.source", "transformer"]
        branch_names += [f"{u}.input-cable" for u in self.ups_names] + ["mechanical.cable"]

        # Upstream, utility: 0 source, 1 MV, 2 LV, 3.. UPS inputs, mechanical.
        ut = power.utility
        z_src = S_BASE_VA / (ut.sc_mva * 1e6) * complex(ut.r_over_x, 1.0) / math.hypot(ut.r_over_x, 1.0)
        if len(units) == 1:  # one unit: its own values (the same bits as before parallel units existed)
            tr = units[0]
            z_tr = _trafo_z_pu(tr.rated_kva * 1e3, tr.impedance_pct, tr.load_loss_kw * 1e3)
            g_tr = tr.no_load_loss_kw * 1e3 / S_BASE_VA
        else:
            z_tr = complex(1.0 / np.sum(1.0 / self.transformer_unit_z_pu[on]))
            g_tr = float(self.transformer_unit_g_pu.sum())
        # Each unit's part of the branch current (complex: units of different X/R also differ in phase).
        self.transformer_share = np.where(on, z_tr / self.transformer_unit_z_pu, 0.0)
        z_ups_cable = [_cable_z_pu(u.cable_length_m, u.cable_r_ohm_per_km, u.cable_x_ohm_per_km, v_lv)
                       for u in power.ups]
        me = power.mechanical
        z_mech = _cable_z_pu(me.cable_length_m, me.cable_r_ohm_per_km, me.cable_x_ohm_per_km, v_lv)
        parent = [-1, 0, 1] + [2] * n_ups + [2]
        z = [0, z_src, z_tr, *z_ups_cable, z_mech]
        y = [0, g_tr, 0] + [0] * (n_ups + 1)
        # Its local buses are the first ones of the full list, so a bus's name gives its local number.
        self.up_utility = Upstream(
            RadialForest(np.array(parent), np.array(z), np.array(y)),
            bus_index=np.arange(len(parent)), branch_index=np.array([-1, 0, 1, *range(2, 2 + n_ups + 1)]),
            ups_in=np.array([bus_names.index(f"{u}.input") for u in self.ups_names], dtype=np.int64),
            mech=bus_names.index("mechanical-panel"), lv=bus_names.index("lv-switchboard"),
            mv=bus_names.index("mv-bus"),
        )
        # Upstream, generator: 0 LV switchboard (the generator holds it at 1.0 pu), 1.. UPS inputs, mechanical.
        self.up_generator = Upstream(
            RadialForest(np.array([-1] + [0] * (n_ups + 1)), np.array([0, *z_ups_cable, z_mech]),
                         np.zeros(n_ups + 2)),
            bus_index=np.arange(2, 3 + n_ups + 1), branch_index=np.array([-1, *range(2, 2 + n_ups + 1)]),
            ups_in=np.arange(1, 1 + n_ups), mech=1 + n_ups, lv=0, mv=None,
        )
        self.transformer_branch = branch_names.index("transformer")
        # An energized transformer with the ATS on the generator: no load, only its no-load loss.
        v_mv_idle = 1.0 / (1.0 + z_src * g_tr)
        self.transformer_idle_w = g_tr * abs(v_mv_idle) ** 2 * S_BASE_VA  # also what the utility meter sees
        self.transformer_unit_idle_w = self.transformer_unit_g_pu * abs(v_mv_idle) ** 2 * S_BASE_VA

        # Downstream: roots (UPS outputs), PDU inputs, PDU outputs (transformer PDUs), rack feeds.
        d_parent: list[int] = []
        d_z: list[complex] = []
        d_y: list[float] = []
        d_branch: list[int] = []
        first = len(bus_names)
        for u in self.ups_names:
            bus_names.append(f"{u}.output")
            d_parent.append(-1)
            d_z.append(0)
            d_y.append(0)
            d_branch.append(-1)
        self.pdu_in_bus = np.zeros(n_pdu, dtype=np.int64)  # local (downstream) bus indices
        self.pdu_out_bus = np.zeros(n_pdu, dtype=np.int64)
        for i, p in enumerate(power.pdus):
            self.pdu_in_bus[i] = len(d_parent)
            bus_names.append(f"{p.name}.input")
            branch_names.append(f"{p.name}.cable")
            d_branch.append(len(branch_names) - 1)
            d_parent.append(int(self.pdu_ups[i]))
            d_z.append(_cable_z_pu(p.cable_length_m, p.cable_r_ohm_per_km, p.cable_x_ohm_per_km, v_lv))
            d_y.append(p.no_load_loss_w / S_BASE_VA if p.kind == "transformer" else 0.0)
            if p.kind == "transformer":
                self.pdu_out_bus[i] = len(d_parent)
                bus_names.append(f"{p.name}.output")
                branch_names.append(f"{p.name}.transformer")
                d_branch.append(len(branch_names) - 1)
                d_parent.append(int(self.pdu_in_bus[i]))
                d_z.append(_trafo_z_pu(p.rated_kva * 1e3, p.impedance_pct, p.load_loss_w))
                d_y.append(0.0)
            else:
                self.pdu_out_bus[i] = self.pdu_in_bus[i]
        self.rack_bus = np.zeros((n_rack, 2), dtype=np.int64)
        for k, (name, feed) in enumerate(zip(self.rack_names, feeds)):
            for side, label in enumerate("ab"):
                self.rack_bus[k, side] = len(d_parent)
                bus_names.append(f"{name}.{label}")
                branch_names.append(f"{name}.{label}.feed")
                d_branch.append(len(branch_names) - 1)
                d_parent.append(int(self.pdu_out_bus[self.rack_pdu[k, side]]))
                d_z.append(complex(feed.cable_r_ohm, feed.cable_x_ohm) / (v_lv**2 / S_BASE_VA))
                d_y.append(0.0)
        self.down = RadialForest(np.array(d_parent), np.array(d_z), np.array(d_y, dtype=complex))
        self.down_bus_index = first + np.arange(len(d_parent))
        self.down_branch_index = np.array(d_branch)
        # Global branch of each transformer PDU's transformer (the branch into its output bus).
        self.pdu_transformer_branch = self.down_branch_index[self.pdu_out_bus[self.pdu_is_transformer]]

        self.bus_names = tuple(bus_names)
        self.branch_names = tuple(branch_names)
        # Base current of each branch (at its receiving end), for A; the transformer's is its MV side's.
        self.branch_i_base = np.full(len(branch_names), i_base_lv)
        self.branch_i_base[branch_names.index("utility.source")] = i_base_mv
        self.branch_i_base[self.transformer_branch] = i_base_mv
        self.result_names = {"rack": self.rack_names, "pdu": self.pdu_names, "ups": self.ups_names,
                             "bus": self.bus_names, "branch": self.branch_names,
                             "transformer": self.transformer_names}

    @property
    def n_racks(self) -> int:
        return len(self.rack_names)

    @property
    def n_ups(self) -> int:
        return len(self.ups_names)

    @property
    def n_pdus(self) -> int:
        return len(self.pdu_names)
