"""The setpoint registry: every live setpoint with its unit, range, limits and who may write it.

The bus and the console write setpoints only through :meth:`SetpointRegistry.write`, which
checks, in this order, and answers with a :class:`WriteResult`:

==============  ==================================================================================
status          when
==============  ==================================================================================
invalid         unknown name; value not a real number (strings, None), NaN or ±inf; a non-integer
                for an integer setpoint
not_writable    the setpoint is read-only
denied          the writer's role is below the setpoint's write role (observer < operator < engineer)
out_of_range    value outside [min, max]: nothing changes
interlock       the setpoint's interlock callback refused (e.g. the last running CRAH of a zone)
clamped         the change from the current target exceeds ``max_step``: the target moves by
                ``max_step`` towards the value
ok              the target is now the value
==============  ==================================================================================

A setpoint with a ``rate_per_s`` does not jump: its effective value ramps from where it is towards
the target at that rate in simulated time, and the bound setter receives the ramped value at each
:meth:`SetpointRegistry.advance` (called by the simulation every time step). Without a rate the
setter is called at once. Setpoints bind to getter/setter callables, so a write goes straight into
a controller attribute (see :func:`attribute`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from twin.control.base import StateDict

__all__ = [
    "STATUSES",
    "AttributeGetter",
    "AttributeSetter",
    "Role",
    "Setpoint",
    "SetpointRegistry",
    "WriteResult",
    "attribute",
]

STATUSES = ("ok", "clamped", "out_of_range", "not_writable", "denied", "interlock", "invalid")


class Role(IntEnum):
    """Who writes: each role may write what the roles below it may write."""

    OBSERVER = 0
    OPERATOR = 1
    ENGINEER = 2

    @classmethod
    def parse(cls, role: Role | str) -> Role:
        """A Role from a Role or its name (``"operator"``); ValueError for anything else."""
        if isinstance(role, Role):
            return role
        try:
            return cls[str(role).upper()]
        except KeyError:
            raise ValueError(f"unknown role {role!r}; roles: {', '.join(r.name.lower() for r in cls)}") from None


@dataclass(frozen=True)
class WriteResult:
    """The answer to a write.

    Attributes:
        status: one of :data:`STATUSES`.
        reason: human-readable reason ("" for ok).
        old_value: effective value before the write (None for an unknown name).
        new_value: effective value right after the write (equal to ``old_value`` while a
            rate-limited setpoint starts ramping, and whenever the write changed nothing).
        target: where the setpoint is heading after the write.
    """

    status: str
    reason: str
    old_value: float | None
    new_value: float | None
    target: float | None

    @property
    def accepted(self) -> bool:
        """True for ok and clamped (the target changed)."""
        return self.status in ("ok", "clamped")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return {"status": self.status, "reason": self.reason, "old_value": self.old_value,
                "new_value": self.new_value, "target": self.target}


Interlock = Callable[[str, float, float], "str | None"]


@dataclass
class Setpoint:
    """A registered setpoint (metadata and ramp state); build it with :meth:`SetpointRegistry.register`."""

    name: str
    unit: str
    min_value: float
    max_value: float
    getter: Callable[[], float]
    setter: Callable[[float], None] | None
    write_role: Role
    writable: bool
    max_step: float | None
    rate_per_s: float | None
    interlock: Interlock | None
    integer: bool
    description: str
    # Ramp: the effective value goes from ramp_from at ramp_start_s towards target at rate_per_s.
    target: float = math.nan
    ramp_from: float = math.nan
    ramp_start_s: float = 0.0

    def effective(self, time_s: float) -> float:
        """The ramped value at simulated time ``time_s`` (the target when not rate-limited)."""
        if self.rate_per_s is None or math.isnan(self.ramp_from):
            return self.target
        reach = self.rate_per_s * max(time_s - self.ramp_start_s, 0.0)
        return self.ramp_from + min(max(self.target - self.ramp_from, -reach), reach)

    def info(self) -> dict[str, Any]:
        """Metadata for UIs (JSON-ready)."""
        return {"name": self.name, "unit": self.unit, "min": self.min_value, "max": self.max_value,
                "write_role": self.write_role.name.lower(), "writable": self.writable, "max_step": self.max_step,
                "rate_per_s": self.rate_per_s, "integer": self.integer, "interlocked": self.interlock is not None,
                "description": self.description, "target": self.target}


@dataclass(frozen=True)
class AttributeGetter:
    """Reads ``obj.attr`` (or ``obj.attr[index]``) as a float.

    An object rather than a closure: a deep copy of the controllers (a forked state) then reads its own
    copy of ``obj``, where a copied lambda would still read the original's.
    """

    obj: Any
    attr: str
    index: int | None = None

    def __call__(self) -> float:
        v = getattr(self.obj, self.attr)
        return float(v if self.index is None else v[self.index])


@dataclass(frozen=True)
class AttributeSetter:
    """Writes ``obj.attr`` (an object rather than a closure, for the same reason as AttributeGetter)."""

    obj: Any
    attr: str

    def __call__(self, value: float) -> None:
        setattr(self.obj, self.attr, value)


def attribute(obj: Any, attr: str) -> tuple[AttributeGetter, AttributeSetter]:
    """A getter/setter pair bound to ``obj.attr`` (e.g. a controller's ``supply_temp_setpoint_c``)."""
    return AttributeGetter(obj, attr), AttributeSetter(obj, attr)


class SetpointRegistry:
    """All live setpoints of a twin, by name (e.g. ``crah-03.supply_temp_setpoint``)."""

    def __init__(self) -> None:
        self._points: dict[str, Setpoint] = {}
        # The setpoints ramping now (a write started them): the only ones advance() has work for.
        self._ramping: dict[str, Setpoint] = {}

    # --- set-up -------------------------------------------------------------------------------

    def register(self, name: str, *, unit: str, min_value: float, max_value: float,
                 getter: Callable[[], float], setter: Callable[[float], None] | None = None,
                 write_role: Role | str = Role.OPERATOR, writable: bool = True, max_step: float | None = None,
                 rate_per_s: float | None = None, interlock: Interlock | None = None, integer: bool = False,
                 description: str = "") -> Setpoint:
        """Register a setpoint, called once when the twin is built. Its target starts at ``getter()``.

        Args:
            name: unique name, ``<equipment>.<quantity>``.
            unit: unit label (``"°C"``, ``"W"``, ``"1"`` for fractions and flags).
            min_value, max_value: accepted range, in ``unit``.
            getter, setter: read and write the bound value (setter None: read-only).
            write_role: lowest role allowed to write.
            writable: False for read-only entries (listed, never written).
            max_step: largest change of the target per write, in ``unit`` (None: no limit).
            rate_per_s: ramp rate of the effective value, ``unit`` per simulated s (None: jump).
            interlock: ``f(name, new_target, time_s) -> reason | None``; a reason refuses the write.
            integer: only whole numbers are valid (flags such as ``enabled``).
            description: one line for UIs.
        """
        if name in self._points:
            raise ValueError(f"setpoint {name!r} is already registered")
        if not min_value <= max_value:
            raise ValueError(f"setpoint {name!r}: min {min_value} > max {max_value}")
        sp = Setpoint(name=name, unit=unit, min_value=float(min_value), max_value=float(max_value), getter=getter,
                      setter=setter, write_role=Role.parse(write_role), writable=bool(writable and setter),
                      max_step=max_step, rate_per_s=rate_per_s, interlock=interlock, integer=integer,
                      description=description)
        sp.target = float(getter())
        self._points[name] = sp
        return sp

    def __contains__(self, name: object) -> bool:
        return name in self._points

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._points)

    def listing(self, time_s: float | None = None) -> list[dict[str, Any]]:
        """Metadata of every setpoint for UIs, with ``value`` (effective at ``time_s``, else the bound value)."""
        out = []
        for sp in self._points.values():
            d = sp.info()
            d["value"] = sp.effective(time_s) if time_s is not None else float(sp.getter())
            out.append(d)
        return out

    # --- reading ------------------------------------------------------------------------------

    def read(self, name: str) -> float:
        """The target of ``name`` (the last accepted write; the initial value before any write)."""
        return self._get(name).target

    def effective(self, name: str, time_s: float) -> float:
        """The value in force at simulated time ``time_s`` (ramping towards the target when rate-limited)."""
        return self._get(name).effective(time_s)

    def _get(self, name: str) -> Setpoint:
        try:
            return self._points[name]
        except KeyError:
            raise KeyError(f"unknown setpoint {name!r}") from None

    # --- writing ------------------------------------------------------------------------------

    def write(self, name: str, value: Any, role: Role | str, time_s: float) -> WriteResult:
        """Request ``name = value`` by a writer with ``role`` at simulated time ``time_s``.

        Called by the command server (bus), the console and scenarios. Returns the outcome; only
        ``ok`` and ``clamped`` change anything (see the module docstring for the order of checks).
        """
        sp = self._points.get(name)
        if sp is None:
            return WriteResult("invalid", f"unknown setpoint {name!r}", None, None, None)
        old = sp.effective(time_s)

        def refuse(status: str, reason: str) -> WriteResult:
            return WriteResult(status, reason, old, old, sp.target)

        if isinstance(value, bool):
            value = int(value)
        try:
            v = float(value) if isinstance(value, numbers.Real) else math.nan
        except OverflowError:  # an integer beyond the float range
            v = math.nan
        if not math.isfinite(v):
            return refuse("invalid", f"{name}: value must be a finite number, got {repr(value)[:80]}")
        if sp.integer and v != round(v):
            return refuse("invalid", f"{name}: value must be a whole number, got {v:g}")
        if not sp.writable:
            return refuse("not_writable", f"{name} is read-only")
        try:
            r = Role.parse(role)
        except ValueError as exc:
            return refuse("denied", str(exc))
        if r < sp.write_role:
            return refuse("denied", f"{name} needs role {sp.write_role.name.lower()} or higher; "
                                    f"writer is {r.name.lower()}")
        if not sp.min_value <= v <= sp.max_value:
            return refuse("out_of_range", f"{name}: {v:g} {sp.unit} outside [{sp.min_value:g}, {sp.max_value:g}]")
        status, reason, new_target = "ok", "", v
        if sp.max_step is not None and abs(v - sp.target) > sp.max_step:
            new_target = sp.target + math.copysign(sp.max_step, v - sp.target)
            status = "clamped"
            reason = (f"{name}: change limited to {sp.max_step:g} {sp.unit} per write; "
                      f"target {new_target:g} instead of {v:g}")
        if sp.interlock is not None:
            why = sp.interlock(name, new_target, time_s)
            if why:
                return refuse("interlock", why)
        if sp.rate_per_s is not None:
            sp.ramp_from, sp.ramp_start_s = old, float(time_s)
            self._ramping[name] = sp
        sp.target = new_target
        new = sp.effective(time_s)
        assert sp.setter is not None
        sp.setter(new)
        return WriteResult(status, reason, old, new, new_target)

    def advance(self, time_s: float) -> None:
        """Called by the simulation every time step: ramped setpoints move and reach their setters."""
        if not self._ramping:
            return
        for name, sp in list(self._ramping.items()):
            if sp.rate_per_s is not None and sp.writable and not math.isnan(sp.ramp_from):
                v = sp.effective(time_s)
                if float(sp.getter()) != v:
                    sp.setter(v)  # type: ignore[misc]
                if v == sp.target:
                    sp.ramp_from = math.nan  # ramp finished
            if math.isnan(sp.ramp_from):
                del self._ramping[name]

    # --- memory -------------------------------------------------------------------------------

    def state_dict(self) -> StateDict:
        """Targets and ramp states of every setpoint, keyed ``<name>:target`` etc."""
        d: StateDict = {}
        for n, sp in self._points.items():
            d[f"{n}:target"] = sp.target
            d[f"{n}:ramp_from"] = sp.ramp_from
            d[f"{n}:ramp_start_s"] = sp.ramp_start_s
        return d

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore targets and ramps (the bound values are restored by their owners' state dicts)."""
        for n, sp in self._points.items():
            sp.target = float(d[f"{n}:target"])
            sp.ramp_from = float(d[f"{n}:ramp_from"])
            sp.ramp_start_s = float(d[f"{n}:ramp_start_s"])
        self._ramping = {n: sp for n, sp in self._points.items() if not math.isnan(sp.ramp_from)}
