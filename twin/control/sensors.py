"""Sensors as an embedded controller reads them: lag, noise, range, quantization, failures, validity.

One :class:`SensorArray` holds ``n`` sensors of one kind (same range, ADC, noise, lag), e.g. the
rack-inlet thermistors a CRAH unit reads. It is read by its controller at the controller's sample
instants only (:meth:`SensorArray.read`). The chain from the true value to the reported value is:

1. first-order lag (time constant ``tau_s``) of the sensing element, exact for a true value held
   over the time since the last read: ``y += (1 − exp(−Δt/τ)) (x − y)``;
2. additive Gaussian noise, σ = ``noise_sigma`` (σ = ``noisy_sigma`` for a sensor failed ``noisy``),
   drawn from the array's own seeded ``numpy`` Generator (its state is saved with the sensor);
3. saturation at the range ``[lo, hi]``;
4. quantization: an N-bit ADC spanning the range has codes 0 … 2ᴺ − 1 and a step of
   ``(hi − lo) / (2ᴺ − 1)`` (both ends representable); or a fixed ``resolution`` on the grid
   ``lo + k · resolution``;
5. failures, each set for a sensor from a simulated time on: ``stuck`` keeps reporting the last
   value reported before it failed; ``open`` reads the bottom of the range (an open thermistor or a
   broken 4–20 mA loop); ``noisy`` reads with ``noisy_sigma``; ``ok`` clears a failure.

The ``valid`` flag (what firmware would compute) is false when the reading lies outside the
plausible window (by default the open interval (lo, hi): a reading at either rail is implausible,
so an open sensor is flagged), when it changed faster than ``max_rate_per_s`` since the last read,
or (optional) when it has not changed by a single step for ``frozen_s`` although it is noisy.
A ``stuck`` sensor stays valid unless the frozen check is enabled: that is how stuck sensors fool
real controllers.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from twin.control.base import StateDict, rng_state_array, set_rng_state

__all__ = ["FAILURE_MODES", "SensorArray"]

FAILURE_MODES = ("ok", "stuck", "open", "noisy")
_OK, _STUCK, _OPEN, _NOISY = range(4)


class SensorArray:
    """``n`` sensors of one kind, vectorized.

    Args:
        n: number of sensors.
        lo, hi: measuring range, in the sensor's unit (e.g. °C); readings saturate there.
        bits: ADC resolution over the range (default 12); ignored when ``resolution`` is given;
            ``None`` with no resolution means no quantization.
        resolution: fixed quantization step in the sensor's unit (e.g. 0.1 for 0.1 K).
        noise_sigma: standard deviation of the additive noise, sensor unit.
        noisy_sigma: noise σ of a sensor failed ``noisy`` (default 10 × noise_sigma, at least 20 steps).
        tau_s: time constant of the first-order lag, s (0: none).
        max_rate_per_s: rate-of-change plausibility limit, sensor unit per s (None: no check).
        plausible_lo, plausible_hi: plausibility window; a reading must lie strictly inside it
            (defaults: lo and hi, so readings at the rails are invalid).
        frozen_s: flag a reading invalid once it has not changed for this long, s (None: no check;
            use only with noise, or a steady true value would trip it).
        seed: seed, SeedSequence or Generator for the noise (PCG64, as ``np.random.default_rng`` makes);
            None: a seed derived from ``name``, so runs are reproducible.
        unit: unit label, e.g. ``"°C"``.
        name: label for messages.
    """

    def __init__(self, n: int = 1, *, lo: float, hi: float, bits: int | None = 12, resolution: float | None = None,
                 noise_sigma: float = 0.0, noisy_sigma: float | None = None, tau_s: float = 0.0,
                 max_rate_per_s: float | None = None, plausible_lo: float | None = None,
                 plausible_hi: float | None = None, frozen_s: float | None = None,
                 seed: int | np.random.Generator | None = None, unit: str = "", name: str = "sensor") -> None:
        if not hi > lo:
            raise ValueError(f"{name}: range needs lo < hi, got [{lo}, {hi}]")
        self.n = int(n)
        self.lo, self.hi = float(lo), float(hi)
        self.bits = bits
        self.resolution = resolution
        if resolution is not None:
            self.step = float(resolution)
        elif bits is not None:
            self.step = (self.hi - self.lo) / (2 ** int(bits) - 1)
        else:
            self.step = 0.0
        self.noise_sigma = float(noise_sigma)
        self.noisy_sigma = (float(noisy_sigma) if noisy_sigma is not None
                            else max(10.0 * self.noise_sigma, 20.0 * self.step))
        self.tau_s = float(tau_s)
        self.max_rate_per_s = max_rate_per_s
        self.plausible_lo = self.lo if plausible_lo is None else float(plausible_lo)
        self.plausible_hi = self.hi if plausible_hi is None else float(plausible_hi)
        self.frozen_s = frozen_s
        self.unit = unit
        self.name = name
        if seed is None:  # reproducible by default: the stream follows from the sensor's name
            seed = zlib.crc32(name.encode())
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self._fail_mode = np.zeros(self.n, dtype=np.int64)
        self._fail_at_s = np.full(self.n, np.inf)
        self._repair_at_s = np.full(self.n, np.inf)
        # Whether any sensor was ever given a failure: most never are, and their reads skip that part.
        self._may_fail = False
        self._reset_memory()

    def _reset_memory(self) -> None:
        self._lagged = np.full(self.n, np.nan)
        self._last_value = np.full(self.n, np.nan)
        self._changed_s = np.full(self.n, np.nan)
        self._last_s = math.nan
        self.valid = np.zeros(self.n, dtype=bool)

    # --- failures -----------------------------------------------------------------------------

    def set_failure(self, mode: str, *, at_s: float = -math.inf, index: Any = None) -> None:
        """Fail sensors (``index``: int, slice, mask or list; None: all) in ``mode`` from ``at_s`` on.

        Called by the simulation when a scenario fails a sensor (``at_s`` may lie in the future).
        ``mode="ok"`` repairs them from ``at_s`` on (the sensor then reads normally again).
        """
        if mode not in FAILURE_MODES:
            raise ValueError(f"{self.name}: failure mode must be one of {FAILURE_MODES}, got {mode!r}")
        idx = slice(None) if index is None else index
        code = FAILURE_MODES.index(mode)
        if code == _OK:
            self._repair_at_s[idx] = at_s  # what is failed stays failed until at_s
            return
        self._fail_mode[idx] = code
        self._fail_at_s[idx] = at_s
        self._repair_at_s[idx] = np.inf
        self._may_fail = True

    def failure(self, time_s: float) -> list[str]:
        """The failure mode of each sensor in force at ``time_s`` (``"ok"`` when none)."""
        return [FAILURE_MODES[c] for c in self._active_codes(time_s)]

    def _active_codes(self, time_s: float) -> np.ndarray:
        active = (time_s >= self._fail_at_s) & (time_s < self._repair_at_s)
        return np.where(active, self._fail_mode, _OK)

    # --- reading ------------------------------------------------------------------------------

    def quantize(self, x: Any) -> np.ndarray:
        """Values saturated to the range and rounded to the ADC/resolution grid ``lo + k·step``."""
        # Ufuncs rather than np.clip/np.round: the same values (rint rounds half to even, as round does)
        # without their Python wrappers, which cost more than the arithmetic on a controller's few sensors.
        x = np.minimum(np.maximum(np.asarray(x, dtype=float), self.lo), self.hi)
        if self.step <= 0:
            return x
        q = self.lo + np.rint((x - self.lo) / self.step) * self.step
        return np.minimum(np.maximum(q, self.lo), self.hi)

    def read(self, time_s: float, true_value: Any) -> np.ndarray:
        """Called by the owning controller at its sample instants: the reported values (shape ``(n,)``).

        Args:
            time_s: simulated time of the read, s (non-decreasing between calls).
            true_value: the physical quantity at each sensor (scalar or ``(n,)``), finite.

        Also updates :attr:`valid`.
        """
        x = np.asarray(true_value, dtype=float)
        if x.ndim == 0:
            x = np.full(self.n, float(x))
        elif x.shape != (self.n,):
            x = np.broadcast_to(x, (self.n,))
        first = math.isnan(self._last_s)
        dt_s = 0.0 if first else max(time_s - self._last_s, 0.0)
        if first or self.tau_s <= 0:
            self._lagged = x.copy()
        else:
            self._lagged = self._lagged + (-math.expm1(-dt_s / self.tau_s)) * (x - self._lagged)
        # Always draw n normals, so the noise stream does not depend on which sensors are failed.
        z = self.rng.standard_normal(self.n)
        if self._may_fail:
            codes = self._active_codes(time_s)
            sigma = np.where(codes == _NOISY, self.noisy_sigma, self.noise_sigma)
            v = self.quantize(self._lagged + sigma * z)
            stuck = (codes == _STUCK) & ~np.isnan(self._last_value)
            v = np.where(stuck, self._last_value, v)
            v = np.where(codes == _OPEN, self.lo, v)
        else:
            v = self.quantize(self._lagged + self.noise_sigma * z)

        valid = (v > self.plausible_lo) & (v < self.plausible_hi)
        if not first:
            changed = v != self._last_value
            if self.max_rate_per_s is not None and dt_s > 0:
                valid &= np.abs(v - self._last_value) <= self.max_rate_per_s * dt_s + 1e-12
            self._changed_s = np.where(changed | np.isnan(self._changed_s), time_s, self._changed_s)
            if self.frozen_s is not None:
                valid &= (time_s - self._changed_s) < self.frozen_s
        else:
            self._changed_s = np.full(self.n, float(time_s))
        self.valid = valid
        self._last_value = v
        self._last_s = float(time_s)
        return v.copy()

    @property
    def last_value(self) -> np.ndarray:
        """The values reported by the last :meth:`read` (NaN before the first)."""
        return self._last_value.copy()

    # --- memory -------------------------------------------------------------------------------

    def state_dict(self) -> StateDict:
        """Filter states, last readings, validity, failures and the RNG state (numbers/arrays)."""
        return {
            "lagged": self._lagged.copy(), "last_value": self._last_value.copy(),
            "changed_s": self._changed_s.copy(), "last_s": self._last_s, "valid": self.valid.copy(),
            "fail_mode": self._fail_mode.copy(), "fail_at_s": self._fail_at_s.copy(),
            "repair_at_s": self._repair_at_s.copy(),
            "rng": rng_state_array(self.rng),
        }

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` (same ``n`` and options)."""
        self._lagged = np.array(d["lagged"], dtype=float)
        self._last_value = np.array(d["last_value"], dtype=float)
        self._changed_s = np.array(d["changed_s"], dtype=float)
        self._last_s = float(d["last_s"])
        self.valid = np.array(d["valid"], dtype=bool)
        self._fail_mode = np.array(d["fail_mode"], dtype=np.int64)
        self._fail_at_s = np.array(d["fail_at_s"], dtype=float)
        self._repair_at_s = np.array(d["repair_at_s"], dtype=float)
        self._may_fail = bool(self._fail_mode.any())
        set_rng_state(self.rng, d["rng"])
