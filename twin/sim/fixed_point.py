"""Anderson acceleration of a fixed-point iteration x = g(x) (Walker & Ni, SIAM J. Numer. Anal. 2011)."""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

__all__ = ["AndersonMixer", "least_squares"]


def least_squares(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """argmin ‖b − a γ‖₂ for a tall (n, k) matrix ``a``: what ``np.linalg.lstsq(a, b, rcond=None)`` gives.

    LAPACK's gelsd (numpy's lstsq) factors a = QR with Householder reflections, applies Qᵀ to b, and solves
    the k × k triangle by its singular values, dropping those below eps·max(n, k) of the largest. Here the
    factoring (dgeqrf) and Qᵀb (dormqr) are called directly and only the triangle goes through gelsd, with
    that same cut-off: R has a's singular values. On the steady loop's 650k × 4 differences 6.5 against
    15 ms; the answers agreed to the bit on the matrices tried (the same reflections), rounding at most.
    """
    n, k = a.shape
    if n <= k:
        return np.linalg.lstsq(a, b, rcond=None)[0]
    qr, tau, _, info = lapack.dgeqrf(a)
    if info != 0:
        raise np.linalg.LinAlgError(f"dgeqrf failed (info {info})")
    qtb, _, info = lapack.dormqr("L", "T", qr, tau, np.asarray(b, dtype=float)[:, None], max(1, 64 * k))
    if info != 0:
        raise np.linalg.LinAlgError(f"dormqr failed (info {info})")
    return np.linalg.lstsq(np.triu(qr[:k, :k]), qtb[:k, 0], rcond=np.finfo(float).eps * max(n, k))[0]


class AndersonMixer:
    """Propose the next iterate from the last ``memory`` iterates and their residuals r = g(x) − x.

    Plain relaxation x + ω r converges slowly (or not at all) when the loop gain of g is close to 1;
    mixing the recent history cancels the slow directions, like a secant method in several dimensions:

        γ = argmin ‖r_k − ΔR γ‖₂,   x_{k+1} = x_k + ω r_k − (ΔX + ω ΔR) γ

    with ΔX, ΔR the differences of successive iterates and residuals (oldest first, at most ``memory``).

    The differences are kept, not the iterates: each call takes one new difference instead of
    differencing the whole history again (the steady loop mixes the whole flow and temperature state,
    650k values on open-row-fine: 35 against 40 ms per call). The same subtractions, so the same bits. The
    least squares is :func:`least_squares` (numpy's lstsq's method, 6.5 against 15 ms there).
    """

    def __init__(self, *, memory: int = 5, relax: float = 0.7) -> None:
        self.memory = memory
        self.relax = relax
        self._x_last: np.ndarray | None = None
        self._r_last: np.ndarray | None = None
        self._dx: list[np.ndarray] = []  # x_{i+1} − x_i, oldest first
        self._dr: list[np.ndarray] = []  # r_{i+1} − r_i

    def next(self, x: np.ndarray, residual: np.ndarray) -> np.ndarray:
        """Called once per iteration with the current iterate and its residual; returns the next iterate."""
        x_now = np.array(x, dtype=float)
        r_now = np.array(residual, dtype=float)
        if self._x_last is not None and self._r_last is not None:
            self._dx.append(x_now - self._x_last)
            self._dr.append(r_now - self._r_last)
            if len(self._dx) > self.memory:
                self._dx.pop(0)
                self._dr.pop(0)
        self._x_last, self._r_last = x_now, r_now
        if not self._dx:
            return x + self.relax * residual
        # (k, n) stacks, used transposed: the column-major (n, k) matrices the least squares wants.
        dx = np.array(self._dx).T
        dr = np.array(self._dr).T
        gamma = least_squares(dr, residual)
        return x + self.relax * residual - (dx + self.relax * dr) @ gamma
