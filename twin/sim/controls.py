"""The hall's embedded controllers wired to the twin's state: CRAH loops, setpoints, alarms.

Each CRAH runs two loops like the boards inside real units: supply-air temperature → chilled-water
valve, and fan speed on the inlets of the racks it serves (the racks nearer to it than to any other
unit) or on its return air. They read quantized, noisy sensors at their own sample periods and drive
ramp-limited actuators; the sim only hands them the true physical values at each step.

The loops run as arrays (:class:`~twin.control.bank.CrahBank`: one update for all units, only what is due
sampled); ``vectorized=False`` runs the per-object controllers of :mod:`twin.control.crah` instead, the
readable reference the bank is tested against (the same bits).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.control.alarms import AlarmSystem, RackInletAlarms, define_crah_trip, define_sensor_failed
from twin.control.bank import CrahBank, FanLoopView, SensorView, SupplyLoopView
from twin.control.base import unprefixed
from twin.control.crah import (
    MODES,
    CrahFanController,
    CrahSupplyController,
    last_running_interlock,
    register_crah_setpoints,
)
from twin.control.registry import SetpointRegistry
from twin.control.sensors import SensorArray

_FALLBACK = MODES.index("fallback")

if TYPE_CHECKING:
    from twin.model.load import HallModel
    from twin.sim.state import TwinState

__all__ = ["HallControls"]


class HallControls:
    """All controllers and the setpoint registry of one hall; they raise their alarms in ``alarms``.

    Part of the state (``state.controls``): its memories evolve and fork with it. Called by
    :meth:`HallTwin.control` at the start of every step (:meth:`update`); scenarios and the bus write
    through :attr:`registry` and fail sensors through :meth:`fail_sensor`.

    ``vectorized`` (default): the loops run in a :class:`CrahBank` and :attr:`supply` / :attr:`fan` are its
    per-unit views; False: they are the per-object controllers (the reference; same results, same state dict).
    """

    def __init__(self, hall: HallModel, alarms: AlarmSystem, *, vectorized: bool = True) -> None:
        self.registry = SetpointRegistry()
        self.alarms = alarms
        self.crah_names = [c.name for c in hall.crahs]
        self.rack_names = [r.name for r in hall.racks]
        names = self.crah_names
        self.served = _serving_units(hall)
        supply: list[CrahSupplyController] = []
        fans: list[CrahFanController] = []
        for k, c in enumerate(hall.crahs):
            supply.append(CrahSupplyController(f"{c.name}.supply", supply_temp_setpoint_c=c.supply_setpoint_c))
            # A unit that is nearest to no rack has no inlets of its own to watch: it controls on its return air.
            on_return = c.fan_control == "return" or not len(self.served[k])
            fan = CrahFanController(
                f"{c.name}.fan", n_inlets=max(len(self.served[k]), 1),
                control_on="return" if on_return else "inlet",
                inlet_temp_setpoint_c=c.inlet_temp_setpoint_c, return_temp_setpoint_c=c.return_temp_setpoint_c,
                min_speed=c.fan_min_speed,
            )  # sensor noise is seeded from each sensor's name: runs repeat exactly
            if c.fan_control == "fixed":
                fan.mode = "manual"
            fan.manual_speed = c.fan_speed
            fan.fan.position[:] = c.fan_speed  # start at the hall file's speed, running
            fan.fan.target[:] = c.fan_speed
            fans.append(fan)
        self.bank = CrahBank(supply, fans) if vectorized and supply else None
        # The per-object loops, when they are the ones stepped (the bank took their options and memory).
        self._objects: tuple[list[CrahSupplyController], list[CrahFanController]] = \
            (supply, fans) if self.bank is None else ([], [])
        self.supply: list[CrahSupplyController] | list[SupplyLoopView] = self.bank.supply if self.bank else supply
        self.fan: list[CrahFanController] | list[FanLoopView] = self.bank.fan if self.bank else fans
        # Where each unit's inlet sensors read, in [rack intakes…, CRAH returns…]: a unit nearest to no
        # rack watches its own return air.
        n_racks = len(self.rack_names)
        self._inlet_source = np.concatenate(
            [self.served[k] if len(self.served[k]) else np.array([n_racks + k]) for k in range(len(names))]
        ).astype(np.int64) if names else np.zeros(0, dtype=np.int64)
        self._alarm_names = [f"{name}.{a}" for name in names for a in
                             ("trip", "supply_temp.failed", "return_temp.failed", "inlet_temp.failed", "fan_fallback")]
        interlock = last_running_interlock(self.fan, zone_name="the hall")
        for k, name in enumerate(names):
            register_crah_setpoints(self.registry, name, self.supply[k], self.fan[k], interlock=interlock)
            define_crah_trip(self.alarms, name)
            for sensor in ("supply_temp", "return_temp", "inlet_temp"):
                define_sensor_failed(self.alarms, f"{name}.{sensor}")
            self.alarms.define(f"{name}.fan_fallback", priority="medium",
                               message=f"{name}: fan controller in fallback (its sensor failed)")
        self.rack_alarms = RackInletAlarms(self.alarms, self.rack_names,
                                           allowable_class=hall.spec.hall.ashrae_class)

    # --- lookups -------------------------------------------------------------------------------

    def sensors(self) -> dict[str, tuple[SensorArray | SensorView, Any]]:
        """Sensors a scenario may fail, by name: (array, index or None for all)."""
        out: dict[str, tuple[SensorArray | SensorView, Any]] = {}
        racks = self.rack_names
        for k, name in enumerate(self.crah_names):
            out[f"{name}.supply_temp"] = (self.supply[k].sensor, None)
            out[f"{name}.return_temp"] = (self.fan[k].return_sensor, None)
            out[f"{name}.inlet_temp"] = (self.fan[k].inlet_sensors, None)
            for i, r in enumerate(self.served[k]):
                out[f"{name}.inlet_temp.{racks[r]}"] = (self.fan[k].inlet_sensors, i)
        return out

    def fail_sensor(self, name: str, mode: str, time_s: float) -> None:
        """Fail (or, with mode "ok", repair) a sensor from ``time_s`` on."""
        array, index = self.sensors()[name]
        array.set_failure(mode, at_s=time_s, index=index)

    def adopt(self, state: TwinState) -> None:
        """Put the actuators where a given state has them (e.g. a steady state), so that the
        controllers take over from there bumplessly at their first sample."""
        if self.bank is not None:
            self.bank.s.act.position[:] = state.crah_valve
            self.bank.s.act.target[:] = state.crah_valve
            self.bank.f.act.position[:] = state.crah_fan_speed
            self.bank.f.act.target[:] = state.crah_fan_speed
            return
        for k in range(len(self.supply)):
            valve = self.supply[k].valve
            valve.position[:] = state.crah_valve[k]
            valve.target[:] = state.crah_valve[k]
            fan = self.fan[k].fan
            fan.position[:] = state.crah_fan_speed[k]
            fan.target[:] = state.crah_fan_speed[k]

    # --- every step ----------------------------------------------------------------------------

    def update(self, state: TwinState, supply_air_c: np.ndarray) -> None:
        """Sample what is due, move actuators and ramps, update alarms; write actuators into the state.

        ``supply_air_c``: the air leaving each CRAH (coil outlet plus the fan's heat), °C.
        """
        t = state.time_s
        self.registry.advance(t)
        powered = state.crah_powered
        # A stopped unit's supply sensor sits in still air that has the return's temperature.
        supply_c = np.where(state.crah_flow_m3s > 0, supply_air_c, state.t_return_c)
        if self.bank is not None:
            self._update_bank(state, self.bank, supply_c)
            return
        supply, fans = self._objects
        for k in range(len(supply)):
            can_run = bool(powered[k] and not state.crah_tripped[k])
            s_out = supply[k].step(t, {"t_supply_c": float(supply_c[k]), "running": can_run})
            served = self.served[k]
            inlets = state.t_intake_c[served] if len(served) else np.array([state.t_return_c[k]])
            f_out = fans[k].step(t, {"t_inlet_c": inlets, "t_return_c": float(state.t_return_c[k]),
                                         "running": can_run})
            state.crah_valve[k] = s_out["valve"] if can_run else 0.0
            state.crah_fan_speed[k] = f_out["fan_speed"]
            state.crah_running[k] = can_run and bool(f_out["fan_running"]) and f_out["fan_speed"] > 0
            state.crah_setpoint_c[k] = supply[k].supply_temp_setpoint_c
            name = self.crah_names[k]
            self.alarms.update(f"{name}.trip", bool(state.crah_tripped[k]), t)
            # A sensor is failed when its own plausibility flag drops (a stuck sensor stays plausible:
            # that is how stuck sensors fool real controllers).
            self.alarms.update(f"{name}.supply_temp.failed", not bool(supply[k].sensor.valid.all()), t)
            self.alarms.update(f"{name}.return_temp.failed", not bool(fans[k].return_sensor.valid.all()), t)
            self.alarms.update(f"{name}.inlet_temp.failed", not bool(fans[k].inlet_sensors.valid.all()), t)
            self.alarms.update(f"{name}.fan_fallback", fans[k].mode == "fallback", t)
        self.rack_alarms.update(state.t_intake_c, t)
        self.alarms.advance(t)

    def _update_bank(self, state: TwinState, bank: CrahBank, supply_c: np.ndarray) -> None:
        """:meth:`update` with the loops as arrays: what the per-object loop above does, unit by unit."""
        t = state.time_s
        can_run = state.crah_powered & ~state.crah_tripped
        inlet_c = np.concatenate([state.t_intake_c, state.t_return_c])[self._inlet_source]
        bank.step(t, t_supply_c=supply_c, t_inlet_c=inlet_c, t_return_c=state.t_return_c, running=can_run)
        fan_speed = bank.fan_speed
        state.crah_valve[:] = np.where(can_run, bank.valve, 0.0)
        state.crah_fan_speed[:] = fan_speed
        state.crah_running[:] = can_run & bank.fan_running & (fan_speed > 0)
        state.crah_setpoint_c[:] = bank.supply_setpoint_c
        # The alarms in the per-object loop's order (unit by unit), so that events of one step log alike.
        conditions = np.stack([state.crah_tripped, ~bank.supply_sensor_valid(), ~bank.return_sensor_valid(),
                               ~bank.inlet_sensors_valid(), bank.fan_mode == _FALLBACK], axis=1)
        self.alarms.update_many(self._alarm_names, conditions.ravel().tolist(), t)
        self.rack_alarms.update(state.t_intake_c, t)
        self.alarms.advance(t)

    def state_dict(self) -> dict[str, Any]:
        """Controller memories (PID, sensors with their RNG, actuators), setpoint ramps, alarms: for checkpoints.

        The setpoint values themselves (``supply_temp_setpoint_c`` …, ``enabled``) live in the
        controllers' own state dicts; the registry adds the targets and ramps heading for them.
        """
        d: dict[str, Any] = {}
        if self.bank is not None:
            d.update(self.bank.state_dict())
        else:
            for c in [*self.supply, *self.fan]:
                d.update({f"{c.name}.{k}": v for k, v in c.state_dict().items()})
        d.update({f"registry.{k}": v for k, v in self.registry.state_dict().items()})
        d.update({f"alarms.{k}": v for k, v in self.alarms.state_dict().items()})
        d.update({f"rack_alarms.{k}": v for k, v in self.rack_alarms.state_dict().items()})
        return d

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (controls of the same hall, built the same way)."""
        if self.bank is not None:
            self.bank.load_state_dict(d)
        else:
            for c in [*self.supply, *self.fan]:
                c.load_state_dict(unprefixed(c.name, d))
        self.registry.load_state_dict(unprefixed("registry", d))
        self.alarms.load_state_dict(unprefixed("alarms", d))
        self.rack_alarms.load_state_dict(unprefixed("rack_alarms", d))


def _serving_units(hall: HallModel) -> list[np.ndarray]:
    """For each CRAH, the racks nearer to it than to any other CRAH (by plan distance of box centres)."""
    if not hall.crahs:
        return []
    rack_xy = np.array([[(r.box.lo[0] + r.box.hi[0]) / 2, (r.box.lo[1] + r.box.hi[1]) / 2] for r in hall.racks])
    crah_xy = np.array([[(c.box.lo[0] + c.box.hi[0]) / 2, (c.box.lo[1] + c.box.hi[1]) / 2] for c in hall.crahs])
    if not len(rack_xy):
        return [np.zeros(0, dtype=int) for _ in hall.crahs]
    nearest = np.argmin(np.linalg.norm(rack_xy[:, None, :] - crah_xy[None, :, :], axis=2), axis=1)
    return [np.flatnonzero(nearest == k) for k in range(len(hall.crahs))]
