"""All CRAHs' control loops as arrays: the fast form of :mod:`twin.control.crah`.

:class:`~twin.control.crah.CrahSupplyController` and :class:`~twin.control.crah.CrahFanController` are
the plain, readable form: one Python object per loop, with its PID, sensors and actuator. They stay the
reference. :class:`CrahBank` runs the same loops of every unit at once: one array per quantity (each
unit's period, phase, gains, setpoints, modes, integrators, actuator positions), a step that samples only
the loops that are due, and a :class:`SensorBank` that reads only the sensors those loops sample.

It computes what the objects compute, operation for operation, so a run gives the same bits
(``tests/control/test_bank.py`` runs both through trips, setpoint changes, failed sensors, manual and off):

- every arithmetic step is the objects' own, in the same order, on float64 (numpy's elementwise ``+ − × ÷``,
  ``minimum``/``maximum``, ``rint`` and ``floor`` round like Python's);
- ``1 − exp(−x)`` (the sensor lag, the PID's back-calculation) comes from the C library's ``expm1`` (what
  :func:`math.expm1` calls in the objects, and numba's ``math.expm1`` in the compiled kernels): numpy's
  ``expm1`` differs from it in the last bit for about 7 % of arguments;
- each sensor array keeps its own seeded generator and draws ``n`` normals per read, as the objects do;
  the draws are taken ``block_reads`` reads ahead in one call (the same stream: a PCG64 generator's
  normals do not depend on how they are batched), and the state saved is the generator's state after the
  draws actually used, so checkpoints are those of the objects.

The bank is built from configured controller objects (:meth:`CrahBank.__init__` takes their options and
memory) and saves and restores the objects' own state dicts, key for key, so a checkpoint written by
either form loads into the other. Per-unit views (:attr:`CrahBank.supply`, :attr:`CrahBank.fan`) offer
what the rest of the twin reads and writes of a loop (mode, setpoints, sensors, actuator positions), so
the setpoint registry, the interlock, the scenarios and the bus work on either form.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numba
import numpy as np

from twin.compiled import numba_cache_wanted
from twin.control.actuators import Actuator, FanVFD
from twin.control.base import (
    _TIME_RTOL,
    StateDict,
    prefixed,
    rng_from_state,
    rng_state_array,
    set_rng_state,
    unprefixed,
)
from twin.control.crah import _REQUESTABLE, MODES, CrahFanController, CrahSupplyController
from twin.control.pid import PID
from twin.control.sensors import FAILURE_MODES, SensorArray

__all__ = ["CrahBank", "SensorBank"]

_OK, _STUCK, _OPEN, _NOISY = range(4)
_OK_CODE, _STUCK_CODE, _OPEN_CODE, _NOISY_CODE = _OK, _STUCK, _OPEN, _NOISY  # the compiled kernels' globals
_AUTO, _FALLBACK, _MANUAL, _OFF = range(4)  # indices in MODES
_AUTO_CODE, _FALLBACK_CODE, _MANUAL_CODE, _OFF_CODE = _AUTO, _FALLBACK, _MANUAL, _OFF
_REQ_CODE = np.array([MODES.index(m) for m in _REQUESTABLE])  # requested-mode index → MODES index
_PID_MODES = ("auto", "manual")

_CACHE = numba_cache_wanted(__file__)

# The per-sample arithmetic of the sensors and the PIDs, compiled: about thirty numpy calls each on arrays
# of ten or forty elements cost microseconds apiece in dispatch alone, more than the whole arithmetic. The
# kernels do, element by element, what those calls did, in the same order and with the same rounding:
# numpy's minimum/maximum (a NaN wins), rint, and 1 − exp(−x) as −expm1(−x) from the C library, as the
# per-object loops compute it with math.expm1 (checked bit for bit by tests/control/test_bank.py).


@numba.njit(cache=_CACHE, inline="always")
def _max(a, b):  # pragma: no cover - compiled
    return a if a >= b or a != a else b


@numba.njit(cache=_CACHE, inline="always")
def _min(a, b):  # pragma: no cover - compiled
    return a if a <= b or a != a else b


@numba.njit(cache=_CACHE)
def _read_kernel(time_s, idx, x, array_of, last_s, tau_s, lagged, noise, noise_base, cursor, n, local, may_fail,
                 fail_at_s, repair_at_s, fail_mode, noisy_sigma, noise_sigma, lo, hi, safe_step, has_step,
                 plausible_lo, plausible_hi, any_rate, has_rate, max_rate_per_s, last_value, changed_s, any_frozen,
                 has_frozen, frozen_s, valid, v_out, valid_out):  # pragma: no cover - compiled
    """:meth:`SensorBank.read` of the sensors ``idx`` (true values ``x``), after the noise blocks were refilled:
    writes the sensors' memory and the values and flags read into ``v_out`` and ``valid_out``."""
    for m in range(idx.size):
        i = idx[m]
        a = array_of[i]
        first = math.isnan(last_s[a])
        dt = 0.0 if first else _max(time_s - last_s[a], 0.0)
        old = lagged[i]
        if not first and tau_s[a] > 0:
            lag = old + -math.expm1(-(dt / tau_s[a])) * (x[m] - old)
        else:
            lag = x[m]
        z = noise[noise_base[a] + cursor[a] * n[a] + local[i]]
        last = last_value[i]
        code = _OK_CODE
        if may_fail and time_s >= fail_at_s[i] and time_s < repair_at_s[i]:
            code = fail_mode[i]
        sigma = noisy_sigma[i] if code == _NOISY_CODE else noise_sigma[i]
        raw = _min(_max(lag + sigma * z, lo[i]), hi[i])
        if has_step[i]:
            v = _min(_max(lo[i] + np.rint((raw - lo[i]) / safe_step[i]) * safe_step[i], lo[i]), hi[i])
        else:
            v = raw
        if code == _STUCK_CODE and not math.isnan(last):
            v = last
        if code == _OPEN_CODE:
            v = lo[i]
        ok = v > plausible_lo[i] and v < plausible_hi[i]
        if any_rate and not first and has_rate[i] and dt > 0:
            ok = ok and abs(v - last) <= max_rate_per_s[i] * dt + 1e-12
        changed = changed_s[i]
        if first or v != last or math.isnan(changed):
            changed = time_s
        if any_frozen:
            ok = ok and (first or not has_frozen[i] or (time_s - changed) < frozen_s[i])
        lagged[i] = lag
        last_value[i] = v
        changed_s[i] = changed
        valid[i] = ok
        v_out[m] = v
        valid_out[m] = ok


@numba.njit(cache=_CACHE)
def _pid_kernel(idx, time_s, setpoint, y, any_ramp, period_s, last_s, setpoint_used, has_rate, rate_per_s, sign,
                kp, ki, kd, tf_s, tt_s, out_min, out_max, back_calculation, manual, manual_output, integral,
                derivative, y_prev, e_prev, output, out):  # pragma: no cover - compiled
    """:meth:`_PIDs.update` of the loops ``idx``, element by element; their outputs go into ``out``."""
    for m in range(idx.size):
        k = idx[m]
        last = last_s[k]
        h = period_s[k] if math.isnan(last) else time_s - last
        if not h > 0:  # a second update at the same instant returns the output in force
            out[m] = output[k]
            continue
        last_s[k] = time_s
        r = setpoint[m]
        if any_ramp:
            used = setpoint_used[k]
            if not (math.isnan(used) or not has_rate[k]):
                step = rate_per_s[k] * h
                r = used + _min(_max(setpoint[m] - used, -step), step)
        setpoint_used[k] = r
        s = sign[k]
        e = s * (r - y[m])
        d = 0.0
        if not (math.isnan(y_prev[k]) or kd[k] == 0):
            d = (tf_s[k] * derivative[k] - s * kd[k] * (y[m] - y_prev[k])) / (tf_s[k] + h)
        p = kp[k] * e
        i0 = integral[k]
        lo, hi = out_min[k], out_max[k]
        v = p + i0 + d
        u = _min(_max(v, lo), hi)
        if back_calculation[k]:
            kt = -math.expm1(-(h / tt_s[k]))
            auto_integral = i0 + (ki[k] * h * e + kt * (u - v))
        else:
            pushing_up = ki[k] * e > 0
            saturated = (v > hi and pushing_up) or (v < lo and not pushing_up)
            auto_integral = i0 if saturated else i0 + ki[k] * h * e
        if manual[k]:
            # Manual mode tracks its output: the integrator is set so that auto resumes from it.
            track = manual_output[k]
            integral[k] = _min(_max(track, lo), hi) - p - d
            u_out = track
        else:
            integral[k] = auto_integral
            u_out = u
        derivative[k] = d
        y_prev[k] = y[m]
        e_prev[k] = e
        output[k] = u_out
        out[m] = u_out



@numba.njit(cache=_CACHE)
def _advance_kernel(time_s, time_arr, position, target, rate_up_per_s, rate_down_per_s):  # pragma: no cover
    """:meth:`_Actuators.advance`: ``time_arr`` and ``position`` (fresh copies) moved in place; whether any moved."""
    moved = False
    for k in range(position.size):
        if math.isnan(time_arr[k]):
            time_arr[k] = time_s
        dt = time_s - time_arr[k]
        if dt > 0:
            moved = True
            step = _min(_max(target[k] - position[k], -(rate_down_per_s[k] * dt)), rate_up_per_s[k] * dt)
            position[k] = position[k] + step
            time_arr[k] = time_s
    return moved


@numba.njit(cache=_CACHE)
def _decide_kernel(idx, running, ok, valid_count, requested, mode, return_after, out):  # pragma: no cover
    """:meth:`_Loops.decide` of the loops ``idx``: their modes into ``out``; counts valid samples."""
    for m in range(idx.size):
        k = idx[m]
        vc = valid_count[k] + 1 if ok[m] else 0
        valid_count[k] = vc
        req, prev = requested[k], mode[k]
        if not running[m] or req == _OFF_CODE:
            out[m] = _OFF_CODE
        elif req == _MANUAL_CODE:
            out[m] = _MANUAL_CODE
        elif not ok[m] or (prev == _FALLBACK_CODE and vc < return_after[k]):
            out[m] = _FALLBACK_CODE
        else:
            out[m] = _AUTO_CODE


@numba.njit(cache=_CACHE)
def _scheduled_kernel(idx, time_s, phase_s, period_s, rtol, next_k, last_sample_s):  # pragma: no cover
    """:meth:`_Loops.scheduled`: loops ``idx`` sampled at ``time_s``, their next instants."""
    for m in range(idx.size):
        k = idx[m]
        last_sample_s[k] = time_s
        k_after = np.int64(math.floor((time_s - phase_s[k]) / period_s[k] + rtol)) + 1
        next_k[k] = max(next_k[k] + 1, k_after)


class SensorBank:
    """The sensors of many :class:`SensorArray` s in flat arrays (array ``k``'s sensors are contiguous).

    :meth:`read` reads whole arrays (those a due controller samples) and nothing else. Options may differ
    from array to array (they are kept per sensor).

    Args:
        arrays: the arrays, configured; their options, memory and generator state are copied.
        block_reads: normals drawn ahead per array, in reads.
    """

    def __init__(self, arrays: Sequence[SensorArray], *, block_reads: int = 64) -> None:
        self.names = [a.name for a in arrays]
        n = np.array([a.n for a in arrays], dtype=np.int64)
        self.n_arrays = len(arrays)
        self.n = n
        self.offset = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)
        self.size = int(n.sum())
        self.array_of = np.repeat(np.arange(self.n_arrays), n)
        self.local = np.arange(self.size) - self.offset[self.array_of]

        def per_sensor(values: list[float]) -> np.ndarray:
            return np.repeat(np.array(values, dtype=float), n)

        self.lo = per_sensor([a.lo for a in arrays])
        self.hi = per_sensor([a.hi for a in arrays])
        self.step = per_sensor([a.step for a in arrays])
        self.has_step = self.step > 0
        self._safe_step = np.where(self.has_step, self.step, 1.0)
        self.noise_sigma = per_sensor([a.noise_sigma for a in arrays])
        self.noisy_sigma = per_sensor([a.noisy_sigma for a in arrays])
        self.array_tau_s = np.array([a.tau_s for a in arrays], dtype=float)
        self.has_rate = per_sensor([a.max_rate_per_s is not None for a in arrays]).astype(bool)
        self.max_rate_per_s = per_sensor([a.max_rate_per_s or 0.0 for a in arrays])
        self.plausible_lo = per_sensor([a.plausible_lo for a in arrays])
        self.plausible_hi = per_sensor([a.plausible_hi for a in arrays])
        self.has_frozen = per_sensor([a.frozen_s is not None for a in arrays]).astype(bool)
        self.frozen_s = per_sensor([a.frozen_s if a.frozen_s is not None else math.inf for a in arrays])
        self._any_rate, self._any_frozen = bool(self.has_rate.any()), bool(self.has_frozen.any())
        # Noise, drawn ahead: array k's block is (block, n_k) row-major at block · offset_k.
        self.block = int(block_reads)
        self._noise = np.empty(self.block * self.size)
        self._noise_base = self.block * self.offset
        self._rng = [rng_from_state(rng_state_array(a.rng)) for a in arrays]
        self._rng_at_block = [rng_state_array(g) for g in self._rng]  # the state its block was drawn from
        self._cursor = np.zeros(self.n_arrays, dtype=np.int64)  # reads taken from the block
        self._drawn = np.zeros(self.n_arrays, dtype=bool)
        # Memory.
        self.lagged = np.full(self.size, np.nan)
        self.last_value = np.full(self.size, np.nan)
        self.changed_s = np.full(self.size, np.nan)
        self.last_s = np.full(self.n_arrays, np.nan)
        self.valid = np.zeros(self.size, dtype=bool)
        self.fail_mode = np.zeros(self.size, dtype=np.int64)
        self.fail_at_s = np.full(self.size, np.inf)
        self.repair_at_s = np.full(self.size, np.inf)
        self._may_fail = False  # whether any sensor was ever given a failure (most never are)
        for k, a in enumerate(arrays):
            self.load_array_state(k, a.state_dict())

    def sensors_of(self, k: int) -> slice:
        """The flat positions of array ``k``'s sensors."""
        return slice(int(self.offset[k]), int(self.offset[k] + self.n[k]))

    # --- reading ------------------------------------------------------------------------------

    def _refill(self, k: int) -> None:
        g = self._rng[k]
        self._rng_at_block[k] = rng_state_array(g)
        m = int(self.n[k])
        base = int(self._noise_base[k])
        self._noise[base:base + self.block * m] = g.standard_normal(self.block * m)
        self._cursor[k] = 0
        self._drawn[k] = True

    def read(self, time_s: float, due: np.ndarray, true_value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Read the arrays where ``due`` (bool per array) at ``time_s``, as :meth:`SensorArray.read` does.

        Args:
            time_s: simulated time of the read, s.
            due: which arrays are read.
            true_value: the physical values at their sensors, in flat order (array by array).

        Returns:
            the reported values and their ``valid`` flags, in the same order.
        """
        idx = np.flatnonzero(due[self.array_of])
        for k in np.flatnonzero(due & ((self._cursor >= self.block) | ~self._drawn)).tolist():
            self._refill(k)
        x = np.ascontiguousarray(true_value, dtype=float)
        v, valid = np.empty(idx.size), np.empty(idx.size, dtype=bool)
        _read_kernel(float(time_s), idx, x, self.array_of, self.last_s, self.array_tau_s, self.lagged, self._noise,
                     self._noise_base, self._cursor, self.n, self.local, self._may_fail, self.fail_at_s,
                     self.repair_at_s, self.fail_mode, self.noisy_sigma, self.noise_sigma, self.lo, self.hi,
                     self._safe_step, self.has_step, self.plausible_lo, self.plausible_hi, self._any_rate,
                     self.has_rate, self.max_rate_per_s, self.last_value, self.changed_s, self._any_frozen,
                     self.has_frozen, self.frozen_s, self.valid, v, valid)
        self._cursor[due] += 1
        self.last_s[due] = float(time_s)
        return v, valid

    # --- failures -----------------------------------------------------------------------------

    def set_failure(self, k: int, mode: str, *, at_s: float = -math.inf, index: Any = None) -> None:
        """:meth:`SensorArray.set_failure` of array ``k`` (``index`` within the array)."""
        if mode not in FAILURE_MODES:
            raise ValueError(f"{self.names[k]}: failure mode must be one of {FAILURE_MODES}, got {mode!r}")
        pos = np.arange(self.size)[self.sensors_of(k)]
        sel = pos if index is None else pos[index]
        code = FAILURE_MODES.index(mode)
        if code == _OK:
            self.repair_at_s[sel] = at_s
            return
        self.fail_mode[sel] = code
        self.fail_at_s[sel] = at_s
        self.repair_at_s[sel] = np.inf
        self._may_fail = True

    def failure(self, k: int, time_s: float) -> list[str]:
        """:meth:`SensorArray.failure` of array ``k``."""
        s = self.sensors_of(k)
        active = (time_s >= self.fail_at_s[s]) & (time_s < self.repair_at_s[s])
        return [FAILURE_MODES[c] for c in np.where(active, self.fail_mode[s], _OK)]

    # --- memory -------------------------------------------------------------------------------

    def rng_state(self, k: int) -> np.ndarray:
        """Array ``k``'s generator state after the normals its reads used (not those drawn ahead)."""
        g = rng_from_state(self._rng_at_block[k])
        if self._drawn[k] and self._cursor[k]:
            g.standard_normal(int(self._cursor[k] * self.n[k]))
        return rng_state_array(g)

    def array_state(self, k: int) -> StateDict:
        """Array ``k``'s :meth:`SensorArray.state_dict`."""
        s = self.sensors_of(k)
        return {"lagged": self.lagged[s].copy(), "last_value": self.last_value[s].copy(),
                "changed_s": self.changed_s[s].copy(), "last_s": float(self.last_s[k]),
                "valid": self.valid[s].copy(), "fail_mode": self.fail_mode[s].copy(),
                "fail_at_s": self.fail_at_s[s].copy(), "repair_at_s": self.repair_at_s[s].copy(),
                "rng": self.rng_state(k)}

    def load_array_state(self, k: int, d: Mapping[str, Any]) -> None:
        """Restore array ``k`` from a :meth:`SensorArray.state_dict`."""
        s = self.sensors_of(k)
        self.lagged[s] = np.asarray(d["lagged"], dtype=float)
        self.last_value[s] = np.asarray(d["last_value"], dtype=float)
        self.changed_s[s] = np.asarray(d["changed_s"], dtype=float)
        self.last_s[k] = float(d["last_s"])
        self.valid[s] = np.asarray(d["valid"], dtype=bool)
        self.fail_mode[s] = np.asarray(d["fail_mode"], dtype=np.int64)
        self._may_fail = bool(self.fail_mode.any())
        self.fail_at_s[s] = np.asarray(d["fail_at_s"], dtype=float)
        self.repair_at_s[s] = np.asarray(d["repair_at_s"], dtype=float)
        set_rng_state(self._rng[k], d["rng"])
        self._rng_at_block[k] = rng_state_array(self._rng[k])
        self._cursor[k] = 0
        self._drawn[k] = False


class _PIDs:
    """:class:`PID` s as arrays (the law and its memory: see :mod:`twin.control.pid`)."""

    def __init__(self, pids: Sequence[PID]) -> None:
        def arr(attr: str) -> np.ndarray:
            return np.array([float(getattr(p, attr)) for p in pids])

        self.period_s = arr("period_s")
        self.out_min, self.out_max = arr("out_min"), arr("out_max")
        self.sign = np.array([p.sign for p in pids])
        self.back_calculation = np.array([p.antiwindup == "back_calculation" for p in pids])
        self.has_rate = np.array([p.setpoint_rate_per_s is not None for p in pids])
        self.rate_per_s = np.array([float(p.setpoint_rate_per_s or 0.0) for p in pids])
        n = len(pids)
        self.kp, self.ki, self.kd, self.tf_s, self.tt_s = (np.zeros(n) for _ in range(5))
        self.integral, self.derivative, self.output, self.setpoint_used = (np.zeros(n) for _ in range(4))
        self.y_prev, self.e_prev, self.last_s, self.manual_output = (np.zeros(n) for _ in range(4))
        self.manual = np.zeros(n, dtype=bool)
        for k, p in enumerate(pids):
            self.load(k, p.state_dict())

    def _ramp(self, idx: np.ndarray, setpoint: np.ndarray, h: np.ndarray) -> np.ndarray:
        if not self.has_rate.any():  # no setpoint ramps: the law uses the setpoint as it is
            self.setpoint_used[idx] = setpoint
            return setpoint
        used = self.setpoint_used[idx]
        jump = np.isnan(used) | ~self.has_rate[idx]
        step = self.rate_per_s[idx] * h
        r = np.where(jump, setpoint, used + np.minimum(np.maximum(setpoint - used, -step), step))
        self.setpoint_used[idx] = r
        return r

    def update(self, idx: np.ndarray, time_s: float, setpoint: np.ndarray, y: np.ndarray) -> np.ndarray:
        """:meth:`PID.update` of the loops ``idx`` (no external tracking: the CRAH loops use none)."""
        out = np.empty(idx.size)
        _pid_kernel(np.ascontiguousarray(idx, dtype=np.int64), float(time_s),
                    np.ascontiguousarray(setpoint, dtype=float), np.ascontiguousarray(y, dtype=float),
                    bool(self.has_rate.any()), self.period_s, self.last_s,
                    self.setpoint_used, self.has_rate, self.rate_per_s, self.sign, self.kp, self.ki, self.kd,
                    self.tf_s, self.tt_s, self.out_min, self.out_max, self.back_calculation, self.manual,
                    self.manual_output, self.integral, self.derivative, self.y_prev, self.e_prev, self.output, out)
        return out

    def initialize(self, idx: np.ndarray, output: np.ndarray, *, time_s: float, setpoint: np.ndarray,
                   y: np.ndarray) -> None:
        """:meth:`PID.initialize` of the loops ``idx``."""
        last = self.last_s[idx]
        h = np.where(np.isnan(last), 0.0, np.maximum(time_s - np.where(np.isnan(last), time_s, last), 0.0))
        r = self._ramp(idx, setpoint, h)
        self.last_s[idx] = float(time_s)
        e = self.sign[idx] * (r - y)
        u = np.minimum(np.maximum(output, self.out_min[idx]), self.out_max[idx])
        self.integral[idx] = u - self.kp[idx] * e
        self.derivative[idx] = 0.0
        self.y_prev[idx] = y
        self.e_prev[idx] = e
        self.output[idx] = output

    def state(self, k: int) -> StateDict:
        """Loop ``k``'s :meth:`PID.state_dict`."""
        return {"integral": float(self.integral[k]), "derivative": float(self.derivative[k]),
                "output": float(self.output[k]), "setpoint_used": float(self.setpoint_used[k]),
                "y_prev": float(self.y_prev[k]), "e_prev": float(self.e_prev[k]), "last_s": float(self.last_s[k]),
                "mode": int(self.manual[k]), "manual_output": float(self.manual_output[k]),
                "kp": float(self.kp[k]), "ki": float(self.ki[k]), "kd": float(self.kd[k]),
                "tf_s": float(self.tf_s[k]), "tt_s": float(self.tt_s[k])}

    def load(self, k: int, d: Mapping[str, Any]) -> None:
        """Restore loop ``k`` from a :meth:`PID.state_dict`."""
        for key in ("integral", "derivative", "output", "setpoint_used", "manual_output", "kp", "ki", "kd",
                    "tf_s", "tt_s", "y_prev", "e_prev", "last_s"):
            getattr(self, key)[k] = float(d[key])
        self.manual[k] = _PID_MODES[int(d["mode"])] == "manual"


class _Actuators:
    """One-position :class:`Actuator` s (valves, or :class:`FanVFD` s with ``vfd``) as arrays."""

    def __init__(self, actuators: Sequence[Actuator], *, vfd: bool = False) -> None:
        for a in actuators:
            if a.n != 1:
                raise ValueError(f"{a.name}: a bank holds one position per actuator, not {a.n}")
        self.vfd = vfd
        self.lo = np.array([a.lo for a in actuators])
        self.hi = np.array([a.hi for a in actuators])
        self.rate_up_per_s = np.array([a.rate_up_per_s for a in actuators])
        self.rate_down_per_s = np.array([a.rate_down_per_s for a in actuators])
        self.min_speed = np.array([a.min_speed if isinstance(a, FanVFD) else 0.0 for a in actuators])
        n = len(actuators)
        self.position, self.target, self.time_s = np.zeros(n), np.zeros(n), np.zeros(n)
        self.running = np.zeros(n, dtype=bool)
        for k, a in enumerate(actuators):
            self.load(k, a.state_dict())

    def advance(self, time_s: float) -> None:
        """:meth:`Actuator.advance` of all of them."""
        # Fresh arrays, as numpy's passes made them (an instant actuator's infinite rate is used only where
        # dt > 0: no inf · 0).
        self.time_s = self.time_s.copy()
        position = self.position.copy()
        if _advance_kernel(float(time_s), self.time_s, position, self.target, self.rate_up_per_s,
                           self.rate_down_per_s):
            self.position = position

    def command(self, idx: np.ndarray, value: np.ndarray, run: np.ndarray | None = None) -> None:
        """:meth:`Actuator.command` (:meth:`FanVFD.command` with ``run``) of the actuators ``idx``, once all
        of them have been advanced to the sample's time."""
        if self.vfd:
            assert run is not None
            self.running[idx] = run
            v = np.minimum(np.maximum(value, self.min_speed[idx]), 1.0)
            self.target[idx] = np.where(run, v, 0.0)
        else:
            self.target[idx] = np.minimum(np.maximum(value, self.lo[idx]), self.hi[idx])

    def state(self, k: int) -> StateDict:
        """Actuator ``k``'s state dict."""
        d: StateDict = {"position": self.position[k:k + 1].copy(), "target": self.target[k:k + 1].copy(),
                        "time_s": float(self.time_s[k])}
        if self.vfd:
            d["running"] = self.running[k:k + 1].copy()
        return d

    def load(self, k: int, d: Mapping[str, Any]) -> None:
        """Restore actuator ``k`` from its state dict."""
        self.position[k] = float(np.asarray(d["position"], dtype=float).reshape(-1)[0])
        self.target[k] = float(np.asarray(d["target"], dtype=float).reshape(-1)[0])
        self.time_s[k] = float(d["time_s"])
        if self.vfd:
            self.running[k] = bool(np.asarray(d["running"], dtype=bool).reshape(-1)[0])


class _Loops:
    """What the two kinds of CRAH loop share: schedule, modes, PID, actuator, held outputs."""

    def __init__(self, loops: Sequence[CrahSupplyController] | Sequence[CrahFanController],
                 actuators: _Actuators) -> None:
        self.names = [c.name for c in loops]
        self.period_s = np.array([c.period_s for c in loops])
        self.phase_s = np.array([c.phase_s for c in loops])
        self.fixed_fallback = np.array([c.fallback_policy == "fixed" for c in loops])
        self.return_after = np.array([c.return_after_valid_samples for c in loops], dtype=np.int64)
        self.pid = _PIDs([c.pid for c in loops])
        self.act = actuators
        n = len(loops)
        self.next_k = np.zeros(n, dtype=np.int64)
        self.last_sample_s = np.full(n, np.nan)
        self.requested = np.zeros(n, dtype=np.int64)  # MODES index of the requested mode
        self.mode = np.zeros(n, dtype=np.int64)
        self.valid_count = np.zeros(n, dtype=np.int64)
        self.last_auto_cmd = np.full(n, np.nan)
        self.reinit = np.zeros(n, dtype=bool)
        # Held outputs of the last sample: the command, the controlled reading and its validity.
        self.cmd_out = np.zeros(n)
        self.reading_out = np.zeros(n)
        self.valid_out = np.zeros(n, dtype=bool)

    def due(self, time_s: float) -> np.ndarray:
        return time_s >= self.phase_s + self.next_k * self.period_s - _TIME_RTOL * self.period_s

    def decide(self, idx: np.ndarray, running: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """The modes of loops ``idx`` at this sample (``_CrahLoop._decide``)."""
        out = np.empty(idx.size, dtype=np.int64)
        _decide_kernel(np.ascontiguousarray(idx, dtype=np.int64), np.ascontiguousarray(running, dtype=bool),
                       np.ascontiguousarray(ok, dtype=bool), self.valid_count, self.requested, self.mode,
                       self.return_after, out)
        return out

    def command(self, idx: np.ndarray, mode: np.ndarray, held: np.ndarray, manual: np.ndarray,
                fallback: np.ndarray, time_s: float, setpoint: np.ndarray, reading: np.ndarray,
                init_cmd: np.ndarray) -> np.ndarray:
        """The loops' commands for their modes (the PID in auto: restarted bumplessly from ``init_cmd``
        on entering auto or a new controlled variable)."""
        prev = self.mode[idx]
        last_auto = self.last_auto_cmd[idx]
        # Off: 0; manual: the operator's value; fallback: the safe value, or the last auto command when
        # the policy holds it (and there is one); auto: the PID, below.
        fallback_cmd = np.where(self.fixed_fallback[idx] | np.isnan(last_auto), fallback, last_auto)
        cmd = np.where(mode == _MANUAL, manual, np.where(mode == _FALLBACK, fallback_cmd, 0.0))
        auto = mode == _AUTO
        start = auto & ((prev != _AUTO) | self.reinit[idx])
        if start.any():
            i = idx[start]
            self.pid.initialize(i, init_cmd[start], time_s=time_s, setpoint=setpoint[start], y=reading[start])
            self.reinit[i] = False
            cmd[start] = init_cmd[start]
        go = auto & ~start
        if go.any():
            cmd[go] = self.pid.update(idx[go], time_s, setpoint[go], reading[go])
        self.last_auto_cmd[idx] = np.where(auto, cmd, last_auto)
        self.mode[idx] = mode
        return cmd

    def scheduled(self, idx: np.ndarray, time_s: float) -> None:
        """Sampled at ``time_s``: the next instant (``Controller.step``)."""
        _scheduled_kernel(np.ascontiguousarray(idx, dtype=np.int64), float(time_s), self.phase_s, self.period_s,
                          _TIME_RTOL, self.next_k, self.last_sample_s)

    def state(self, k: int) -> StateDict:
        """Loop ``k``'s ``Controller`` and ``_CrahLoop`` state."""
        return {"next_k": int(self.next_k[k]), "last_sample_s": float(self.last_sample_s[k]),
                "requested_mode": _REQUESTABLE.index(MODES[int(self.requested[k])]), "mode": int(self.mode[k]),
                "valid_count": int(self.valid_count[k]), "last_auto_cmd": float(self.last_auto_cmd[k]),
                "reinit": int(self.reinit[k])}

    def load(self, k: int, d: Mapping[str, Any]) -> None:
        """Restore loop ``k`` from its controller's state dict."""
        self.next_k[k] = int(d["next_k"])
        self.last_sample_s[k] = float(d["last_sample_s"])
        self.requested[k] = _REQ_CODE[int(d["requested_mode"])]
        self.mode[k] = int(d["mode"])
        self.valid_count[k] = int(d["valid_count"])
        self.last_auto_cmd[k] = float(d["last_auto_cmd"])
        self.reinit[k] = bool(d["reinit"])


class CrahBank:
    """Both loops of every CRAH as arrays (see the module docstring).

    Args:
        supply: the units' supply-air loops, configured (one sensor, one valve each).
        fan: the units' fan loops, configured (in the same unit order).
        block_reads: sensor noise drawn ahead, in reads.
    """

    def __init__(self, supply: Sequence[CrahSupplyController], fan: Sequence[CrahFanController], *,
                 block_reads: int = 64) -> None:
        if len(supply) != len(fan):
            raise ValueError(f"{len(supply)} supply loops but {len(fan)} fan loops")
        n = self.n_units = len(supply)
        self.s = _Loops(supply, _Actuators([c.valve for c in supply]))
        self.f = _Loops(fan, _Actuators([c.fan for c in fan], vfd=True))
        self.supply_sensors = SensorBank([c.sensor for c in supply], block_reads=block_reads)
        # The fan loops' arrays: the units' inlet sensors (0 … n−1), then their return sensors (n … 2n−1).
        self.fan_sensors = SensorBank([*(c.inlet_sensors for c in fan), *(c.return_sensor for c in fan)],
                                      block_reads=block_reads)
        for c in supply:
            if c.sensor.n != 1:
                raise ValueError(f"{c.name}: one supply sensor per unit, not {c.sensor.n}")
        self.n_inlets = self.fan_sensors.n[:n].copy()
        self.n_inlet_sensors = int(self.n_inlets.sum())
        self.supply_setpoint_c = np.array([c.supply_temp_setpoint_c for c in supply])
        self.fallback_valve = np.array([c.fallback_valve for c in supply])
        self.manual_valve = np.array([c.manual_valve for c in supply])
        self.inlet_setpoint_c = np.array([c.inlet_temp_setpoint_c for c in fan])
        self.return_setpoint_c = np.array([c.return_temp_setpoint_c for c in fan])
        self.fallback_speed = np.array([c.fallback_speed for c in fan])
        self.manual_speed = np.array([c.manual_speed for c in fan])
        self.min_speed = np.array([c.min_speed for c in fan])
        self.on_inlet = np.array([c.control_on == "inlet" for c in fan])
        self.fallback_any = np.array([c.fallback_when == "any" for c in fan])
        self.sampled = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)  # (supply, fan) have held outputs
        for k in range(n):
            self._load_supply(k, supply[k].state_dict())
            self._load_fan(k, fan[k].state_dict())
        self.supply = [SupplyLoopView(self, k, c.name) for k, c in enumerate(supply)]
        self.fan = [FanLoopView(self, k, c.name) for k, c in enumerate(fan)]
        self._compile_kernels()

    def _compile_kernels(self) -> None:
        """Compile (or load from numba's cache) the kernels for this bank's argument types now, at set-up,
        rather than inside the first step: each is called on an empty selection of its own arrays, which
        reads and changes nothing."""
        none = np.zeros(0, dtype=np.int64)
        for sensors in (self.supply_sensors, self.fan_sensors):
            sensors.read(0.0, np.zeros(sensors.n_arrays, dtype=bool), np.zeros(0))
        for loops in (self.s, self.f):
            loops.pid.update(none, 0.0, np.zeros(0), np.zeros(0))
            loops.decide(none, np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))
            loops.scheduled(none, 0.0)
            _advance_kernel(0.0, loops.act.time_s.copy(), loops.act.position.copy(), loops.act.target,
                            loops.act.rate_up_per_s, loops.act.rate_down_per_s)

    # --- every step ----------------------------------------------------------------------------

    def step(self, time_s: float, *, t_supply_c: np.ndarray, t_inlet_c: np.ndarray, t_return_c: np.ndarray,
             running: np.ndarray) -> None:
        """Called by the simulation once per time step: sample the loops that are due, move the actuators.

        Args:
            time_s: simulated time, s.
            t_supply_c: true supply-air temperature per unit, °C.
            t_inlet_c: true temperatures at every unit's inlet sensors, flat (unit by unit), °C.
            t_return_c: true return-air temperature per unit, °C.
            running: per unit, whether it can run (powered, not tripped).
        """
        # The actuators move to time_s first (towards the targets held so far), then the loops that are
        # due aim them anew: what each object's command does (advance, then a new target).
        fan_position = self.f.act.position.copy()  # a stopped fan's sample reads where it stood before
        self.s.act.advance(time_s)
        self.f.act.advance(time_s)
        due = self.s.due(time_s)
        if due.any():
            self._sample_supply(np.flatnonzero(due), due, time_s, t_supply_c, running)
        due = self.f.due(time_s)
        if due.any():
            self._sample_fan(np.flatnonzero(due), due, time_s, t_inlet_c, t_return_c, running, fan_position)

    def _sample_supply(self, idx: np.ndarray, due: np.ndarray, time_s: float, t_supply_c: np.ndarray,
                       running: np.ndarray) -> None:
        loops = self.s
        reading, ok = self.supply_sensors.read(time_s, due, t_supply_c[idx])
        mode = loops.decide(idx, running[idx], ok)
        held = loops.act.target[idx]
        cmd = loops.command(idx, mode, held, self.manual_valve[idx], self.fallback_valve[idx], time_s,
                            self.supply_setpoint_c[idx], reading, held)
        loops.act.command(idx, cmd)
        loops.cmd_out[idx] = loops.act.target[idx]
        loops.reading_out[idx] = reading
        loops.valid_out[idx] = ok
        self.sampled[0][idx] = True
        loops.scheduled(idx, time_s)

    def _sample_fan(self, idx: np.ndarray, due: np.ndarray, time_s: float, t_inlet_c: np.ndarray,
                    t_return_c: np.ndarray, running: np.ndarray, position_before: np.ndarray) -> None:
        loops = self.f
        sensors = self.fan_sensors
        inlet_due = due[sensors.array_of[:self.n_inlet_sensors]]
        x = np.concatenate([t_inlet_c[inlet_due], t_return_c[idx]])
        v, valid = sensors.read(time_s, np.concatenate([due, due]), x)
        m = int(inlet_due.sum())
        v_in, ok_in, v_ret, ok_ret = v[:m], valid[:m], v[m:], valid[m:]
        counts = self.n_inlets[idx]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        max_all = np.maximum.reduceat(v_in, starts)
        all_ok = np.logical_and.reduceat(ok_in, starts)
        any_ok = np.logical_or.reduceat(ok_in, starts)
        max_ok = np.maximum.reduceat(np.where(ok_in, v_in, -np.inf), starts)
        on_inlet, any_mode = self.on_inlet[idx], self.fallback_any[idx]
        ok = np.where(on_inlet, np.where(any_mode, all_ok, any_ok), ok_ret)
        reading = np.where(on_inlet, np.where(any_mode | ~any_ok, max_all, max_ok), v_ret)
        mode = loops.decide(idx, running[idx], ok)
        act = loops.act
        held = np.where(act.running[idx], act.target[idx], position_before[idx])
        setpoint = np.where(on_inlet, self.inlet_setpoint_c[idx], self.return_setpoint_c[idx])
        start_cmd = np.minimum(np.maximum(held, self.min_speed[idx]), 1.0)
        cmd = loops.command(idx, mode, held, self.manual_speed[idx], self.fallback_speed[idx], time_s, setpoint,
                            reading, start_cmd)
        act.command(idx, cmd, run=mode != _OFF)
        loops.cmd_out[idx] = act.target[idx]
        loops.reading_out[idx] = reading
        loops.valid_out[idx] = ok
        self.sampled[1][idx] = True
        loops.scheduled(idx, time_s)

    # --- what the twin reads -------------------------------------------------------------------

    @property
    def valve(self) -> np.ndarray:
        """Valve positions, 0–1 (the bank's own array: read, don't write)."""
        return self.s.act.position

    @property
    def fan_speed(self) -> np.ndarray:
        """Fan speeds, fraction of rated (the bank's own array)."""
        return self.f.act.position

    @property
    def fan_running(self) -> np.ndarray:
        """Whether each fan loop's last sample ran its fan (held output ``fan_running``)."""
        return self.f.mode != _OFF

    @property
    def fan_mode(self) -> np.ndarray:
        """Each fan loop's mode as an index in :data:`~twin.control.crah.MODES`."""
        return self.f.mode

    def inlet_sensors_valid(self) -> np.ndarray:
        """Per unit: all its inlet sensors read valid at their last read."""
        valid = self.fan_sensors.valid[:self.n_inlet_sensors]
        return np.logical_and.reduceat(valid, self.fan_sensors.offset[:self.n_units])

    def return_sensor_valid(self) -> np.ndarray:
        """Per unit: its return sensor read valid at its last read."""
        return self.fan_sensors.valid[self.n_inlet_sensors:]

    def supply_sensor_valid(self) -> np.ndarray:
        """Per unit: its supply sensor read valid at its last read."""
        return self.supply_sensors.valid

    # --- memory -------------------------------------------------------------------------------

    def state_dict(self) -> StateDict:
        """Every loop's state dict under its name, key for key as the objects write them."""
        d: StateDict = {}
        for k in range(self.n_units):
            d.update(prefixed(self.supply[k].name, self._supply_state(k)))
        for k in range(self.n_units):
            d.update(prefixed(self.fan[k].name, self._fan_state(k)))
        return d

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` (or the objects' state dicts, under their names) saved."""
        for k in range(self.n_units):
            self._load_supply(k, unprefixed(self.supply[k].name, d))
            self._load_fan(k, unprefixed(self.fan[k].name, d))

    def _supply_state(self, k: int) -> StateDict:
        s = self.s
        d = s.state(k)
        if self.sampled[0][k]:
            d.update({"out.valve_cmd": float(s.cmd_out[k]), "out.reading_c": float(s.reading_out[k]),
                      "out.sensor_valid": bool(s.valid_out[k])})
        d.update({"supply_temp_setpoint_c": float(self.supply_setpoint_c[k]),
                  "fallback_valve": float(self.fallback_valve[k]), "manual_valve": float(self.manual_valve[k])})
        d.update(prefixed("pid", s.pid.state(k)))
        d.update(prefixed("sensor", self.supply_sensors.array_state(k)))
        d.update(prefixed("valve", s.act.state(k)))
        return d

    def _fan_state(self, k: int) -> StateDict:
        f, n = self.f, self.n_units
        d = f.state(k)
        if self.sampled[1][k]:
            d.update({"out.fan_speed_cmd": float(f.cmd_out[k]), "out.fan_running": bool(f.mode[k] != _OFF),
                      "out.reading_c": float(f.reading_out[k]), "out.sensor_valid": bool(f.valid_out[k])})
        d.update({"control_on": 0 if self.on_inlet[k] else 1, "inlet_temp_setpoint_c": float(self.inlet_setpoint_c[k]),
                  "return_temp_setpoint_c": float(self.return_setpoint_c[k]),
                  "fallback_speed": float(self.fallback_speed[k]), "manual_speed": float(self.manual_speed[k])})
        d.update(prefixed("pid", f.pid.state(k)))
        d.update(prefixed("inlet_sensors", self.fan_sensors.array_state(k)))
        d.update(prefixed("return_sensor", self.fan_sensors.array_state(n + k)))
        d.update(prefixed("fan", f.act.state(k)))
        return d

    def _load_supply(self, k: int, d: Mapping[str, Any]) -> None:
        s = self.s
        s.load(k, d)
        out = unprefixed("out", d)
        self.sampled[0][k] = "valve_cmd" in out
        if self.sampled[0][k]:
            s.cmd_out[k], s.reading_out[k] = float(out["valve_cmd"]), float(out["reading_c"])
            s.valid_out[k] = bool(out["sensor_valid"])
        self.supply_setpoint_c[k] = float(d["supply_temp_setpoint_c"])
        self.fallback_valve[k] = float(d["fallback_valve"])
        self.manual_valve[k] = float(d["manual_valve"])
        s.pid.load(k, unprefixed("pid", d))
        self.supply_sensors.load_array_state(k, unprefixed("sensor", d))
        s.act.load(k, unprefixed("valve", d))

    def _load_fan(self, k: int, d: Mapping[str, Any]) -> None:
        f = self.f
        f.load(k, d)
        out = unprefixed("out", d)
        self.sampled[1][k] = "fan_speed_cmd" in out
        if self.sampled[1][k]:
            f.cmd_out[k], f.reading_out[k] = float(out["fan_speed_cmd"]), float(out["reading_c"])
            f.valid_out[k] = bool(out["sensor_valid"])
        self.on_inlet[k] = int(d["control_on"]) == 0
        for key, arr in (("inlet_temp_setpoint_c", self.inlet_setpoint_c),
                         ("return_temp_setpoint_c", self.return_setpoint_c),
                         ("fallback_speed", self.fallback_speed), ("manual_speed", self.manual_speed)):
            arr[k] = float(d[key])
        f.pid.load(k, unprefixed("pid", d))
        self.fan_sensors.load_array_state(k, unprefixed("inlet_sensors", d))
        self.fan_sensors.load_array_state(self.n_units + k, unprefixed("return_sensor", d))
        f.act.load(k, unprefixed("fan", d))


# --- per-unit views ------------------------------------------------------------------------------

class SensorView:
    """One sensor array of a :class:`SensorBank`, with what scenarios and the bus use of a SensorArray."""

    def __init__(self, bank: SensorBank, k: int) -> None:
        self._bank, self._k = bank, k

    @property
    def n(self) -> int:
        return int(self._bank.n[self._k])

    @property
    def name(self) -> str:
        return self._bank.names[self._k]

    @property
    def valid(self) -> np.ndarray:
        """The validity of the array's last read."""
        return self._bank.valid[self._bank.sensors_of(self._k)]

    @property
    def last_value(self) -> np.ndarray:
        """The values reported by the last read (NaN before the first)."""
        return self._bank.last_value[self._bank.sensors_of(self._k)].copy()

    def set_failure(self, mode: str, *, at_s: float = -math.inf, index: Any = None) -> None:
        """:meth:`SensorArray.set_failure`."""
        self._bank.set_failure(self._k, mode, at_s=at_s, index=index)

    def failure(self, time_s: float) -> list[str]:
        """:meth:`SensorArray.failure`."""
        return self._bank.failure(self._k, time_s)


class ActuatorView:
    """One actuator of a bank: ``position`` and ``target`` as length-1 views into the bank's arrays."""

    def __init__(self, act: _Actuators, k: int) -> None:
        self._act, self._k = act, k

    @property
    def position(self) -> np.ndarray:
        return self._act.position[self._k:self._k + 1]

    @property
    def target(self) -> np.ndarray:
        return self._act.target[self._k:self._k + 1]

    def set(self, value: float) -> None:
        """Put the actuator at ``value`` and aim it there (a state taken over, bumplessly)."""
        self._act.position[self._k] = value
        self._act.target[self._k] = value


class _LoopView:
    """One unit's loop in a :class:`CrahBank`: name, schedule, mode (the ``_CrahLoop`` interface)."""

    _kind = 0

    def __init__(self, bank: CrahBank, k: int, name: str) -> None:
        self._bank, self._k, self.name = bank, k, name

    @property
    def _loops(self) -> _Loops:
        return self._bank.s if self._kind == 0 else self._bank.f

    @property
    def period_s(self) -> float:
        return float(self._loops.period_s[self._k])

    @property
    def phase_s(self) -> float:
        return float(self._loops.phase_s[self._k])

    @property
    def mode(self) -> str:
        """``"auto"``, ``"fallback"``, ``"manual"`` or ``"off"``, as decided at the last sample."""
        return MODES[int(self._loops.mode[self._k])]

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in _REQUESTABLE:
            raise ValueError(f"{self.name}: mode can be set to one of {_REQUESTABLE}, got {value!r}")
        self._loops.requested[self._k] = MODES.index(value)

    @property
    def requested_mode(self) -> str:
        return MODES[int(self._loops.requested[self._k])]

    @property
    def enabled(self) -> float:
        """1.0 unless an operator switched the unit off (0.0); writable, for the setpoint registry."""
        return 0.0 if self._loops.requested[self._k] == _OFF else 1.0

    @enabled.setter
    def enabled(self, value: float) -> None:
        req = self._loops.requested
        if value:
            if req[self._k] == _OFF:
                req[self._k] = _AUTO
        else:
            req[self._k] = _OFF


class SupplyLoopView(_LoopView):
    """A unit's supply-air loop in a bank (what the registry and scenarios use of CrahSupplyController)."""

    _kind = 0

    @property
    def supply_temp_setpoint_c(self) -> float:
        return float(self._bank.supply_setpoint_c[self._k])

    @supply_temp_setpoint_c.setter
    def supply_temp_setpoint_c(self, value: float) -> None:
        self._bank.supply_setpoint_c[self._k] = float(value)

    @property
    def sensor(self) -> SensorView:
        return SensorView(self._bank.supply_sensors, self._k)

    @property
    def valve(self) -> ActuatorView:
        return ActuatorView(self._bank.s.act, self._k)


class FanLoopView(_LoopView):
    """A unit's fan loop in a bank (what the registry and scenarios use of CrahFanController)."""

    _kind = 1

    def _get(self, arr: np.ndarray) -> float:
        return float(arr[self._k])

    @property
    def inlet_temp_setpoint_c(self) -> float:
        return self._get(self._bank.inlet_setpoint_c)

    @inlet_temp_setpoint_c.setter
    def inlet_temp_setpoint_c(self, value: float) -> None:
        self._bank.inlet_setpoint_c[self._k] = float(value)

    @property
    def return_temp_setpoint_c(self) -> float:
        return self._get(self._bank.return_setpoint_c)

    @return_temp_setpoint_c.setter
    def return_temp_setpoint_c(self, value: float) -> None:
        self._bank.return_setpoint_c[self._k] = float(value)

    @property
    def fallback_speed(self) -> float:
        return self._get(self._bank.fallback_speed)

    @fallback_speed.setter
    def fallback_speed(self, value: float) -> None:
        self._bank.fallback_speed[self._k] = float(value)

    @property
    def manual_speed(self) -> float:
        return self._get(self._bank.manual_speed)

    @manual_speed.setter
    def manual_speed(self, value: float) -> None:
        self._bank.manual_speed[self._k] = float(value)

    @property
    def min_speed(self) -> float:
        return self._get(self._bank.min_speed)

    @property
    def control_on(self) -> str:
        """``"inlet"`` or ``"return"``: the controlled variable; a change is bumpless (next sample)."""
        return "inlet" if self._bank.on_inlet[self._k] else "return"

    @control_on.setter
    def control_on(self, value: str) -> None:
        if value not in ("inlet", "return"):
            raise ValueError(f"{self.name}: control_on must be 'inlet' or 'return', got {value!r}")
        if value != self.control_on:
            self._bank.f.reinit[self._k] = True
        self._bank.on_inlet[self._k] = value == "inlet"

    @property
    def inlet_sensors(self) -> SensorView:
        return SensorView(self._bank.fan_sensors, self._k)

    @property
    def return_sensor(self) -> SensorView:
        return SensorView(self._bank.fan_sensors, self._bank.n_units + self._k)

    @property
    def fan(self) -> ActuatorView:
        return ActuatorView(self._bank.f.act, self._k)
