"""Structured multigrid for the momentum model's pressure correction (numba).

The pressure correction's matrix (:meth:`twin.thermal.momentum.MomentumSolver._build_poisson`) is the
openness-weighted graph Laplacian of the fluid cells of a uniform voxel grid, plus a grounding term on one
cell per connected region: a 7-point operator whose off-diagonals are −w_f (w_f the face's openness in
[0, 1], zero at walls, solids and closed faces) and whose diagonal is the sum of the cell's six w_f plus its
grounding. Every level here is stored as arrays on a grid, never as a sparse matrix:

* Coarsening: additive-correction (unsmoothed-aggregation) multigrid (Hutchinson & Raithby 1986) with
  2×2×2 blocks of cells (a trailing odd cell is a block of one along that axis). With piecewise-constant
  prolongation P the Galerkin operator PᵀAP of such a Laplacian is again one on the coarse grid: the weight
  of a coarse face is the sum of the fine faces' weights between the two blocks (the faces inside a block
  cancel), the grounding is the blocks' sum, and a block is fluid if any of its cells is. Set-up is a few
  array sums (milliseconds, against ~0.25 s for pyamg's Ruge–Stüben hierarchy of the same 120k-cell
  matrix). Coarsening stops at ``max_coarse`` fluid cells, which are solved by a dense Cholesky factor.
* Smoothing: lexicographic Gauss–Seidel, ``sweeps`` forward sweeps before the coarse correction and as many
  backward after, so that the cycle is a symmetric operator (CG's preconditioner must be).
* Unsmoothed aggregation's coarse correction is too small (piecewise-constant shapes carry too little
  energy), so it is over-corrected by a constant factor ``alpha`` (< 2 keeps the cycle a convergent, SPD
  preconditioner; 1.8 measured best) and the coarse levels are visited twice per visit of their parent (a
  W-cycle below the finest level: the coarse levels cost 1/8, 1/64, … of the finest, and the V-cycle's
  convergence degrades with each level of unsmoothed aggregation).

All vectors are grid arrays padded by one cell of zeros on every side (so the kernels need no bounds
checks); the non-fluid cells stay zero. :meth:`PressureMultigrid.solve` is the preconditioned CG.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from twin.compiled import numba_cache_wanted

__all__ = ["PressureMultigrid", "galerkin_coarse"]

_CACHE = numba_cache_wanted(__file__)


@numba.njit(cache=_CACHE, nogil=True)
def _gs_forward(x, b, w0, w1, w2, inv_d):  # pragma: no cover - compiled
    """One lexicographic Gauss–Seidel sweep of A x = b (padded arrays; inv_d is 0 off the fluid)."""
    n0, n1, n2 = x.shape
    for i in range(1, n0 - 1):
        for j in range(1, n1 - 1):
            for k in range(1, n2 - 1):
                d = inv_d[i, j, k]
                if d == 0.0:
                    continue
                s = (b[i, j, k] + w0[i - 1, j, k] * x[i - 1, j, k] + w0[i, j, k] * x[i + 1, j, k]
                     + w1[i, j - 1, k] * x[i, j - 1, k] + w1[i, j, k] * x[i, j + 1, k]
                     + w2[i, j, k - 1] * x[i, j, k - 1] + w2[i, j, k] * x[i, j, k + 1])
                x[i, j, k] = s * d


@numba.njit(cache=_CACHE, nogil=True)
def _gs_backward(x, b, w0, w1, w2, inv_d):  # pragma: no cover - compiled
    """:func:`_gs_forward` in the reverse order of the cells (its adjoint). The cell update is written out in
    both: as one compiled function that both loops call it took 11-14x the time (numba 0.68; measured on a
    60x50x40 box, 2.8 against 31-39 ms per cycle)."""
    n0, n1, n2 = x.shape
    for i in range(n0 - 2, 0, -1):
        for j in range(n1 - 2, 0, -1):
            for k in range(n2 - 2, 0, -1):
                d = inv_d[i, j, k]
                if d == 0.0:
                    continue
                s = (b[i, j, k] + w0[i - 1, j, k] * x[i - 1, j, k] + w0[i, j, k] * x[i + 1, j, k]
                     + w1[i, j - 1, k] * x[i, j - 1, k] + w1[i, j, k] * x[i, j + 1, k]
                     + w2[i, j, k - 1] * x[i, j, k - 1] + w2[i, j, k] * x[i, j, k + 1])
                x[i, j, k] = s * d


@numba.njit(cache=_CACHE, nogil=True)
def _residual_restrict(x, b, w0, w1, w2, diag, bc, o0, o1, o2):  # pragma: no cover - compiled
    """bc = Pᵀ (b − A x): the residual summed over each 2×2×2 block (bc padded; its inside is overwritten)."""
    bc[...] = 0.0
    n0, n1, n2 = x.shape
    for i in range(1, n0 - 1):
        ci = (i - 1 + o0) // 2 + 1
        for j in range(1, n1 - 1):
            cj = (j - 1 + o1) // 2 + 1
            for k in range(1, n2 - 1):
                dd = diag[i, j, k]
                if dd == 0.0:
                    continue
                r = (b[i, j, k] - dd * x[i, j, k] + w0[i - 1, j, k] * x[i - 1, j, k] + w0[i, j, k] * x[i + 1, j, k]
                     + w1[i, j - 1, k] * x[i, j - 1, k] + w1[i, j, k] * x[i, j + 1, k]
                     + w2[i, j, k - 1] * x[i, j, k - 1] + w2[i, j, k] * x[i, j, k + 1])
                bc[ci, cj, (k - 1 + o2) // 2 + 1] += r


@numba.njit(cache=_CACHE, nogil=True)
def _prolong_add(x, xc, alpha, inv_d, o0, o1, o2):  # pragma: no cover - compiled
    """x += alpha P xc on the fluid cells (piecewise constant over each block)."""
    n0, n1, n2 = x.shape
    for i in range(1, n0 - 1):
        ci = (i - 1 + o0) // 2 + 1
        for j in range(1, n1 - 1):
            cj = (j - 1 + o1) // 2 + 1
            for k in range(1, n2 - 1):
                if inv_d[i, j, k] != 0.0:
                    x[i, j, k] += alpha * xc[ci, cj, (k - 1 + o2) // 2 + 1]


@numba.njit(cache=_CACHE, nogil=True)
def _matvec(y, x, w0, w1, w2, diag):  # pragma: no cover - compiled
    """y = A x (the inside of y; its padding is left as it is)."""
    n0, n1, n2 = x.shape
    for i in range(1, n0 - 1):
        for j in range(1, n1 - 1):
            for k in range(1, n2 - 1):
                y[i, j, k] = (diag[i, j, k] * x[i, j, k]
                              - w0[i - 1, j, k] * x[i - 1, j, k] - w0[i, j, k] * x[i + 1, j, k]
                              - w1[i, j - 1, k] * x[i, j - 1, k] - w1[i, j, k] * x[i, j + 1, k]
                              - w2[i, j, k - 1] * x[i, j, k - 1] - w2[i, j, k] * x[i, j, k + 1])


@numba.njit(cache=_CACHE, nogil=True)
def _coarse_solve(x, b, index, factor):  # pragma: no cover - compiled
    """x[index] = A⁻¹ b[index] with A = L Lᵀ (L = factor, dense lower triangle); flat views of padded grids."""
    n = index.size
    y = np.empty(n)
    for i in range(n):
        s = b[index[i]]
        for j in range(i):
            s -= factor[i, j] * y[j]
        y[i] = s / factor[i, i]
    for i in range(n - 1, -1, -1):
        s = y[i]
        for j in range(i + 1, n):
            s -= factor[j, i] * y[j]
        y[i] = s / factor[i, i]
    for i in range(n):
        x[index[i]] = y[i]


def _block_sum(a: np.ndarray) -> np.ndarray:
    """Sums over 2×2×2 blocks of a cell array (a trailing odd cell is a block of its own)."""
    a = np.pad(a, [(0, n % 2) for n in a.shape])
    n0, n1, n2 = (n // 2 for n in a.shape)
    return np.asarray(a.reshape(n0, 2, n1, 2, n2, 2).sum(axis=(1, 3, 5)))


def block_offsets(weights: Sequence[np.ndarray]) -> tuple[int, int, int]:
    """Per axis, where the blocks start: 0 pairs cells (0, 1), (2, 3), …; 1 pairs (0), (1, 2), (3, 4), ….
    The one whose faces inside blocks carry more weight: weak faces (a raised floor's tiles and closed
    panels, containment panels, solids' sides) then fall between blocks rather than inside them, where a
    piecewise-constant correction would have to bridge them."""
    offsets = []
    for a, w in enumerate(weights):
        # offset 0: the faces inside blocks are the odd ones (between cells 2m and 2m+1); offset 1: the even ones
        odd = float(np.take(w, np.arange(1, w.shape[a], 2), axis=a).sum())
        even = float(np.take(w, np.arange(2, w.shape[a], 2), axis=a).sum())
        offsets.append(1 if even > odd else 0)
    return offsets[0], offsets[1], offsets[2]


def galerkin_coarse(fluid: np.ndarray, weights: Sequence[np.ndarray], ground: np.ndarray,
                    offsets: tuple[int, int, int] = (0, 0, 0)
                    ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """PᵀAP of the 2×2×2 aggregation (blocks starting at ``offsets``, see :func:`block_offsets`), as a grid
    Laplacian: the coarse fluid mask, face weights (shape n+1 along their axis, as the fine ones) and
    grounding."""
    # A block offset of 1 along an axis is a zero cell (and face) in front of the grid along it.
    fluid = np.pad(fluid, [(o, 0) for o in offsets])
    ground = np.pad(np.asarray(ground, dtype=float), [(o, 0) for o in offsets])
    weights = [np.pad(np.asarray(w, dtype=float), [(o, 0) for o in offsets]) for w in weights]
    fluid_c = _block_sum(fluid.astype(np.int64)) > 0
    ground_c = _block_sum(np.asarray(ground, dtype=float))
    weights_c = []
    for a in range(3):
        # Coarse face I along a lies at fine face 2I (between fine cells 2I−1 and 2I); a coarse face beyond
        # the fine ones (an odd count of cells) is the domain boundary: zero.
        pick = [slice(None)] * 3
        pick[a] = slice(0, None, 2)
        fine = np.asarray(weights[a], dtype=float)[tuple(pick)]
        pad = [(0, 0 if b == a else fine.shape[b] % 2) for b in range(3)]
        pad[a] = (0, fluid_c.shape[a] + 1 - fine.shape[a])
        fine = np.pad(fine, pad)
        shape: list[int] = []
        for b in range(3):
            shape += [fine.shape[b], 1] if b == a else [fine.shape[b] // 2, 2]
        weights_c.append(np.asarray(fine.reshape(shape).sum(axis=(1, 3, 5))))
    return fluid_c, weights_c, ground_c


class _Level:
    """One level's operator on its padded grid, and its work vectors."""

    def __init__(self, fluid: np.ndarray, weights: Sequence[np.ndarray], ground: np.ndarray) -> None:
        self.fluid = np.asarray(fluid, dtype=bool)
        self.offsets = (0, 0, 0)  # how its cells pair into the next level's blocks (set by PressureMultigrid)
        self.weights = [np.asarray(w, dtype=float) for w in weights]
        self.ground = np.asarray(ground, dtype=float)
        diag = self.ground.copy()
        for a, w in enumerate(self.weights):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[a], hi[a] = slice(0, -1), slice(1, None)
            diag += w[tuple(lo)] + w[tuple(hi)]
        diag = np.where(self.fluid, diag, 0.0)
        if np.any(diag[self.fluid] <= 0.0):
            raise ValueError("a fluid cell with neither open faces nor grounding: the matrix is singular")
        self.diag = np.pad(diag, 1)
        self.inv_d = np.zeros_like(self.diag)
        np.divide(1.0, self.diag, out=self.inv_d, where=self.diag > 0.0)
        # Face weights on the padded cell grid: w_a[i] is the face between padded cells i and i+1 along a.
        self.w: list[np.ndarray] = []
        for a, w in enumerate(self.weights):
            padded = np.zeros(self.diag.shape)
            inside = [slice(1, -1)] * 3
            inside[a] = slice(0, w.shape[a])
            padded[tuple(inside)] = w
            self.w.append(padded)
        self.x = np.zeros_like(self.diag)
        self.b = np.zeros_like(self.diag)

    @property
    def n_fluid(self) -> int:
        return int(self.fluid.sum())


class PressureMultigrid:
    """Additive-correction multigrid on the voxel grid, as CG's preconditioner (see the module docstring).

    Args:
        fluid: the grid's fluid cells (the unknowns).
        weights: face weights per axis, shapes (n0+1, n1, n2), (n0, n1+1, n2), (n0, n1, n2+1): zero where no
            face connects two fluid cells (walls, solids, closed faces, the domain boundary).
        ground: grounding per cell (a diagonal term; > 0 on one cell of each connected region).
        alpha: over-correction of the coarse-grid correction.
        sweeps: Gauss–Seidel sweeps before (forward) and after (backward) each coarse correction.
        max_coarse: coarsen until a level has at most this many fluid cells (solved directly).
        direct_below: a grid of at most this many fluid cells is not coarsened at all: one dense Cholesky
            factor solves it exactly (as pyamg's hierarchy with ``max_coarse=500`` did for the pyamg path; the
            tests' small boxes rely on exact projections, and such a solve costs well under a millisecond).
    """

    def __init__(self, fluid: np.ndarray, weights: Sequence[np.ndarray], ground: np.ndarray, *,
                 alpha: float = 1.8, sweeps: int = 2, max_coarse: int = 60, aligned: bool = True,
                 direct_below: int = 500) -> None:
        if not 0.0 < alpha < 2.0:
            raise ValueError(f"alpha must be in (0, 2) for a positive definite preconditioner, got {alpha}")
        self.alpha, self.sweeps = float(alpha), int(sweeps)
        self.levels = [_Level(fluid, weights, ground)]
        if self.levels[0].n_fluid <= direct_below:
            max_coarse = self.levels[0].n_fluid
        while self.levels[-1].n_fluid > max_coarse and max(self.levels[-1].fluid.shape) > 1:
            last = self.levels[-1]
            if aligned:
                last.offsets = block_offsets(last.weights)
            self.levels.append(_Level(*galerkin_coarse(last.fluid, last.weights, last.ground, last.offsets)))
        last = self.levels[-1]
        self._coarse_index = np.flatnonzero(last.inv_d.ravel() != 0.0)
        self._coarse_factor = np.linalg.cholesky(self._dense(len(self.levels) - 1))
        self.iterations = 0

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the padded vectors."""
        return tuple(int(n) for n in self.levels[0].diag.shape)

    def _dense(self, lvl: int) -> np.ndarray:
        """The level's matrix over its fluid cells (flat padded order), as a dense array."""
        level = self.levels[lvl]
        index = np.flatnonzero(level.inv_d.ravel() != 0.0)
        e, y = np.zeros(level.diag.shape), np.zeros(level.diag.shape)
        dense = np.empty((index.size, index.size))
        for col, flat in enumerate(index):
            e.ravel()[flat] = 1.0
            _matvec(y, e, level.w[0], level.w[1], level.w[2], level.diag)
            dense[:, col] = y.ravel()[index]
            e.ravel()[flat] = 0.0
        return dense

    def matvec(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """A x on the finest level (padded arrays)."""
        level = self.levels[0]
        y = np.zeros_like(x) if out is None else out
        _matvec(y, x, level.w[0], level.w[1], level.w[2], level.diag)
        return y

    def precondition(self, r: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """z = M r: one cycle from zero (padded arrays)."""
        top = self.levels[0]
        z = np.zeros_like(r) if out is None else out
        z[...] = 0.0
        saved = top.x, top.b
        top.x, top.b = z, r
        try:
            self._cycle(0)
        finally:
            top.x, top.b = saved
        return z

    def _cycle(self, lvl: int) -> None:
        level = self.levels[lvl]
        if lvl == len(self.levels) - 1:
            _coarse_solve(level.x.ravel(), level.b.ravel(), self._coarse_index, self._coarse_factor)
            return
        coarse = self.levels[lvl + 1]
        for _ in range(1 if lvl == 0 else 2):  # a W-cycle below the finest level
            for _ in range(self.sweeps):
                _gs_forward(level.x, level.b, level.w[0], level.w[1], level.w[2], level.inv_d)
            _residual_restrict(level.x, level.b, level.w[0], level.w[1], level.w[2], level.diag, coarse.b,
                               *level.offsets)
            coarse.x[...] = 0.0
            self._cycle(lvl + 1)
            _prolong_add(level.x, coarse.x, self.alpha, level.inv_d, *level.offsets)
            for _ in range(self.sweeps):
                _gs_backward(level.x, level.b, level.w[0], level.w[1], level.w[2], level.inv_d)

    def solve(self, b: np.ndarray, rtol: float, *, maxiter: int = 200, x0: np.ndarray | None = None
              ) -> np.ndarray:
        """Preconditioned CG from ``x0`` (default zero) until ‖b − A x‖ < rtol ‖b‖ (padded arrays; the
        tolerance is on ‖b‖ whatever the start, as pyamg's); sets ``iterations``.

        The residual is recomputed from x every 8th iteration (as pyamg's CG does), updated otherwise."""
        ap = np.zeros_like(b)
        if x0 is None:
            x = np.zeros_like(b)
            r = b.copy()
        else:
            x = np.array(x0, dtype=float)
            r = b - self.matvec(x, ap)
        z = np.zeros_like(b)
        self.iterations = 0
        normb = float(np.sqrt(np.vdot(b, b)))
        tol = rtol * (normb if normb != 0.0 else 1.0)
        if float(np.sqrt(np.vdot(r, r))) < tol:
            return x
        self.precondition(r, z)
        p = z.copy()
        rz = float(np.vdot(r, z))
        while True:
            self.matvec(p, ap)
            curvature = float(np.vdot(p, ap))
            if curvature <= 0.0:  # only in rounding: A and M are positive definite
                return x
            step = rz / curvature
            x += step * p
            self.iterations += 1
            if self.iterations % 8:
                r -= step * ap
            else:
                r = b - self.matvec(x, ap)
            if float(np.sqrt(np.vdot(r, r))) < tol or self.iterations >= maxiter:
                return x
            self.precondition(r, z)
            rz_new = float(np.vdot(r, z))
            if rz_new <= 0.0:
                return x
            p *= rz_new / rz
            p += z
            rz = rz_new
