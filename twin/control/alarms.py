"""Alarms with ISA-18.2 states, and the alarms of a data hall.

An :class:`AlarmSystem` holds many alarms. The simulation reports each alarm's condition with
:meth:`AlarmSystem.update` (whenever it may have changed; repeating an unchanged condition is
harmless) and calls :meth:`AlarmSystem.advance` every time step, which runs pending delays and
shelf expiries. Operators call :meth:`~AlarmSystem.acknowledge`, :meth:`~AlarmSystem.shelve`
and :meth:`~AlarmSystem.unshelve`. All times are simulated seconds.

States (ISA-18.2 alarm state transition diagram)::

    NORMAL  --condition-->  UNACK  --ack-->  ACKED
       ^                      |                |
       |<------ack------  RTNUN <--clear--      |--clear--> NORMAL
                              \\--condition--> UNACK
    any  --shelve-->  SHELVED  --unshelve / expiry-->  UNACK if the condition holds, else NORMAL

The condition is debounced against chatter: it becomes active only after the raw condition held
for ``on_delay_s``, and clears only after the raw condition was false for ``off_delay_s``; the
times of these debounced transitions (``raised_s``, ``cleared_s``) are the exact instants
``raw change + delay``. While shelved the condition is still tracked (occurrences are recorded
with ``shelved: true``) but nothing is annunciated and nothing needs acknowledging.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.control.base import StateDict
from twin.model.schema import ASHRAE_ALLOWABLE_C, ASHRAE_RECOMMENDED_C  # the hall schema owns TC9.9's ranges

__all__ = [
    "ASHRAE_ALLOWABLE_C",
    "ASHRAE_RECOMMENDED_C",
    "EVENTS",
    "PRIORITIES",
    "STATES",
    "AlarmSystem",
    "LevelAlarm",
    "RackInletAlarms",
    "define_battery_low",
    "define_crah_trip",
    "define_generator_failed",
    "define_sensor_failed",
    "define_ups_on_battery",
]

STATES = ("NORMAL", "UNACK", "ACKED", "RTNUN", "SHELVED")
PRIORITIES = ("critical", "high", "medium", "low")
EVENTS = ("raised", "cleared", "acked", "shelved", "unshelved", "shelf_expired")
NORMAL, UNACK, ACKED, RTNUN, SHELVED = range(5)
_RAISED, _CLEARED, _ACKED, _SHELVED, _UNSHELVED, _EXPIRED = range(6)



@dataclass
class _Alarm:
    name: str
    priority: str
    message: str
    on_delay_s: float
    off_delay_s: float
    state: int = NORMAL
    raw: bool = False
    raw_since_s: float = -math.inf
    cond: bool = False
    shelved_until_s: float = math.nan
    occurrence: int = -1  # index of the open (or last) occurrence
    value: float = math.nan  # last reported value


class AlarmSystem:
    """Many alarms with ISA-18.2 states, a log of events and a list of occurrences."""

    def __init__(self) -> None:
        self._alarms: dict[str, _Alarm] = {}
        self._index: dict[str, int] = {}
        self._pending: set[str] = set()
        # Occurrences (one per debounced activation), as parallel lists.
        self._occ_alarm: list[int] = []
        self._occ: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    # --- set-up -------------------------------------------------------------------------------

    def define(self, name: str, *, priority: str, message: str, on_delay_s: float = 0.0,
               off_delay_s: float = 0.0) -> str:
        """Define an alarm when the twin is built; returns its name.

        Args:
            name: unique, e.g. ``crah-03.trip``.
            priority: ``critical``, ``high``, ``medium`` or ``low``.
            message: one line for operators.
            on_delay_s, off_delay_s: debounce delays against chatter, s.
        """
        if name in self._alarms:
            raise ValueError(f"alarm {name!r} is already defined")
        if priority not in PRIORITIES:
            raise ValueError(f"alarm {name!r}: priority must be one of {PRIORITIES}, got {priority!r}")
        self._index[name] = len(self._alarms)
        self._alarms[name] = _Alarm(name, priority, message, float(on_delay_s), float(off_delay_s))
        return name

    def __contains__(self, name: object) -> bool:
        return name in self._alarms

    def names(self) -> list[str]:
        """Defined alarm names, in definition order."""
        return list(self._alarms)

    def state(self, name: str) -> str:
        """The ISA-18.2 state of ``name``: one of :data:`STATES`."""
        return STATES[self._alarms[name].state]

    # --- conditions and time ------------------------------------------------------------------

    def update(self, name: str, active: bool, time_s: float, value: float | None = None) -> str:
        """Report the raw condition of ``name`` at ``time_s`` (and the measured value, if any).

        Called by the simulation when the condition may have changed. Returns the state after it.
        """
        a = self._alarms[name]
        active = bool(active)
        if value is not None:
            a.value = float(value)
            if a.occurrence >= 0 and math.isnan(self._occ[a.occurrence]["cleared_s"]):
                occ = self._occ[a.occurrence]
                occ["last_value"] = a.value
        if active != a.raw:
            a.raw, a.raw_since_s = active, float(time_s)
        self._process(a, time_s)
        return STATES[a.state]

    def update_many(self, names: list[str], active: list[bool], time_s: float) -> None:
        """:meth:`update` of each of ``names`` in turn, skipping those it would leave as they are.

        Called every step with many conditions that seldom change. An update that reports the condition
        already in force, without a value, changes nothing unless the alarm waits on a delay or a shelf
        (then :meth:`advance` or this processes it at the same time): those are the ones updated.
        """
        alarms, pending = self._alarms, self._pending
        for name, on in zip(names, active, strict=True):
            if alarms[name].raw != on or name in pending:
                self.update(name, on, time_s)

    def advance(self, time_s: float) -> None:
        """Called every time step: confirm debounced transitions whose delay ran out; expire shelves."""
        for name in list(self._pending):
            self._process(self._alarms[name], time_s)

    def _process(self, a: _Alarm, time_s: float) -> None:
        eps = 1e-9
        if a.raw != a.cond:
            delay = a.on_delay_s if a.raw else a.off_delay_s
            at_s = a.raw_since_s + delay
            if time_s >= at_s - eps:
                a.cond = a.raw
                (self._condition_on if a.cond else self._condition_off)(a, max(at_s, a.raw_since_s))
        if a.state == SHELVED and time_s >= a.shelved_until_s - eps:
            self._leave_shelf(a, a.shelved_until_s, _EXPIRED)
        if a.raw != a.cond or a.state == SHELVED:
            self._pending.add(a.name)
        else:
            self._pending.discard(a.name)

    def _log(self, a: _Alarm, event: int, time_s: float) -> None:
        self.events.append({"time_s": float(time_s), "name": a.name, "event": EVENTS[event],
                            "state": STATES[a.state]})

    def _condition_on(self, a: _Alarm, time_s: float) -> None:
        shelved = a.state == SHELVED
        a.occurrence = len(self._occ)
        self._occ_alarm.append(self._index[a.name])
        self._occ.append({"name": a.name, "priority": a.priority, "message": a.message, "raised_s": float(time_s),
                          "cleared_s": math.nan, "acked_s": math.nan, "shelved": shelved,
                          "value": a.value, "last_value": a.value})
        if not shelved:
            a.state = UNACK
        self._log(a, _RAISED, time_s)

    def _condition_off(self, a: _Alarm, time_s: float) -> None:
        if a.occurrence >= 0:
            self._occ[a.occurrence]["cleared_s"] = float(time_s)
        if a.state == UNACK:
            a.state = RTNUN
        elif a.state == ACKED:
            a.state = NORMAL
        self._log(a, _CLEARED, time_s)

    def _leave_shelf(self, a: _Alarm, time_s: float, event: int) -> None:
        a.state = UNACK if a.cond else NORMAL
        a.shelved_until_s = math.nan
        self._log(a, event, time_s)

    # --- operator actions ---------------------------------------------------------------------

    def acknowledge(self, name: str, time_s: float) -> bool:
        """Operator acknowledges ``name``: UNACK → ACKED, RTNUN → NORMAL. False if nothing to acknowledge."""
        a = self._alarms[name]
        if a.state not in (UNACK, RTNUN):
            return False
        a.state = ACKED if a.state == UNACK else NORMAL
        if a.occurrence >= 0 and math.isnan(self._occ[a.occurrence]["acked_s"]):
            self._occ[a.occurrence]["acked_s"] = float(time_s)
        self._log(a, _ACKED, time_s)
        return True

    def shelve(self, name: str, duration_s: float, time_s: float) -> None:
        """Operator shelves ``name`` for ``duration_s`` (> 0); afterwards it takes the state its condition implies."""
        if not duration_s > 0:
            raise ValueError(f"shelve {name}: duration_s must be > 0, got {duration_s}")
        a = self._alarms[name]
        a.state = SHELVED
        a.shelved_until_s = float(time_s) + float(duration_s)
        if a.occurrence >= 0 and math.isnan(self._occ[a.occurrence]["cleared_s"]):
            self._occ[a.occurrence]["shelved"] = True
        self._log(a, _SHELVED, time_s)
        self._pending.add(name)

    def unshelve(self, name: str, time_s: float) -> None:
        """Operator unshelves ``name`` before its expiry (no-op if not shelved)."""
        a = self._alarms[name]
        if a.state == SHELVED:
            self._leave_shelf(a, time_s, _UNSHELVED)
            self._process(a, time_s)

    # --- views --------------------------------------------------------------------------------

    def _view(self, a: _Alarm) -> dict[str, Any]:
        occ = self._occ[a.occurrence] if a.occurrence >= 0 else {}
        return {"name": a.name, "priority": a.priority, "message": a.message, "state": STATES[a.state],
                "raised_s": _num(occ.get("raised_s")), "acked_s": _num(occ.get("acked_s")),
                "cleared_s": _num(occ.get("cleared_s")), "value": _num(a.value),
                "shelved_until_s": _num(a.shelved_until_s)}

    def active(self) -> list[dict[str, Any]]:
        """Alarms that need an operator's eye now (UNACK, ACKED, RTNUN), by priority then time raised."""
        rows = [self._view(a) for a in self._alarms.values() if a.state in (UNACK, ACKED, RTNUN)]
        rows.sort(key=lambda r: (PRIORITIES.index(r["priority"]), r["raised_s"] or 0.0, r["name"]))
        return rows

    def shelved(self) -> list[dict[str, Any]]:
        """Alarms shelved now, with their expiry."""
        return [self._view(a) for a in self._alarms.values() if a.state == SHELVED]

    def summary(self) -> list[dict[str, Any]]:
        """Every occurrence so far, in the order raised (JSON-ready: NaN times become None).

        Each has ``name``, ``priority``, ``message``, ``raised_s``, ``cleared_s``, ``acked_s``,
        ``shelved`` (raised or shelved while shelved), ``value`` (at raise) and ``last_value``.
        """
        return [{k: (_num(v) if isinstance(v, float) else v) for k, v in o.items()} for o in self._occ]

    # --- memory -------------------------------------------------------------------------------

    def state_dict(self) -> StateDict:
        """States, debounce timers, shelves, occurrences and the event log, as arrays."""
        al = list(self._alarms.values())
        d: StateDict = {
            "state": np.array([a.state for a in al], dtype=np.int64),
            "raw": np.array([a.raw for a in al], dtype=bool),
            "raw_since_s": np.array([a.raw_since_s for a in al], dtype=float),
            "cond": np.array([a.cond for a in al], dtype=bool),
            "shelved_until_s": np.array([a.shelved_until_s for a in al], dtype=float),
            "occurrence": np.array([a.occurrence for a in al], dtype=np.int64),
            "value": np.array([a.value for a in al], dtype=float),
            "occ.alarm": np.array(self._occ_alarm, dtype=np.int64),
            "ev.time_s": np.array([e["time_s"] for e in self.events], dtype=float),
            "ev.alarm": np.array([self._index[e["name"]] for e in self.events], dtype=np.int64),
            "ev.event": np.array([EVENTS.index(e["event"]) for e in self.events], dtype=np.int64),
            "ev.state": np.array([STATES.index(e["state"]) for e in self.events], dtype=np.int64),
        }
        for k in ("raised_s", "cleared_s", "acked_s", "value", "last_value"):
            d[f"occ.{k}"] = np.array([o[k] for o in self._occ], dtype=float)
        d["occ.shelved"] = np.array([o["shelved"] for o in self._occ], dtype=bool)
        return d

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` (the same alarms defined in the same order)."""
        al = list(self._alarms.values())
        if len(d["state"]) != len(al):
            raise ValueError(f"state has {len(d['state'])} alarms, this system defines {len(al)}")
        for i, a in enumerate(al):
            a.state = int(d["state"][i])
            a.raw = bool(d["raw"][i])
            a.raw_since_s = float(d["raw_since_s"][i])
            a.cond = bool(d["cond"][i])
            a.shelved_until_s = float(d["shelved_until_s"][i])
            a.occurrence = int(d["occurrence"][i])
            a.value = float(d["value"][i])
        self._occ_alarm = [int(x) for x in d["occ.alarm"]]
        self._occ = []
        for j, i in enumerate(self._occ_alarm):
            a = al[i]
            self._occ.append({"name": a.name, "priority": a.priority, "message": a.message,
                              "raised_s": float(d["occ.raised_s"][j]), "cleared_s": float(d["occ.cleared_s"][j]),
                              "acked_s": float(d["occ.acked_s"][j]), "shelved": bool(d["occ.shelved"][j]),
                              "value": float(d["occ.value"][j]), "last_value": float(d["occ.last_value"][j])})
        self.events = [{"time_s": float(t), "name": al[int(i)].name, "event": EVENTS[int(e)], "state": STATES[int(s)]}
                       for t, i, e, s in zip(d["ev.time_s"], d["ev.alarm"], d["ev.event"], d["ev.state"], strict=True)]
        self._pending = {a.name for a in al if a.raw != a.cond or a.state == SHELVED}


def _num(v: Any) -> float | None:
    """A float for JSON: None for missing or NaN."""
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


# --- the hall's alarms --------------------------------------------------------------------------


class LevelAlarm:
    """An alarm on a measured level with hysteresis: active beyond ``limit``, clears ``deadband`` back.

    Args:
        alarms: the system to define it in.
        name, priority, message: as :meth:`AlarmSystem.define`.
        limit: the alarm limit, in the value's unit.
        direction: ``"high"`` (active above the limit) or ``"low"`` (active below).
        deadband: hysteresis, same unit (≥ 0).
        on_delay_s, off_delay_s: debounce, s.
    """

    def __init__(self, alarms: AlarmSystem, name: str, *, priority: str, message: str, limit: float,
                 direction: str = "high", deadband: float = 0.0, on_delay_s: float = 0.0,
                 off_delay_s: float = 0.0) -> None:
        if direction not in ("high", "low"):
            raise ValueError(f"{name}: direction must be 'high' or 'low', got {direction!r}")
        self.alarms, self.name = alarms, name
        self.limit, self.direction, self.deadband = float(limit), direction, float(deadband)
        alarms.define(name, priority=priority, message=message, on_delay_s=on_delay_s, off_delay_s=off_delay_s)
        self._active = False

    def update(self, value: float, time_s: float) -> str:
        """Called by the simulation with the measured ``value`` at ``time_s``; returns the alarm's state."""
        if self.direction == "high":
            self._active = value > self.limit or (self._active and value > self.limit - self.deadband)
        else:
            self._active = value < self.limit or (self._active and value < self.limit + self.deadband)
        return self.alarms.update(self.name, self._active, time_s, value)

    @property
    def active(self) -> bool:
        """Whether the level is beyond its limit (with the deadband's memory): what checkpoints save."""
        return self._active

    @active.setter
    def active(self, value: bool) -> None:
        self._active = bool(value)


class RackInletAlarms:
    """Rack-inlet alarms of many racks against ASHRAE TC9.9, evaluated on arrays.

    Per rack ``r`` four alarms: ``r.inlet_above_recommended`` (medium, > 27 °C),
    ``r.inlet_below_recommended`` (low, < 18 °C), ``r.inlet_above_allowable`` (high, above the
    class's upper limit) and ``r.inlet_below_allowable`` (high, below its lower limit). Each clears
    ``deadband_k`` inside its limit. Only alarms whose condition changed are passed to the
    :class:`AlarmSystem`, so updating hundreds of racks every step costs little.

    Args:
        alarms: the system to define them in.
        rack_names: rack names, in the order of the temperature arrays.
        allowable_class: ``"A1"`` … ``"A4"`` (the hall file's class).
        deadband_k: hysteresis, K.
        on_delay_s, off_delay_s: debounce, s.
    """

    KINDS = ("inlet_above_recommended", "inlet_below_recommended", "inlet_above_allowable", "inlet_below_allowable")

    def __init__(self, alarms: AlarmSystem, rack_names: Sequence[str], *, allowable_class: str = "A1",
                 deadband_k: float = 0.5, on_delay_s: float = 0.0, off_delay_s: float = 0.0) -> None:
        if allowable_class not in ASHRAE_ALLOWABLE_C:
            raise ValueError(f"allowable_class must be one of {list(ASHRAE_ALLOWABLE_C)}, got {allowable_class!r}")
        self.alarms = alarms
        self.rack_names = list(rack_names)
        self.allowable_class = allowable_class
        rec_lo, rec_hi = ASHRAE_RECOMMENDED_C
        all_lo, all_hi = ASHRAE_ALLOWABLE_C[allowable_class]
        # (limit, +1 for high / -1 for low) per kind
        self._limits = np.array([rec_hi, rec_lo, all_hi, all_lo])
        self._sign = np.array([1.0, -1.0, 1.0, -1.0])
        self.deadband_k = float(deadband_k)
        spec = [("medium", f"rack inlet above ASHRAE recommended {rec_hi:g} °C"),
                ("low", f"rack inlet below ASHRAE recommended {rec_lo:g} °C"),
                ("high", f"rack inlet above ASHRAE {allowable_class} allowable {all_hi:g} °C"),
                ("high", f"rack inlet below ASHRAE {allowable_class} allowable {all_lo:g} °C")]
        self.names = [[f"{r}.{k}" for k in self.KINDS] for r in self.rack_names]
        for r, row in zip(self.rack_names, self.names, strict=True):
            for n, (prio, msg) in zip(row, spec, strict=True):
                alarms.define(n, priority=prio, message=f"{r}: {msg}", on_delay_s=on_delay_s, off_delay_s=off_delay_s)
        self._active = np.zeros((len(self.rack_names), 4), dtype=bool)

    def update(self, t_inlet_c: np.ndarray, time_s: float) -> None:
        """Called by the simulation with every rack's inlet temperature (°C) at ``time_s``."""
        t = np.asarray(t_inlet_c, dtype=float)[:, None]
        beyond = self._sign * (t - self._limits)  # > 0 beyond the limit
        new = (beyond > 0) | (self._active & (beyond > -self.deadband_k))
        for i, k in zip(*np.nonzero(new != self._active), strict=True):
            self.alarms.update(self.names[i][k], bool(new[i, k]), time_s, float(t[i, 0]))
        self._active = new

    def state_dict(self) -> StateDict:
        """The hysteresis memory (the alarm states live in the AlarmSystem's state dict)."""
        return {"active": self._active.copy()}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
        self._active = np.array(d["active"], dtype=bool)


def define_crah_trip(alarms: AlarmSystem, crah: str, **kw: Any) -> str:
    """``<crah>.trip`` (high): the unit stopped without being commanded off. Condition: tripped."""
    return alarms.define(f"{crah}.trip", priority="high", message=f"{crah}: unit tripped", **kw)


def define_ups_on_battery(alarms: AlarmSystem, ups: str, **kw: Any) -> str:
    """``<ups>.on_battery`` (high): the UPS carries its load from the battery. Condition: on battery."""
    return alarms.define(f"{ups}.on_battery", priority="high", message=f"{ups}: on battery", **kw)


def define_battery_low(alarms: AlarmSystem, ups: str, *, threshold_soc: float = 0.25, deadband: float = 0.05,
                       **kw: Any) -> LevelAlarm:
    """``<ups>.battery_low`` (critical): state of charge below ``threshold_soc``; feed it the SoC (0–1)."""
    return LevelAlarm(alarms, f"{ups}.battery_low", priority="critical",
                      message=f"{ups}: battery below {threshold_soc:.0%} charge", limit=threshold_soc,
                      direction="low", deadband=deadband, **kw)


def define_generator_failed(alarms: AlarmSystem, generator: str, **kw: Any) -> str:
    """``<generator>.failed`` (critical): failed to start. Condition: the ATS controller's ``generator_failed``."""
    return alarms.define(f"{generator}.failed", priority="critical", message=f"{generator}: failed to start", **kw)


def define_sensor_failed(alarms: AlarmSystem, sensor: str, **kw: Any) -> str:
    """``<sensor>.failed`` (medium): a sensor reads invalid. Condition: not ``valid`` (or a controller in fallback)."""
    return alarms.define(f"{sensor}.failed", priority="medium", message=f"{sensor}: sensor failed", **kw)
