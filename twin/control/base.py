"""Sampled controllers: the base class the simulation loop drives, and saveable controller memory.

A controller here behaves like the firmware of an embedded board: it wakes at its own sample
instants ``phase_s + k * period_s`` (simulated seconds), reads its sensors, computes and writes its
actuator commands, and sleeps. Between samples its commands are held (zero-order hold) while its
actuators keep moving towards them at their ramp limits.

The simulation calls :meth:`Controller.step` once per time step; it runs the hook
:meth:`Controller.sample` only when a sample instant has been reached and :meth:`Controller.advance`
every time. All memory (integrators, last outputs, sensor filter states, RNG states, modes) is
exported by ``state_dict()`` as a flat ``{str: number | np.ndarray}`` dict and restored exactly by
``load_state_dict()``, so a checkpoint can be written with ``np.savez`` and a resumed run gives
identical outputs. Strings (modes) are stored as integer codes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "Controller",
    "StateDict",
    "move_towards",
    "prefixed",
    "rng_from_state",
    "rng_state_array",
    "set_rng_state",
    "unprefixed",
]

StateDict = dict[str, Any]  # values: int, float, bool or np.ndarray

# Relative tolerance on sample instants, so that t = 0.1 + 0.2 still counts as due at 0.3.
_TIME_RTOL = 1e-9


def move_towards(value: Any, target: Any, max_delta: Any) -> Any:
    """``value`` moved towards ``target`` by at most ``max_delta`` (≥ 0); scalars or arrays."""
    return value + np.clip(np.subtract(target, value), -max_delta, max_delta)


def prefixed(prefix: str, d: Mapping[str, Any]) -> StateDict:
    """The keys of a child's state dict with ``prefix.`` in front (to nest states in one flat dict)."""
    return {f"{prefix}.{k}": v for k, v in d.items()}


def unprefixed(prefix: str, d: Mapping[str, Any]) -> StateDict:
    """The entries of ``d`` under ``prefix.``, with the prefix removed (inverse of :func:`prefixed`)."""
    p = prefix + "."
    return {k[len(p):]: v for k, v in d.items() if k.startswith(p)}


_MASK64 = (1 << 64) - 1


def rng_state_array(rng: np.random.Generator) -> np.ndarray:
    """The exact state of a PCG64-based generator as 6 unsigned 64-bit numbers (for checkpoints)."""
    st = rng.bit_generator.state
    if st.get("bit_generator") != "PCG64":
        raise TypeError(f"only PCG64 generators can be saved, not {st.get('bit_generator')}")
    s, inc = int(st["state"]["state"]), int(st["state"]["inc"])
    return np.array([s >> 64, s & _MASK64, inc >> 64, inc & _MASK64, st["has_uint32"], st["uinteger"]],
                    dtype=np.uint64)


def set_rng_state(rng: np.random.Generator, arr: Any) -> None:
    """Restore a state saved by :func:`rng_state_array` into ``rng`` (a PCG64 generator)."""
    a = [int(x) for x in np.asarray(arr, dtype=np.uint64)]
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": (a[0] << 64) | a[1], "inc": (a[2] << 64) | a[3]},
        "has_uint32": a[4], "uinteger": a[5],
    }


def rng_from_state(arr: Any) -> np.random.Generator:
    """A new PCG64 generator in the state saved by :func:`rng_state_array`."""
    rng = np.random.Generator(np.random.PCG64())
    set_rng_state(rng, arr)
    return rng


class Controller:
    """Base class of sampled controllers (after pandapower's ``control/basic_controller.py``).

    Subclasses implement :meth:`sample` and, when they own actuators, :meth:`advance`; stateful
    subclasses extend :meth:`state_dict` / :meth:`load_state_dict` (call ``super()``).

    Args:
        name: the controller's name (e.g. ``crah-03.fan``), used in logs and state keys.
        period_s: sample period in simulated seconds (> 0).
        phase_s: time of the first sample instant, s; samples fall at ``phase_s + k * period_s``.
            Different phases spread controllers of one period over the period, as real boards do.

    Scheduling: when the simulation's time step does not divide the period, a sample runs at the
    first step at or after its instant; missed instants are not replayed (the next instant is the
    first one after the step's time), like a firmware scheduler after an overrun. Hooks receive the
    actual sample time so integrators and ramps use elapsed simulated time.
    """

    def __init__(self, name: str, *, period_s: float, phase_s: float = 0.0) -> None:
        if not (period_s > 0 and math.isfinite(period_s)):
            raise ValueError(f"{name}: period_s must be a positive finite number, got {period_s!r}")
        self.name = name
        self.period_s = float(period_s)
        self.phase_s = float(phase_s)
        self._next_k = 0
        self.last_sample_s = math.nan
        self.outputs: dict[str, Any] = {}

    # --- scheduling ---------------------------------------------------------------------------

    @property
    def next_sample_s(self) -> float:
        """The next sample instant, simulated s."""
        return self.phase_s + self._next_k * self.period_s

    def is_due(self, time_s: float) -> bool:
        """True when a sample instant has been reached at ``time_s`` (simulated s).

        The simulation may use it to skip gathering inputs for controllers that are not due.
        """
        return time_s >= self.next_sample_s - _TIME_RTOL * self.period_s

    def step(self, time_s: float, inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Called by the simulation once per time step, at simulated time ``time_s``.

        Runs :meth:`sample` if a sample instant has been reached (``inputs`` is then required), then
        :meth:`advance`, and returns the outputs in force at ``time_s`` (held commands, and
        actuator positions where the controller owns actuators).
        """
        if self.is_due(time_s):
            if inputs is None:
                raise ValueError(f"{self.name}: a sample is due at t = {time_s:g} s but no inputs were given")
            self.outputs = dict(self.sample(time_s, inputs))
            self.last_sample_s = float(time_s)
            k_after = math.floor((time_s - self.phase_s) / self.period_s + _TIME_RTOL) + 1
            self._next_k = max(self._next_k + 1, k_after)
        return self.advance(time_s)

    # --- hooks --------------------------------------------------------------------------------

    def sample(self, time_s: float, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
        """Hook, called only at sample instants (from :meth:`step`) with the plant's true values.

        Reads the sensors, runs the control law and commands the actuators. Returns the sampled
        outputs, which are held until the next sample (zero-order hold).
        """
        raise NotImplementedError

    def advance(self, time_s: float) -> dict[str, Any]:
        """Hook, called at every step (after :meth:`sample` when one ran): continuous-time parts.

        Moves owned actuators to ``time_s`` within their ramp limits and returns the outputs in force.
        The default returns the held outputs of the last sample.
        """
        return dict(self.outputs)

    # --- memory -------------------------------------------------------------------------------

    def state_dict(self) -> StateDict:
        """The controller's memory as a flat dict of numbers and arrays (see the module docstring)."""
        d: StateDict = {"next_k": self._next_k, "last_sample_s": self.last_sample_s}
        d.update(prefixed("out", {k: (np.array(v) if isinstance(v, np.ndarray) else v)
                                  for k, v in self.outputs.items()}))
        return d

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore memory saved by :meth:`state_dict` (of a controller built with the same options)."""
        self._next_k = int(d["next_k"])
        self.last_sample_s = float(d["last_sample_s"])
        self.outputs = {k: _py(v) for k, v in unprefixed("out", d).items()}


def _py(v: Any) -> Any:
    """A held output as it was: numpy scalars and 0-d arrays (as ``np.load`` returns them) become
    Python numbers/bools, other arrays are copied."""
    if isinstance(v, np.generic) or (isinstance(v, np.ndarray) and v.ndim == 0):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.copy()
    return v
