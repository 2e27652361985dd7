"""The two controllers of a CRAH unit: supply-air temperature → chilled-water valve, and fan speed.

Both are :class:`~twin.control.base.Controller` subclasses that own their sensors
(:class:`~twin.control.sensors.SensorArray`), their PID (:class:`~twin.control.pid.PID`) and their
actuator (:class:`~twin.control.actuators.Valve` / :class:`~twin.control.actuators.FanVFD`).

Modes (attribute ``mode``, as of the last sample):

- ``"auto"``: the PID drives the actuator.
- ``"fallback"``: the controlled variable's sensor is invalid (its ``valid`` flag dropped: open,
  out of range, implausible rate). The actuator goes to a safe value (``fallback_policy="fixed"``,
  ``fallback_speed`` / ``fallback_valve``, default 1.0 = full cooling) or holds the last command
  of auto mode (``"hold"``). After ``return_after_valid_samples`` consecutive valid samples the
  controller returns to auto, bumplessly (the PID restarts from the command in force).
- ``"manual"``: the actuator follows ``manual_speed`` / ``manual_valve`` (operator).
- ``"off"``: the unit is not running (input ``running`` false: tripped or unpowered) or an operator
  switched it off (``enabled = 0``): fan stopped, valve closed.

Setting ``mode`` to ``"auto"``, ``"manual"`` or ``"off"`` is an operator request; it takes effect at
the next sample (``requested_mode`` shows it at once). ``"fallback"`` cannot be requested.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from twin.control.actuators import FanVFD, Valve
from twin.control.base import Controller, StateDict, prefixed, unprefixed
from twin.control.pid import PID
from twin.control.registry import AttributeGetter, Role, SetpointRegistry, attribute
from twin.control.sensors import SensorArray

if TYPE_CHECKING:
    from twin.control.bank import FanLoopView, SupplyLoopView

__all__ = [
    "MODES",
    "CrahFanController",
    "CrahSupplyController",
    "last_running_interlock",
    "register_crah_setpoints",
]

MODES = ("auto", "fallback", "manual", "off")
_REQUESTABLE = ("auto", "manual", "off")
_POLICIES = ("fixed", "hold")


class _CrahLoop(Controller):
    """Mode logic shared by the two CRAH loops (not public)."""

    def __init__(self, name: str, *, period_s: float, phase_s: float, fallback_policy: str,
                 return_after_valid_samples: int) -> None:
        super().__init__(name, period_s=period_s, phase_s=phase_s)
        if fallback_policy not in _POLICIES:
            raise ValueError(f"{name}: fallback_policy must be one of {_POLICIES}, got {fallback_policy!r}")
        self.fallback_policy = fallback_policy
        self.return_after_valid_samples = int(return_after_valid_samples)
        self.requested_mode = "auto"
        self._mode = "off"
        self._valid_count = 0
        self._last_auto_cmd = math.nan
        self._reinit = False

    @property
    def mode(self) -> str:
        """``"auto"``, ``"fallback"``, ``"manual"`` or ``"off"``, as decided at the last sample."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in _REQUESTABLE:
            raise ValueError(f"{self.name}: mode can be set to one of {_REQUESTABLE}, got {value!r}")
        self.requested_mode = value

    @property
    def enabled(self) -> float:
        """1.0 unless an operator switched the unit off (0.0); writable, for the setpoint registry."""
        return 0.0 if self.requested_mode == "off" else 1.0

    @enabled.setter
    def enabled(self, value: float) -> None:
        if value:
            if self.requested_mode == "off":
                self.requested_mode = "auto"
        else:
            self.requested_mode = "off"

    def _decide(self, running: bool, sensor_ok: bool) -> str:
        self._valid_count = self._valid_count + 1 if sensor_ok else 0
        if not running or self.requested_mode == "off":
            return "off"
        if self.requested_mode == "manual":
            return "manual"
        if not sensor_ok:
            return "fallback"
        if self._mode != "auto" and self._valid_count < self.return_after_valid_samples:
            return "fallback" if self._mode == "fallback" else "auto"
        return "auto"

    def state_dict(self) -> StateDict:
        """Base memory plus mode, counters and the last auto command."""
        return {**super().state_dict(), "requested_mode": _REQUESTABLE.index(self.requested_mode),
                "mode": MODES.index(self._mode), "valid_count": self._valid_count,
                "last_auto_cmd": self._last_auto_cmd, "reinit": int(self._reinit)}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
        super().load_state_dict(d)
        self.requested_mode = _REQUESTABLE[int(d["requested_mode"])]
        self._mode = MODES[int(d["mode"])]
        self._valid_count = int(d["valid_count"])
        self._last_auto_cmd = float(d["last_auto_cmd"])
        self._reinit = bool(d["reinit"])


def _default_temp_sensor(n: int, seed: Any, name: str) -> SensorArray:
    # A 10 kΩ NTC on a 12-bit ADC over 0–60 °C (≈ 0.015 K per step), 0.05 K noise, 10 s lag;
    # more than 2 K/s is not air temperature but a fault.
    return SensorArray(n, lo=0.0, hi=60.0, bits=12, noise_sigma=0.05, tau_s=10.0, max_rate_per_s=2.0,
                       seed=seed, unit="°C", name=name)


class CrahSupplyController(_CrahLoop):
    """Supply-air temperature → chilled-water valve of one CRAH (direct action: warmer → more valve).

    Inputs of :meth:`sample`: ``t_supply_c`` (true supply-air temperature, °C); ``running`` (bool,
    default True: the unit runs). Outputs: ``valve`` (position 0–1, ramp-limited), ``valve_cmd``
    (commanded 0–1), ``reading_c`` (the sensor's reading, °C), ``sensor_valid``.

    Args:
        name: e.g. ``"crah-03.supply"``.
        supply_temp_setpoint_c: supply-air setpoint, °C (attribute of the same name).
        period_s, phase_s: sampling, s.
        kp: valve fraction per K; ti_s, td_s: s.
        setpoint_rate_k_per_s: setpoint ramp inside the PID, K/s (None: none).
        fallback_policy: ``"fixed"`` (go to ``fallback_valve``) or ``"hold"`` (last auto command).
        fallback_valve: valve opening in fallback, 0–1 (default 1.0: full cooling).
        return_after_valid_samples: consecutive valid samples before fallback → auto.
        sensor: the supply-air sensor (default: 12-bit NTC, see ``_default_temp_sensor``).
        valve: the valve (default: 60 s stroke).
        seed: noise seed of the default sensor.
    """

    def __init__(self, name: str, *, supply_temp_setpoint_c: float = 18.0, period_s: float = 1.0,
                 phase_s: float = 0.0, kp: float = 0.15, ti_s: float = 90.0, td_s: float = 0.0,
                 setpoint_rate_k_per_s: float | None = None, fallback_policy: str = "fixed",
                 fallback_valve: float = 1.0, return_after_valid_samples: int = 3,
                 sensor: SensorArray | None = None, valve: Valve | None = None, seed: Any = None) -> None:
        super().__init__(name, period_s=period_s, phase_s=phase_s, fallback_policy=fallback_policy,
                         return_after_valid_samples=return_after_valid_samples)
        self.supply_temp_setpoint_c = float(supply_temp_setpoint_c)
        self.fallback_valve = float(fallback_valve)
        self.manual_valve = 0.0
        self.sensor = sensor or _default_temp_sensor(1, seed, f"{name}.t_supply")
        self.valve = valve or Valve(name=f"{name}.valve")
        self.pid = PID(kp=kp, ti_s=ti_s, td_s=td_s, period_s=period_s, action="direct", out_min=0.0,
                       out_max=1.0, setpoint_rate_per_s=setpoint_rate_k_per_s)

    @property
    def sensors(self) -> dict[str, SensorArray]:
        """The sensors this controller owns, by role (to fail them from a scenario)."""
        return {"supply": self.sensor}

    def sample(self, time_s: float, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """At each sample: read the supply sensor, decide the mode, command the valve (see class doc)."""
        reading = float(self.sensor.read(time_s, inputs["t_supply_c"])[0])
        ok = bool(self.sensor.valid[0])
        previous = self._mode
        mode = self._decide(bool(inputs.get("running", True)), ok)
        held = float(self.valve.target[0])
        if mode == "off":
            cmd = 0.0
        elif mode == "manual":
            cmd = self.manual_valve
        elif mode == "fallback":
            cmd = (self.fallback_valve if self.fallback_policy == "fixed" or math.isnan(self._last_auto_cmd)
                   else self._last_auto_cmd)
        else:
            if previous != "auto" or self._reinit:
                self.pid.initialize(held, time_s=time_s, setpoint=self.supply_temp_setpoint_c, measurement=reading)
                self._reinit = False
                cmd = held
            else:
                cmd = self.pid.update(time_s, self.supply_temp_setpoint_c, reading)
            self._last_auto_cmd = cmd
        self._mode = mode
        self.valve.command(cmd, time_s)
        return {"valve_cmd": float(self.valve.target[0]), "reading_c": reading, "sensor_valid": ok}

    def advance(self, time_s: float) -> dict[str, Any]:
        """Every step: move the valve within its stroke rate; outputs with ``valve`` = position."""
        pos = self.valve.advance(time_s)
        return {**self.outputs, "valve": float(pos[0])}

    def state_dict(self) -> StateDict:
        """Mode, setpoints, PID, sensor (incl. RNG) and valve states."""
        d = {**super().state_dict(), "supply_temp_setpoint_c": self.supply_temp_setpoint_c,
             "fallback_valve": self.fallback_valve, "manual_valve": self.manual_valve}
        d.update(prefixed("pid", self.pid.state_dict()))
        d.update(prefixed("sensor", self.sensor.state_dict()))
        d.update(prefixed("valve", self.valve.state_dict()))
        return d

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
        super().load_state_dict(d)
        self.supply_temp_setpoint_c = float(d["supply_temp_setpoint_c"])
        self.fallback_valve = float(d["fallback_valve"])
        self.manual_valve = float(d["manual_valve"])
        self.pid.load_state_dict(unprefixed("pid", d))
        self.sensor.load_state_dict(unprefixed("sensor", d))
        self.valve.load_state_dict(unprefixed("valve", d))


class CrahFanController(_CrahLoop):
    """Fan speed of one CRAH on rack-inlet temperature (max of the inlets it serves) or return air.

    Direct action: warmer than the setpoint → faster. The PID's output is limited to
    [``min_speed``, 1]; the VFD ramps the fan.

    Inputs of :meth:`sample`: ``t_inlet_c`` (true inlet temperatures of the ``n_inlets`` racks the
    unit serves, °C, shape ``(n_inlets,)``); ``t_return_c`` (true return-air temperature, °C);
    ``running`` (bool: the unit runs, i.e. not tripped and powered). Both sensor kinds are read at
    every sample (so either can take over). Outputs: ``fan_speed`` (position 0–1), ``fan_speed_cmd``,
    ``fan_running``, ``reading_c`` (the controlled reading, °C), ``sensor_valid``.

    Args:
        name: e.g. ``"crah-03.fan"``.
        n_inlets: number of rack-inlet sensors (≥ 1).
        control_on: ``"inlet"`` or ``"return"`` (attribute; switching is bumpless).
        inlet_temp_setpoint_c, return_temp_setpoint_c: setpoints, °C (attributes).
        fallback_when: ``"any"`` (default: fallback as soon as one inlet sensor is invalid) or
            ``"all"`` (control on the max of the valid inlet sensors; fallback when none is valid).
        fallback_policy: ``"fixed"`` (``fallback_speed``) or ``"hold"`` (last auto command).
        fallback_speed: fan speed in fallback, fraction (default 1.0).
        min_speed: lowest running speed, fraction (VFD and PID lower limit).
        kp: speed fraction per K; ti_s, td_s: s; setpoint_rate_k_per_s: K/s (None: none).
        inlet_sensors, return_sensor, fan: owned devices (defaults: 12-bit NTCs, a 20 s VFD).
        seed: noise seed of the default sensors.
    """

    def __init__(self, name: str, *, n_inlets: int, control_on: str = "inlet", inlet_temp_setpoint_c: float = 24.0,
                 return_temp_setpoint_c: float = 30.0, period_s: float = 2.0, phase_s: float = 0.0,
                 kp: float = 0.1, ti_s: float = 120.0, td_s: float = 0.0,
                 setpoint_rate_k_per_s: float | None = None, fallback_when: str = "any",
                 fallback_policy: str = "fixed", fallback_speed: float = 1.0, min_speed: float = 0.3,
                 return_after_valid_samples: int = 3, inlet_sensors: SensorArray | None = None,
                 return_sensor: SensorArray | None = None, fan: FanVFD | None = None, seed: Any = None) -> None:
        super().__init__(name, period_s=period_s, phase_s=phase_s, fallback_policy=fallback_policy,
                         return_after_valid_samples=return_after_valid_samples)
        if fallback_when not in ("any", "all"):
            raise ValueError(f"{name}: fallback_when must be 'any' or 'all', got {fallback_when!r}")
        self.fallback_when = fallback_when
        self._control_on = "inlet"
        self.control_on = control_on
        self._reinit = False
        self.inlet_temp_setpoint_c = float(inlet_temp_setpoint_c)
        self.return_temp_setpoint_c = float(return_temp_setpoint_c)
        self.fallback_speed = float(fallback_speed)
        self.min_speed = float(min_speed)
        self.manual_speed = 1.0
        seeds = (None, None) if seed is None else np.random.SeedSequence(seed).spawn(2)
        self.inlet_sensors = inlet_sensors or _default_temp_sensor(n_inlets, seeds[0], f"{name}.t_inlet")
        self.return_sensor = return_sensor or _default_temp_sensor(1, seeds[1], f"{name}.t_return")
        self.fan = fan or FanVFD(min_speed=min_speed, name=f"{name}.vfd")
        self.pid = PID(kp=kp, ti_s=ti_s, td_s=td_s, period_s=period_s, action="direct", out_min=self.min_speed,
                       out_max=1.0, setpoint_rate_per_s=setpoint_rate_k_per_s)

    @property
    def control_on(self) -> str:
        """``"inlet"`` or ``"return"``: the controlled variable; a change is bumpless (next sample)."""
        return self._control_on

    @control_on.setter
    def control_on(self, value: str) -> None:
        if value not in ("inlet", "return"):
            raise ValueError(f"{self.name}: control_on must be 'inlet' or 'return', got {value!r}")
        if value != self._control_on:
            self._reinit = True
        self._control_on = value

    @property
    def setpoint_c(self) -> float:
        """The setpoint of the controlled variable in use, °C."""
        return self.inlet_temp_setpoint_c if self._control_on == "inlet" else self.return_temp_setpoint_c

    @property
    def sensors(self) -> dict[str, SensorArray]:
        """The sensors this controller owns, by role (to fail them from a scenario)."""
        return {"inlet": self.inlet_sensors, "return": self.return_sensor}

    def sample(self, time_s: float, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """At each sample: read the sensors, decide the mode, command the VFD (see class doc)."""
        inlet = self.inlet_sensors.read(time_s, inputs["t_inlet_c"])
        ret = self.return_sensor.read(time_s, inputs["t_return_c"])
        if self._control_on == "inlet":
            valid = self.inlet_sensors.valid
            if self.fallback_when == "any":
                ok = bool(valid.all())
                reading = float(inlet.max())
            else:
                ok = bool(valid.any())
                reading = float(inlet[valid].max()) if ok else float(inlet.max())
        else:
            ok = bool(self.return_sensor.valid[0])
            reading = float(ret[0])
        previous = self._mode
        running = bool(inputs.get("running", True))
        mode = self._decide(running, ok)
        held = float(self.fan.target[0]) if self.fan.running[0] else float(self.fan.position[0])
        if mode == "off":
            cmd = 0.0
        elif mode == "manual":
            cmd = self.manual_speed
        elif mode == "fallback":
            cmd = (self.fallback_speed if self.fallback_policy == "fixed" or math.isnan(self._last_auto_cmd)
                   else self._last_auto_cmd)
        else:
            if previous != "auto" or self._reinit:
                cmd = min(max(held, self.min_speed), 1.0)
                self.pid.initialize(cmd, time_s=time_s, setpoint=self.setpoint_c, measurement=reading)
                self._reinit = False
            else:
                cmd = self.pid.update(time_s, self.setpoint_c, reading)
            self._last_auto_cmd = cmd
        self._mode = mode
        self.fan.command(cmd, time_s, run=mode != "off")
        return {"fan_speed_cmd": float(self.fan.target[0]), "fan_running": mode != "off",
                "reading_c": reading, "sensor_valid": ok}

    def advance(self, time_s: float) -> dict[str, Any]:
        """Every step: ramp the VFD; outputs with ``fan_speed`` = its speed (fraction of rated)."""
        pos = self.fan.advance(time_s)
        return {**self.outputs, "fan_speed": float(pos[0])}

    def state_dict(self) -> StateDict:
        """Mode, setpoints, PID, sensors (incl. RNG) and VFD states."""
        d = {**super().state_dict(), "control_on": ("inlet", "return").index(self._control_on),
             "inlet_temp_setpoint_c": self.inlet_temp_setpoint_c,
             "return_temp_setpoint_c": self.return_temp_setpoint_c, "fallback_speed": self.fallback_speed,
             "manual_speed": self.manual_speed}
        d.update(prefixed("pid", self.pid.state_dict()))
        d.update(prefixed("inlet_sensors", self.inlet_sensors.state_dict()))
        d.update(prefixed("return_sensor", self.return_sensor.state_dict()))
        d.update(prefixed("fan", self.fan.state_dict()))
        return d

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
        super().load_state_dict(d)
        self._control_on = ("inlet", "return")[int(d["control_on"])]
        for k in ("inlet_temp_setpoint_c", "return_temp_setpoint_c", "fallback_speed", "manual_speed"):
            setattr(self, k, float(d[k]))
        self.pid.load_state_dict(unprefixed("pid", d))
        self.inlet_sensors.load_state_dict(unprefixed("inlet_sensors", d))
        self.return_sensor.load_state_dict(unprefixed("return_sensor", d))
        self.fan.load_state_dict(unprefixed("fan", d))


class RunningUnit(Protocol):
    """What the interlock reads of a fan loop (a CrahFanController or a bank's view of one)."""

    name: str

    @property
    def mode(self) -> str: ...

    @property
    def enabled(self) -> float: ...


@dataclass(frozen=True)
class LastRunningInterlock:
    """An interlock for ``<crah>.enabled``: refuse to switch off the last running CRAH of ``zone``.

    Called as ``f(name, value, time_s) -> reason | None`` by :meth:`SetpointRegistry.register`'s
    interlock; the setpoint's name must start with the fan controller's unit name (``crah-03.enabled``
    for a controller named ``crah-03.fan``). A unit counts as running unless its mode is ``"off"``. An
    object rather than a closure, so that a forked state's copy checks its own controllers.
    """

    zone: tuple[RunningUnit, ...]
    zone_name: str = "its zone"

    def __call__(self, name: str, value: float, time_s: float) -> str | None:
        if value:
            return None
        unit = name.rsplit(".", 1)[0]
        others = [c for c in self.zone if c.name.rsplit(".", 1)[0] != unit and c.mode != "off" and c.enabled]
        if not others:
            return f"{unit} is the last running CRAH of {self.zone_name}"
        return None


def last_running_interlock(zone: Sequence[RunningUnit], *,
                           zone_name: str = "its zone") -> Callable[[str, float, float], str | None]:
    """The :class:`LastRunningInterlock` of ``zone``."""
    return LastRunningInterlock(tuple(zone), zone_name)


def register_crah_setpoints(registry: SetpointRegistry, unit: str, supply: CrahSupplyController | SupplyLoopView,
                            fan: CrahFanController | FanLoopView, *, interlock: Any = None,
                            rate_k_per_s: float | None = 0.05, max_step_k: float | None = 3.0) -> list[str]:
    """Register the live setpoints of CRAH ``unit`` (e.g. ``crah-03``); called once when the twin is built.

    Writable: ``supply_temp_setpoint`` (°C, 14–27, operator), ``inlet_temp_setpoint`` (°C, 18–27,
    operator), ``return_temp_setpoint`` (°C, 20–45, operator), all ramping at ``rate_k_per_s``
    (default 0.05 K/s = 3 K/min) with at most ``max_step_k`` per write; ``fallback_speed`` (fraction
    0.3–1, engineer); ``enabled`` (0/1, operator, with ``interlock``). Read-only: ``fan_speed`` and
    ``valve`` (fraction). Returns the names.
    """
    def sp(obj: Any, attr: str) -> dict[str, Any]:
        g, s = attribute(obj, attr)
        return {"getter": g, "setter": s}

    n = []
    for key, obj, attr, lo, hi, desc in (
            ("supply_temp_setpoint", supply, "supply_temp_setpoint_c", 14.0, 27.0, "supply-air temperature setpoint"),
            ("inlet_temp_setpoint", fan, "inlet_temp_setpoint_c", 18.0, 27.0, "rack-inlet temperature setpoint (fan)"),
            ("return_temp_setpoint", fan, "return_temp_setpoint_c", 20.0, 45.0, "return-air setpoint (fan)")):
        n.append(registry.register(f"{unit}.{key}", unit="°C", min_value=lo, max_value=hi, **sp(obj, attr),
                                   write_role=Role.OPERATOR, max_step=max_step_k, rate_per_s=rate_k_per_s,
                                   description=desc).name)
    n.append(registry.register(f"{unit}.fallback_speed", unit="1", min_value=fan.min_speed, max_value=1.0,
                               **sp(fan, "fallback_speed"), write_role=Role.ENGINEER,
                               description="fan speed while its sensor has failed").name)
    n.append(registry.register(f"{unit}.enabled", unit="1", min_value=0, max_value=1, **sp(fan, "enabled"),
                               write_role=Role.OPERATOR, integer=True, interlock=interlock,
                               description="unit switched on (1) or off (0)").name)
    n.append(registry.register(f"{unit}.fan_speed", unit="1", min_value=0, max_value=1,
                               getter=AttributeGetter(fan.fan, "position", 0), writable=False,
                               description="fan speed, fraction of rated").name)
    n.append(registry.register(f"{unit}.valve", unit="1", min_value=0, max_value=1,
                               getter=AttributeGetter(supply.valve, "position", 0), writable=False,
                               description="chilled-water valve opening").name)
    return n
