"""Conservative finite-volume heat transport on the fluid cells, implicit in time.

Energy balance of fluid cell i (volume V, temperature T_i), with ρ c_p the air's volumetric heat:

    ρ c_p V dT_i/dt = − Σ_f ρ c_p F_f T_upwind(f)          advection by the face flows (first-order upwind)
                      + Σ_f k_f (T_j − T_i)                 turbulent diffusion, k_f = ρ c_p α · open · A/d
                      − ρ c_p q_in,i T_i                     air drawn into racks / CRAHs at intakes
                      + ρ c_p q_out,i T_mover                air blown out of racks / CRAHs at outlets
                      + P_i                                  heat released straight into the air (W)

Backward Euler gives A T' = b with A = ρ c_p V/dt + K. Because the flow is a potential flow, every
advective coupling points from higher to lower potential: ordering the cells by falling potential makes
the advective part of A lower triangular. The solver factors the lower triangle M of the ordered A once
per flow field (an LU of a triangular matrix has no fill) and iterates x ← M⁻¹ (b − U x), where U holds
only the diffusive couplings to downstream cells; it converges in a few sweeps for any time step. A
final flux-form update T' = x + dt/(ρ c_p V) (b − A x) makes the step conserve energy to round-off
whatever the iteration's tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from twin.thermal.network import FluidNetwork

__all__ = ["AirProperties", "TransportOperator", "flux_operator", "heat_rate_w"]


@dataclass(frozen=True)
class AirProperties:
    density_kg_m3: float = 1.19
    cp_j_kgk: float = 1006.0
    diffusivity_m2s: float = 0.005

    @property
    def rho_cp(self) -> float:
        """Volumetric heat capacity, J/(m³·K)."""
        return self.density_kg_m3 * self.cp_j_kgk


def flux_operator(net: FluidNetwork, face_flow_m3s: np.ndarray, mover_flow_m3s: np.ndarray,
                  air: AirProperties, *, rank: np.ndarray | None = None) -> sp.csr_matrix:
    """K (W/K): (K T)_i is the heat leaving cell i by advection, diffusion and mover intakes.

    With ``rank`` (new position of each cell), K is assembled directly in that order.

    Its column sums are zero except at intake cells, where they equal ρ c_p q_in: what K moves
    between cells is conserved, and what it removes is exactly the heat drawn into the movers.
    """
    rc = air.rho_cp
    n, a, b = net.n, net.face_a, net.face_b
    f = face_flow_m3s
    up = np.where(f > 0, a, b)
    down = np.where(f > 0, b, a)
    adv = rc * np.abs(f)
    k = rc * air.diffusivity_m2s * net.face_open * net.face_area_m2 / net.dist_m
    sink = rc * (net.intake @ mover_flow_m3s)
    rows = np.concatenate([up, down, a, b, a, b, np.arange(n)])
    cols = np.concatenate([up, up, a, b, b, a, np.arange(n)])
    vals = np.concatenate([adv, -adv, k, k, -k, -k, sink])
    if rank is not None:
        rows, cols = rank[rows], rank[cols]
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))


def heat_rate_w(net: FluidNetwork, face_flow_m3s: np.ndarray, mover_flow_m3s: np.ndarray,
                air: AirProperties, t_c: np.ndarray, mover_outlet_c: np.ndarray,
                mover_heat_w: np.ndarray | float = 0.0) -> np.ndarray:
    """Reference (plain) form of the right-hand side: ρ c_p V dT/dt per cell, W.

    Movers blow air at ``mover_outlet_c`` and release ``mover_heat_w`` (e.g. fan heat) at their outlets.
    """
    k_op = flux_operator(net, face_flow_m3s, mover_flow_m3s, air)
    inject = net.outlet @ (air.rho_cp * mover_flow_m3s * mover_outlet_c + mover_heat_w)
    return inject - k_op @ t_c


class TransportOperator:
    """One implicit step of the transport for a fixed flow field and time step (factorized once).

    Internally everything runs in flow order (``order``): the mover maps are permuted once here, so a
    step gathers the old field once and scatters the new one once.
    """

    def __init__(self, net: FluidNetwork, face_flow_m3s: np.ndarray, mover_flow_m3s: np.ndarray,
                 potential: np.ndarray, air: AirProperties, dt_s: float, *, tol_k: float = 1e-3,
                 rtol: float = 0.1, max_sweeps: int = 60) -> None:
        self.net = net
        self.air = air
        self.dt_s = float(dt_s)
        self.tol_k = tol_k
        self.rtol = rtol
        self.max_sweeps = max_sweeps
        self.mover_flow_m3s = np.asarray(mover_flow_m3s, dtype=float).copy()
        self.cell_heat_j_per_k = air.rho_cp * net.cell_volume_m3
        # Falling potential = downstream order (stable sort keeps ties in grid order).
        self.order = np.argsort(-potential, kind="stable")
        self.rank = np.empty_like(self.order)
        self.rank[self.order] = np.arange(net.n)
        k_ord = flux_operator(net, face_flow_m3s, self.mover_flow_m3s, air, rank=self.rank)
        a_ord = (k_ord + sp.identity(net.n, format="csr") * (self.cell_heat_j_per_k / self.dt_s)).tocsr()
        lower = sp.tril(a_ord, format="csc")
        self.upper = sp.triu(a_ord, k=1, format="csr")
        self._lu = spla.splu(lower, permc_spec="NATURAL", diag_pivot_thresh=0.0)
        self._outlet_ord = net.outlet.tocsr()[self.order]
        self._intake_t_ord = net.intake.tocsr()[self.order].T.tocsr()
        self.last_sweeps = 0

    @property
    def stored_entries(self) -> int:
        """Matrix entries a sweep streams: the triangular factor and the downstream couplings."""
        return int(self._lu.L.nnz + self._lu.U.nnz + self.upper.nnz)

    def step(self, t_c: np.ndarray, mover_outlet_c: np.ndarray, mover_heat_w: np.ndarray | float = 0.0,
             t_guess_c: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Advance the air temperature by dt.

        ``t_guess_c`` starts the sweeps (e.g. extrapolated from the last two steps); it changes how
        many sweeps are needed, not the answer beyond the tolerance.

        Returns:
            (t_new_c, mover_intake_c): the conservative new field, and each mover's mixed intake
            temperature at the implicit iterate, i.e. the air the movers drew in during the step.
        """
        inject_w = self._outlet_ord @ (self.air.rho_cp * self.mover_flow_m3s * mover_outlet_c + mover_heat_w)
        b = self.cell_heat_j_per_k / self.dt_s * t_c[self.order] + inject_w
        t_old = t_c[self.order]
        x = t_old if t_guess_c is None else t_guess_c[self.order]
        ux = self.upper @ x
        for sweep in range(1, self.max_sweeps + 1):  # noqa: B007 - the count is kept after the loop
            x_new = self._lu.solve(b - ux)
            ux_new = self.upper @ x_new
            change = np.max(np.abs(x_new - x)) if x.size else 0.0
            # Residual of A x = b at x_new is U (x_old − x_new): the flux-form update below uses it.
            residual = ux - ux_new
            x, ux = x_new, ux_new
            # Converged when the last sweep moved no cell by more than tol_k, or by more than rtol of
            # what the step itself changes (a jittery controller moves the field by tenths of a kelvin
            # each step; resolving that to a thousandth would cost sweeps and buy nothing).
            if change < max(self.tol_k, self.rtol * float(np.max(np.abs(x - t_old)))):
                break
        self.last_sweeps = sweep
        residual *= self.dt_s / self.cell_heat_j_per_k
        residual += x
        t_new = np.empty_like(t_c)
        t_new[self.order] = residual
        return t_new, self._intake_t_ord @ x
