"""Mass-conserving potential flow driven by the air movers (server fans, CRAH fans).

Governing equations, on the fluid cells and their open faces f = (a, b):

    F_f = g_f (φ_a − φ_b)                 face flow, m³/s; g_f = openness · area / distance, m
    Σ_{f out of i} F_f − Σ_{f into i} F_f = s_i     s = outlets·q − intakes·q, m³/s

i.e. the weighted graph Laplacian L φ = s. Walls, solids and closed panels have no face, so no air
crosses them; perforated tiles and leaky panels have a reduced g. The matrix L depends on geometry
only: the movers' flows q enter through the right-hand side, so a fan-speed change costs one
warm-started CG solve with the multigrid preconditioner built once (never a solve from scratch).

The preconditioner: L is a 7-point operator on the uniform voxel grid (g = h · openness, h the cell size;
the grounding below on the diagonal), the same kind as the momentum model's pressure correction. Two are
offered: pyamg's Ruge–Stüben hierarchy of L (``multigrid="amg"``, the default: what the potential model's
HallTwin uses) and that model's structured multigrid, :class:`~twin.thermal.pressure_mg.PressureMultigrid`,
on the grid's faces (``multigrid="gmg"``: what a momentum-model HallTwin uses). The Ruge–Stüben set-up is
the cost where the potential flow is only a side solve: ~0.25–0.3 s of CPU per solver on a 120k–145k-cell
hall, paid by every HallTwin (two of them in a grid-sequenced momentum solve), against milliseconds. The
structured multigrid needs more CG iterations where conductances jump (tiles σ² = 0.0625, leaky panels
0.0009: 2×2×2 blocks straddle some of them), each iteration cheaper; on large that leaves its re-solves 1.4×
slower, and a potential-model twin re-solves at every fan-law change of a live run, so it keeps pyamg.
Measured (CPU, alternated pairs against pyamg, a shared 2-core machine):

* ``AirflowSolver(net)`` + one cold solve, first in the process / repeated: open-row-fine (120k cells, no
  tiles or panels) 0.60, 0.44, 0.42 s → 0.24, 0.25, 0.25 s (0.41–0.60×; the first includes ~0.17 s of loading
  the compiled kernels, which the momentum model loads anyway) / 0.41–0.46 s → 0.063–0.067 s (0.15×; 10 CG
  iterations vs 13); reference (145k) 0.52, 0.50, 0.52 s → 0.43, 0.45, 0.42 s (0.80–0.90×) / 0.48–0.55 s →
  0.23–0.26 s (0.43–0.53×; 44 CG iterations vs 14, the solve itself 0.19–0.20 s vs 0.20–0.22 s).
* Re-solves: reference a 2 % rack change 0.19 s (41 it) vs 0.19–0.20 s (13), a basis potential 0.22 s vs
  0.25 s; large (572k cells) is the exception: a cold solve 1.8–1.9 s (87 it) vs 1.3 s (20), a rack change
  1.6–1.7 s vs 1.2 s (1.4×), a basis potential 2.0–2.1 s vs 1.5 s, though its ``twin bench`` set-up (the
  first solve included) still drops, 5.70 → 5.20 and 5.66 → 4.91 s.
* Momentum steady solve of open-row-fine (``offconv``: two HallTwins, coarse and fine): 6.7, 6.6, 7.1 s →
  6.3, 6.1, 6.5 s (0.92–0.94×), the same 17 outer iterations and 0.192 K from the converged answer;
  open-row 1.6 → 1.5 s (three pairs).
* ``twin bench reference --duration 10min`` with the potential model on gmg (measured, not kept: see
  above), six pairs: set-up 1.22–1.54 s → 0.89–1.06 s (0.65–0.87×, geometric mean 0.75×); step 3.16 → 3.22
  ms median (1.02×, noise: the run solves the flow once, in the set-up, and its step is the transport's).

Because φ is a potential, every face flow runs from higher to lower φ: the flow graph has no cycles,
which the transport solver exploits.

φ is linear in q: φ = Σ_j q_j φ_j with L φ_j = s_j, mover j's sources at unit flow. The CRAHs' fans are
the movers that controllers move all the time (a trip, a speed loop), so the solver keeps the basis
potential φ_j of each CRAH once it has moved (solved once, to 1e-12 of its sources), and starts a solve
from the last potential plus Σ_j Δq_j φ_j over the CRAHs that moved. When only CRAHs moved, that start
usually meets the tolerance already and no CG iteration is needed; the residual is checked every time, so
what a solve returns meets the same tolerance whichever start it took.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from twin.thermal.network import FluidNetwork
from twin.thermal.pressure_mg import PressureMultigrid
from twin.thermal.threads import limited_blas

if TYPE_CHECKING:
    import pyamg

__all__ = ["AirflowSolver", "AirPathError", "cell_velocity_m_s", "face_divergence"]

#: CG runs to this fraction of the tolerance: a superposed start carries the last solve's residual plus the
#: basis potentials' own (1e-12 of their sources), so stopping just below the tolerance would leave no room
#: and every CRAH change would need a CG iteration after all (measured on the reference hall: 9.8e-11 after
#: a cold solve, 1.02e-10 at the start after a trip). With a tenth, many changes fit before CG runs again.
CG_HEADROOM = 0.1
#: Relative residual the basis potentials are solved to.
BASIS_RTOL = 1e-12


class AirPathError(ValueError):
    """An air mover whose intake and outlet are in regions that air cannot pass between."""


def face_divergence(net: FluidNetwork, face_flow_m3s: np.ndarray) -> np.ndarray:
    """Net outflow of each fluid cell through its faces, m³/s."""
    return (np.bincount(net.face_a, face_flow_m3s, net.n) - np.bincount(net.face_b, face_flow_m3s, net.n))


class AirflowSolver:
    """Solves the potential flow for given mover flows, reusing its multigrid hierarchy and last φ."""

    def __init__(self, net: FluidNetwork, *, rtol: float = 1e-10, multigrid: str = "amg") -> None:
        self.net = net
        self.rtol = rtol
        self.conductance_m = net.face_open * net.face_area_m2 / net.dist_m
        self._check_air_paths()
        n, a, b, g = net.n, net.face_a, net.face_b, self.conductance_m
        lap = sp.coo_matrix(
            (np.concatenate([g, g, -g, -g]), (np.concatenate([a, b, a, b]), np.concatenate([a, b, b, a]))),
            shape=(n, n),
        ).tocsr()
        # L is singular (φ is defined up to a constant in each connected region). Tie the first cell of
        # each region to φ = 0 through a conductance: with consistent sources (each region's sources sum
        # to zero, checked above) the exact solution sends no flow through that tie.
        first = np.full(net.n_components, -1, dtype=np.int64)
        order = np.arange(n)[::-1]
        first[net.component[order]] = order
        ground = np.zeros(n)
        ground[first] = float(np.mean(g)) if g.size else 1.0
        self.laplacian = (lap + sp.diags(ground)).tocsr()
        if multigrid not in ("gmg", "amg"):
            raise ValueError(f"multigrid must be 'gmg' or 'amg', got {multigrid!r}")
        self.method = multigrid
        #: CG's preconditioner: the structured multigrid of the voxel grid (``multigrid="gmg"``), or pyamg's
        #: Ruge–Stüben hierarchy of ``laplacian`` ("amg"). Built once: fan changes only move the sources.
        self.multigrid: PressureMultigrid | pyamg.multilevel.MultilevelSolver
        if multigrid == "gmg":
            self.multigrid = self._grid_multigrid(ground)
        else:
            # Classical (Ruge–Stüben) AMG: on these Laplacians, with conductances that jump by 10³ at tiles
            # and panels, it needs half the CG iterations of smoothed aggregation (measured on reference
            # and large: 14 vs 30 and 18 vs 33) for a similar set-up time.
            import pyamg  # (imported here: the momentum model's potential flow takes "gmg" and needs none of it)

            self.multigrid = pyamg.ruge_stuben_solver(self.laplacian, max_coarse=500, coarse_solver="splu")
        #: The last potential, and the mover flows it solves (None: unknown, e.g. set from outside without
        #: them); the next solve starts from it.
        self.phi = np.zeros(n)
        self.phi_movers_m3s: np.ndarray | None = None
        #: CG iterations of the last solve (0: the superposed start already met the tolerance).
        self.iterations = 0
        # Mover columns with a basis potential (the CRAHs: their fans move under control), solved on first use.
        self.basis_movers = frozenset(range(net.n_racks, net.n_racks + net.n_crahs))
        self._basis: dict[int, np.ndarray] = {}

    def _grid_multigrid(self, ground: np.ndarray) -> PressureMultigrid:
        """:class:`PressureMultigrid` of ``laplacian`` on the voxel grid: each network face's conductance on the
        grid face between its cells, the grounding on its cell; remembers where each fluid cell sits in the
        multigrid's padded vectors."""
        net = self.net
        shape = tuple(int(n) for n in net.vox.grid.shape)
        fluid = np.zeros(shape, dtype=bool)
        fluid.ravel()[net.fluid_flat] = True
        ground_grid = np.zeros(shape)
        ground_grid.ravel()[net.fluid_flat] = ground
        high = np.unravel_index(net.fluid_flat[net.face_b], shape)  # face_b is face_a's neighbour above
        weights = []
        for axis in range(3):
            face_shape = list(shape)
            face_shape[axis] += 1
            w = np.zeros(face_shape)
            sel = net.face_axis == axis
            # Grid face i along the axis lies between cells i − 1 and i: the index of the high cell.
            w[tuple(idx[sel] for idx in high)] = self.conductance_m[sel]
            weights.append(w)
        mg = PressureMultigrid(fluid, weights, ground_grid)
        padded = tuple(n + 2 for n in shape)
        self._padded_index = np.ravel_multi_index(
            tuple(idx + 1 for idx in np.unravel_index(net.fluid_flat, shape)), padded)
        return mg

    def _cg(self, b: np.ndarray, rtol: float, x0: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """Preconditioned CG on L x = b from ``x0`` (default zero) until ‖b − L x‖ < rtol ‖b‖; x, iterations.

        CG stops on its updated residual, which drifts from the true one near 1e-12 (the basis potentials'
        tolerance: 1.06e-12 measured on the reference hall); when the true residual misses the tolerance, CG
        restarts from where it stopped (within 200 iterations in all)."""
        tol = rtol * float(np.linalg.norm(b))
        x, iterations = self._cg_run(b, rtol, x0, 200)
        while iterations < 200 and float(np.linalg.norm(b - self.laplacian @ x)) > tol:
            x, more = self._cg_run(b, rtol, x, 200 - iterations)
            iterations += max(more, 1)
        return x, iterations

    def _cg_run(self, b: np.ndarray, rtol: float, x0: np.ndarray | None, maxiter: int) -> tuple[np.ndarray, int]:
        mg = self.multigrid
        if isinstance(mg, PressureMultigrid):
            index = self._padded_index
            b_grid = np.zeros(mg.shape)
            b_grid.ravel()[index] = b
            x0_grid = None
            if x0 is not None:
                x0_grid = np.zeros(mg.shape)
                x0_grid.ravel()[index] = x0
            x = mg.solve(b_grid, rtol, maxiter=maxiter, x0=x0_grid)
            return np.ascontiguousarray(x.ravel()[index]), mg.iterations
        residuals: list[float] = []
        x = mg.solve(b, x0=x0, tol=rtol, accel="cg", maxiter=maxiter, residuals=residuals)
        return np.asarray(x), len(residuals) - 1

    def _check_air_paths(self) -> None:
        comp = self.net.component
        for j, name in enumerate(self.net.mover_names):
            cin = np.unique(comp[self.net.intake[:, j].indices])
            cout = np.unique(comp[self.net.outlet[:, j].indices])
            if not (cin.size == 1 and cout.size == 1 and cin[0] == cout[0]):
                raise AirPathError(
                    f"{name}: air blown out cannot return to its intake (walls, objects or sealed panels "
                    f"separate them); open a path, e.g. containment leakage > 0"
                )

    def sources_m3s(self, mover_flow_m3s: np.ndarray) -> np.ndarray:
        """Volume source of each fluid cell: + at outlets, − at intakes."""
        return self.net.outlet @ mover_flow_m3s - self.net.intake @ mover_flow_m3s

    def solve(self, mover_flow_m3s: np.ndarray) -> np.ndarray:
        """Face flows (m³/s, positive from face_a to face_b) for the given mover flows.

        Starts from ``phi`` (plus the basis potentials of the CRAHs whose flow changed since
        ``phi_movers_m3s``); if that start leaves a residual ‖s − L φ‖ above ``rtol`` ‖s‖, runs
        multigrid-preconditioned CG from it to ``CG_HEADROOM`` times that.
        """
        q = np.array(mover_flow_m3s, dtype=float)
        s = self.sources_m3s(q)
        if not np.any(s):
            self.phi[:] = 0.0
            self.phi_movers_m3s, self.iterations = q, 0
            return np.zeros(self.net.face_a.size)
        with limited_blas():  # see twin.thermal.threads (the norms too: a BLAS dot on a loaded machine)
            start = self._superposed_start(q)
            norm_s = float(np.linalg.norm(s))
            residual_m3s = float(np.linalg.norm(s - self.laplacian @ start))
            if residual_m3s <= self.rtol * norm_s:
                self.phi, self.iterations = start, 0
            else:
                self.phi, self.iterations = self._cg(s, self.rtol * CG_HEADROOM, x0=start)
        self.phi_movers_m3s = q
        return self.conductance_m * (self.phi[self.net.face_a] - self.phi[self.net.face_b])

    def _superposed_start(self, q: np.ndarray) -> np.ndarray:
        """The last potential, moved by Σ_j Δq_j φ_j over the basis movers (CRAHs) whose flow changed."""
        start = self.phi.copy()
        last = self.phi_movers_m3s
        if last is None or last.shape != q.shape:
            return start
        for j in np.flatnonzero(q != last):
            if int(j) in self.basis_movers:
                start += (q[j] - last[j]) * self.basis_potential(int(j))
        return start

    def basis_potential(self, mover: int) -> np.ndarray:
        """φ_j: the potential of mover ``mover`` alone at unit flow (1 m³/s), solved once to ``BASIS_RTOL``."""
        phi_j = self._basis.get(mover)
        if phi_j is None:
            unit = np.zeros(self.net.intake.shape[1])
            unit[mover] = 1.0
            with limited_blas():
                phi_j, _ = self._cg(self.sources_m3s(unit), BASIS_RTOL)
            self._basis[mover] = phi_j
        return phi_j


def cell_velocity_m_s(net: FluidNetwork, face_flow_m3s: np.ndarray) -> np.ndarray:
    """Cell-centred velocity (n, 3), m/s: the mean of the flows through each cell's two faces per axis."""
    vel = np.zeros((net.n, 3))
    area = net.face_area_m2
    for axis in range(3):
        sel = net.face_axis == axis
        u = face_flow_m3s[sel] / area
        vel[:, axis] = 0.5 * (np.bincount(net.face_a[sel], u, net.n) + np.bincount(net.face_b[sel], u, net.n))
    return vel
