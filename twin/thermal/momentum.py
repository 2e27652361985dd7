"""Momentum airflow: steady incompressible Navier–Stokes with Boussinesq buoyancy on the voxel grid.

Governing equations (kinematic pressure p = P/ρ, m²/s²; velocity u, m/s; per unit volume of air):

    ∇·u = s                                                   s: air-mover volume sources, 1/s
    (u·∇)u = −∇p + ∇·(ν_eff ∇u) + g β (T − T_ref) ẑ            (g acts along −ẑ: warm air rises)
             − ζ u|u| / (2 h) on partially open faces           (porous loss of tiles, leaky panels)
             + s_out (u_jet − u) at air-mover outlets            (a mover's air enters as a jet)
    ν_eff = ν + ν_t,   ν_t = 0.03874 |U| L                       (Chen & Xu 1998, zero-equation)

with g = 9.81 m/s², β = 1/(T_ref + 273.15), L the distance to the nearest wall or solid, |U| the local
speed. The non-conservative form is used because mass sources are present: a source cell's air enters
with the mover's velocity (the outlet jet, u_jet = q / outlet area along the mover's facing), an intake
removes air with the momentum it has, which in this form needs no term.

Discretization (why):

* Staggered (MAC) grid, velocities on cell faces, pressure at cell centres, on the same uniform voxel
  grid as the potential flow and the transport: the face flows F_f = h² u_f are what the transport
  consumes, and the MAC grid has no pressure checkerboard. Solid cells, closed faces (openness 0) and
  the domain boundary are walls: the normal velocity is zero; tangential velocities see a no-slip wall
  half a cell away (coefficient 2ν/h), a free-slip wall (no shear), or a moving wall (a lid).
* Partially open faces (0 < openness o < 1) carry the Borda–Carnot loss of air squeezed through a free
  area o: Δp = ζ ρ u|u|/2 with ζ = (1/o − 1)², linearized (Picard) into the face's diagonal. Note that
  HallVoxels stores σ² for a tile of open fraction σ (its potential-flow conductance); the caller
  chooses what openness it hands in.
* Convection: first-order upwind in the matrix (diagonally dominant, robust for jets at cell Péclet
  numbers of 10³), with an optional deferred correction on the right-hand side: towards central
  differences (``central_blend`` 0–1), or towards van Leer's TVD scheme (``convection = "tvd"``,
  weighted by ``tvd_blend``). At convergence the scheme is the corrected one while the matrix stays the
  upwind M-matrix the Gauss–Seidel sweeps need. Van Leer's limiter (u_f = u_U + ½ψ(r)(u_D − u_U),
  ψ = (r+|r|)/(1+|r|)) is second order where the field is smooth and falls back to upwind at extrema,
  so unlike central differences it adds no wiggles at the high cell Péclet numbers of a hall's jets;
  it is smooth in r, so the correction does not chatter between iterations as minmod's or superbee's
  switches do. Measured (validation/, same runs, shared machine): Ghia's cavity at Re 1000 on 64² goes
  from 0.061 / 0.075 (upwind) and 0.011 / 0.011 (central) to 0.009 / 0.007 u/v RMS, within the 0.01
  target; 32² stays above it (0.033 / 0.036: the grid, not the scheme). In the halls the full
  correction (blend 1) does not settle with buoyancy: the row-end plumes keep swinging (intakes ±1 K,
  residuals stalled at 1.5e-3) where the upwind scheme's diffusion damps them; with blend 0.5 it
  converges there, and moves the aisle-pair intakes by under 0.4 K (RMS against the CFD 1.79 K against
  upwind's 1.81 K) at about twice the cost, while the open-row hall's isothermal start-up solve still
  stalls at 1e-3 (2000 iterations). The halls' error at the row ends is therefore not upwind numerical
  diffusion of momentum (the raised floor's tile flows differ from the CFD's more: 15 % more air out of
  the tiles next to the CRAHs, 6 % less at the far end). Halls default to upwind (``[airflow]
  convection``); "tvd" is the choice for laminar benchmarks and for studies of jets in rooms where it
  converges, whose spread it leaves to the turbulence model.
* Solution: SIMPLEC-type pseudo-transient pressure correction. Each iteration solves the linearized
  momentum equations with a pseudo time step Δt = cfl · h / U_ref (a few red–black Gauss–Seidel sweeps,
  vectorized over the grid), then projects the face flows onto div F = s with a pressure correction φ:

      L φ = (s − D F*) / (Δt h),  F = F* + Δt h w (φ_a − φ_b),  p ← p + φ

  where L is the openness-weighted graph Laplacian (weights w = o). In the non-conservative form the
  momentum diagonal minus its neighbours is V/Δt in the interior, so this L is SIMPLEC's pressure
  matrix there, and it depends on the geometry only: its algebraic-multigrid hierarchy is built once
  and every projection is a warm-started AMG-CG solve. At a fixed point φ = 0 and u* = u, so the
  converged field satisfies the steady equations whatever Δt and w are.
* Converged when the continuity residual (rms of D F* − s before the projection) and the momentum
  residual (rms change of u per step, i.e. the steady equations' imbalance) both fall below ``tol``.
  Both are rates per convective time h/U_ref in units of U_ref (divided by cfl), so they do not depend
  on the pseudo time step. U_ref is the fastest outlet jet, the lid, or the buoyant velocity √(gβΔT H).
  The returned flows come from a final projection (AMG-CG to 1e-3) whose small remainder is then routed
  along a breadth-first spanning tree of the cells (each cell's deficit sent to its parent, deepest
  first: exact, O(cells), moves no face by more than about 3e-5 m/s), so they are divergence-free (net
  outflow = mover source) to round-off whatever the convergence, at under half the cost of solving the
  projection itself to round-off.
* Perforated faces (tiles, leaky panels) are walls to the tangential velocity: the air they pass arrives
  with no tangential momentum (the holes turn it normal to the plate), and shear across them is that of
  a no-slip wall. A plenum's horizontal jet does not blow through the tiles into the room.
* Defaults (cfl 5, 2 sweeps, AMG-CG to rtol 0.1 per pressure correction) were chosen by measurement on
  a 130k-cell room. One plain V-cycle instead (``pressure_rtol`` None) takes 0.75× the time of an
  isothermal flow solve (aisle-pair: 76 against 75 iterations) and of the contained hall's steady solve,
  but the aisle-pair hall's buoyant steady solve then needed 134 outer iterations instead of 23 (the
  row-end plumes settle more slowly on the rougher correction), so it is not the default. Larger cfl stalls
  the continuity residual (the constant-coefficient correction stops matching the momentum diagonal
  near walls, jets and tiles), more sweeps or tighter pressure solves cost more than the
  iterations they save. ``tol`` 1e-4 leaves the face flows about 10 % (L2) from the converged field, 1e-5
  a few %. Two remedies that steady CFD codes use did not pay here (measured on the open-row validation
  hall's isothermal solve, 170 iterations to 1e-4): local pseudo time steps (Δt_f = cfl h / the fastest
  speed around the face, up to 4–30× the global step in slow air, with the pressure matrix weighted to
  match) took 159–161, so slow recirculation is not what limits it; SIMPLEC weights that carry each
  face's own momentum diagonal (walls, jets, tiles) into the pressure matrix took 166 at cfl 5 and still
  stalled at cfl 20 (continuity 4e-4), so the stall at large steps is not that mismatch either.
* Floating-point overflow or NaN stops the solve with FlowNotConverged and restores the last field.

The turbulence model's length scale ignores thin closed faces (panels): L is the distance to solid
cells and to the no-slip domain walls only.

The same ν_t mixes the heat: :meth:`MomentumSolver.face_diffusivity_m2s` gives the temperature transport
ν/Pr + ν_t/Pr_t on its faces (Reynolds analogy), so the air mixes where this flow is turbulent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyamg
import scipy.ndimage as ndi
import scipy.sparse as sp

from twin.thermal.airflow import AirPathError
from twin.thermal.threads import limited_blas

if TYPE_CHECKING:
    from twin.geometry.voxel import HallVoxels

__all__ = [
    "AIR_PRANDTL",
    "CHEN_XU_CONSTANT",
    "CONVECTION_SCHEMES",
    "FlowNotConverged",
    "MomentumSettings",
    "MomentumSolver",
    "MoverJets",
    "SIDES",
    "SolveInfo",
    "TURBULENT_PRANDTL",
    "Wall",
    "borda_carnot_loss",
]

#: ν_t = 0.03874 |U| L (Chen & Xu 1998).
CHEN_XU_CONSTANT = 0.03874

#: Prandtl number of air (ν/α at room temperature) and the turbulent Prandtl number ν_t/α_t usual for
#: indoor air (0.85–0.9 in RANS codes; the OpenFOAM references in validation/ use 0.85): they turn the
#: flow's viscosities into the transport's eddy diffusivity of heat.
AIR_PRANDTL = 0.71
TURBULENT_PRANDTL = 0.9

#: Relative tolerance of the last projection of a solve; the spanning-tree closure takes the rest to round-off.
_FINAL_PRESSURE_RTOL = 1e-3

#: Names of the six sides of the domain, in (axis, low/high) order.
SIDES = ("x-", "x+", "y-", "y+", "z-", "z+")


def borda_carnot_loss(openness: np.ndarray) -> np.ndarray:
    """Loss coefficient ζ = (1/o − 1)² of a face with free-area ratio o (0 < o ≤ 1)."""
    return (1.0 / openness - 1.0) ** 2


@dataclass(frozen=True)
class Wall:
    """A side of the domain: no-slip (optionally moving, e.g. a lid) or free-slip."""

    slip: bool = False
    velocity_m_s: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class MomentumSettings:
    """Physical and numerical settings of the momentum model.

    Attributes:
        viscosity_m2s: molecular kinematic viscosity ν (air ≈ 1.5e-5).
        turbulence: add Chen–Xu's ν_t.
        buoyancy: Boussinesq buoyancy from the temperature field.
        t_ref_c: reference temperature of β = 1/(T_ref + 273.15); the buoyancy uses T − T_ref with
            T_ref the mean air temperature (a constant offset is hydrostatic and only slows convergence).
        gravity_m_s2: magnitude of g (acts along −z).
        convection: "upwind" (first order) or "tvd" (van Leer-limited, second order where the field is
            smooth, by deferred correction on the upwind matrix); see the module docstring.
        central_blend: deferred correction from upwind (0) towards central (1) convection; used when
            ``convection`` is "upwind" (laminar benchmarks at modest cell Péclet numbers).
        cfl: pseudo time step in units of h / U_ref.
        tol: convergence tolerance of the scaled continuity and momentum residuals.
        max_iterations: iterations of a steady solve before FlowNotConverged.
        sweeps: red–black Gauss–Seidel sweeps of the momentum equations per iteration.
        pressure_rtol: relative tolerance of the AMG-CG pressure correction inside the iterations; None:
            one plain AMG V-cycle instead (cheaper per iteration; see the module docstring).
        walls: side name ("x-", … "z+") → Wall; sides not given are fixed no-slip walls.
    """

    viscosity_m2s: float = 1.5e-5
    turbulence: bool = True
    buoyancy: bool = True
    t_ref_c: float = 20.0
    gravity_m_s2: float = 9.81
    convection: str = "upwind"
    tvd_blend: float = 1.0
    central_blend: float = 0.0
    cfl: float = 5.0
    tol: float = 1e-4
    max_iterations: int = 2000
    sweeps: int = 2
    pressure_rtol: float | None = 0.1
    walls: Mapping[str, Wall] = field(default_factory=dict)


class FlowNotConverged(RuntimeError):
    """A momentum solve that did not reach its tolerance (or diverged); ``history`` holds its residuals."""

    def __init__(self, message: str, history: np.ndarray) -> None:
        super().__init__(message)
        self.history = history


@dataclass
class SolveInfo:
    """Outcome of a solve: whether it converged, its iterations, and its residual history.

    ``history`` has one row per iteration: (continuity residual, momentum residual), both scaled.
    """

    converged: bool
    iterations: int
    history: np.ndarray
    u_ref_m_s: float


@dataclass
class MoverJets:
    """Air movers as arrays: cells each takes air from and blows into, and the direction it blows.

    Attributes:
        intake, outlet: per mover, flat grid indices of its intake / outlet cells (equal shares).
        direction: (m, 3) unit vector each mover's outlet jet points along (zero: no jet, e.g. a PDU).
        names: per mover.
    """

    intake: list[np.ndarray]
    outlet: list[np.ndarray]
    direction: np.ndarray
    names: list[str]

    @classmethod
    def from_voxels(cls, vox: HallVoxels) -> MoverJets:
        """Racks, CRAHs and PDUs of a :class:`~twin.geometry.voxel.HallVoxels`, in FluidNetwork order.

        The jet direction is the axis along which the outlet cells' centroid lies from the intake
        cells' (a rack blows out of its back; a CRAH supplying the floor blows down).
        """
        movers = [*vox.racks, *vox.crahs, *vox.pdus]
        shape = vox.grid.shape
        direction = np.zeros((len(movers), 3))
        for j, m in enumerate(movers):
            d = (np.mean(np.unravel_index(m.outlet, shape), axis=1)
                 - np.mean(np.unravel_index(m.intake, shape), axis=1))
            if np.any(d):
                axis = int(np.argmax(np.abs(d)))
                direction[j, axis] = np.sign(d[axis])
        return cls([np.asarray(m.intake) for m in movers], [np.asarray(m.outlet) for m in movers],
                   direction, [m.name for m in movers])

    @classmethod
    def none(cls) -> MoverJets:
        return cls([], [], np.zeros((0, 3)), [])

    @property
    def count(self) -> int:
        return len(self.names)


# ----------------------------------------------------------------------------------------- grid helpers

def _sl(axis: int, s: slice) -> tuple[slice, ...]:
    out = [slice(None)] * 3
    out[axis] = s
    return tuple(out)


def _pair(cell: np.ndarray, axis: int, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell values on the low (a) and high (b) side of every face normal to ``axis`` (outside: fill)."""
    pad = [(0, 0)] * 3
    pad[axis] = (1, 1)
    p = np.pad(cell, pad, constant_values=fill)
    return p[_sl(axis, slice(0, -1))], p[_sl(axis, slice(1, None))]


def _side(face: np.ndarray, axis: int, side: int) -> np.ndarray:
    """For every cell: the value on its face at ``side`` (+1 high, −1 low) along ``axis``."""
    return face[_sl(axis, slice(1, None) if side > 0 else slice(0, -1))]


def _nbr(padded: np.ndarray, axis: int, side: int) -> np.ndarray:
    """Neighbour values (shifted by ``side`` along ``axis``) from an array padded by one on every side."""
    idx = [slice(1, -1)] * 3
    idx[axis] = slice(1 + side, padded.shape[axis] - 1 + side)
    return padded[tuple(idx)]


def _nbr2(padded: np.ndarray, axis: int, shift: int) -> np.ndarray:
    """Values shifted by ``shift`` (−2 … 2) along ``axis`` from an array padded by two on every side."""
    idx = [slice(2, -2)] * 3
    idx[axis] = slice(2 + shift, padded.shape[axis] - 2 + shift)
    return padded[tuple(idx)]


def _limited_face(u_up: np.ndarray, u_far: np.ndarray, u_down: np.ndarray) -> np.ndarray:
    """Van Leer's TVD face value from the upwind, far-upwind and downwind values.

    u_f = u_U + ½ ψ(r) (u_D − u_U) with r = (u_U − u_UU) / (u_D − u_U) and ψ(r) = (r + |r|) / (1 + |r|),
    which is u_U + a b / (a + b) for a = u_U − u_UU, b = u_D − u_U of one sign, else u_U (an extremum:
    first order there, so no new over- or undershoot). Written without r, no division by zero.
    """
    a = u_up - u_far
    b = u_down - u_up
    ab = a * b
    same = ab > 0.0
    return u_up + np.where(same, ab / np.where(same, a + b, 1.0), 0.0)


CONVECTION_SCHEMES = ("upwind", "tvd")


def _face_shape(shape: tuple[int, int, int], axis: int) -> tuple[int, int, int]:
    nx, ny, nz = shape
    return (nx + (axis == 0), ny + (axis == 1), nz + (axis == 2))


_DIRS = [(d, s) for d in range(3) for s in (-1, 1)]  # neighbour directions, in SIDES order


# ----------------------------------------------------------------------------------------------- solver

class MomentumSolver:
    """Steady (pseudo-transient) Navier–Stokes–Boussinesq solver on a voxel grid; keeps its last field.

    Build once per geometry (walls, multigrid hierarchy, wall distance, mover maps), then call
    :meth:`solve` for a converged steady field, or :meth:`resolve` for a few warm-started iterations
    (the live twin's quasi-steady refresh). Results: :meth:`face_flows_m3s` (FluidNetwork order),
    :meth:`cell_velocity_m_s`.
    """

    def __init__(self, solid: np.ndarray, open_faces: Sequence[np.ndarray], cell_m: float,
                 movers: MoverJets | None = None, *, settings: MomentumSettings | None = None) -> None:
        self.settings = settings or MomentumSettings()
        self.movers = movers or MoverJets.none()
        self.h = float(cell_m)
        nx, ny, nz = (int(n) for n in solid.shape)
        self.shape = (nx, ny, nz)
        if self.settings.convection not in CONVECTION_SCHEMES:
            raise ValueError(f"convection: {self.settings.convection!r} is not one of {', '.join(CONVECTION_SCHEMES)}")
        for side in self.settings.walls:
            if side not in SIDES:
                raise ValueError(f"walls: unknown side {side!r}; allowed: {', '.join(SIDES)}")
        self.fluid = ~np.asarray(solid, dtype=bool)
        h, shape = self.h, self.shape

        # Passable faces: open, fluid on both sides, not on the domain boundary. These are the velocity
        # unknowns and exactly the FluidNetwork's faces (same order when flattened per axis).
        self.openness = []
        self.active = []
        for a in range(3):
            o = np.asarray(open_faces[a], dtype=float)
            if o.shape != _face_shape(shape, a):
                raise ValueError(f"open_faces[{a}] has shape {o.shape}, expected {_face_shape(shape, a)}")
            fa, fb = _pair(self.fluid, a, False)
            act = (o > 0) & fa & fb
            self.active.append(act)
            self.openness.append(np.where(act, o, 0.0))
        self.n_faces = sum(int(act[_sl(a, slice(1, -1))].sum()) for a, act in enumerate(self.active))

        # Fluid-cell numbering (flat grid order, as FluidNetwork) and the pressure-correction Laplacian.
        self.fluid_flat = np.flatnonzero(self.fluid.ravel())
        self.n_cells = self.fluid_flat.size
        self.cell_of = np.full(shape, -1, dtype=np.int64)
        self.cell_of.ravel()[self.fluid_flat] = np.arange(self.n_cells)
        self._build_poisson()

        # Wall distance (Chen–Xu length scale): solids and no-slip domain sides are walls.
        fluid_pad = self.fluid
        for a in range(3):
            for k, side in enumerate((f"{'xyz'[a]}-", f"{'xyz'[a]}+")):
                wall = self.settings.walls.get(side, Wall())
                pw = [(0, 0)] * 3
                pw[a] = (1, 0) if k == 0 else (0, 1)
                fluid_pad = np.pad(fluid_pad, pw, mode="edge") if wall.slip else np.pad(fluid_pad, pw)
        dist = ndi.distance_transform_edt(fluid_pad)[1:-1, 1:-1, 1:-1]
        self.wall_distance_m = np.maximum(dist - 0.5, 0.5) * h * self.fluid

        self._build_walls()
        self._build_movers()
        self.u = [np.zeros(_face_shape(shape, a)) for a in range(3)]
        self.p = np.zeros(shape)
        self.nu_t = np.zeros(shape)
        self._phi = np.zeros(self.n_cells)
        self.last_info: SolveInfo | None = None

    @classmethod
    def from_voxels(cls, vox: HallVoxels, *, settings: MomentumSettings | None = None) -> MomentumSolver:
        """A solver for a :class:`~twin.geometry.voxel.HallVoxels` (movers in FluidNetwork order)."""
        return cls(vox.solid, vox.open_faces, vox.grid.cell_m, MoverJets.from_voxels(vox), settings=settings)

    # ------------------------------------------------------------------------------------- set-up

    def _build_poisson(self) -> None:
        a_list, b_list, w_list = [], [], []
        for a in range(3):
            inner = _sl(a, slice(1, -1))
            act = self.active[a][inner]
            ca = self.cell_of[_sl(a, slice(0, -1))]
            cb = self.cell_of[_sl(a, slice(1, None))]
            a_list.append(ca[act])
            b_list.append(cb[act])
            w_list.append(self.openness[a][inner][act])
        fa, fb, w = np.concatenate(a_list), np.concatenate(b_list), np.concatenate(w_list)
        n = self.n_cells
        lap = sp.coo_matrix((np.concatenate([w, w, -w, -w]),
                             (np.concatenate([fa, fb, fa, fb]), np.concatenate([fa, fb, fb, fa]))),
                            shape=(n, n)).tocsr()
        adjacency = sp.coo_matrix((np.ones(fa.size), (fa, fb)), shape=(n, n)).tocsr()
        self.n_components, self.component = sp.csgraph.connected_components(adjacency, directed=False)
        # L is singular (φ up to a constant per connected region): tie one cell of each region to φ = 0.
        # With consistent right-hand sides (each region's sources sum to zero) no flow runs through it.
        first = np.full(self.n_components, -1, dtype=np.int64)
        order = np.arange(n)[::-1]
        first[self.component[order]] = order
        ground = np.zeros(n)
        ground[first] = 1.0
        self.laplacian = (lap + sp.diags(ground)).tocsr()
        self.multigrid = pyamg.ruge_stuben_solver(self.laplacian, max_coarse=500, coarse_solver="splu")
        self._build_tree(adjacency, first)

    def _build_tree(self, adjacency: sp.csr_matrix, roots: np.ndarray) -> None:
        """A breadth-first spanning tree of each connected region, for :meth:`_close_divergence`.

        Per tree edge (cell → its parent): the child and parent cells, the face between them (axis, flat
        index in that axis' face array, +1 when the parent is on the high side), grouped by the child's
        depth, deepest first.
        """
        n = self.n_cells
        parent = np.full(n, -1, dtype=np.int64)
        depth = np.zeros(n, dtype=np.int64)
        for root in roots:
            order, pred = sp.csgraph.breadth_first_order(adjacency, int(root), directed=False,
                                                         return_predecessors=True)
            kids = order[1:]
            parent[kids] = pred[kids]
            d_list, p_list = depth.tolist(), parent.tolist()
            for v in kids.tolist():  # BFS order: a parent's depth is known before its children's
                d_list[v] = d_list[p_list[v]] + 1
            depth = np.asarray(d_list, dtype=np.int64)
        child = np.flatnonzero(parent >= 0)
        g_child, g_parent = self.fluid_flat[child], self.fluid_flat[parent[child]]
        strides = np.array([self.shape[1] * self.shape[2], self.shape[2], 1])
        step = g_parent - g_child
        axis = np.argmax(np.abs(step)[:, None] == strides[None, :], axis=1)
        low = np.unravel_index(np.minimum(g_child, g_parent), self.shape)
        face = np.empty(child.size, dtype=np.int64)
        for a in range(3):
            sel = axis == a
            idx = [low[k][sel] + (1 if k == a else 0) for k in range(3)]
            face[sel] = np.ravel_multi_index(tuple(idx), _face_shape(self.shape, a))
        by_depth = np.argsort(-depth[child], kind="stable")
        cuts = np.flatnonzero(np.diff(depth[child][by_depth])) + 1
        self._tree = {"child": child, "parent": parent[child], "axis": axis, "face": face,
                      "sign": np.sign(step).astype(float), "levels": np.split(by_depth, cuts)}

    def _build_walls(self) -> None:
        """Per velocity component and neighbour direction: open fraction θ, wall factor and wall speed."""
        shape = self.shape
        walls = self.settings.walls
        # By component c, then by direction index k of _DIRS, for the directions across c (d != c) only.
        self._theta: list[dict[int, np.ndarray]] = []
        self._wall_factor: list[dict[int, np.ndarray]] = []  # twice the wall's share: times ν h, no-slip shear
        self._wall_speed: list[dict[int, np.ndarray | None]] = []  # None: no moving wall there
        self._open_half: list[dict[int, tuple[np.ndarray, np.ndarray] | None]] = []  # wholly open halves a, b
        for c in range(3):
            th_c: dict[int, np.ndarray] = {}
            wf_c: dict[int, np.ndarray] = {}
            ws_c: dict[int, np.ndarray | None] = {}
            half_c: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}
            for k, (d, s) in enumerate(_DIRS):
                if d == c:
                    continue
                # The CV face of a c-face towards ±d is made of halves of the d-faces of its two cells.
                # Only wholly open halves pass tangential momentum (shear and the velocity the air carries);
                # a perforated half (tile, leaky panel) is a wall to the tangential velocity, and the air
                # its holes pass arrives with none of it: the holes turn it normal to the plate.
                full = self.active[d] & (self.openness[d] >= 1.0)
                pa, pb = _pair(_side(full, d, s), c, False)
                theta = 0.5 * (pa.astype(float) + pb.astype(float))
                wf = 1.0 - theta
                speed = np.zeros(_face_shape(shape, c))
                wall = walls.get(SIDES[2 * d + (s > 0)], Wall())
                edge = _sl(d, slice(0, 1) if s < 0 else slice(-1, None))
                if wall.slip:
                    wf[edge] = 0.0
                else:
                    speed[edge] = wall.velocity_m_s[c]
                th_c[k] = theta
                perforated = _pair(_side(self.active[d] & ~full, d, s), c, False)
                half_c[k] = (pa, pb) if perforated[0].any() or perforated[1].any() else None
                wf_c[k] = 2.0 * wf  # the wall lies half a cell away: shear 2ν/h per unit area
                ws_c[k] = speed if np.any(speed) else None
            self._theta.append(th_c)
            self._open_half.append(half_c)
            self._wall_factor.append(wf_c)
            self._wall_speed.append(ws_c)
        # Red–black colouring of the faces (each neighbour in the stencil has the other colour).
        self._colour = []
        for c in range(3):
            fs = _face_shape(shape, c)
            parity = np.add.outer(np.add.outer(np.arange(fs[0]), np.arange(fs[1])), np.arange(fs[2])) % 2
            self._colour.append([self.active[c] & (parity == k) for k in (0, 1)])
        self._loss = [np.where(self.active[c] & (self.openness[c] < 1.0),
                               borda_carnot_loss(np.where(self.active[c], self.openness[c], 1.0)), 0.0)
                      for c in range(3)]
        self.lid_speed_m_s = max((float(np.max(np.abs(w.velocity_m_s))) for w in walls.values()), default=0.0)

    def _build_movers(self) -> None:
        """Sparse maps from mover flows to cell sources and to the outlet jets' face momentum."""
        m, h = self.movers.count, self.h
        n_grid = int(np.prod(self.shape))
        rows_in: list[np.ndarray] = []
        rows_out: list[np.ndarray] = []
        cols_in: list[np.ndarray] = []
        cols_out: list[np.ndarray] = []
        v_in: list[np.ndarray] = []
        v_out: list[np.ndarray] = []
        for j in range(m):
            cin, cout = np.asarray(self.movers.intake[j]), np.asarray(self.movers.outlet[j])
            if not (self.fluid.ravel()[cin].all() and self.fluid.ravel()[cout].all()):
                raise ValueError(f"{self.movers.names[j]}: intake and outlet cells must be fluid")
            rows_in.append(cin)
            cols_in.append(np.full(cin.size, j))
            v_in.append(np.full(cin.size, 1 / cin.size))
            rows_out.append(cout)
            cols_out.append(np.full(cout.size, j))
            v_out.append(np.full(cout.size, 1 / cout.size))
        def cat(xs: list, dt: type = float) -> np.ndarray:
            return np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)

        self.intake = sp.csc_matrix((cat(v_in), (cat(rows_in, np.int64), cat(cols_in, np.int64))), shape=(n_grid, m))
        self.outlet = sp.csc_matrix((cat(v_out), (cat(rows_out, np.int64), cat(cols_out, np.int64))),
                                    shape=(n_grid, m))
        self._check_air_paths()
        # Outlet jets: the face on the jet's side of each outlet cell receives the injected momentum,
        # q_cell (u_jet − u_f) per component, u_jet = q / (outlet cells · h²).
        self.outlet_area_m2 = np.array([np.asarray(o).size * h * h for o in self.movers.outlet])
        self._jet = []
        for c in range(3):
            fs = _face_shape(self.shape, c)
            rows, cols, vals = [], [], []
            for j in range(m):
                dc = self.movers.direction[j, c]
                if dc == 0.0:
                    continue
                idx = np.array(np.unravel_index(np.asarray(self.movers.outlet[j]), self.shape))
                if dc > 0:
                    idx[c] += 1
                flat = np.ravel_multi_index(tuple(idx), fs)
                ok = self.active[c].ravel()[flat]
                rows.append(flat[ok])
                cols.append(np.full(int(ok.sum()), j))
                vals.append(np.full(int(ok.sum()), abs(dc) / idx.shape[1]))
            self._jet.append(sp.csr_matrix((cat(vals), (cat(rows, np.int64), cat(cols, np.int64))),
                                           shape=(int(np.prod(fs)), m)))

    def _check_air_paths(self) -> None:
        comp = np.full(int(np.prod(self.shape)), -1)
        comp[self.fluid_flat] = self.component
        for j, name in enumerate(self.movers.names):
            cin = np.unique(comp[np.asarray(self.movers.intake[j])])
            cout = np.unique(comp[np.asarray(self.movers.outlet[j])])
            if not (cin.size == 1 and cout.size == 1 and cin[0] == cout[0]):
                raise AirPathError(f"{name}: air blown out cannot return to its intake (walls, objects or "
                                   f"sealed panels separate them); open a path")

    # ------------------------------------------------------------------------------------- physics

    def sources_m3s(self, mover_flow_m3s: np.ndarray) -> np.ndarray:
        """Volume source of every grid cell (grid-shaped): + at outlets, − at intakes, m³/s."""
        q = np.asarray(mover_flow_m3s, dtype=float)
        return ((self.outlet @ q) - (self.intake @ q)).reshape(self.shape)

    def _temperature_grid(self, t_c: np.ndarray | None) -> np.ndarray | None:
        if t_c is None:
            return None
        t = np.asarray(t_c, dtype=float)
        if t.shape == self.shape:
            return np.where(self.fluid, t, 0.0)
        if t.shape == (self.n_cells,):
            out = np.zeros(self.shape)
            out.ravel()[self.fluid_flat] = t
            return out
        raise ValueError(f"temperature has shape {t.shape}; expected {self.shape} or ({self.n_cells},)")

    def _divergence_m3s(self, u: list[np.ndarray]) -> np.ndarray:
        """Net outflow of every grid cell, m³/s."""
        h2 = self.h * self.h
        return h2 * (0.0 + np.diff(u[0], axis=0) + np.diff(u[1], axis=1) + np.diff(u[2], axis=2))  # as sum()

    def cell_velocity_m_s(self) -> np.ndarray:
        """Cell-centred velocity (nx, ny, nz, 3), m/s: the mean of each cell's two faces per axis."""
        return np.stack([0.5 * (self.u[a][_sl(a, slice(0, -1))] + self.u[a][_sl(a, slice(1, None))])
                         for a in range(3)], axis=-1)

    def fluid_cell_velocity_m_s(self) -> np.ndarray:
        """Cell-centred velocity (n_fluid, 3) in FluidNetwork cell order, m/s."""
        return self.cell_velocity_m_s().reshape(-1, 3)[self.fluid_flat]

    def face_flows_m3s(self) -> np.ndarray:
        """Face flows F_f = h² u_f (m³/s) on the open faces in FluidNetwork order (face_a → face_b > 0)."""
        h2 = self.h * self.h
        return np.concatenate([h2 * self.u[a][_sl(a, slice(1, -1))][self.active[a][_sl(a, slice(1, -1))]]
                               for a in range(3)])

    def _u_ref(self, q: np.ndarray, tg: np.ndarray | None) -> float:
        """The velocity scale of the problem: fastest jet, lid, or buoyant velocity √(gβΔT H)."""
        jets = float(np.max(q / self.outlet_area_m2)) if q.size and np.any(q > 0) else 0.0
        ref = max(jets, self.lid_speed_m_s)
        st = self.settings
        if st.buoyancy and tg is not None:
            tf = tg[self.fluid]
            beta = 1.0 / (st.t_ref_c + 273.15)
            height = self.shape[2] * self.h
            ref = max(ref, float(np.sqrt(st.gravity_m_s2 * beta * (tf.max() - tf.min()) * height)))
        return ref

    def eddy_viscosity_m2s(self) -> np.ndarray:
        """Chen–Xu's ν_t = 0.03874 |U| L of the current field, per grid cell (0 in solids), m²/s."""
        if not self.settings.turbulence:
            return np.zeros(self.shape)
        speed = np.sqrt(np.sum(self.cell_velocity_m_s() ** 2, axis=-1))
        return CHEN_XU_CONSTANT * speed * self.wall_distance_m

    def face_diffusivity_m2s(self, *, prandtl: float = AIR_PRANDTL,
                             turbulent_prandtl: float = TURBULENT_PRANDTL) -> np.ndarray:
        """Eddy diffusivity of heat α_f = ν/Pr + ν_t,f/Pr_t on the open faces, FluidNetwork order, m²/s.

        The Reynolds analogy: the eddies that carry momentum carry heat too, so the transport mixes where
        this flow is turbulent (jets, shear layers, row ends) and little in still corners. ν_t,f is the
        mean of the two cells' ν_t of the current field, the face value the momentum equations use.
        """
        nu_t = self.eddy_viscosity_m2s()
        st = self.settings
        out = []
        for a in range(3):
            inner = _sl(a, slice(1, -1))
            lo, hi = nu_t[_sl(a, slice(0, -1))], nu_t[_sl(a, slice(1, None))]
            out.append((0.5 * (lo + hi))[self.active[a][inner]])
        return st.viscosity_m2s / prandtl + np.concatenate(out) / turbulent_prandtl

    def _update_viscosity(self) -> np.ndarray:
        st = self.settings
        nu = np.full(self.shape, st.viscosity_m2s)
        if st.turbulence:
            self.nu_t = self.eddy_viscosity_m2s()
            nu = nu + self.nu_t
        return nu

    def _momentum(self, c: int, nu: np.ndarray, tg: np.ndarray | None, t_ref: float, q: np.ndarray,
                  dt: float) -> np.ndarray:
        """Assemble and approximately solve the linearized momentum equation of component c: u*_c."""
        st, h = self.settings, self.h
        h2, vol = h * h, h ** 3
        u = self.u
        uc = u[c]
        act = self.active[c]
        nu_a, nu_b = _pair(nu, c, 0.0)
        nu_f = 0.5 * (nu_a + nu_b)
        nu_pad = np.pad(nu_f, 1, mode="edge")
        u_pad = np.pad(uc, 1)
        tvd = st.convection == "tvd"
        if tvd:
            u_pad2 = np.pad(uc, 2)
        a_nb = []
        a_p = np.zeros_like(uc)
        b = np.zeros_like(uc)
        correction = np.zeros_like(uc)
        for k, (d, s) in enumerate(_DIRS):
            u_n = _nbr(u_pad, d, s)
            if d == c:
                # CV face at a cell centre: the mean of the two face velocities carries the flux.
                flux = s * h2 * 0.5 * (uc + u_n)
                diff = (nu_b if s > 0 else nu_a) * h
                coef = diff + np.maximum(-flux, 0.0)
            else:
                va, vb = _pair(_side(u[d], d, s), c, 0.0)
                halves = self._open_half[c][k]
                if halves is None:  # no perforated face here: inactive halves carry no velocity anyway
                    flux = (s * h2 * 0.5) * (va + vb)
                else:
                    open_a, open_b = halves
                    flux = (s * h2 * 0.5) * (np.where(open_a, va, 0.0) + np.where(open_b, vb, 0.0))
                    # Inflow through perforated halves brings no tangential velocity: it stays on the diagonal.
                    perforated = (s * h2 * 0.5) * (np.where(open_a, 0.0, va) + np.where(open_b, 0.0, vb))
                    a_p += np.maximum(-perforated, 0.0)
                diff = 0.5 * (nu_f + _nbr(nu_pad, d, s)) * h
                coef = self._theta[c][k] * diff
                coef += np.maximum(-flux, 0.0)
                wall = self._wall_factor[c][k] * diff
                a_p += wall
                wall_speed = self._wall_speed[c][k]
                if wall_speed is not None:
                    b += wall * wall_speed
            a_nb.append(coef)
            a_p += coef
            if tvd:
                # Upwind P (outflow, flux > 0): far-upwind is P's neighbour on the other side; upwind N:
                # N's neighbour beyond it. Outside the grid and in solids the velocity is that of a wall (0).
                out = flux > 0
                far = np.where(out, _nbr2(u_pad2, d, -s), _nbr2(u_pad2, d, 2 * s))
                upwind = np.where(out, uc, u_n)
                high = _limited_face(upwind, far, np.where(out, u_n, uc))
                correction += flux * (high - upwind)
            elif st.central_blend:
                upwind = np.where(flux > 0, uc, u_n)
                correction += flux * (0.5 * (uc + u_n) - upwind)
        if tvd:
            b -= st.tvd_blend * correction
        elif st.central_blend:
            b -= st.central_blend * correction
        a_p += vol / dt
        b += vol / dt * uc
        # Pressure gradient across the face, porous loss, buoyancy, jets.
        pa, pb = _pair(self.p, c, 0.0)
        b -= h2 * (pb - pa)
        a_p += h2 * 0.5 * self._loss[c] * np.abs(uc)
        if c == 2 and tg is not None and st.buoyancy:
            ta, tb = _pair(tg, 2, t_ref)
            beta = 1.0 / (st.t_ref_c + 273.15)
            b += vol * st.gravity_m_s2 * beta * (0.5 * (ta + tb) - t_ref)
        if q.size:
            jet_q = (self._jet[c] @ q).reshape(uc.shape)
            u_jet = q / self.outlet_area_m2 * np.sign(self.movers.direction[:, c])
            a_p += jet_q
            b += (self._jet[c] @ (q * u_jet)).reshape(uc.shape)
        # Red–black Gauss–Seidel on a_P u = Σ a_nb u_nb + b (inactive faces stay zero).
        a_p = np.where(act, a_p, 1.0)
        inv = 1.0 / a_p
        # The iterate lives inside a zero-padded buffer, updated in place: its neighbours are views of it, so
        # no sweep pads a copy (np.pad's overhead was a tenth of a flow iteration).
        xp = np.zeros(tuple(n + 2 for n in uc.shape))
        x = xp[1:-1, 1:-1, 1:-1]
        x[...] = np.where(act, uc, 0.0)
        rhs = np.empty_like(b)
        term = np.empty_like(b)
        for _ in range(st.sweeps):
            for colour in self._colour[c]:
                rhs[...] = b
                for k, (d, s) in enumerate(_DIRS):
                    np.multiply(a_nb[k], _nbr(xp, d, s), out=term)
                    rhs += term
                rhs *= inv
                np.copyto(x, rhs, where=colour)
        return x.copy()

    def _close_divergence(self, u: list[np.ndarray], s_grid: np.ndarray) -> None:
        """Make div F = s exact to round-off by routing what is left along the spanning tree (in place).

        Deepest cells first, each cell sends its remaining outflow deficit to its parent over the tree
        edge between them; a region's root is left with its sources' sum, zero. After an AMG projection
        the deficits are at its tolerance, so the flows move by as little: this replaces a projection
        solved to 1e-13, several times dearer, as the step that makes the transport conserve energy.
        """
        tree, h2 = self._tree, self.h * self.h
        deficit = (s_grid - self._divergence_m3s(u)).ravel()[self.fluid_flat]
        sent = np.zeros(tree["child"].size)
        for level in tree["levels"]:
            amount = deficit[tree["child"][level]]
            np.add.at(deficit, tree["parent"][level], amount)
            sent[level] = amount
        for a in range(3):
            sel = tree["axis"] == a
            delta = np.bincount(tree["face"][sel], weights=tree["sign"][sel] * sent[sel] / h2,
                                minlength=u[a].size)
            u[a] += delta.reshape(u[a].shape)

    def _project(self, u: list[np.ndarray], s_grid: np.ndarray, dt: float, rtol: float | None) -> np.ndarray:
        """Make div F = s by the pressure correction; returns φ per fluid cell (m²/s²)."""
        h = self.h
        rhs = ((s_grid - self._divergence_m3s(u)) / (dt * h)).ravel()[self.fluid_flat]
        if not np.any(rhs):  # (not np.linalg.norm: a BLAS call outside limited_blas, see twin.thermal.threads)
            return np.zeros(self.n_cells)
        with limited_blas():  # see twin.thermal.threads
            if rtol is None:
                # One V-cycle: cheaper per iteration, slower for buoyant halls (see the module docstring).
                phi = self.multigrid.solve(rhs, x0=np.zeros(self.n_cells), tol=1e-30, accel=None, maxiter=1)
            else:
                phi = self.multigrid.solve(rhs, x0=np.zeros(self.n_cells), tol=rtol, accel="cg", maxiter=200)
        phi_grid = np.zeros(self.shape)
        phi_grid.ravel()[self.fluid_flat] = phi
        for a in range(3):
            pa, pb = _pair(phi_grid, a, 0.0)
            u[a] += np.where(self.active[a], dt / h * self.openness[a] * (pa - pb), 0.0)
        return phi_grid

    # ------------------------------------------------------------------------------------- solving

    def _iterate(self, q: np.ndarray, t_c: np.ndarray | None, max_iterations: int, tol: float) -> SolveInfo:
        st, h = self.settings, self.h
        q = np.asarray(q, dtype=float)
        if q.shape != (self.movers.count,):
            raise ValueError(f"mover flows: expected {self.movers.count} values, got shape {q.shape}")
        tg = self._temperature_grid(t_c) if st.buoyancy else None
        t_ref = float(tg[self.fluid].mean()) if tg is not None else st.t_ref_c
        s_grid = self.sources_m3s(q)
        u_ref = self._u_ref(q, tg)
        if u_ref == 0.0:
            # Nothing drives the flow: no movers, no moving wall, no temperature differences.
            for a in range(3):
                self.u[a][:] = 0.0
            self.p[:] = 0.0
            self.last_info = SolveInfo(True, 0, np.zeros((0, 2)), 0.0)
            return self.last_info
        dt = st.cfl * h / u_ref
        history: list[tuple[float, float]] = []
        backup = ([x.copy() for x in self.u], self.p.copy())
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                converged = self._march(q, tg, t_ref, s_grid, u_ref, dt, max_iterations, tol, history)
        except (FloatingPointError, FlowNotConverged) as err:
            self.u, self.p = backup
            raise FlowNotConverged(f"momentum solve diverged ({err})", np.array(history).reshape(-1, 2)) from err
        # A final projection and the tree closure: the face flows handed out are divergence-free to round-off.
        self.p += self._project(self.u, s_grid, dt, _FINAL_PRESSURE_RTOL)
        self._close_divergence(self.u, s_grid)
        self.last_info = SolveInfo(converged, len(history), np.array(history).reshape(-1, 2), u_ref)
        return self.last_info

    def _march(self, q: np.ndarray, tg: np.ndarray | None, t_ref: float, s_grid: np.ndarray, u_ref: float,
               dt: float, max_iterations: int, tol: float, history: list[tuple[float, float]]) -> bool:
        """Pseudo-time iterations until both residuals are below tol; appends to history."""
        st, h = self.settings, self.h
        for _ in range(max_iterations):
            nu = self._update_viscosity()
            u_star = [self._momentum(c, nu, tg, t_ref, q, dt) for c in range(3)]
            cont = self._divergence_m3s(u_star) - s_grid
            r_cont = float(np.sqrt(np.mean(cont[self.fluid] ** 2))) / (st.cfl * u_ref * h * h)
            phi = self._project(u_star, s_grid, dt, st.pressure_rtol)
            change = np.concatenate([(u_star[a] - self.u[a])[self.active[a]] for a in range(3)])
            r_mom = (float(np.sqrt(np.mean(change ** 2))) if change.size else 0.0) / (st.cfl * u_ref)
            self.u = u_star
            self.p += phi
            history.append((r_cont, r_mom))
            if not (np.isfinite(r_cont) and np.isfinite(r_mom)):
                raise FlowNotConverged("non-finite residuals", np.array(history))
            if r_cont < tol and r_mom < tol:
                return True
        return False

    def solve(self, mover_flow_m3s: np.ndarray, t_c: np.ndarray | None = None, *,
              max_iterations: int | None = None, tol: float | None = None) -> SolveInfo:
        """March to the steady field from the current one (zero at first); FlowNotConverged if not reached.

        Args:
            mover_flow_m3s: flow of each mover, m³/s (MoverJets order).
            t_c: air temperature, grid-shaped or per fluid cell (flat order), °C; needed for buoyancy.
        """
        st = self.settings
        info = self._iterate(mover_flow_m3s, t_c, max_iterations or st.max_iterations, tol or st.tol)
        if not info.converged:
            last = info.history[-1] if len(info.history) else (np.nan, np.nan)
            raise FlowNotConverged(
                f"momentum solve not converged after {info.iterations} iterations "
                f"(continuity {last[0]:.2e}, momentum {last[1]:.2e}, tol {tol or st.tol:.1e})", info.history)
        return info

    def resolve(self, mover_flow_m3s: np.ndarray, t_c: np.ndarray | None = None, *,
                iterations: int = 10, tol: float | None = None) -> SolveInfo:
        """A few warm-started iterations towards the steady field for new flows / temperatures.

        Never raises for lack of convergence (the live twin refreshes again later; see the returned
        SolveInfo), only when the iterations diverge (FlowNotConverged, last field kept). The flows are
        divergence-free whatever ``iterations`` is.
        """
        return self._iterate(mover_flow_m3s, t_c, iterations, tol or self.settings.tol)

    def reset(self) -> None:
        """Forget the last field (the next solve starts from rest)."""
        for a in range(3):
            self.u[a][:] = 0.0
        self.p[:] = 0.0
