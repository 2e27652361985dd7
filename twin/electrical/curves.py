"""Load-dependent loss curves of UPSs and server PSUs.

A curve is given by published efficiency points η_k at load fractions x_k (output ÷ rated output).
The loss in per unit of the rating, l_k = x_k (1/η_k − 1), is interpolated linearly in the load: every
published point is reproduced exactly, the loss is continuous, and it costs one ``np.interp``. Below the
first point the loss stays at l_0 (the no-load loss of the converter); above the last point it follows
the slope of the last segment (overload).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LossCurve"]


@dataclass(frozen=True)
class LossCurve:
    """Loss of a converter vs its load, from efficiency points."""

    load: np.ndarray  # load fractions x_k, increasing
    loss_pu: np.ndarray  # loss ÷ rated output at x_k
    slope_end: float  # d(loss_pu)/dx beyond the last point

    @classmethod
    def from_efficiency(cls, load: tuple[float, ...], efficiency: tuple[float, ...]) -> LossCurve:
        x = np.asarray(load, dtype=float)
        eta = np.asarray(efficiency, dtype=float)
        loss = x * (1.0 / eta - 1.0)
        slope = float((loss[-1] - loss[-2]) / (x[-1] - x[-2]))
        return cls(x, loss, max(slope, 0.0))

    def loss(self, load: np.ndarray | float) -> np.ndarray:
        """Loss in per unit of the rating at output ``load`` (fraction of rated, ≥ 0)."""
        x = np.asarray(load, dtype=float)
        return np.interp(x, self.load, self.loss_pu) + self.slope_end * np.maximum(x - self.load[-1], 0.0)

    def efficiency(self, load: np.ndarray | float) -> np.ndarray:
        """Output ÷ input at ``load`` (> 0)."""
        x = np.asarray(load, dtype=float)
        return x / (x + self.loss(x))
