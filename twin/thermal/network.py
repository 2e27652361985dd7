"""The fluid cells of a voxelized hall as a graph: cells, faces between them, and air-mover maps.

This turns :class:`~twin.geometry.voxel.HallVoxels` into plain arrays that the airflow and transport
operators use (STYLE: tables → arrays with index maps). Only fluid cells are unknowns; ``cell_of``
maps a grid cell to its fluid index (-1 for solids).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from twin.geometry.voxel import HallVoxels

__all__ = ["FluidNetwork", "build_network"]


@dataclass
class FluidNetwork:
    """Fluid cells and the open faces between them.

    Attributes:
        n: number of fluid cells.
        fluid_flat: flat grid index of each fluid cell.
        cell_of: grid-shaped int array, fluid index or -1.
        face_a, face_b: fluid indices on the low and high side of each open face.
        face_axis: 0, 1, 2 for x, y, z faces.
        face_open: openness of each face (0–1].
        face_area_m2, dist_m: face area and centre-to-centre distance (uniform grid: h², h).
        intake, outlet: sparse (n × movers) matrices; column j holds mover j's cell shares (sum 1).
        mover_names: racks first, then CRAHs, then PDUs (which move no air, only release heat).
        n_racks: number of racks (the first columns).
        component: connected-component label of each fluid cell (0-based).
    """

    vox: HallVoxels
    n: int
    fluid_flat: np.ndarray
    cell_of: np.ndarray
    face_a: np.ndarray
    face_b: np.ndarray
    face_axis: np.ndarray
    face_open: np.ndarray
    face_area_m2: float
    dist_m: float
    intake: sp.csc_matrix
    outlet: sp.csc_matrix
    mover_names: list[str]
    n_racks: int
    n_crahs: int
    component: np.ndarray
    n_components: int
    #: What a solver derives from this network and keeps for its next solve (twin.thermal.steady: the operator's
    #: structure, the last flow ordering). Kept here, like ``neighbours``, so that it goes with the network.
    solver_cache: dict[str, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def cell_volume_m3(self) -> float:
        return self.vox.grid.cell_volume_m3

    @cached_property
    def neighbours(self) -> tuple[np.ndarray, np.ndarray]:
        """Each cell's open faces, padded to six (a Cartesian cell has at most six): (n, 6) arrays of the
        neighbouring cell and of the face's index, -1 past the cell's last face; faces where the cell is
        ``face_a`` first, then those where it is ``face_b``, each in face order.

        Geometry only, so built once per network: the transport operator is assembled from it every time the
        flow changes (twin.thermal.transport).
        """
        n_faces = self.face_a.size
        cell = np.concatenate([self.face_a, self.face_b])
        other = np.concatenate([self.face_b, self.face_a])
        face = np.concatenate([np.arange(n_faces), np.arange(n_faces)])
        by_cell = np.argsort(cell, kind="stable")
        counts = np.bincount(cell, minlength=self.n)
        if counts.size and counts.max() > 6:
            raise ValueError(f"a fluid cell has {counts.max()} open faces; a Cartesian cell has at most 6")
        slot = np.arange(cell.size) - np.repeat(np.cumsum(counts) - counts, counts)
        nbr = np.full((self.n, 6), -1, dtype=np.int32)
        nbr_face = np.full((self.n, 6), -1, dtype=np.int32)
        nbr[cell[by_cell], slot] = other[by_cell]
        nbr_face[cell[by_cell], slot] = face[by_cell]
        return nbr, nbr_face

    def to_grid(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """Scatter per-fluid-cell values back onto the full grid (solids get ``fill``)."""
        out = np.full(self.vox.grid.n_cells, fill, dtype=np.result_type(values, np.float32))
        out[self.fluid_flat] = values
        return out.reshape(self.vox.grid.shape)


def build_network(vox: HallVoxels) -> FluidNetwork:
    """Index the fluid cells and open faces of ``vox``."""
    shape = vox.grid.shape
    fluid = ~vox.solid
    cell_of = np.full(shape, -1, dtype=np.int64)
    fluid_flat = np.flatnonzero(fluid.ravel())
    cell_of.ravel()[fluid_flat] = np.arange(fluid_flat.size)

    a_list, b_list, axis_list, open_list = [], [], [], []
    for axis in range(3):
        of = vox.open_faces[axis]
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        inner = [slice(None)] * 3
        lo[axis], hi[axis], inner[axis] = slice(0, -1), slice(1, None), slice(1, -1)
        ca, cb, o = cell_of[tuple(lo)], cell_of[tuple(hi)], of[tuple(inner)]
        keep = (ca >= 0) & (cb >= 0) & (o > 0)
        a_list.append(ca[keep])
        b_list.append(cb[keep])
        open_list.append(o[keep])
        axis_list.append(np.full(int(keep.sum()), axis, dtype=np.int8))
    face_a = np.concatenate(a_list)
    face_b = np.concatenate(b_list)

    n = fluid_flat.size
    adjacency = sp.coo_matrix((np.ones(face_a.size), (face_a, face_b)), shape=(n, n)).tocsr()
    n_comp, comp = sp.csgraph.connected_components(adjacency, directed=False)

    movers = [*vox.racks, *vox.crahs, *vox.pdus]

    def share_matrix(attr: str) -> sp.csc_matrix:
        rows, cols, vals = [], [], []
        for j, m in enumerate(movers):
            cells = cell_of.ravel()[getattr(m, attr)]
            rows.append(cells)
            cols.append(np.full(cells.size, j))
            vals.append(np.full(cells.size, 1.0 / cells.size))
        if not movers:
            return sp.csc_matrix((n, 0))
        return sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n, len(movers)))

    h = vox.grid.cell_m
    return FluidNetwork(
        vox=vox, n=n, fluid_flat=fluid_flat, cell_of=cell_of, face_a=face_a, face_b=face_b,
        face_axis=np.concatenate(axis_list), face_open=np.concatenate(open_list),
        face_area_m2=h * h, dist_m=h, intake=share_matrix("intake"), outlet=share_matrix("outlet"),
        mover_names=[m.name for m in movers], n_racks=len(vox.racks), n_crahs=len(vox.crahs),
        component=comp, n_components=n_comp,
    )

