"""Grid sequencing (nested iteration): transfer of a solved field from a coarse grid to one r times finer.

A steady momentum solve from rest spends most of its work moving information across the grid (the
start-up solve's ~400 iterations on open-row-fine); on a grid with r times the cell edge the same march
costs about r³ less per iteration and needs fewer of them. The coarse answer, carried to the fine grid,
leaves the fine iterations only the fine scales to settle. The coarse grid is the fine one with every
r × r × r block of cells merged (the geometry is voxelized again on the coarse grid, so racks and panels
snap to its planes and the two grids' solids need not match). Their high ends coincide; at the low end the
coarse grid may reach ``offset`` fine cells further (0 ≤ offset < r per axis), as it would for a raised-floor
plenum that is no whole number of coarse cells (0.45 m at 0.3 m) deepened to the next one below the room's
unchanged planes. Fine cell k then lies in coarse cell (k + offset) // r and fine face k on the plane of the
coarse grid's fine-index face k + offset; the coarse cells' parts below the fine domain are not carried over.
:func:`twin.model.load.coarse_hall` does not deepen a plenum (measured, not kept: twin.thermal.momentum's
"Grid sequencing" note), so the steady solve uses offset 0; the transfers take any offset.

Face velocities (staggered, the component normal to each face) are prolonged so that divergence is
consistent: a fine face on a coarse face's plane takes the coarse face's velocity (its r² fine faces carry
the coarse flux between them exactly), a fine face inside a coarse cell the linear interpolation along
the normal between the coarse cell's two faces. Each fine cell then has the divergence of its coarse
parent over r³: a divergence-free coarse field gives a divergence-free fine one on the coarse geometry,
a uniform field stays uniform and a field linear along the component's own axis is reproduced exactly.
Where the fine geometry differs (a solid or closed face the coarse grid did not resolve, the movers'
cells), the caller masks the fine field to its own open faces and projects it (the fine pressure
correction, :meth:`twin.thermal.momentum.MomentumSolver.project_field`).

Cell fields (pressure, temperature, k, ε) are interpolated trilinearly between cell centres, after each
coarse solid cell has taken the value of its nearest fluid cell: a solid's placeholder (0 in the solver's
arrays) must not leak into the air next to it. Linear fields are reproduced away from the domain's
outermost half coarse cell (where the nearest centres are extrapolated as constants).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.ndimage as ndi

if TYPE_CHECKING:
    from twin.thermal.momentum import MomentumSolver

__all__ = ["grid_offset", "prolong_cells", "prolong_faces", "prolong_momentum", "prolong_temperature",
           "restrict_cells", "restrict_temperature"]


Offset = tuple[int, int, int]
_NO_OFFSET: Offset = (0, 0, 0)


def _face_shape(shape: tuple[int, ...], axis: int) -> tuple[int, int, int]:
    nx, ny, nz = shape
    return (nx + (axis == 0), ny + (axis == 1), nz + (axis == 2))


def _check_offset(offset: Offset, ratio: int) -> None:
    if ratio < 1:
        raise ValueError(f"ratio must be at least 1, got {ratio}")
    if len(offset) != 3 or any(not 0 <= o < ratio for o in offset):
        raise ValueError(f"offset must be three whole numbers of fine cells in 0..{ratio - 1}, got {offset}")


def grid_offset(coarse_shape: tuple[int, ...], fine_shape: tuple[int, ...], ratio: int) -> Offset:
    """Fine cells by which a coarse grid reaches below a fine one along each axis, their high ends coinciding.

    Raises:
        ValueError: the shapes are not those of such a pair of grids.
    """
    offset = tuple(ratio * c - f for c, f in zip(coarse_shape, fine_shape, strict=True))
    if len(offset) != 3 or any(not 0 <= o < ratio for o in offset):
        raise ValueError(f"grid {tuple(fine_shape)} is not {ratio} times {tuple(coarse_shape)} less a part "
                         f"of a coarse cell at the low ends")
    return (offset[0], offset[1], offset[2])


def prolong_faces(u_coarse: np.ndarray, axis: int, ratio: int, *, offset: Offset = _NO_OFFSET) -> np.ndarray:
    """The velocity normal to the faces of ``axis`` on the grid ``ratio`` times finer, m/s.

    Args:
        u_coarse: the coarse face velocities of that axis, shape (Nx+1, Ny, Nz) for axis 0 (and so on).
        axis: 0, 1 or 2.
        ratio: integer refinement r ≥ 1.
        offset: fine cells by which the coarse grid reaches below the fine one along each axis (0 … r-1).

    Returns:
        Shape (r Nx + 1 - offset[0], r Ny - offset[1], r Nz - offset[2]) for axis 0 (and so on).
    """
    _check_offset(offset, ratio)
    u = np.asarray(u_coarse, dtype=float)
    out = u
    for a in range(3):
        n_fine = (u.shape[a] - 1) * ratio + 1 if a == axis else u.shape[a] * ratio
        i = np.arange(offset[a], n_fine)  # in the coarse grid's fine indices: fine index + offset
        lo = i // ratio
        if a == axis:
            # Between the coarse cell's two faces: linear along the normal (exact on the coarse faces' planes).
            t = (i % ratio) / ratio
            hi = np.minimum(lo + 1, u.shape[a] - 1)
            shape = [1, 1, 1]
            shape[a] = i.size
            t = t.reshape(shape)
            out = (1.0 - t) * np.take(out, lo, axis=a) + t * np.take(out, hi, axis=a)
        else:
            out = np.take(out, lo, axis=a)  # the coarse face's flux shared by its fine faces across it
    return out


def _fill_solids(f: np.ndarray, fluid: np.ndarray) -> np.ndarray:
    """``f`` with every non-fluid cell set to its nearest fluid cell's value."""
    if fluid.all():
        return f
    if not fluid.any():
        raise ValueError("the coarse grid has no fluid cell")
    idx = ndi.distance_transform_edt(~fluid, return_distances=False, return_indices=True)
    return f[tuple(idx)]


def prolong_cells(f_coarse: np.ndarray, fluid_coarse: np.ndarray, ratio: int, *, offset: Offset = _NO_OFFSET
                  ) -> np.ndarray:
    """A cell-centred field on the grid ``ratio`` times finer: trilinear between the coarse centres (solid
    coarse cells first take their nearest fluid cell's value), constant beyond the outermost centres.

    Args:
        f_coarse: grid-shaped coarse field (values in solid cells are ignored).
        fluid_coarse: bool, the coarse grid's fluid cells.
        ratio: integer refinement r ≥ 1.
        offset: fine cells by which the coarse grid reaches below the fine one along each axis (0 … r-1).

    Returns:
        Shape (r Nx - offset[0], r Ny - offset[1], r Nz - offset[2]).
    """
    _check_offset(offset, ratio)
    out = _fill_solids(np.asarray(f_coarse, dtype=float), np.asarray(fluid_coarse, dtype=bool))
    for a in range(3):
        n = out.shape[a]
        x = (np.arange(offset[a], n * ratio) + 0.5) / ratio - 0.5  # fine centres in coarse index units
        lo = np.clip(np.floor(x).astype(np.int64), 0, n - 1)
        hi = np.minimum(lo + 1, n - 1)
        w = np.clip(x - lo, 0.0, 1.0)
        w[hi == lo] = 0.0
        shape = [1, 1, 1]
        shape[a] = x.size
        w = w.reshape(shape)
        out = (1.0 - w) * np.take(out, lo, axis=a) + w * np.take(out, hi, axis=a)
    return out


def restrict_cells(f_fine: np.ndarray, fluid_fine: np.ndarray, ratio: int, fluid_coarse: np.ndarray) -> np.ndarray:
    """A cell-centred field on the grid ``ratio`` times coarser: the mean over each coarse cell's fluid
    children (volume-weighted, so a uniform field and the field's heat content are kept); a coarse fluid
    cell without fluid children takes the fine field's mean. Solid coarse cells get 0. A coarse grid that
    reaches below the fine one (:func:`grid_offset`) averages its low cells over the children it has.
    """
    fluid_coarse = np.asarray(fluid_coarse, dtype=bool)
    offset = grid_offset(fluid_coarse.shape, np.shape(f_fine), ratio)
    # The coarse cells' parts below the fine domain: children that are no air, so they weigh nothing.
    pad = [(o, 0) for o in offset]
    f = np.pad(np.asarray(f_fine, dtype=float), pad)
    fluid = np.pad(np.asarray(fluid_fine, dtype=bool), pad, constant_values=False)
    shape_c = fluid_coarse.shape
    blocks = (shape_c[0], ratio, shape_c[1], ratio, shape_c[2], ratio)
    total = np.where(fluid, f, 0.0).reshape(blocks).sum(axis=(1, 3, 5))
    count = fluid.reshape(blocks).sum(axis=(1, 3, 5))
    mean = float(f[fluid].mean()) if fluid.any() else 0.0
    out = np.where(count > 0, total / np.maximum(count, 1), mean)
    return np.where(fluid_coarse, out, 0.0)


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
    offset = grid_offset(coarse.shape, fine.shape, ratio)
    return prolong_cells(grid, coarse.fluid, ratio, offset=offset).ravel()[fine.fluid_flat]


def prolong_momentum(momentum: dict[str, np.ndarray], coarse: MomentumSolver, fine: MomentumSolver, ratio: int,
                     mover_flow_m3s: np.ndarray) -> dict[str, np.ndarray]:
    """The coarse grid's momentum state (face velocities, pressure, k and ε if any) as the fine grid's: the
    velocities prolonged divergence-consistently, then projected onto the fine grid's own open faces and
    mover sources (divergence-free to round-off); the cell fields interpolated. Leaves ``fine`` holding it.
    """
    offset = grid_offset(coarse.shape, fine.shape, ratio)
    fine.u = [prolong_faces(momentum[name], a, ratio, offset=offset) for a, name in enumerate(("ux", "uy", "uz"))]
    fine.p = prolong_cells(momentum["p"], coarse.fluid, ratio, offset=offset) * fine.fluid
    fine.project_field(mover_flow_m3s)
    out = {"ux": fine.u[0].copy(), "uy": fine.u[1].copy(), "uz": fine.u[2].copy(), "p": fine.p.copy()}
    for name in ("k", "eps"):
        if name in momentum:
            # Between positive coarse values with positive weights: positive.
            out[name] = np.where(fine.fluid, prolong_cells(momentum[name], coarse.fluid, ratio, offset=offset),
                                 momentum[name].min())
    return out
