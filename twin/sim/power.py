"""The power chain and the chilled-water plant wired to the twin's state, step by step.

Before the thermal step (:meth:`PowerSystem.before_step`): the generator/ATS controller samples the
utility, which decides whether the LV switchboard is live; the mechanical panel (CRAH fans, pumps,
chillers) follows it, and chillers that lost power need their restart time once it is back.

After the thermal step (:meth:`PowerSystem.after_step`): the chilled-water loop takes the coils' heat
(its water's heat capacity carries the coils while the chillers are stopped), the chillers remove it at
a COP that depends on the water and outdoor temperatures, the load flow gives every loss, the UPS
batteries charge or discharge, and the losses that stand in the hall become heat for the next step:
PSU and rack-feed cable losses in their racks, PDU losses around the PDUs. Energies are integrated
by kind so that PUE (ISO/IEC 30134-2: facility energy ÷ IT energy) and its parts add up exactly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.control.alarms import AlarmSystem, define_battery_low, define_generator_failed, define_ups_on_battery
from twin.control.base import unprefixed
from twin.control.power import BatteryChargeController, GeneratorATSController
from twin.electrical import PowerNetwork, PowerResult, PowerSources, chiller_power_w, loss_locations, solve_power

if TYPE_CHECKING:
    from twin.control.alarms import LevelAlarm
    from twin.model.load import HallModel
    from twin.sim.state import TwinState

__all__ = ["ENERGY_KINDS", "PowerMemory", "PowerSystem"]

_WATER_J_PER_M3K = 1000.0 * 4186.0
_NO_GENERATOR_DELAY_S = math.inf

#: Energies integrated in ``state.energy_j`` (J). IT is measured at the racks' inputs (IT load + PSU
#: losses), as ISO/IEC 30134-2 measures IT equipment energy; ``facility`` is what the sources delivered.
ENERGY_KINDS = ("it", "cooling", "power_losses", "battery_net", "facility", "utility", "generator",
                "chillers", "crah_fans", "pumps")


@dataclass
class PowerMemory:
    """What the power chain remembers between steps (part of the state: ``state.power``).

    Attributes:
        ats: the generator/ATS controller (its timers and outputs).
        chargers: the UPS battery chargers' controllers.
        battery_low: the battery-low alarms with their hysteresis (they live in the state's alarms).
        sources: the sources in force during the last step (a load change between steps re-solves with them).
        last: the last load flow (reports read it; None before the first).
        warm: the load flow's last voltages, where its next sweeps start.
    """

    ats: GeneratorATSController
    chargers: list[BatteryChargeController]
    battery_low: list[LevelAlarm]
    sources: PowerSources = field(default_factory=PowerSources)
    last: PowerResult | None = None
    warm: dict[str, np.ndarray] = field(default_factory=dict)


class PowerSystem:
    """Sources, switches, batteries and plant of one hall (only for halls with a [power] section).

    It holds what the hall fixes (network, plant, ratings); what evolves is the state's
    :class:`PowerMemory`, made by :meth:`new_memory`.
    """

    def __init__(self, hall: HallModel) -> None:
        self.net = PowerNetwork(hall)  # raises for a hall without a [power] section
        power = self.net.spec
        self.plant = power.cooling_plant
        self._generator = power.generator
        self.has_generator = self._generator is not None
        self.ups_names = list(self.net.ups_names)
        self._ups_alarm_names = [[f"{n}.on_battery", f"{n}.output_off"] for n in self.ups_names]
        self.loop_j_per_k = self.plant.loop_water_m3 * _WATER_J_PER_M3K
        self.chiller_capacity_w = self.plant.chillers * self.plant.rated_cooling_kw * 1e3

    def new_memory(self, alarms: AlarmSystem) -> PowerMemory:
        """The chain's memory at the start of a run; defines its alarms in ``alarms``."""
        gen = self._generator
        ats = GeneratorATSController(
            "generator", start_delay_s=gen.start_delay_s if gen else _NO_GENERATOR_DELAY_S,
            retransfer_delay_s=gen.retransfer_delay_s if gen else 0.0, fail_to_start=gen is None)
        chargers = [BatteryChargeController(f"{n}.charger", rated_charge_w=w)
                    for n, w in zip(self.ups_names, self.net.ups_charge_max_w.tolist(), strict=True)]
        for n in self.ups_names:
            define_ups_on_battery(alarms, n)
            alarms.define(f"{n}.output_off", priority="critical", message=f"{n}: output off, its load dropped")
        battery_low = [define_battery_low(alarms, n) for n in self.ups_names]
        define_generator_failed(alarms, "generator")
        return PowerMemory(ats=ats, chargers=chargers, battery_low=battery_low)

    def initial(self, state: TwinState) -> None:
        """Fill the power part of a fresh state (called by HallTwin.initial_state)."""
        state.ups_soc = np.ones(len(self.ups_names))
        state.t_chw_c = self.plant.chw_supply_c
        state.chillers_running = True
        state.chiller_restart_due_s = math.inf
        state.outdoor_temp_c = self.plant.outdoor_temp_c

    def place_losses(self, state: TwinState, crah_fan_w: np.ndarray) -> None:
        """Set the heat of the chain's losses in the hall for the present loads and sources (no time
        passes: used by the steady solve; chillers and batteries don't change the heat in the hall)."""
        mem = _memory(state)
        res = solve_power(self.net, state.rack_it_w, crah_fan_w=crah_fan_w, sources=mem.sources, warm=mem.warm)
        _place_heat(state, res)

    # --- before the thermal step -----------------------------------------------------------------

    def before_step(self, state: TwinState) -> None:
        """Decide who has power during the coming step."""
        t, mem = state.time_s, _memory(state)
        ats = mem.ats.step(t, {"utility_ok": bool(state.utility_ok)})
        ups_alive = _soc(state) > 0.0
        sources = PowerSources(utility_available=bool(state.utility_ok),
                               generator_online=bool(ats["generator_online"]),
                               ats_on_generator=bool(ats["ats_on_generator"]),
                               ups_output_on=ups_alive, ups_failed=mem.sources.ups_failed,
                               rack_side_live=mem.sources.rack_side_live)
        live = sources.switchboard_live
        state.crah_powered[:] = live
        if not live:
            state.chillers_running = False
            state.chiller_restart_due_s = math.inf
        elif not state.chillers_running:
            if math.isinf(state.chiller_restart_due_s):
                state.chiller_restart_due_s = t + self.plant.restart_time_s
            if t >= state.chiller_restart_due_s - 1e-9:
                state.chillers_running = True
                state.chiller_restart_due_s = math.inf
        mem.sources = sources
        state.alarms.update("generator.failed", bool(ats["generator_failed"]), t)

    # --- after the thermal step ------------------------------------------------------------------

    def after_step(self, state: TwinState, dt_s: float, crah_fan_w: np.ndarray) -> None:
        """Plant, load flow, batteries, energies; heat of the losses for the next step."""
        plant, t, mem, soc0 = self.plant, state.time_s, _memory(state), _soc(state)
        live = mem.sources.switchboard_live
        # Chilled-water loop: the coils' heat in, the chillers' out, holding the supply at its setpoint
        # while their capacity allows.
        coil_w = float(state.crah_heat_removed_w.sum())
        chiller_heat_w = 0.0
        if state.chillers_running:
            wanted_w = coil_w + self.loop_j_per_k * (state.t_chw_c - plant.chw_supply_c) / dt_s
            chiller_heat_w = float(min(max(wanted_w, 0.0), self.chiller_capacity_w))
        state.t_chw_c += dt_s * (coil_w - chiller_heat_w) / self.loop_j_per_k
        chiller_w = chiller_power_w(plant, chiller_heat_w, chw_supply_c=state.t_chw_c, outdoor_c=state.outdoor_temp_c)
        pump_w = plant.pump_kw * 1e3 if live else 0.0
        fan_w = crah_fan_w

        charge_w = np.array([c.step(t, {"soc": float(s), "input_live": live})["charge_w"]
                             for c, s in zip(mem.chargers, soc0)])
        res = solve_power(self.net, state.rack_it_w, crah_fan_w=fan_w, chiller_w=chiller_w, pump_w=pump_w,
                          sources=mem.sources, ups_charge_w=charge_w, warm=mem.warm)
        soc = soc0 - dt_s * res.battery_w / self.net.battery_j  # battery_w > 0 discharges
        empty = soc < 0.0
        if empty.any():
            # A battery cannot give more than it holds: the UPS drops its load in this step instead, and
            # the remainder (less than one step's worth) counts as unusable.
            mem.sources = dataclasses.replace(
                mem.sources, ups_output_on=np.asarray(mem.sources.ups_output_on, dtype=bool) & ~empty)
            res = solve_power(self.net, state.rack_it_w, crah_fan_w=fan_w, chiller_w=chiller_w, pump_w=pump_w,
                              sources=mem.sources, ups_charge_w=charge_w, warm=mem.warm)
            soc = np.where(empty, 0.0, soc0 - dt_s * res.battery_w / self.net.battery_j)
        state.ups_soc = np.minimum(np.maximum(soc, 0.0), 1.0)  # np.clip's bits, without its wrapper
        _place_heat(state, res)

        it_w = float(res.rack_feed_w.sum())
        cooling_w = res.mechanical_w  # CRAH fans, pumps and chillers, as drawn from the mechanical panel
        losses = res.losses_w()
        power_losses_w = sum(v for k, v in losses.items() if k != "psu")
        battery_net_w = -float(res.battery_w.sum())  # > 0 while charging: energy drawn into the batteries
        e = state.energy_j
        for kind, w in (("it", it_w), ("cooling", cooling_w), ("power_losses", power_losses_w),
                        ("battery_net", battery_net_w), ("facility", res.facility_w), ("utility", res.utility_w),
                        ("generator", res.generator_w), ("chillers", chiller_w if live else 0.0),
                        ("crah_fans", float(fan_w.sum())), ("pumps", pump_w)):
            e[kind] = e.get(kind, 0.0) + dt_s * w

        # "On battery" as an operator means it: the UPS's input is lost, whether its battery still
        # carries the load or has run out (then "output off" is raised as well).
        on_battery = np.asarray(res.ups_on_battery, dtype=bool) | (not live)
        output_off = ~np.asarray(res.ups_output_on, dtype=bool)
        # update_many skips the conditions already in force (most steps, all of them).
        for k, names in enumerate(self._ups_alarm_names):
            state.alarms.update_many(names, [bool(on_battery[k]), bool(output_off[k])], t)
            mem.battery_low[k].update(float(state.ups_soc[k]), t)

    # --- memory -----------------------------------------------------------------------------------

    def state_dict(self, mem: PowerMemory) -> dict[str, Any]:
        """The chain's memory between steps (``state.power``), for checkpoints: ATS and chargers, the sources in force
        (a load change between steps re-solves with them), the battery-low hysteresis, the load flow's
        warm start, and the last load flow (reports read it; it cannot be re-solved from the state, since
        the chillers' and chargers' draw of the last step are not kept). Values are numbers, arrays or
        None (a default source field).
        """
        d: dict[str, Any] = {f"ats.{k}": v for k, v in mem.ats.state_dict().items()}
        for c in mem.chargers:
            d.update({f"{c.name}.{k}": v for k, v in c.state_dict().items()})
        d["battery_low_active"] = np.array([a.active for a in mem.battery_low], dtype=bool)
        for f in dataclasses.fields(mem.sources):
            v = getattr(mem.sources, f.name)
            d[f"sources.{f.name}"] = np.array(v) if isinstance(v, np.ndarray) else v
        # The load flow starts from its last solution: the next solve's round-off depends on it.
        d.update({f"net.v_warm.{k}": v.copy() for k, v in mem.warm.items()})
        d["has_last"] = mem.last is not None
        if mem.last is not None:
            for f in dataclasses.fields(mem.last):
                if f.name != "names":  # the network's name lists: rebuilt from the network
                    v = getattr(mem.last, f.name)
                    d[f"last.{f.name}"] = v.copy() if isinstance(v, np.ndarray) else v
        return d

    def load_state_dict(self, mem: PowerMemory, d: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved into ``mem`` (the chain of the same hall)."""
        mem.ats.load_state_dict(unprefixed("ats", d))
        for c in mem.chargers:
            c.load_state_dict(unprefixed(c.name, d))
        active = np.asarray(d["battery_low_active"], dtype=bool)
        if active.shape != (len(mem.battery_low),):
            raise ValueError(f"battery_low_active has shape {active.shape}, "
                             f"this chain has {len(mem.battery_low)} UPSs")
        for a, on in zip(mem.battery_low, active, strict=True):
            a.active = bool(on)
        # Checkpoints written before the what-if failures existed have no entry for them: none failed.
        mem.sources = PowerSources(**{f.name: _copied(d.get(f"sources.{f.name}"))
                                      for f in dataclasses.fields(PowerSources)})
        mem.warm = {k: np.array(v) for k, v in unprefixed("net.v_warm", d).items()}
        if d["has_last"]:
            # Fields with a default (the transformers in parallel) are absent from older checkpoints.
            kw = {f.name: _copied(d[f"last.{f.name}"]) for f in dataclasses.fields(PowerResult)
                  if f.name != "names" and (f"last.{f.name}" in d or f.default_factory is dataclasses.MISSING)}
            mem.last = PowerResult(**kw, names=self.net.result_names)
        else:
            mem.last = None

    def pue_parts(self, state: TwinState) -> dict[str, float] | None:
        """PUE over the run and its parts as fractions of IT energy (they add up to the PUE)."""
        e = state.energy_j
        it = e.get("it", 0.0)
        if it <= 0:
            return None
        return {"it": 1.0, "cooling": e["cooling"] / it, "power_losses": e["power_losses"] / it,
                "battery_net": e["battery_net"] / it}


def _memory(state: TwinState) -> PowerMemory:
    """The chain's memory in a state of a hall with a [power] section (made by ``initial``)."""
    if state.power is None:
        raise ValueError("the state has no power-chain memory (a hall without [power]?)")
    return state.power


def _soc(state: TwinState) -> np.ndarray:
    if state.ups_soc is None:
        raise ValueError("the state has no UPS state of charge (a hall without [power]?)")
    return state.ups_soc


def _place_heat(state: TwinState, res: PowerResult) -> None:
    """Keep the load flow and put the losses that stand in the hall where they stand, as heat for the
    next thermal step: a rack releases its IT power, its PSUs' loss and its feed cables' loss."""
    _memory(state).last = res
    hall = loss_locations(res)
    state.rack_powered = res.rack_powered.copy()
    state.rack_heat_w = res.it_w + hall.rack_w + hall.rack_feed_cable_w
    state.pdu_heat_w = hall.pdu_w.copy()


def _copied(v: Any) -> Any:
    """A restored value that shares no memory with the checkpoint's arrays."""
    return v.copy() if isinstance(v, np.ndarray) else v
