"""Voxel masks of a hall on the solver grid.

The solver grid is uniform: cubic cells of edge ``cell_m`` covering the room and, below z = 0, the
raised-floor plenum. An object (rack, CRAH, obstacle) owns the cells whose centres lie inside its mesh.
Thin parts (the raised floor, containment panels, doors, roofs) are not cells but faces: each cell face
has an *openness* between 0 (closed: wall, solid, panel) and 1 (free air); perforated tiles and leaky
panels sit between. Air movers exchange air with the fluid cells next to their faces: a rack draws from
the cells in front of it and blows into the cells behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from twin.geometry.meshes import facing_rotation, object_mesh
from twin.model.load import Box, HallError, HallModel, facing_axis_sign
from twin.model.schema import Containment

if TYPE_CHECKING:
    import trimesh

__all__ = ["ContainmentPlane", "Grid", "HallVoxels", "box_cells", "containment_planes", "mesh_cells",
           "voxelize_hall"]



@dataclass(frozen=True)
class Grid:
    """A uniform Cartesian grid: ``shape`` cells of edge ``cell_m`` from ``origin_m`` (minimum corner)."""

    shape: tuple[int, int, int]
    origin_m: tuple[float, float, float]
    cell_m: float

    @property
    def n_cells(self) -> int:
        return int(np.prod(self.shape))

    @property
    def cell_volume_m3(self) -> float:
        return self.cell_m**3

    def centers(self, axis: int) -> np.ndarray:
        """Cell-centre coordinates along one axis, m."""
        return self.origin_m[axis] + (np.arange(self.shape[axis]) + 0.5) * self.cell_m

    def face_index(self, axis: int, coord_m: float) -> int:
        """Index of the grid face plane nearest to a coordinate (0 … shape[axis])."""
        k = round((coord_m - self.origin_m[axis]) / self.cell_m)
        return int(min(max(k, 0), self.shape[axis]))

    @classmethod
    def for_hall(cls, hall: HallModel) -> Grid:
        """The solver grid of a hall: the room and, below z = 0, its raised-floor plenum."""
        info = hall.spec.hall
        h, depth = info.cell_m, hall.plenum_depth_m
        shape = (round(info.size_m[0] / h), round(info.size_m[1] / h), round((info.size_m[2] + depth) / h))
        return cls(shape, (0.0, 0.0, -depth), h)

    def cell_range(self, axis: int, lo_m: float, hi_m: float) -> slice:
        """Cells whose centres lie in [lo_m, hi_m]."""
        c = self.centers(axis)
        idx = np.nonzero((c >= lo_m - 1e-9) & (c <= hi_m + 1e-9))[0]
        return slice(int(idx[0]), int(idx[-1]) + 1) if idx.size else slice(0, 0)


@dataclass
class Mover:
    """Cells an air mover takes air from and gives air to (flat cell indices; equal shares)."""

    name: str
    intake: np.ndarray
    outlet: np.ndarray


@dataclass
class HallVoxels:
    """The hall on the grid: solids, face openness, and the cells each air mover exchanges air with."""

    grid: Grid
    solid: np.ndarray  # bool (nx, ny, nz)
    owner: np.ndarray  # int32 (nx, ny, nz): -1 fluid, else index into ``owners``
    owners: list[str]
    open_faces: tuple[np.ndarray, np.ndarray, np.ndarray]  # (nx+1,ny,nz), (nx,ny+1,nz), (nx,ny,nz+1)
    racks: list[Mover] = field(default_factory=list)
    crahs: list[Mover] = field(default_factory=list)
    plenum_layers: int = 0
    # PDU cabinets move no air; their losses warm the air around them (intake = outlet = those cells).
    pdus: list[Mover] = field(default_factory=list)


def mesh_cells(mesh: trimesh.Trimesh, grid: Grid) -> np.ndarray:
    """Boolean mask of the cells whose centres lie inside ``mesh``."""
    mask = np.zeros(grid.shape, dtype=bool)
    lo, hi = mesh.bounds
    ranges = [grid.cell_range(a, lo[a], hi[a]) for a in range(3)]
    if any(r.stop <= r.start for r in ranges):
        return mask
    cx, cy, cz = (grid.centers(a)[ranges[a]] for a in range(3))
    pts = np.stack(np.meshgrid(cx, cy, cz, indexing="ij"), axis=-1).reshape(-1, 3)
    if mesh.is_convex:
        # Half-space test against every face plane: exact for boxes, no spatial index needed.
        normals = mesh.face_normals
        offsets = np.einsum("ij,ij->i", normals, mesh.triangles[:, 0, :])
        inside = np.all(pts @ normals.T <= offsets + 1e-9, axis=1)
    else:
        inside = mesh.contains(pts)
    mask[ranges[0], ranges[1], ranges[2]] = inside.reshape(len(cx), len(cy), len(cz))
    return mask


def box_cells(box: Box, grid: Grid) -> np.ndarray:
    """Boolean mask of the cells whose centres lie inside an axis-aligned box: :func:`mesh_cells` of its box
    mesh, cell for cell, without building the mesh (a hall of plain boxes then never imports trimesh, whose
    import is a third of a steady run's start-up).

    The far corner is taken as trimesh builds the box's vertices (``lo + (hi − lo)``, which can differ from
    ``hi`` in the last bit), so that a cell centre within rounding of a face is judged as the mesh's
    half-space test judges it: that test reduces to the same per-axis comparisons as ``Grid.cell_range``.
    """
    mask = np.zeros(grid.shape, dtype=bool)
    lo = np.asarray(box.lo, dtype=float)
    hi = (np.asarray(box.hi, dtype=float) - lo) + lo
    mask[tuple(grid.cell_range(a, float(lo[a]), float(hi[a])) for a in range(3))] = True
    return mask


def _neighbour_cells(cells: np.ndarray, axis: int, step: int, grid: Grid) -> np.ndarray:
    """For a mask of an object's cells: the cells just outside its face in direction ``step`` on ``axis``.

    Returns an (n, 3) array of neighbour indices (may fall outside the grid).
    """
    idx = np.argwhere(cells)
    nb = idx.copy()
    nb[:, axis] += step
    inside = (nb[:, axis] >= 0) & (nb[:, axis] < grid.shape[axis])
    face = np.ones(len(idx), dtype=bool)
    face[inside] = ~cells[tuple(nb[inside].T)]
    return nb[face]


class _Solid(Protocol):
    """What voxelizing needs of a rack, CRAH, obstacle or PDU (the hall's specs are frozen dataclasses)."""

    @property
    def name(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def box(self) -> Box: ...
    @property
    def mesh(self) -> Path | None: ...


def voxelize_hall(hall: HallModel) -> HallVoxels:
    """Voxelize a validated hall onto its solver grid."""
    grid = Grid.for_hall(hall)
    h, shape = grid.cell_m, grid.shape
    nz_plenum = round(hall.plenum_depth_m / h)
    where = str(hall.path) if hall.path else "<hall>"

    owner = np.full(shape, -1, dtype=np.int32)
    owners: list[str] = []
    object_cells: dict[str, np.ndarray] = {}
    solids: list[_Solid] = [*hall.racks, *hall.crahs, *hall.obstacles, *hall.pdus]
    for obj in solids:
        facing = getattr(obj, "facing", None)
        if obj.mesh is None:
            facing_rotation(facing)  # what object_mesh checks of a box (its facing turns nothing)
            cells = box_cells(obj.box, grid)
        else:
            cells = mesh_cells(object_mesh(obj.box, obj.mesh, facing=facing), grid)
        if not cells.any():
            raise HallError(f"{where}: {obj.key}: {obj.name!r} is smaller than one {h} m cell; "
                            f"use smaller cells or a larger object")
        clash = owner[cells]
        if (clash >= 0).any():
            other = owners[int(clash[clash >= 0][0])]
            raise HallError(f"{where}: {obj.key}: {obj.name!r} shares cells with {other!r} on the {h} m grid")
        owner[cells] = len(owners)
        owners.append(obj.name)
        object_cells[obj.name] = cells
    solid = owner >= 0

    open_faces = [np.ones((shape[0] + 1, shape[1], shape[2])),
                  np.ones((shape[0], shape[1] + 1, shape[2])),
                  np.ones((shape[0], shape[1], shape[2] + 1))]
    for a in range(3):
        of = np.moveaxis(open_faces[a], a, 0)
        of[0] = 0.0  # walls, floor and ceiling
        of[-1] = 0.0
        s = np.moveaxis(solid, a, 0)
        of[1:][s] = 0.0  # face on the low side of a solid cell
        of[:-1][s] = 0.0  # face on the high side

    if nz_plenum:
        # The raised floor: closed except where perforated tiles are. A perforated tile of open-area
        # fraction σ has a loss coefficient roughly ∝ 1/σ², so its linear conductance scales as σ².
        floor = open_faces[2][:, :, nz_plenum]
        floor[:] = 0.0
        for tile in hall.spec.tiles:
            sx = grid.cell_range(0, *tile.x_m)
            sy = grid.cell_range(1, *tile.y_m)
            floor[sx, sy] = tile.open_fraction**2
        floor[solid[:, :, nz_plenum] | solid[:, :, nz_plenum - 1]] = 0.0

    for c in hall.spec.containment:
        _place_containment(grid, open_faces, c)

    racks = []
    for rack in hall.racks:
        cells = object_cells[rack.name]
        axis, sign = facing_axis_sign(rack.facing)
        racks.append(Mover(
            rack.name,
            _fluid_cells(where, rack.key, rack.name, "front (intake)", _neighbour_cells(cells, axis, sign, grid),
                         solid),
            _fluid_cells(where, rack.key, rack.name, "back (exhaust)", _neighbour_cells(cells, axis, -sign, grid),
                         solid),
        ))
    crahs = []
    for crah in hall.crahs:
        cells = object_cells[crah.name]
        axis, sign = facing_axis_sign(crah.facing)
        side = {"front": (axis, sign), "back": (axis, -sign), "top": (2, 1), "floor": (2, -1)}
        ret = _neighbour_cells(cells, *side[crah.return_from], grid)
        sup = _neighbour_cells(cells, *side[crah.supply_to], grid)
        crahs.append(Mover(
            crah.name,
            _fluid_cells(where, crah.key, crah.name, f"return ({crah.return_from})", ret, solid),
            _fluid_cells(where, crah.key, crah.name, f"supply ({crah.supply_to})", sup, solid),
        ))
    pdus = []
    for pdu in hall.pdus:
        cells = object_cells[pdu.name]
        around = np.concatenate([_neighbour_cells(cells, axis, step, grid)
                                 for axis, step in ((0, 1), (0, -1), (1, 1), (1, -1), (2, 1))])
        air = _fluid_cells(where, pdu.key, pdu.name, "air around it", around, solid)
        pdus.append(Mover(pdu.name, air, air))
    vox = HallVoxels(grid, solid, owner, owners, (open_faces[0], open_faces[1], open_faces[2]), racks, crahs,
                     nz_plenum, pdus)
    return vox


def _fluid_cells(where: str, key: str, name: str, what: str, nb: np.ndarray, solid: np.ndarray) -> np.ndarray:
    shape = solid.shape
    ok = np.all((nb >= 0) & (nb < np.array(shape)), axis=1)
    nb = nb[ok]
    nb = nb[~solid[tuple(nb.T)]]
    if len(nb) == 0:
        raise HallError(f"{where}: {key}: the {what} of {name!r} is blocked (by a wall or another object); "
                        f"leave at least one cell of free air there")
    return np.ravel_multi_index(tuple(nb.T), shape).astype(np.int64)


@dataclass(frozen=True)
class ContainmentPlane:
    """One panel, door or roof of a contained aisle: the grid faces it closes.

    ``axis`` is the face normal; ``index`` the face plane along it; ``lo``/``hi`` the cell-index
    ranges along all three axes (the entry for ``axis`` is unused).
    """

    part: str  # e.g. "panel-y", "door+x", "roof"
    axis: int
    index: int
    lo: tuple[int, int, int]
    hi: tuple[int, int, int]


def containment_planes(grid: Grid, c: Containment) -> list[ContainmentPlane]:
    """Where a contained aisle's panels, doors and roof stand on the grid (one rule, for the solver and
    the drawing): the aisle's box snapped to face planes, from the floor (z = 0) up to ``height_m``.

    Panels stand along the long sides always (they usually meet the rack fronts, and close gaps in the
    rows), doors at the short ends when ``doors``, the roof when ``roof``.
    """
    ix0, ix1 = grid.face_index(0, c.x_m[0]), grid.face_index(0, c.x_m[1])
    iy0, iy1 = grid.face_index(1, c.y_m[0]), grid.face_index(1, c.y_m[1])
    iz0, iz1 = grid.face_index(2, 0.0), grid.face_index(2, c.height_m)
    lo, hi = (ix0, iy0, iz0), (ix1, iy1, iz1)
    long_x = (ix1 - ix0) >= (iy1 - iy0)
    planes = []
    if c.doors or long_x:
        kind = "panel" if long_x else "door"
        planes += [ContainmentPlane(f"{kind}-y", 1, iy0, lo, hi), ContainmentPlane(f"{kind}+y", 1, iy1, lo, hi)]
    if c.doors or not long_x:
        kind = "door" if long_x else "panel"
        planes += [ContainmentPlane(f"{kind}-x", 0, ix0, lo, hi), ContainmentPlane(f"{kind}+x", 0, ix1, lo, hi)]
    if c.roof:
        planes.append(ContainmentPlane("roof", 2, iz1, lo, hi))
    return planes


def _place_containment(grid: Grid, open_faces: list[np.ndarray], c: Containment) -> None:
    """Close the faces of a contained aisle's panels, doors and roof to its leakage."""
    leak = c.leakage**2  # an open-area fraction, treated like a perforated tile's (conductance ∝ σ²)
    for p in containment_planes(grid, c):
        index: list[slice | int] = [slice(p.lo[a], p.hi[a]) for a in range(3)]
        index[p.axis] = p.index
        arr = open_faces[p.axis]
        arr[tuple(index)] = np.minimum(arr[tuple(index)], leak)
