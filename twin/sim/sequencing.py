"""Grid sequencing of the momentum model's steady solve: the hall on a coarser grid, and its answer carried
to the hall's own grid (the transfer operators are :mod:`twin.thermal.gridseq`; :meth:`HallTwin.steady` uses
them).
"""

from __future__ import annotations

import numpy as np

from twin.model.checks import check_hall
from twin.model.load import HallError, HallModel
from twin.thermal.gridseq import prolong_cells, prolong_faces, restrict_cells
from twin.thermal.momentum import MomentumSolver

__all__ = ["COARSE_RATIO", "MIN_COARSE_CELLS", "coarse_hall", "prolong_momentum", "prolong_temperature",
           "restrict_temperature"]

#: The coarse grid's cell is this many times the hall's (a nested iteration's usual 2h: 8x fewer cells).
COARSE_RATIO = 2
#: Fewest coarse cells along any axis for a coarse solve to say something about the hall's flow.
MIN_COARSE_CELLS = 4


def coarse_hall(hall: HallModel, ratio: int = COARSE_RATIO) -> HallModel:
    """The same hall on cells ``ratio`` times larger (everything else the file's).

    Raises:
        HallError: why no such grid fits: the hall's sizes or its raised floor's depth are not whole numbers
            of the larger cell, the grid would be too small, or the hall's objects do not fit it (the
            message is the hall checks' own, naming the key).
    """
    info = hall.spec.hall
    cell_m = round(info.cell_m * ratio, 9)  # 0.15 x 3 is 0.44999999999999996 in binary; the file says 0.45
    where = f"{hall.path or '<hall>'} at {cell_m:g} m cells"
    depth_m = hall.plenum_depth_m
    for axis, value in zip("xyz", (*info.size_m[:2], info.size_m[2] + depth_m), strict=True):
        if round(value / cell_m) < MIN_COARSE_CELLS:
            raise HallError(f"{where}: {value:g} m along {axis} is fewer than {MIN_COARSE_CELLS} cells")
    spec = hall.spec.model_copy(update={"hall": info.model_copy(update={"cell_m": cell_m})})
    return check_hall(spec, hall.path, where)


def restrict_temperature(t_fine_c: np.ndarray, fine: MomentumSolver, coarse: MomentumSolver, ratio: int) -> np.ndarray:
    """Per-fluid-cell temperatures of the fine grid as the coarse grid's (mean of each coarse cell's air), °C."""
    grid = np.zeros(fine.shape)
    grid.ravel()[fine.fluid_flat] = t_fine_c
    return restrict_cells(grid, fine.fluid, ratio, coarse.fluid).ravel()[coarse.fluid_flat]


def prolong_temperature(t_coarse_c: np.ndarray, coarse: MomentumSolver, fine: MomentumSolver, ratio: int
                        ) -> np.ndarray:
    """Per-fluid-cell temperatures of the coarse grid interpolated onto the fine grid's fluid cells, °C."""
    grid = np.zeros(coarse.shape)
    grid.ravel()[coarse.fluid_flat] = t_coarse_c
    return prolong_cells(grid, coarse.fluid, ratio).ravel()[fine.fluid_flat]


def prolong_momentum(momentum: dict[str, np.ndarray], coarse: MomentumSolver, fine: MomentumSolver, ratio: int,
                     mover_flow_m3s: np.ndarray) -> dict[str, np.ndarray]:
    """The coarse grid's momentum state (face velocities, pressure, k and ε if any) as the fine grid's: the
    velocities prolonged divergence-consistently, then projected onto the fine grid's own open faces and
    mover sources (divergence-free to round-off); the cell fields interpolated. Leaves ``fine`` holding it.
    """
    fine.u = [prolong_faces(momentum[name], a, ratio) for a, name in enumerate(("ux", "uy", "uz"))]
    fine.p = prolong_cells(momentum["p"], coarse.fluid, ratio) * fine.fluid
    fine.project_field(mover_flow_m3s)
    out = {"ux": fine.u[0].copy(), "uy": fine.u[1].copy(), "uz": fine.u[2].copy(), "p": fine.p.copy()}
    for name in ("k", "eps"):
        if name in momentum:
            # Between positive coarse values with positive weights: positive.
            out[name] = np.where(fine.fluid, prolong_cells(momentum[name], coarse.fluid, ratio), momentum[name].min())
    return out
