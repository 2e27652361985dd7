"""A forest of radial networks in per unit, solved by a vectorized backward/forward sweep.

Each tree hangs from a slack (root) bus of known voltage; every other bus k has exactly one branch, from
its parent, of series impedance z_k. Loads draw constant power S_k and shunts constant admittance Y_k:

    I_k   = conj(S_k / V_k) + Y_k V_k                        (current drawn at bus k)
    J_b   = Σ_{k below b} I_k                 = (P I)_b       (backward: current in branch b)
    V_k   = V_root(k) − Σ_{b above k} z_b J_b = V_root − Pᵀ(z ∘ J)   (forward)

with P the path matrix (P[b, k] = 1 when branch b lies on the path from the root to bus k). The fixed
point is iterated until no voltage moves by more than ``tol`` pu; for a radial network it is the exact
load-flow solution (the same one Newton-Raphson finds), reached in a few iterations at the few per cent
of voltage drop of a building's distribution.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
import scipy.sparse as sp
from numba.core import types
from numba.extending import intrinsic

from twin.compiled import numba_cache_wanted

try:  # scipy's compiled CSR kernel: the same product as ``A @ x`` without ~8 µs of Python dispatch per call
    from scipy.sparse import _sparsetools

    _csr_matvec: Callable[..., None] | None = _sparsetools.csr_matvec
except (ImportError, AttributeError):  # pragma: no cover - a scipy that moved it: fall back to the public operator
    _csr_matvec = None

__all__ = ["RadialForest", "SweepNotConverged"]


_CACHE = numba_cache_wanted(__file__)


@intrinsic
def _fma(typingctx, a, b, c):  # pragma: no cover - compiled
    """a · b + c rounded once (LLVM's fma)."""
    def codegen(context, builder, signature, args):
        return builder.fma(*args)
    return types.float64(types.float64, types.float64, types.float64), codegen


@numba.njit(cache=_CACHE, inline="always")
def _cmul(a, b):  # pragma: no cover - compiled
    """a · b as numpy's vectorised loop computes it on a CPU with FMA: each part one fused multiply-add."""
    # (mypy reads the intrinsic's typing signature, which takes the typing context first)
    return complex(_fma(a.real, b.real, -(a.imag * b.imag)),  # type: ignore[call-arg]
                   _fma(a.real, b.imag, a.imag * b.real))  # type: ignore[call-arg]


@numba.njit(cache=_CACHE, inline="always")
def _cdiv(a, b):  # pragma: no cover - compiled
    """a / b as numpy divides complex numbers (Smith's method, scaled by a reciprocal)."""
    if abs(b.real) >= abs(b.imag):
        rat = b.imag / b.real
        scl = 1.0 / (b.real + b.imag * rat)
        return complex((a.real + a.imag * rat) * scl, (a.imag - a.real * rat) * scl)
    rat = b.real / b.imag
    scl = 1.0 / (b.imag + b.real * rat)
    return complex((a.real * rat + a.imag) * scl, (a.imag * rat - a.real) * scl)


@numba.njit(cache=_CACHE)
def _loads(conj_s, v, y, has_shunt, out):  # pragma: no cover - compiled
    """I = conj(S / V) + Y V at every bus, into ``out``."""
    for k in range(v.size):
        i = _cdiv(conj_s[k], v[k].conjugate())
        out[k] = i + _cmul(y[k], v[k]) if has_shunt else i


@numba.njit(cache=_CACHE)
def _path_sum(ptr, idx, x, out):  # pragma: no cover - compiled
    """out = P x for the 0/1 path matrix P in CSR (row by row, from 0: scipy's product with ones)."""
    for r in range(ptr.size - 1):
        acc = 0j
        for q in range(ptr[r], ptr[r + 1]):
            acc += x[idx[q]]
        out[r] = acc


@numba.njit(cache=_CACHE)
def _sweep_kernel(v_src, v, conj_s, y, has_shunt, z, p_ptr, p_idx, pt_ptr, pt_idx, tol, max_iter, j,
                  i_load):  # pragma: no cover - compiled; tested against RadialForest.sweep_reference
    """:meth:`RadialForest.sweep_reference`'s iteration on ``v`` (in place), with the same arithmetic (numpy's
    complex division and fused products, the path sums in scipy's order): the iterations used, or 0 when
    ``max_iter`` were not enough. ``j`` and ``i_load`` get the branch and load currents."""
    n = v.size
    zj = np.empty(n, np.complex128)
    for it in range(1, max_iter + 1):
        _loads(conj_s, v, y, has_shunt, i_load)
        _path_sum(p_ptr, p_idx, i_load, j)
        for b in range(n):
            zj[b] = _cmul(z[b], j[b])
        _path_sum(pt_ptr, pt_idx, zj, j)  # j holds Pᵀ(z ∘ J) until the loads' currents are summed again
        change = 0.0
        finite = True
        for k in range(n):
            v_new = v_src[k] - j[k]
            d = abs(v_new - v[k])
            finite = finite and d == d  # a NaN never converges (numpy's max would be NaN)
            change = max(change, d)
            v[k] = v_new
        if finite and change < tol:
            _loads(conj_s, v, y, has_shunt, i_load)
            _path_sum(p_ptr, p_idx, i_load, j)
            return it
    return 0


class SweepNotConverged(RuntimeError):
    """The sweep did not converge: the load exceeds what the network can carry (voltage collapse)."""


class RadialForest:
    """Radial trees as arrays: ``parent`` (−1 for a root), branch impedance and shunt admittance per bus."""

    def __init__(self, parent: np.ndarray, z_pu: np.ndarray, y_pu: np.ndarray) -> None:
        self.parent = np.asarray(parent, dtype=np.int64)
        n = self.parent.size
        self.n_bus = n
        self.z_pu = np.asarray(z_pu, dtype=complex)
        self.y_pu = np.asarray(y_pu, dtype=complex)
        self.is_root = self.parent < 0
        self.roots = np.flatnonzero(self.is_root)
        root_of = np.empty(n, dtype=np.int64)
        rows: list[int] = []
        cols: list[int] = []
        for k in range(n):
            b = k
            while self.parent[b] >= 0:
                rows.append(b)
                cols.append(k)
                b = self.parent[b]
            root_of[k] = b
        self.root_of = root_of
        # Position of each bus's root among the roots (to sum currents per tree).
        self.tree_of = np.searchsorted(self.roots, root_of)
        ones = np.ones(len(rows))
        self.path = sp.csr_matrix((ones, (rows, cols)), shape=(n, n))
        self.path_t = self.path.T.tocsr()
        self._csr = tuple((m.shape[0], m.shape[1], m.indptr, m.indices, m.data.astype(complex))
                          for m in (self.path, self.path_t))
        self.has_shunt = bool(np.any(self.y_pu != 0))
        # The compiled sweep is compiled (or loaded from numba's cache) here, at set-up, rather than inside the
        # first step that solves: one solve at no load (it reads nothing of the forest's state; there is none).
        if n:
            self.sweep(np.ones(self.roots.size, dtype=complex), np.zeros(n, dtype=complex))

    def sweep(self, v_root: np.ndarray, s_pu: np.ndarray, *, v_start: np.ndarray | None = None,
              tol: float = 1e-10, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Solve the forest.

        Args:
            v_root: complex voltage of each root (in the order of ``roots``), pu.
            s_pu: complex power drawn at each bus (0 at roots), pu.
            v_start: initial voltages (e.g. the last solution); default: each tree flat at its root.

        Returns:
            bus voltages V (pu), branch currents J (pu; J[k] flows from parent(k) into k, 0 at roots),
            bus load currents I (pu), iterations used.
        """
        v_src = np.ascontiguousarray(v_root, dtype=complex)[self.tree_of]
        v = v_src.copy() if v_start is None else np.array(v_start, dtype=complex)
        j, i_load = np.empty(self.n_bus, dtype=complex), np.empty(self.n_bus, dtype=complex)
        (_, _, p_ptr, p_idx, _), (_, _, pt_ptr, pt_idx, _) = self._csr
        it = _sweep_kernel(v_src, v, np.conj(s_pu).astype(complex), self.y_pu, self.has_shunt, self.z_pu, p_ptr, p_idx,
                           pt_ptr, pt_idx, float(tol), int(max_iter), j, i_load)
        if it == 0:
            raise SweepNotConverged(f"power flow did not converge in {max_iter} sweeps (load beyond the network's "
                                    f"limit?)")
        return v, j, i_load, it

    def sweep_reference(self, v_root: np.ndarray, s_pu: np.ndarray, *, v_start: np.ndarray | None = None,
                        tol: float = 1e-10, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The plain form of :meth:`sweep` (numpy and scipy, one pass per line of the iteration): what the
        compiled sweep is tested against. Same arguments and results."""
        v_src = v_root[self.tree_of]
        v = v_src.copy() if v_start is None else v_start.copy()
        z, y = self.z_pu, self.y_pu
        conj_s = np.conj(s_pu)
        for it in range(1, max_iter + 1):
            i_load = conj_s / np.conj(v)
            if self.has_shunt:
                i_load += y * v
            j = self._matvec(0, i_load)
            v_new = v_src - self._matvec(1, z * j)
            if np.max(np.abs(v_new - v)) < tol:
                v = v_new
                i_load = conj_s / np.conj(v)
                if self.has_shunt:
                    i_load += y * v
                return v, self._matvec(0, i_load), i_load, it
            v = v_new
        raise SweepNotConverged(f"power flow did not converge in {max_iter} sweeps (load beyond the network's limit?)")

    def _matvec(self, which: int, x: np.ndarray) -> np.ndarray:
        """``path @ x`` (which = 0) or ``path.T @ x`` (which = 1) for a complex vector x."""
        if _csr_matvec is None:
            return (self.path if which == 0 else self.path_t) @ x
        n_row, n_col, indptr, indices, data = self._csr[which]
        y = np.zeros(n_row, dtype=complex)
        _csr_matvec(n_row, n_col, indptr, indices, data, x, y)
        return y

    def root_current(self, i_load: np.ndarray) -> np.ndarray:
        """Total current leaving each root (order of ``roots``), pu."""
        n = self.roots.size
        return (np.bincount(self.tree_of, i_load.real, n) + 1j * np.bincount(self.tree_of, i_load.imag, n))
