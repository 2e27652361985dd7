"""Anderson acceleration of a fixed-point iteration x = g(x) (Walker & Ni, SIAM J. Numer. Anal. 2011)."""

from __future__ import annotations

import numpy as np

__all__ = ["AndersonMixer"]


class AndersonMixer:
    """Propose the next iterate from the last ``memory`` iterates and their residuals r = g(x) − x.

    Plain relaxation x + ω r converges slowly (or not at all) when the loop gain of g is close to 1;
    mixing the recent history cancels the slow directions, like a secant method in several dimensions.
    """

    def __init__(self, *, memory: int = 5, relax: float = 0.7) -> None:
        self.memory = memory
        self.relax = relax
        self._x: list[np.ndarray] = []
        self._r: list[np.ndarray] = []

    def next(self, x: np.ndarray, residual: np.ndarray) -> np.ndarray:
        """Called once per iteration with the current iterate and its residual; returns the next iterate."""
        self._x.append(np.array(x, dtype=float))
        self._r.append(np.array(residual, dtype=float))
        if len(self._x) > self.memory + 1:
            self._x.pop(0)
            self._r.pop(0)
        if len(self._x) == 1:
            return x + self.relax * residual
        dx = np.diff(np.array(self._x), axis=0).T
        dr = np.diff(np.array(self._r), axis=0).T
        gamma, *_ = np.linalg.lstsq(dr, residual, rcond=None)
        return x + self.relax * residual - (dx + self.relax * dr) @ gamma
