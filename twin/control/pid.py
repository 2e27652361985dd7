"""A discrete PID controller as embedded controllers run it.

Called by its owning controller at that controller's sample instants (:meth:`PID.update`), with
simulated time in s; setpoint and measurement in the process unit (e.g. °C), output in the actuator
unit (e.g. valve opening, fraction 0–1). The law, in the ISA (standard) form with the derivative on
the measurement through a first-order filter::

    e  = σ (r_f − y)          σ = +1 for reverse action, −1 for direct action
    P  = kp · e
    D  = Tf/(Tf+h) · D⁻ − σ · kd/(Tf+h) · (y − y⁻)        (backward difference, filter Tf = Td/N)
    v  = P + I + D,   u = clip(v, out_min, out_max)
    I ← I + ki · h · e + kt · (u − v)                        (back-calculation, kt = 1 − exp(−h/Tt))

with kp, ki = kp/Ti (per s), kd = kp·Td (s); h is the simulated time since the previous update.
Actions follow the ISA convention: **direct** action raises the output when the measurement rises
above the setpoint (cooling: more chilled-water valve, more fan when the air is too warm);
**reverse** action raises it when the measurement falls below (heating).

Anti-windup: ``"back_calculation"`` (default; Åström & Hägglund: the integrator is pulled back at
rate 1/Tt towards the value that makes the unsaturated output equal the saturated one; Tt defaults
to √(Ti·Td), or Ti without derivative) or ``"conditional"`` (conditional integration: the integrator
is frozen while the output is saturated and the error would drive it further into saturation).

Setpoint rate limit: the setpoint the law uses, ``r_f``, moves towards the requested setpoint at
most ``setpoint_rate_per_s`` per simulated second. Bumpless transfer: in manual mode, while an
external value is tracked, and on :meth:`PID.initialize` and :meth:`PID.set_tuning`, the integrator
is set so that the output continues from the value in force.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from twin.control.base import StateDict

__all__ = ["PID"]

_ACTIONS = ("direct", "reverse")
_ANTIWINDUP = ("back_calculation", "conditional")
_MODES = ("auto", "manual")


class PID:
    """Discrete PID with limits, anti-windup, filtered derivative on measurement and setpoint ramp.

    Give either ``ti_s``/``td_s`` (ISA form) or ``ki``/``kd`` (parallel form); ``ki``/``kd``
    override ``ti_s``/``td_s`` when both are given.

    Args:
        kp: proportional gain, output unit per process unit.
        ti_s: integral time, s (``inf``: no integral action).
        td_s: derivative time, s (0: none).
        ki: integral gain, output unit per (process unit · s).
        kd: derivative gain, output unit · s per process unit.
        period_s: nominal sample period, s (used for the first update).
        action: ``"direct"`` or ``"reverse"`` (see the module docstring).
        out_min, out_max: output limits.
        antiwindup: ``"back_calculation"`` or ``"conditional"``.
        tt_s: tracking time constant of back-calculation, s (default √(Ti·Td), or Ti).
        derivative_n: derivative filter divisor N (Tf = Td / N).
        setpoint_rate_per_s: max rate of the setpoint the law uses, process unit per s (None: none).
        output: initial output (the integrator starts there; default 0 clipped to the limits).
    """

    def __init__(self, *, kp: float, ti_s: float = math.inf, td_s: float = 0.0, ki: float | None = None,
                 kd: float | None = None, period_s: float, action: str = "direct", out_min: float = 0.0,
                 out_max: float = 1.0, antiwindup: str = "back_calculation", tt_s: float | None = None,
                 derivative_n: float = 10.0, setpoint_rate_per_s: float | None = None,
                 output: float | None = None) -> None:
        if action not in _ACTIONS:
            raise ValueError(f"action must be one of {_ACTIONS}, got {action!r}")
        if antiwindup not in _ANTIWINDUP:
            raise ValueError(f"antiwindup must be one of {_ANTIWINDUP}, got {antiwindup!r}")
        if not out_max > out_min:
            raise ValueError(f"need out_min < out_max, got {out_min}, {out_max}")
        self.period_s = float(period_s)
        self.action = action
        self.out_min, self.out_max = float(out_min), float(out_max)
        self.antiwindup = antiwindup
        self.derivative_n = float(derivative_n)
        self._tt_given = tt_s
        self.setpoint_rate_per_s = setpoint_rate_per_s
        self._set_gains(kp, ti_s, td_s, ki, kd)
        self.mode = "auto"
        self.manual_output = min(max(0.0 if output is None else float(output), self.out_min), self.out_max)
        # Memory.
        self.integral = self.manual_output
        self.derivative = 0.0
        self.output = self.manual_output
        self.setpoint_used = math.nan  # the rate-limited setpoint r_f
        self._y_prev = math.nan
        self._e_prev = 0.0
        self._last_s = math.nan

    # --- tuning -------------------------------------------------------------------------------

    def _set_gains(self, kp: float, ti_s: float, td_s: float, ki: float | None, kd: float | None) -> None:
        self.kp = float(kp)
        self.ki = float(ki) if ki is not None else (self.kp / ti_s if ti_s > 0 and math.isfinite(ti_s) else 0.0)
        self.kd = float(kd) if kd is not None else self.kp * float(td_s)
        td = self.kd / self.kp if self.kp > 0 else 0.0
        self.tf_s = td / self.derivative_n if td > 0 else (self.period_s if self.kd > 0 else 0.0)
        ti = self.kp / self.ki if self.ki > 0 and self.kp > 0 else math.inf
        if self._tt_given is not None:
            self.tt_s = float(self._tt_given)
        elif math.isfinite(ti):
            self.tt_s = math.sqrt(ti * td) if td > 0 else ti
        else:
            self.tt_s = 10.0 * self.period_s

    def set_tuning(self, *, kp: float, ti_s: float = math.inf, td_s: float = 0.0, ki: float | None = None,
                   kd: float | None = None) -> None:
        """Change gains between samples without a bump: the integrator absorbs the change of P."""
        p_old = self.kp * self._e_prev
        self._set_gains(kp, ti_s, td_s, ki, kd)
        self.integral += p_old - self.kp * self._e_prev

    @property
    def sign(self) -> float:
        """+1 for reverse action, −1 for direct action."""
        return 1.0 if self.action == "reverse" else -1.0

    # --- running ------------------------------------------------------------------------------

    def _ramp_setpoint(self, setpoint: float, h: float) -> float:
        if math.isnan(self.setpoint_used) or self.setpoint_rate_per_s is None:
            self.setpoint_used = float(setpoint)
        else:
            step = self.setpoint_rate_per_s * h
            self.setpoint_used = self.setpoint_used + min(max(setpoint - self.setpoint_used, -step), step)
        return self.setpoint_used

    def update(self, time_s: float, setpoint: float, measurement: float, *, track: float | None = None) -> float:
        """One sample of the law at simulated time ``time_s``; returns the output (held until the next).

        Args:
            time_s: sample time, s.
            setpoint: requested setpoint, process unit (rate-limited internally).
            measurement: measured process value, process unit.
            track: when given, the output follows this value (tracking mode, e.g. while the owning
                controller is in fallback) and the integrator is set so that auto resumes from it
                without a bump. Manual mode tracks :attr:`manual_output` the same way.
        """
        h = self.period_s if math.isnan(self._last_s) else time_s - self._last_s
        if h <= 0:
            return self.output
        self._last_s = float(time_s)
        r = self._ramp_setpoint(setpoint, h)
        y = float(measurement)
        s = self.sign
        e = s * (r - y)
        if math.isnan(self._y_prev) or self.kd == 0:
            d = 0.0
        else:
            d = (self.tf_s * self.derivative - s * self.kd * (y - self._y_prev)) / (self.tf_s + h)
        p = self.kp * e
        if track is None and self.mode == "manual":
            track = self.manual_output
        if track is not None:
            u_out = float(track)
            u = min(max(u_out, self.out_min), self.out_max)
            self.integral = u - p - d
        else:
            v = p + self.integral + d
            u = min(max(v, self.out_min), self.out_max)
            u_out = u
            if self.antiwindup == "back_calculation":
                kt = -math.expm1(-h / self.tt_s)
                self.integral += self.ki * h * e + kt * (u - v)
            else:
                pushing_up = self.ki * e > 0
                saturated_same_way = (v > self.out_max and pushing_up) or (v < self.out_min and not pushing_up)
                if not saturated_same_way:
                    self.integral += self.ki * h * e
        self.derivative = d
        self._y_prev = y
        self._e_prev = e
        self.output = u_out
        return u_out

    def initialize(self, output: float, *, time_s: float, setpoint: float, measurement: float) -> None:
        """Bumpless (re)start at ``time_s``: the next update continues from ``output``.

        Called by the owning controller on a change of mode (manual → auto, fallback → auto, a
        different controlled variable): the derivative filter restarts from ``measurement``, the
        setpoint ramp advances to ``time_s``, and the integrator is set so that P + I = output.
        """
        h = 0.0 if math.isnan(self._last_s) else max(time_s - self._last_s, 0.0)
        r = self._ramp_setpoint(setpoint, h)
        self._last_s = float(time_s)
        e = self.sign * (r - float(measurement))
        u = min(max(float(output), self.out_min), self.out_max)
        self.integral = u - self.kp * e
        self.derivative = 0.0
        self._y_prev = float(measurement)
        self._e_prev = e
        self.output = float(output)

    def set_mode(self, mode: str, *, manual_output: float | None = None) -> None:
        """Switch between ``"auto"`` and ``"manual"``; entering manual holds the output in force.

        The transfer back to auto is bumpless because manual mode keeps the integrator tracking.
        """
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if mode == "manual" and self.mode != "manual":
            self.manual_output = self.output if manual_output is None else float(manual_output)
        elif manual_output is not None:
            self.manual_output = float(manual_output)
        self.mode = mode

    # --- memory -------------------------------------------------------------------------------

    def state_dict(self) -> StateDict:
        """Integrator, filter, last values, ramped setpoint and mode (numbers only)."""
        return {"integral": self.integral, "derivative": self.derivative, "output": self.output,
                "setpoint_used": self.setpoint_used, "y_prev": self._y_prev, "e_prev": self._e_prev,
                "last_s": self._last_s, "mode": _MODES.index(self.mode), "manual_output": self.manual_output,
                "kp": self.kp, "ki": self.ki, "kd": self.kd, "tf_s": self.tf_s, "tt_s": self.tt_s}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
        for k in ("integral", "derivative", "output", "setpoint_used", "manual_output", "kp", "ki", "kd",
                  "tf_s", "tt_s"):
            setattr(self, k, float(d[k]))
        self._y_prev = float(d["y_prev"])
        self._e_prev = float(d["e_prev"])
        self._last_s = float(d["last_s"])
        self.mode = _MODES[int(d["mode"])]


