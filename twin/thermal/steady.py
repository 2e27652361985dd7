"""Steady temperature field for a given flow field, solved directly (no time marching).

Unknowns: the air temperature x of every fluid cell and the outlet temperature y_j of every air mover.
Each mover's outlet is affine in its mixed intake temperature, y_j = α_j · (Iᵀx)_j + β_j:

    rack:                    α = 1, β = P / (ṁ c_p)            (steady state of the lumped rack)
    CRAH at its setpoint:    α = 0, β = T_set
    CRAH at full capacity:   α = 1, β = −Q_max / (ṁ c_p)
    CRAH not cooling:        α = 1, β = 0

and the air obeys the steady transport equation K x = O (ρ c_p q ∘ y + P_movers) (see transport.py).
The coupled sparse system is solved by GMRES, preconditioned by the flow-ordered lower triangle of K
(exact for pure advection; the movers' loops and downstream diffusion are left to the Krylov method).

``krylov="bicgstab"`` tries BiCGSTAB first, with the same preconditioner, and hands what it reached to
GMRES only if it stops short (a breakdown). The momentum model's recirculation leaves much for the Krylov
method to do: 100–200 GMRES iterations per solve on the open-row validation hall, where GMRES's growing
basis (restart 200) makes orthogonalization, not the matrix products, most of the cost (k² n). BiCGSTAB's
work per iteration stays constant. Measured on a system of that hall's steady loop (35.6k cells, tol
1e-5, one core of a shared machine): GMRES 149 iterations 0.52 s, BiCGSTAB 97 iterations 0.18 s, both
within 1.5e-3 K of the exact field. GMRES stays the default: it cannot break down. The momentum model's
steady loop uses BiCGSTAB for its loosely solved iterates and for the state it hands out (to 1e-8 K: 121
iterations against GMRES's 200 on open-row-fine), with GMRES behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from twin.compiled import numba_cache_wanted
from twin.thermal.network import FluidNetwork
from twin.thermal.threads import limited_blas
from twin.thermal.transport import AirProperties, flux_operator

__all__ = ["SteadyNotConverged", "SteadyResult", "solve_steady_field"]

# A time scale far beyond any flushing time ties cells that neither flow nor diffusion reach (sealed
# pockets) to their previous temperature instead of leaving the system singular.
_ANCHOR_S = 1.0e9
# BiCGSTAB iterations before GMRES takes over (a converging solve needs 30–150 on the validation halls).
_BICGSTAB_MAXITER = 500


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _ordered_lower_solve(indptr, indices, data, order, r):  # pragma: no cover - compiled
    """x with L y = r[order], x[order] = y: forward substitution with L, the CSR lower triangle (sorted
    indices, diagonal last in each row) of a matrix permuted into ``order``.

    The preconditioner of the steady solve, in place of a SuperLU factorization of the same triangle (natural
    order, no pivoting: no fill, so its factors are the triangle itself) and its solves with a gather before
    and a scatter after each. Here the gather and scatter happen inside the one pass. It differs from SuperLU's
    result in rounding only.
    """
    n = order.size
    y = np.empty(n)
    x = np.empty(n)
    for row in range(n):
        acc = r[order[row]]
        last = indptr[row + 1] - 1
        for q in range(indptr[row], last):
            acc -= data[q] * y[indices[q]]
        y[row] = acc / data[last]
        x[order[row]] = y[row]
    return x


class SteadyNotConverged(RuntimeError):
    """The Krylov solve of the steady system did not reach its tolerance."""


@dataclass
class SteadyResult:
    t_air_c: np.ndarray  # per fluid cell, °C
    outlet_c: np.ndarray  # per mover, °C
    iterations: int  # Krylov iterations: BiCGSTAB's (krylov="bicgstab"), then GMRES's if it stopped short
    residual_k: float  # rms residual of the (kelvin-scaled) system, K


def solve_steady_field(net: FluidNetwork, face_flow_m3s: np.ndarray, mover_flow_m3s: np.ndarray,
                       potential: np.ndarray, air: AirProperties, alpha: np.ndarray, beta_c: np.ndarray,
                       *, mover_heat_w: np.ndarray | float = 0.0, t_guess_c: np.ndarray,
                       tol_k: float = 1e-8, max_restarts: int = 25,
                       face_diffusivity_m2s: np.ndarray | None = None, krylov: str = "gmres",
                       source_w: np.ndarray | None = None) -> SteadyResult:
    """Solve the coupled steady system; see the module docstring for α and β, and for ``krylov``
    ("gmres" or "bicgstab").

    ``source_w`` (per fluid cell, W) is added to the cells' heat: a deferred correction of the advection
    scheme (:func:`~twin.thermal.transport.linear_upwind_correction_w`) enters here, its sum zero.

    ``face_diffusivity_m2s`` (per open face) replaces ``air.diffusivity_m2s``, as in
    :func:`~twin.thermal.transport.flux_operator`.

    BLAS runs on :data:`twin.thermal.threads.SOLVER_BLAS_THREADS` threads (see that module: on a loaded
    machine more threads make GMRES slower).
    """
    if krylov not in ("gmres", "bicgstab"):
        raise ValueError(f"krylov must be 'gmres' or 'bicgstab', got {krylov!r}")
    with limited_blas():
        return _solve_steady_field(net, face_flow_m3s, mover_flow_m3s, potential, air, alpha, beta_c,
                                   mover_heat_w=mover_heat_w, t_guess_c=t_guess_c, tol_k=tol_k,
                                   max_restarts=max_restarts, face_diffusivity_m2s=face_diffusivity_m2s,
                                   krylov=krylov, source_w=source_w)


def _solve_steady_field(net: FluidNetwork, face_flow_m3s: np.ndarray, mover_flow_m3s: np.ndarray,
                        potential: np.ndarray, air: AirProperties, alpha: np.ndarray, beta_c: np.ndarray,
                        *, mover_heat_w: np.ndarray | float, t_guess_c: np.ndarray, tol_k: float,
                        max_restarts: int, face_diffusivity_m2s: np.ndarray | None, krylov: str,
                        source_w: np.ndarray | None = None) -> SteadyResult:
    n, m = net.n, len(mover_flow_m3s)
    rc = air.rho_cp
    anchor = rc * net.cell_volume_m3 / _ANCHOR_S
    k_op = (flux_operator(net, face_flow_m3s, mover_flow_m3s, air, face_diffusivity_m2s=face_diffusivity_m2s)
            + sp.identity(n, format="csr") * anchor)
    inject = (net.outlet @ sp.diags(rc * np.asarray(mover_flow_m3s, float))).tocsr()  # cells × movers
    # Scale cell rows by their diagonal so that every row of the system is in kelvin.
    d = k_op.diagonal()
    scale = sp.diags(1.0 / d)
    k_scaled = (scale @ k_op).tocsr()
    top = sp.hstack([k_scaled, -(scale @ inject)])
    bottom = sp.hstack([-(sp.diags(alpha) @ net.intake.T), sp.identity(m)])
    system = sp.vstack([top, bottom]).tocsr()
    direct_w = net.outlet @ np.broadcast_to(mover_heat_w, (m,))
    if source_w is not None:
        direct_w = direct_w + source_w
    rhs = np.concatenate([(direct_w + anchor * t_guess_c) / d, beta_c])

    order = np.argsort(-potential, kind="stable")
    lower = sp.tril(k_scaled[order][:, order], format="csr")
    lower.sum_duplicates()  # (sorted indices: each row's diagonal is its last entry)
    tri = (lower.indptr.astype(np.int64), lower.indices.astype(np.int64), lower.data, order.astype(np.int64))
    intake_t = net.intake.T.tocsr()

    def precondition(r: np.ndarray) -> np.ndarray:
        # Block Gauss–Seidel: cells by the ordered triangular solve, then movers from their intakes.
        x = _ordered_lower_solve(*tri, np.ascontiguousarray(r[:n]))
        return np.concatenate([x, r[n:] + alpha * (intake_t @ x)])

    pre = spla.LinearOperator(system.shape, precondition)
    z0 = np.concatenate([t_guess_c, alpha * (intake_t @ t_guess_c) + beta_c])
    count = [0]

    def callback(_):
        count[0] += 1

    # Every row is in kelvin (cells scaled by their diagonal): an absolute tolerance of tol_k per row
    # means the same whatever the heat load, also with none at all.
    atol = tol_k * np.sqrt(rhs.size)
    info = 1
    if krylov == "bicgstab":
        z, info = spla.bicgstab(system, rhs, x0=z0, M=pre, rtol=0.0, atol=atol, maxiter=_BICGSTAB_MAXITER,
                                callback=callback)
        if info != 0 and np.all(np.isfinite(z)):
            z0 = z  # stopped short or broke down: GMRES carries on from there
    if info != 0:
        z, info = spla.gmres(system, rhs, x0=z0, M=pre, rtol=0.0, atol=atol, restart=200, maxiter=max_restarts,
                             callback=callback, callback_type="pr_norm")
    residual_k = float(np.linalg.norm(system @ z - rhs) / np.sqrt(rhs.size))
    if info != 0 and residual_k > 100 * tol_k:
        raise SteadyNotConverged(f"steady solve did not converge: rms residual {residual_k:.2e} K after "
                                 f"{count[0]} Krylov iterations")
    return SteadyResult(z[:n], z[n:], count[0], residual_k)
