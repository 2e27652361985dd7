"""Actuators with position limits and ramp limits, moved in simulated time (deterministic).

A controller commands a target at its sample instants (:meth:`Actuator.command`); the simulation
moves the position at every time step (:meth:`Actuator.advance`), at most ``rate_up_per_s`` /
``rate_down_per_s`` (fraction of full travel per simulated second) towards the target. Positions
are fractions 0–1 (valve opening, fan speed relative to rated). Vectorized over ``n`` actuators.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from twin.control.base import StateDict

__all__ = ["Actuator", "FanVFD", "Valve"]


def _as_n(value: Any, n: int) -> np.ndarray:
    """``value`` as n floats (a scalar broadcast): the caller's array is read, never kept."""
    v = np.asarray(value, dtype=float)
    if v.shape == (n,):
        return v
    return np.full(n, float(v)) if v.ndim == 0 else np.broadcast_to(v, (n,))


class Actuator:
    """``n`` ramp-limited positioners.

    Args:
        n: number of actuators.
        lo, hi: position limits (targets are clipped to them).
        rate_up_per_s: largest increase of position per simulated second (inf: instant).
        rate_down_per_s: largest decrease per second (default: ``rate_up_per_s``).
        initial: initial position and target.
        name: label for messages.
    """

    def __init__(self, n: int = 1, *, lo: float = 0.0, hi: float = 1.0, rate_up_per_s: float = math.inf,
                 rate_down_per_s: float | None = None, initial: float | np.ndarray = 0.0,
                 name: str = "actuator") -> None:
        if not hi >= lo:
            raise ValueError(f"{name}: need lo <= hi, got [{lo}, {hi}]")
        self.n = int(n)
        self.lo, self.hi = float(lo), float(hi)
        self.rate_up_per_s = float(rate_up_per_s)
        self.rate_down_per_s = self.rate_up_per_s if rate_down_per_s is None else float(rate_down_per_s)
        self.name = name
        self.position = np.clip(np.broadcast_to(np.asarray(initial, dtype=float), (self.n,)), self.lo, self.hi).copy()
        self.target = self.position.copy()
        self.time_s = math.nan

    def command(self, value: Any, time_s: float) -> None:
        """Called by the owning controller at a sample: move to ``time_s``, then aim at ``value``."""
        self.advance(time_s)
        self.target = np.minimum(np.maximum(_as_n(value, self.n), self.lo), self.hi)

    def advance(self, time_s: float) -> np.ndarray:
        """Called every simulation step: the positions at ``time_s`` after ramping towards the targets."""
        if math.isnan(self.time_s):
            self.time_s = float(time_s)
        dt = time_s - self.time_s
        if dt > 0:
            up = self.rate_up_per_s * dt
            down = self.rate_down_per_s * dt
            delta = self.target - self.position
            # np.minimum/np.maximum: np.clip's values without its wrapper (called every step per actuator).
            self.position = self.position + np.minimum(np.maximum(delta, -down), up)
            self.time_s = float(time_s)
        return self.position.copy()

    def state_dict(self) -> StateDict:
        """Positions, targets and the time they refer to."""
        return {"position": self.position.copy(), "target": self.target.copy(), "time_s": self.time_s}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
        self.position = np.array(d["position"], dtype=float)
        self.target = np.array(d["target"], dtype=float)
        self.time_s = float(d["time_s"])


class Valve(Actuator):
    """A chilled-water valve, opening 0–1; default stroke 0 → 1 in 60 s (``rate_up_per_s`` = 1/60)."""

    def __init__(self, n: int = 1, *, rate_per_s: float = 1.0 / 60.0, initial: float | np.ndarray = 0.0,
                 name: str = "valve") -> None:
        super().__init__(n, lo=0.0, hi=1.0, rate_up_per_s=rate_per_s, initial=initial, name=name)


class FanVFD(Actuator):
    """A fan's variable-frequency drive: speed 0–1 of rated.

    While running the speed reference is held at or above ``min_speed`` (e.g. 0.3); stopped, the
    target is 0. The drive ramps up and down at its acceleration/deceleration limits (default
    0 → 1 in 20 s), also through the band below ``min_speed`` on start and stop.
    """

    def __init__(self, n: int = 1, *, min_speed: float = 0.3, accel_per_s: float = 0.05,
                 decel_per_s: float | None = None, initial: float | np.ndarray = 0.0,
                 running: bool | np.ndarray = False, name: str = "fan") -> None:
        super().__init__(n, lo=0.0, hi=1.0, rate_up_per_s=accel_per_s, rate_down_per_s=decel_per_s,
                         initial=initial, name=name)
        self.min_speed = float(min_speed)
        self.running = np.broadcast_to(np.asarray(running, dtype=bool), (self.n,)).copy()

    def command(self, value: Any, time_s: float, *, run: bool | np.ndarray = True) -> None:
        """Called at a sample: run (speed ≥ ``min_speed``) at ``value``, or stop (``run=False``: target 0)."""
        self.advance(time_s)
        self.running = np.broadcast_to(np.asarray(run, dtype=bool), (self.n,)).copy()
        v = np.minimum(np.maximum(_as_n(value, self.n), self.min_speed), 1.0)
        self.target = np.where(self.running, v, 0.0)

    def state_dict(self) -> StateDict:
        """Positions, targets, run flags and the time they refer to."""
        return {**super().state_dict(), "running": self.running.copy()}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
        super().load_state_dict(d)
        self.running = np.array(d["running"], dtype=bool)
