"""Layers drawn on the hall's geometry from the bus's fields and summary: pure meshes, no plotter.

- :class:`RackFaces`: each rack's intake face (and exhaust face) as a column of bands, one per cell
  layer, carrying the air temperature of the cells just in front of it (just behind it): the
  vertical profile an engineer reads from a cold aisle (warm tops: recirculation over the row).
- :func:`aisle_section_mesh`: vertical sections along the aisles' centre planes.
- :func:`tile_flow_mesh`: the perforated tiles' air speed, from the vertical velocity above the floor.
- :func:`floor_grid`, :func:`unit_seams`: the raised floor's 600 mm tiles and the racks' server units
  as lines, so the room reads as a room at eye height.
- :func:`hottest_racks`, :func:`hot_markers`: the N hottest rack inlets, marked above their racks.
- :func:`crah_faces`: each CRAH's return and supply faces, for their air temperatures.

Field arrays are (nz, ny, nx) with NaN in solids, on the grid the fields message states
(``shape_xyz``, ``origin_m``, ``spacing_m``), exactly as :class:`viewer.scene.HallScene` holds them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pyvista as pv

from twin.model.load import HallModel, facing_axis_sign

__all__ = ["FACE_OFFSET_M", "FLOOR_TILE_M", "RackFaces", "aisle_section_mesh", "crah_faces", "floor_grid",
           "hot_markers", "hottest_racks", "tile_flow_mesh", "unit_seams"]

FACE_OFFSET_M = 0.004  # faces stand this far proud of the cabinet: no z-fighting with its own surface
FLOOR_TILE_M = 0.6  # a raised-floor tile (600 mm, the industry's module)
RACK_UNIT_M = 0.04445  # 1U
SEAM_EVERY_U = 4  # a seam line every 4U: servers read as servers, yet lines stay apart at a distance


def _grid(grid: dict) -> tuple[np.ndarray, np.ndarray, float]:
    shape = np.asarray(grid["shape_xyz"], int)  # (nx, ny, nz)
    return shape, np.asarray(grid["origin_m"], float), float(grid["spacing_m"])


def _cells_within(lo_m: float, hi_m: float, origin_m: float, h: float, n: int) -> np.ndarray:
    """Indices of the cells whose centres lie in [lo, hi]; the one holding the middle if none does."""
    first = math.ceil((lo_m - origin_m) / h - 0.5 - 1e-9)
    last = math.floor((hi_m - origin_m) / h - 0.5 + 1e-9)
    idx = np.arange(max(first, 0), min(last, n - 1) + 1)
    if idx.size == 0:
        mid = int((0.5 * (lo_m + hi_m) - origin_m) // h)
        idx = np.array([min(max(mid, 0), n - 1)])
    return idx


@dataclass
class RackFaces:
    """The intake (``side="front"``) or exhaust (``"back"``) faces of every rack, banded by cell layer.

    ``mesh`` has one quad per band with cell arrays ``rack_index`` and ``t_c``; :meth:`update` fills
    ``t_c`` from a temperature field: the mean over the air cells one cell out from the face, across
    the rack's width, in that band's layer. Where no air cell is found (a face against a wall or
    another cabinet) the band is NaN and drawn in the no-data grey.
    """

    side: str
    mesh: pv.PolyData
    gather: np.ndarray  # (n_bands, w) flat indices into t_c.ravel(), -1 where padded

    @classmethod
    def build(cls, hall: HallModel, grid: dict, side: str = "front") -> RackFaces:
        shape, o, h = _grid(grid)
        nx, ny, nz = (int(v) for v in shape)
        points, quads, rack_index, gathers = [], [], [], []
        for i, r in enumerate(hall.racks):
            f, sign = facing_axis_sign(r.facing)
            if side == "back":
                sign = -sign
            q = 1 - f  # across the face, horizontally
            lo, hi = np.asarray(r.box.lo, float), np.asarray(r.box.hi, float)
            plane = hi[f] if sign > 0 else lo[f]
            # The layer of cells just outside the face (one cell out: the air the fans draw or blow).
            cell_f = int(math.floor((plane + sign * 0.5 * h - o[f]) / h))
            if not 0 <= cell_f < (nx, ny)[f]:
                continue
            across = _cells_within(lo[q], hi[q], o[q], h, (nx, ny)[q])
            layers = _cells_within(lo[2], hi[2], o[2], h, nz)
            at = plane + sign * FACE_OFFSET_M
            for k in layers:
                z0 = max(lo[2], o[2] + k * h)
                z1 = min(hi[2], o[2] + (k + 1) * h)
                if k == layers[0]:
                    z0 = lo[2]
                if k == layers[-1]:
                    z1 = hi[2]
                corners = []
                for a_q, z in ((lo[q], z0), (hi[q], z0), (hi[q], z1), (lo[q], z1)):
                    p = [0.0, 0.0, z]
                    p[f], p[q] = at, a_q
                    corners.append(p)
                base = len(points)
                points.extend(corners)
                quads.append([4, base, base + 1, base + 2, base + 3])
                rack_index.append(i)
                if f == 0:
                    flat = (k * ny + across) * nx + cell_f
                else:
                    flat = (k * ny + cell_f) * nx + across
                gathers.append(flat)
        mesh = pv.PolyData(np.array(points, float).reshape(-1, 3), np.array(quads, np.int64).ravel()
                           if quads else np.zeros(0, np.int64))
        width = max((len(g) for g in gathers), default=1)
        gather = np.full((len(gathers), width), -1, np.int64)
        for j, g in enumerate(gathers):
            gather[j, :len(g)] = g
        if mesh.n_cells:
            mesh.cell_data["rack_index"] = np.asarray(rack_index, np.int32)
            mesh.cell_data["t_c"] = np.full(mesh.n_cells, np.nan, np.float32)
        return cls(side, mesh, gather)

    def values(self, t_c: np.ndarray) -> np.ndarray:
        """The bands' temperatures, °C (NaN where no air cell is in front)."""
        flat = np.asarray(t_c, np.float32).ravel()
        picked = np.where(self.gather >= 0, flat[np.maximum(self.gather, 0)], np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bands are meant: they stay NaN
            return np.nanmean(picked, axis=1).astype(np.float32)

    def profile(self, rack: int, t_c: np.ndarray | None = None) -> np.ndarray:
        """One rack's bands bottom to top, °C (from ``t_c``, or from the mesh as last updated)."""
        mine = np.flatnonzero(self.mesh.cell_data["rack_index"] == rack)
        vals = self.values(t_c) if t_c is not None else np.asarray(self.mesh.cell_data["t_c"])
        return vals[mine]


def aisle_section_mesh(aisles, hall: HallModel, grid: dict, t_c: np.ndarray) -> pv.PolyData:
    """Vertical sections along each aisle's centre plane, floor to ceiling, over the aisle's length.

    Cell array ``t_c`` is the field on the cell layer holding the plane; NaN (solid) cells are kept and
    drawn transparent. Cell array ``aisle_index`` tells whose section a cell is.
    """
    shape, o, h = _grid(grid)
    nx, ny, nz = (int(v) for v in shape)
    parts = []
    for n, a in enumerate(aisles):
        p = 1 - a.axis
        at = a.center[p]
        cell_p = int(min(max((at - o[p]) // h, 0), (nx, ny)[p] - 1))
        along = _cells_within(a.lo[a.axis], a.hi[a.axis], o[a.axis], h, (nx, ny)[a.axis])
        k_floor = int(min(max(math.ceil(-o[2] / h - 1e-9), 0), nz - 1))  # the room above the plenum
        ks = np.arange(k_floor, nz)
        kk, aa = np.meshgrid(ks, along, indexing="ij")  # cells of the plane, the along-axis fastest
        if a.axis == 0:
            flat = (kk * ny + cell_p) * nx + aa
            dims, origin = (len(along) + 1, 1, len(ks) + 1), (o[0] + along[0] * h, at, o[2] + k_floor * h)
        else:
            flat = (kk * ny + aa) * nx + cell_p
            dims, origin = (1, len(along) + 1, len(ks) + 1), (at, o[1] + along[0] * h, o[2] + k_floor * h)
        img = pv.ImageData(dimensions=dims, origin=origin, spacing=(h, h, h))
        img.cell_data["t_c"] = np.asarray(t_c, np.float32).ravel()[flat.ravel()]
        img.cell_data["cell_flat"] = flat.ravel().astype(np.int64)  # later fields: t_c.ravel()[cell_flat]
        img.cell_data["aisle_index"] = np.full(img.n_cells, n, np.int32)
        parts.append(img.cast_to_unstructured_grid().extract_surface(algorithm="dataset_surface"))
    if not parts:
        return pv.PolyData()
    return pv.merge(parts, merge_points=False) if len(parts) > 1 else parts[0]


def tile_flow_mesh(hall: HallModel, grid: dict, velocity_m_s: np.ndarray | None) -> pv.PolyData:
    """The perforated tiles, one quad per grid cell, with cell array ``w_m_s``: the upward air speed in
    the first cell above the floor (what a balometer on the tile measures, per m² of tile)."""
    if velocity_m_s is None or not hall.spec.tiles:
        return pv.PolyData()
    shape, o, h = _grid(grid)
    nx, ny, nz = (int(v) for v in shape)
    k = int(min(max(math.floor(-o[2] / h + 1e-9), 0), nz - 1))  # the first layer above z = 0
    parts = []
    for tile in hall.spec.tiles:
        ii = _cells_within(tile.x_m[0], tile.x_m[1], o[0], h, nx)
        jj = _cells_within(tile.y_m[0], tile.y_m[1], o[1], h, ny)
        img = pv.ImageData(dimensions=(len(ii) + 1, len(jj) + 1, 1), origin=(o[0] + ii[0] * h, o[1] + jj[0] * h,
                                                                                0.008), spacing=(h, h, 1.0))
        j2, i2 = np.meshgrid(jj, ii, indexing="ij")  # (ny', nx'): x fastest, as ImageData orders cells
        flat = ((k * ny + j2) * nx + i2).ravel()
        w = np.asarray(velocity_m_s, np.float32).reshape(-1, 3)[flat, 2]
        img.cell_data["w_m_s"] = np.nan_to_num(w, nan=0.0)
        img.cell_data["cell_flat"] = flat.astype(np.int64)  # later fields: the z velocity of these cells
        parts.append(img.extract_surface(algorithm="dataset_surface"))
    return pv.merge(parts, merge_points=False) if len(parts) > 1 else parts[0]


def floor_grid(hall: HallModel, z_m: float = 0.006) -> pv.PolyData:
    """Lines of the raised floor's 600 mm tiles across the room."""
    sx, sy, _ = hall.spec.hall.size_m
    xs = np.arange(0.0, sx + 1e-9, FLOOR_TILE_M)
    ys = np.arange(0.0, sy + 1e-9, FLOOR_TILE_M)
    segs = [((x, 0.0, z_m), (x, sy, z_m)) for x in xs] + [((0.0, y, z_m), (sx, y, z_m)) for y in ys]
    return _lines(segs)


def unit_seams(hall: HallModel) -> pv.PolyData:
    """Horizontal seams across each rack's front and back every few rack units (above a 0.1 m plinth)."""
    segs = []
    step = SEAM_EVERY_U * RACK_UNIT_M
    for r in hall.racks:
        f, sign = facing_axis_sign(r.facing)
        q = 1 - f
        lo, hi = np.asarray(r.box.lo, float), np.asarray(r.box.hi, float)
        inset = 0.04 * (hi[q] - lo[q])  # the rails: seams stop short of the cabinet's sides
        for plane_sign in (sign, -sign):
            at = (hi[f] if plane_sign > 0 else lo[f]) + plane_sign * 2 * FACE_OFFSET_M
            for z in np.arange(lo[2] + 0.1, hi[2] - 0.05, step):
                a, b = [0.0, 0.0, z], [0.0, 0.0, z]
                a[f] = b[f] = at
                a[q], b[q] = lo[q] + inset, hi[q] - inset
                segs.append((tuple(a), tuple(b)))
    return _lines(segs)


def _lines(segments) -> pv.PolyData:
    if not segments:
        return pv.PolyData()
    pts = np.array(segments, float).reshape(-1, 3)
    n = len(segments)
    cells = np.column_stack([np.full(n, 2), 2 * np.arange(n), 2 * np.arange(n) + 1]).ravel()
    return pv.PolyData(pts, lines=cells)


def hottest_racks(summary: dict | None, rack_names: list[str], n: int) -> list[tuple[int, float]]:
    """The ``n`` racks with the highest inlet temperature, hottest first: (rack index, inlet °C)."""
    racks = (summary or {}).get("racks") or {}
    where = {name: i for i, name in enumerate(rack_names)}
    found = [(where[name], float(t)) for name, t in zip(racks.get("name") or [], racks.get("t_inlet_c") or [])
             if name in where and isinstance(t, (int, float)) and math.isfinite(t)]
    found.sort(key=lambda it: (-it[1], it[0]))
    return found[:max(n, 0)]


def hot_markers(hall: HallModel, hot: list[tuple[int, float]]) -> tuple[pv.PolyData, np.ndarray]:
    """Downward cones over the hot racks (cell array ``t_inlet_c``), and where their labels go (n, 3)."""
    cones, anchors = [], []
    for i, t in hot:
        b = hall.racks[i].box
        cx, cy, top = (b.lo[0] + b.hi[0]) / 2, (b.lo[1] + b.hi[1]) / 2, b.hi[2]
        cone = pv.Cone(center=(cx, cy, top + 0.45), direction=(0, 0, -1), height=0.5, radius=0.2, resolution=16)
        cone.cell_data["t_inlet_c"] = np.full(cone.n_cells, t)
        cones.append(cone)
        anchors.append((cx, cy, top + 0.85))
    if not cones:
        return pv.PolyData(), np.zeros((0, 3))
    return pv.merge(cones, merge_points=False), np.array(anchors, float)


def _crah_face(lo, hi, f: int, q: int, sign: int, where: str, z0: float, z1: float, inset: float) -> list:
    """The corners of one inset face of a cabinet: ``top``, ``front`` or ``back``, from z0 to z1."""
    if where == "top":
        z = hi[2] + FACE_OFFSET_M
        a0, a1 = lo + inset, hi - inset
        return [(a0[0], a0[1], z), (a1[0], a0[1], z), (a1[0], a1[1], z), (a0[0], a1[1], z)]
    s = sign if where == "front" else -sign
    at = (hi[f] if s > 0 else lo[f]) + s * FACE_OFFSET_M
    pts = []
    for a_q, z in ((lo[q] + inset, z0), (hi[q] - inset, z0), (hi[q] - inset, z1), (lo[q] + inset, z1)):
        p = [0.0, 0.0, z]
        p[f], p[q] = at, a_q
        pts.append(tuple(p))
    return pts


def crah_faces(hall: HallModel) -> pv.PolyData:
    """Each CRAH's return face (cell array ``side`` 0) and supply face (1), inset on the cabinet so
    the state colour stays round them; ``crah_index`` says whose. A supply into the floor is drawn as
    a strip along the bottom of the unit's front (the floor under it cannot be seen)."""
    quads, crah, side = [], [], []
    inset = 0.08
    for i, c in enumerate(hall.crahs):
        lo, hi = np.asarray(c.box.lo, float), np.asarray(c.box.hi, float)
        f, sign = facing_axis_sign(c.facing)
        q = 1 - f

        def face(where: str, z0: float, z1: float, lo=lo, hi=hi, f=f, q=q, sign=sign):
            return _crah_face(lo, hi, f, q, sign, where, z0, z1, inset)

        height = hi[2] - lo[2]
        same = c.return_from == c.supply_to and c.return_from in ("front", "back")
        ret = face(c.return_from, lo[2] + (0.55 if same else 0.35) * height, hi[2] - inset)
        if c.supply_to == "floor":
            sup = face("front", lo[2] + 0.02, lo[2] + 0.25)
        else:
            sup = face(c.supply_to, lo[2] + inset, lo[2] + (0.45 if same else 0.65) * height)
        for kind, pts in ((0, ret), (1, sup)):
            quads.append(pts)
            crah.append(i)
            side.append(kind)
    if not quads:
        return pv.PolyData()
    pts = np.array(quads, float).reshape(-1, 3)
    faces = np.column_stack([np.full(len(quads), 4), np.arange(4 * len(quads)).reshape(-1, 4)]).ravel()
    mesh = pv.PolyData(pts, faces)
    mesh.cell_data["crah_index"] = np.array(crah, np.int32)
    mesh.cell_data["side"] = np.array(side, np.int8)
    mesh.cell_data["t_c"] = np.full(mesh.n_cells, np.nan, np.float32)
    return mesh
