"""One load flow of the power chain: inputs per step → powers, losses, voltages and currents by component.

Order of the solve (each stage vectorized over its components):

1. server PSUs: AC power of each rack = IT / η_psu(load), split over its live A and B feeds;
2. downstream trees (one per UPS, slack at the UPS output: 1.0 pu in double conversion, the UPS input's
   voltage in eco mode): backward/forward sweep → PDU and cable losses, UPS output power;
3. UPSs: loss from the efficiency curve at the output load; on battery the battery supplies output +
   loss, otherwise the input draws output + loss + battery charging;
4. upstream (utility through the transformer, or the generator at the LV switchboard): sweep with the
   UPS inputs and the mechanical panel as loads → transformer loss, utility or generator power.

With a UPS in eco mode, 2–4 repeat until the UPS input voltage moves by less than the tolerance.
Every watt is accounted for (see :meth:`PowerResult.balance_w`).

Stages 1 and 2 depend only on the IT loads, which UPSs and rack feeds are live, and the UPS output
voltages; they are most of the work and, step after step, most often see the same inputs (the fans,
chillers and battery chargers that move every step hang above the UPSs). The ``warm`` memory keeps
their last results with the inputs they were solved for, and a solve whose inputs are bit for bit the
same takes them over instead of solving again (exact: the same inputs' converged solution).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from twin.electrical.network import S_BASE_VA, PowerNetwork, Upstream

__all__ = ["PowerResult", "PowerSources", "solve_power"]


@dataclass(frozen=True)
class PowerSources:
    """State of the sources and switches for one solve. Per-UPS arrays are in ``net.ups_names`` order;
    None means the default (all True for availability and output, none forced onto battery, the hall
    file's mode)."""

    utility_available: bool = True
    generator_online: bool = False
    ats_on_generator: bool = False  # ATS position: False = utility, True = generator
    ups_input_available: np.ndarray | None = None  # input breaker closed and rectifier healthy
    ups_on_battery: np.ndarray | None = None  # forced onto battery even with a live input (battery test)
    ups_output_on: np.ndarray | None = None  # False: UPS off (battery exhausted, failed): its PDUs are dead
    ups_eco: np.ndarray | None = None  # eco mode (static bypass) instead of double conversion
    # Failures a what-if imposes, kept by every step's new sources (twin.sim.power): a UPS failed (its PDUs
    # dead, as with its output off), and (n_racks, 2) which A/B sides of each rack's feed are intact (a lost
    # PDU or feed cable: the other side carries the whole rack).
    ups_failed: np.ndarray | None = None
    rack_side_live: np.ndarray | None = None

    @property
    def switchboard_live(self) -> bool:
        """Whether the LV switchboard (UPS inputs, mechanical panel) has a source."""
        return self.generator_online if self.ats_on_generator else self.utility_available


@dataclass
class PowerResult:
    """Results of one solve. Arrays are ordered like the network's name tuples given in the comments."""

    # racks (net.rack_names)
    it_w: np.ndarray  # IT power actually supplied (0 where both feeds are dead)
    rack_powered: np.ndarray  # bool: at least one feed live
    rack_feed_w: np.ndarray  # AC power into the rack, both feeds (= IT + PSU loss)
    rack_feed_a_w: np.ndarray
    rack_feed_b_w: np.ndarray
    psu_loss_w: np.ndarray  # heat in the rack
    psu_load_fraction: np.ndarray  # IT ÷ installed PSU capacity
    rack_feed_cable_loss_w: np.ndarray  # both feed cables (in the hall)
    # PDUs (net.pdu_names)
    pdu_input_w: np.ndarray
    pdu_loss_w: np.ndarray  # isolation transformer (0 for a panel); heat in the hall at the PDU
    pdu_cable_loss_w: np.ndarray  # UPS output → PDU cable
    pdu_load_fraction: np.ndarray  # |S_in| ÷ rated
    # UPSs (net.ups_names)
    ups_output_w: np.ndarray
    ups_output_var: np.ndarray
    ups_input_w: np.ndarray
    ups_input_var: np.ndarray
    ups_loss_w: np.ndarray  # converter + charger losses (plant room)
    ups_cable_loss_w: np.ndarray  # LV switchboard → UPS input cable (plant room)
    battery_w: np.ndarray  # power out of the battery: > 0 discharging, < 0 charging (−dE/dt)
    ups_load_fraction: np.ndarray  # output ÷ rated
    ups_on_battery: np.ndarray  # bool
    ups_output_on: np.ndarray  # bool
    ups_eco: np.ndarray  # bool: running in eco mode in this solve
    # plant
    transformer_loss_w: float
    transformer_load_fraction: float
    utility_w: float  # metered at the MV bus (the source impedance's loss is the grid's)
    generator_w: float
    generator_load_fraction: float
    mechanical_w: float  # CRAH fans + chillers + pumps actually supplied
    mechanical_cable_loss_w: float
    grid_source_loss_w: float  # in the utility's source impedance: outside the facility
    switchboard_live: bool
    # network (net.bus_names, net.branch_names)
    bus_v_pu: np.ndarray  # |V|, 0 on dead buses
    bus_angle_deg: np.ndarray
    branch_i_a: np.ndarray  # current magnitude
    branch_loss_w: np.ndarray  # I²R, plus the no-load loss of transformer branches
    sweeps: int = 0  # backward/forward sweeps done (all networks, all outer iterations)
    # Each MV/LV transformer in parallel (net.transformer_names): its losses (they sum to
    # transformer_loss_w) and its load ÷ its rating (transformer_load_fraction is the largest).
    transformer_unit_loss_w: np.ndarray = field(default_factory=lambda: np.zeros(0))
    transformer_unit_load_fraction: np.ndarray = field(default_factory=lambda: np.zeros(0))
    names: dict = field(default_factory=dict, repr=False)

    @property
    def facility_w(self) -> float:
        """Power drawn from the utility and the generator."""
        return self.utility_w + self.generator_w

    def losses_w(self) -> dict[str, float]:
        """Every loss of the chain by kind, W."""
        return {
            "psu": float(self.psu_loss_w.sum()),
            "rack_feed_cables": float(self.rack_feed_cable_loss_w.sum()),
            "pdu": float(self.pdu_loss_w.sum()),
            "pdu_cables": float(self.pdu_cable_loss_w.sum()),
            "ups": float(self.ups_loss_w.sum()),
            "ups_cables": float(self.ups_cable_loss_w.sum()),
            "mechanical_cable": self.mechanical_cable_loss_w,
            "transformer": self.transformer_loss_w,
        }

    def balance_w(self) -> float:
        """utility + generator − (IT + losses + mechanical − battery discharge): 0 up to round-off."""
        return self.facility_w - (float(self.it_w.sum()) + sum(self.losses_w().values()) + self.mechanical_w
                                  - float(self.battery_w.sum()))

    def named(self) -> dict[str, float]:
        """Flat ``{"ups.UPS-A.loss_w": 1234.0, ...}``: every per-component value under its component's name."""
        out: dict[str, float] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("names", "sweeps"):
                continue
            if np.ndim(value) == 0:
                out[f"power.{f.name}"] = float(value)
                continue
            kind = _KIND[f.name.split("_")[0]]
            ids = self.names[kind]
            key = f.name.removeprefix(f"{kind}_") if f.name.startswith(f"{kind}_") else f.name
            for name, v in zip(ids, value):
                out[f"{kind}.{name}.{key}"] = float(v)
        return out


# First word of a per-component field → which name list orders it.
_KIND = {"it": "rack", "rack": "rack", "psu": "rack", "pdu": "pdu", "ups": "ups", "battery": "ups",
         "bus": "bus", "branch": "branch", "transformer": "transformer"}


def _bool(value: np.ndarray | None, n: int, default: bool | np.ndarray) -> np.ndarray:
    if value is None:
        # The same array as broadcast_to(...).copy() without its Python wrapper (called 5× per solve).
        if isinstance(default, bool):
            return np.full(n, default)
        d = np.asarray(default, dtype=bool)
        return d.copy() if d.shape == (n,) else np.broadcast_to(d, (n,)).copy()
    out = np.asarray(value, dtype=bool)
    if out.shape != (n,):
        raise ValueError(f"expected {n} values (one per UPS), got shape {out.shape}")
    return out


def solve_power(
    net: PowerNetwork,
    it_w: np.ndarray,
    *,
    crah_fan_w: np.ndarray | float = 0.0,
    chiller_w: float = 0.0,
    pump_w: float = 0.0,
    sources: PowerSources = PowerSources(),
    ups_charge_w: np.ndarray | float = 0.0,
    tol: float = 1e-10,
    warm: dict[str, np.ndarray] | None = None,
) -> PowerResult:
    """Solve the power chain for one time step.

    Args:
        net: the network, built once with ``PowerNetwork(hall)``.
        it_w: IT (server) power per rack, W, in ``net.rack_names`` order.
        crah_fan_w: fan power per CRAH (or their sum), W; chiller_w, pump_w: electrical power, W. The
            mechanical panel supplies them only while the switchboard is live (see ``mechanical_w``).
        sources: utility, generator, ATS and UPS states.
        ups_charge_w: requested battery charging power per UPS (at the battery), W; clipped to
            ``battery_max_charge_kw``; applied only where the UPS runs from its input.
        tol: convergence of the sweeps on bus voltages, pu.
        warm: the voltages of the last solve, updated in place: the sweeps start there (fewer of them),
            and the last racks and downstream solution with the inputs they had (reused when those are
            the same; see the module docstring). It belongs to whoever steps the chain (the twin's
            state), not to the network, which the hall fixes; None starts from flat voltages.
    """
    if warm is None:
        warm = {}
    n_ups = net.n_ups
    sw_live = sources.switchboard_live
    input_ok = _bool(sources.ups_input_available, n_ups, True) & sw_live
    live = _bool(sources.ups_output_on, n_ups, True) & ~_bool(sources.ups_failed, n_ups, False)
    on_batt = live & (~input_ok | _bool(sources.ups_on_battery, n_ups, False))
    eco = _bool(sources.ups_eco, n_ups, net.ups_eco) & live & ~on_batt

    it_in = np.asarray(it_w, dtype=float)
    side = sources.rack_side_live
    racks_key = np.concatenate([it_in, live, np.zeros(0) if side is None else np.asarray(side, dtype=float).ravel(),
                                [-1.0 if side is None else 1.0]])
    racks = _racks_reused(warm, racks_key)
    if racks is None:
        racks = _racks(net, it_in, live, side)
        _keep_racks(warm, racks_key, racks)
    s_down: np.ndarray | None = None

    p_mech_load = float(np.sum(crah_fan_w)) + chiller_w + pump_w if sw_live else 0.0
    up = net.up_generator if sources.ats_on_generator else net.up_utility
    up_key = "generator" if sources.ats_on_generator else "utility"
    s_up = np.zeros(up.forest.n_bus, dtype=complex)
    s_up[up.mech] = p_mech_load * (1.0 + 1j * net.mech_tan_phi) / S_BASE_VA
    # min(max()) is np.clip's arithmetic without its Python wrapper (the same bits); a request given per UPS
    # needs no broadcast.
    charge_in = np.asarray(ups_charge_w, dtype=float)
    if charge_in.shape != (n_ups,):
        charge_in = np.broadcast_to(charge_in, (n_ups,))
    charge_req = np.minimum(np.maximum(charge_in, 0.0), net.ups_charge_max_w)
    charge = np.where(input_ok & ~on_batt, charge_req, 0.0)
    charger_loss = charge * (1.0 / net.ups_charge_eff - 1.0)

    # 2–4, repeated while an eco-mode UPS passes its input's voltage through to its PDUs.
    v_root_down = np.ones(n_ups, dtype=complex)
    v_in = warm.get("ups_in")
    if v_in is None:
        v_in = np.ones(n_ups, dtype=complex)
    sweeps = 0
    upstream: _Sweep | None = None
    for _outer in range(50):
        v_root_down[eco] = v_in[eco]
        # 2. Downstream trees (taken over when the racks and the UPS output voltages are as last solved).
        down_key = np.concatenate([racks_key, v_root_down.real, v_root_down.imag])
        last_key = warm.get("down.key")
        if last_key is not None and "down" in warm and "down.j" in warm and np.array_equal(last_key, down_key):
            v_d, j_d, i_d = warm["down"], warm["down.j"], warm["down.i"]
        else:
            if s_down is None:
                s_down = np.zeros(net.down.n_bus, dtype=complex)
                s_down[net.rack_bus] = racks.s_side_va / S_BASE_VA
            v_d, j_d, i_d, n = net.down.sweep(v_root_down, s_down, v_start=warm.get("down"), tol=tol)
            sweeps += n
            warm["down"], warm["down.j"], warm["down.i"], warm["down.key"] = v_d, j_d, i_d, down_key
        s_out = v_root_down * np.conj(net.down.root_current(i_d)) * S_BASE_VA
        s_out[~live] = 0.0
        p_out = s_out.real
        # 3. UPSs.
        ups_loss = charger_loss.copy()
        for u in np.flatnonzero(live):
            curve = net.ups_eco_curve[u] if eco[u] else net.ups_curve[u]
            ups_loss[u] += float(curve.loss(p_out[u] / net.ups_rated_va[u])) * net.ups_rated_va[u]
        battery = np.where(on_batt, p_out + ups_loss, -charge)
        p_in = np.where(input_ok & ~on_batt, p_out + ups_loss + charge, 0.0)
        q_in = np.where(eco, s_out.imag, p_in * net.ups_tan_phi_in)
        # 4. Upstream.
        if not sw_live:
            break
        s_up[up.ups_in] = (p_in + 1j * q_in) / S_BASE_VA
        v_u, j_u, i_u, n = up.forest.sweep(np.ones(1, dtype=complex), s_up, v_start=warm.get(up_key), tol=tol)
        upstream = _Sweep(v_u, j_u, i_u)
        sweeps += n
        warm[up_key] = v_u
        v_in_new = v_u[up.ups_in]
        converged = not eco.any() or np.max(np.abs(v_in_new[eco] - v_in[eco])) < tol
        v_in = v_in_new
        warm["ups_in"] = v_in
        if converged:
            break

    grid = _Grid(net)
    down = _downstream_reused(warm, down_key, grid)
    if down is None:
        down = _downstream(net, live, _Sweep(v_d, j_d, i_d), grid)
        _keep_downstream(warm, down_key, down, grid)
    plant = _upstream(net, up, upstream, grid, sources)
    # |V|, angles and |J|: the trees' as the downstream stage left them, the upstream's new.
    bus_v_pu, bus_angle_deg = warm["dres.bus_abs"].copy(), warm["dres.bus_deg"].copy()
    branch_abs = warm["dres.branch_abs"].copy()
    if upstream is not None:
        b, m = up.bus_index, up.branch_index >= 0
        bus_v_pu[b] = np.abs(grid.bus_v[b])
        bus_angle_deg[b] = np.degrees(np.angle(grid.bus_v[b]))
        branch_abs[up.branch_index[m]] = np.abs(grid.branch_j[up.branch_index[m]])

    return PowerResult(
        it_w=racks.it_w, rack_powered=racks.powered, rack_feed_w=racks.feed_w,
        rack_feed_a_w=racks.feed_w * racks.share[:, 0], rack_feed_b_w=racks.feed_w * racks.share[:, 1],
        psu_loss_w=racks.psu_loss_w, psu_load_fraction=racks.psu_load_fraction,
        rack_feed_cable_loss_w=down.rack_feed_cable_loss_w,
        pdu_input_w=down.pdu_input_va.real, pdu_loss_w=down.pdu_loss_w, pdu_cable_loss_w=down.pdu_cable_loss_w,
        pdu_load_fraction=np.abs(down.pdu_input_va) / net.pdu_rated_va,
        ups_output_w=p_out, ups_output_var=s_out.imag, ups_input_w=p_in, ups_input_var=q_in, ups_loss_w=ups_loss,
        ups_cable_loss_w=plant.ups_cable_loss_w, battery_w=battery,
        ups_load_fraction=np.abs(s_out) / net.ups_rated_va,
        ups_on_battery=on_batt, ups_output_on=live, ups_eco=eco,
        transformer_loss_w=plant.transformer_loss_w, transformer_load_fraction=plant.transformer_load_fraction,
        utility_w=plant.utility_w, generator_w=plant.generator_w,
        generator_load_fraction=plant.generator_load_fraction, mechanical_w=p_mech_load,
        mechanical_cable_loss_w=plant.mechanical_cable_loss_w, grid_source_loss_w=plant.grid_source_loss_w,
        switchboard_live=sw_live,
        bus_v_pu=bus_v_pu, bus_angle_deg=bus_angle_deg,
        branch_i_a=branch_abs * net.branch_i_base, branch_loss_w=grid.branch_loss, sweeps=sweeps,
        transformer_unit_loss_w=plant.transformer_unit_loss_w,
        transformer_unit_load_fraction=plant.transformer_unit_load_fraction,
        names=net.result_names,
    )


# --- the stages ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Sweep:
    """One radial solve: bus voltages, branch currents (into each bus) and load currents, pu."""

    v: np.ndarray
    j: np.ndarray
    i: np.ndarray


class _Grid:
    """The whole network's bus voltages, branch currents and branch losses, filled stage by stage."""

    def __init__(self, net: PowerNetwork) -> None:
        self.bus_v = np.zeros(len(net.bus_names), dtype=complex)
        self.branch_j = np.zeros(len(net.branch_names), dtype=complex)
        self.branch_loss = np.zeros(len(net.branch_names))


@dataclass(frozen=True)
class _Racks:
    """1. The server PSUs and the racks' A/B feeds."""

    it_w: np.ndarray  # IT power supplied (0 in racks with both feeds dead)
    powered: np.ndarray
    share: np.ndarray  # (rack, side): fraction of the rack's power on each feed
    psu_load_fraction: np.ndarray
    psu_loss_w: np.ndarray
    feed_w: np.ndarray  # AC power into each rack: IT + PSU loss
    s_side_va: np.ndarray  # (rack, side) complex power drawn from each feed


_RACK_FIELDS = ("it_w", "powered", "share", "psu_load_fraction", "psu_loss_w", "feed_w", "s_side_va")


def _recall(warm: dict[str, np.ndarray], stage: str, key: np.ndarray, fields: tuple[str, ...]) -> list | None:
    """Copies of ``stage``'s kept ``fields`` if they were kept for ``key`` (results own their arrays), else None."""
    last_key = warm.get(f"{stage}.key")
    if last_key is None or not np.array_equal(last_key, key) or any(f"{stage}.{f}" not in warm for f in fields):
        return None
    return [warm[f"{stage}.{f}"].copy() for f in fields]


def _remember(warm: dict[str, np.ndarray], stage: str, key: np.ndarray, values: dict[str, np.ndarray]) -> None:
    """Keep copies of ``stage``'s ``values`` in ``warm`` with the ``key`` of the inputs they were solved for."""
    warm[f"{stage}.key"] = key
    for f, v in values.items():
        warm[f"{stage}.{f}"] = np.array(v, copy=True)


def _racks_reused(warm: dict[str, np.ndarray], key: np.ndarray) -> _Racks | None:
    """The racks' stage as last solved, if that was for ``key``."""
    kept = _recall(warm, "racks", key, _RACK_FIELDS)
    return None if kept is None else _Racks(*kept)


def _keep_racks(warm: dict[str, np.ndarray], key: np.ndarray, racks: _Racks) -> None:
    _remember(warm, "racks", key, {f: getattr(racks, f) for f in _RACK_FIELDS})


def _racks(net: PowerNetwork, it_w: np.ndarray, ups_live: np.ndarray,
           rack_side_live: np.ndarray | None = None) -> _Racks:
    side_live = ups_live[net.rack_ups]
    if rack_side_live is not None:  # a lost PDU or feed cable (what-ifs): that side of the rack is dead
        side_live = side_live & np.asarray(rack_side_live, dtype=bool).reshape(side_live.shape)
    powered = side_live[:, 0] | side_live[:, 1]
    # Internally redundant PSUs share the load evenly while both feeds are live.
    share = np.where((side_live[:, 0] & side_live[:, 1])[:, None], 0.5, side_live.astype(float))
    it = np.where(powered, np.asarray(it_w, dtype=float), 0.0)
    psu_x = it / net.psu_rated_w
    psu_loss = np.zeros_like(it)
    for curve, idx in net.psu_classes:
        psu_loss[idx] = curve.loss(psu_x[idx]) * net.psu_rated_w[idx]
    psu_loss[~powered] = 0.0
    p_rack = it + psu_loss
    s_side = (p_rack * (1.0 + 1j * net.psu_tan_phi))[:, None] * share
    return _Racks(it, powered, share, psu_x, psu_loss, p_rack, s_side)


@dataclass(frozen=True)
class _Downstream:
    rack_feed_cable_loss_w: np.ndarray
    pdu_input_va: np.ndarray  # complex
    pdu_loss_w: np.ndarray
    pdu_cable_loss_w: np.ndarray


def _downstream(net: PowerNetwork, ups_live: np.ndarray, sweep: _Sweep, grid: _Grid) -> _Downstream:
    """Losses of the trees below the UPSs, written into ``grid`` too. Dead trees (UPS off) carry nothing."""
    down = net.down
    dead = ~ups_live[down.tree_of]
    v_d = np.where(dead, 0.0, sweep.v)
    j_d = np.where(dead, 0.0, sweep.j)
    loss_d = down.z_pu.real * np.abs(j_d) ** 2 * S_BASE_VA
    shunt_d = down.y_pu.real * np.abs(v_d) ** 2 * S_BASE_VA
    pdu_in_s = v_d[net.pdu_in_bus] * np.conj(j_d[net.pdu_in_bus]) * S_BASE_VA
    # An isolation transformer loses I²R in its branch (into the PDU's output bus) and its no-load loss
    # in the shunt at its input bus.
    pdu_loss = np.where(net.pdu_is_transformer, loss_d[net.pdu_out_bus] + shunt_d[net.pdu_in_bus], 0.0)

    grid.bus_v[net.down_bus_index] = v_d
    nonroot = net.down_branch_index >= 0
    grid.branch_j[net.down_branch_index[nonroot]] = j_d[nonroot]
    grid.branch_loss[net.down_branch_index[nonroot]] = loss_d[nonroot]
    grid.branch_loss[net.pdu_transformer_branch] = pdu_loss[net.pdu_is_transformer]
    return _Downstream(rack_feed_cable_loss_w=loss_d[net.rack_bus].sum(axis=1), pdu_input_va=pdu_in_s,
                       pdu_loss_w=pdu_loss, pdu_cable_loss_w=loss_d[net.pdu_in_bus])


_DOWN_FIELDS = ("rack_feed_cable_loss_w", "pdu_input_va", "pdu_loss_w", "pdu_cable_loss_w")
_GRID_FIELDS = ("bus_v", "branch_j", "branch_loss")
_GRID_FIGURES = ("bus_abs", "bus_deg", "branch_abs")


def _downstream_reused(warm: dict[str, np.ndarray], key: np.ndarray, grid: _Grid) -> _Downstream | None:
    """The downstream stage as last computed, if for ``key``: its results, and ``grid`` as it left it."""
    kept = _recall(warm, "dres", key, (*_DOWN_FIELDS, *_GRID_FIELDS))
    if kept is None or any(f"dres.{f}" not in warm for f in _GRID_FIGURES):
        return None
    for f, v in zip(_GRID_FIELDS, kept[len(_DOWN_FIELDS):]):
        setattr(grid, f, v)
    return _Downstream(*kept[:len(_DOWN_FIELDS)])


def _keep_downstream(warm: dict[str, np.ndarray], key: np.ndarray, down: _Downstream, grid: _Grid) -> None:
    # Only the trees below the UPSs are filled in on the grid yet; their |V|, angles and |J| are kept too,
    # so a reused step computes the upstream's alone.
    _remember(warm, "dres", key, {**{f: getattr(down, f) for f in _DOWN_FIELDS},
                                  **{f: getattr(grid, f) for f in _GRID_FIELDS},
                                  "bus_abs": np.abs(grid.bus_v), "bus_deg": np.degrees(np.angle(grid.bus_v)),
                                  "branch_abs": np.abs(grid.branch_j)})


@dataclass(frozen=True)
class _Plant:
    ups_cable_loss_w: np.ndarray
    mechanical_cable_loss_w: float = 0.0
    transformer_loss_w: float = 0.0
    transformer_load_fraction: float = 0.0
    utility_w: float = 0.0
    generator_w: float = 0.0
    generator_load_fraction: float = 0.0
    grid_source_loss_w: float = 0.0
    transformer_unit_loss_w: np.ndarray = field(default_factory=lambda: np.zeros(0))
    transformer_unit_load_fraction: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _upstream(net: PowerNetwork, up: Upstream, sweep: _Sweep | None, grid: _Grid,
              sources: PowerSources) -> _Plant:
    """Sources, transformer and the switchboard's cables (``sweep`` is None while the switchboard is dead)."""
    n_tr = len(net.transformer_names)
    # The plant's figures, collected and made into one _Plant at the end (every step: dataclasses.replace on
    # a frozen default, two or three times, cost more than the arithmetic).
    fig: dict = {"ups_cable_loss_w": np.zeros(net.n_ups), "transformer_unit_loss_w": np.zeros(n_tr),
                 "transformer_unit_load_fraction": np.zeros(n_tr)}
    if sweep is not None:
        v_u, j_u = sweep.v, sweep.j
        loss_u = up.forest.z_pu.real * np.abs(j_u) ** 2 * S_BASE_VA
        grid.bus_v[up.bus_index] = v_u
        m = up.branch_index >= 0
        grid.branch_j[up.branch_index[m]] = j_u[m]
        grid.branch_loss[up.branch_index[m]] = loss_u[m]
        fig["ups_cable_loss_w"], fig["mechanical_cable_loss_w"] = loss_u[up.ups_in], float(loss_u[up.mech])
        if up.mv is None:  # the generator holds the switchboard (the root)
            s_gen = v_u[up.lv] * np.conj(up.forest.root_current(sweep.i)[0]) * S_BASE_VA
            fig["generator_w"] = float(s_gen.real)
            fig["generator_load_fraction"] = (abs(s_gen) / net.generator_rated_va
                                              if net.generator_rated_va else np.inf)
        else:
            mv, lv = up.mv, up.lv
            # The branch into the MV bus is the source impedance; the one into the switchboard is the
            # transformer, whose no-load loss is the MV bus's shunt.
            trafo_loss = float(loss_u[lv] + up.forest.y_pu[mv].real * abs(v_u[mv]) ** 2 * S_BASE_VA)
            grid.branch_loss[net.transformer_branch] = trafo_loss
            # Each unit in parallel: its share of the branch current, its I²R and its no-load loss.
            j_unit = net.transformer_share * j_u[lv]
            unit_loss = (net.transformer_unit_z_pu.real * np.abs(j_unit) ** 2
                         + net.transformer_unit_g_pu * abs(v_u[mv]) ** 2) * S_BASE_VA
            unit_load = np.abs(v_u[mv] * np.conj(j_unit)) * S_BASE_VA / net.transformer_unit_rated_va
            if n_tr == 1:  # one unit: the branch's own figures (the same bits as before parallel units existed)
                unit_loss = np.array([trafo_loss])
                unit_load = np.array([abs(v_u[mv] * np.conj(j_u[lv])) * S_BASE_VA / net.transformer_rated_va])
            fig.update(grid_source_loss_w=float(loss_u[mv]),
                       utility_w=float((v_u[mv] * np.conj(j_u[mv])).real * S_BASE_VA),  # metered at the MV bus
                       transformer_loss_w=trafo_loss, transformer_unit_loss_w=unit_loss,
                       transformer_unit_load_fraction=unit_load,
                       transformer_load_fraction=float(unit_load.max()))
    if sources.utility_available and sources.ats_on_generator:
        # Energized at no load (ATS on the generator, online or not): its no-load loss, from the utility.
        fig.update(transformer_loss_w=net.transformer_idle_w, utility_w=net.transformer_idle_w,
                   transformer_unit_loss_w=net.transformer_unit_idle_w.copy(),
                   transformer_unit_load_fraction=np.zeros(n_tr))
        grid.branch_loss[net.transformer_branch] = net.transformer_idle_w
    return _Plant(**fig)
