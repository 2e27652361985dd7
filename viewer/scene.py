"""The hall as pyvista meshes: a pure function of the hall and of what the bus says about its state.

:func:`build_scene` turns a validated hall (``twin.model``) and a view of the twin (anything with the
``hall``/``summary``/``fields`` of a :class:`twin.bus.client.TwinClient` or
:func:`twin.bus.offline.offline_view`) into named meshes, and :meth:`HallScene.update` writes a newer
state into those same meshes in place. Nothing here opens a window or touches a plotter, so the scene
is tested without rendering; :mod:`viewer.stage` adds one actor per mesh and never re-adds them.

Meshes (names are the actors' names):

- static: ``floor``, ``tiles``, ``walls/-x`` … ``walls/+y`` (drawn or hidden by :func:`visible_walls`),
  ``racks`` (one mesh, cell array ``rack_index``), ``crahs`` (``crah_index``), ``pdus``, ``obstacles``,
  ``containment`` (panels and roofs), ``doors`` (the two sliding leaves of each door of a contained
  aisle, :mod:`viewer.doors`, moved in place as the walk opens them), ``outlines`` (the cabinets'
  edges); built from
  :func:`twin.geometry.export.hall_scene`, so the viewer draws exactly the geometry the GLB export
  writes and the solver voxelizes (GLB meshes where the hall names them);
- static too: ``floor_grid`` (the 600 mm floor tiles), ``unit_seams`` (server units on rack faces);
- from the summary: cell array ``t_inlet_c`` on ``racks`` (coloured by :class:`TemperatureScale`),
  cell array ``rgb`` on ``crahs`` (state colours), CRAH labels with the fan speed, ``crah_faces``
  (return and supply air), ``hot_marks`` (cones over the N hottest inlets, :attr:`HallScene.hot`);
- from the fields: ``slice`` (horizontal, at ``slice_height_m``), ``vslice`` (vertical, across an
  aisle), ``asections`` (along the aisles' centre planes), ``iso`` (isosurface at ``iso_c``),
  ``flow`` (arrows or streamlines), ``rack_fronts`` / ``rack_backs`` (the air in front of each
  intake and behind each exhaust, banded by height), ``tile_flow`` (air rising through the tiles).

Inlets (rack bodies and fronts) are on the ASHRAE scale; air (slices, sections, isosurface, exhausts,
CRAH faces) on :class:`AirScale`, a neutral sequential scale, unless ``air_scale="ashrae"``.
Labels (rows, aisles, CRAHs, hot racks) are anchored at world points listed here; which of them the
camera can see is decided in :mod:`viewer.stage` (:mod:`viewer.labels`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pyvista as pv
import trimesh

from twin.geometry.export import hall_scene
from twin.geometry.meshes import object_mesh
from twin.model.load import HallModel, facing_axis_sign
from twin.model.schema import ASHRAE_ALLOWABLE_C, ASHRAE_RECOMMENDED_C
from viewer.doors import hall_doors
from viewer.overlays import (
    RackFaces,
    aisle_section_mesh,
    crah_faces,
    floor_grid,
    hot_markers,
    hottest_racks,
    tile_flow_mesh,
    unit_seams,
)

__all__ = [
    "CRAH_STATE_COLOURS",
    "FLOW_MODES",
    "STATIC_STYLES",
    "AIR_SCALES",
    "AirScale",
    "Aisle",
    "HallScene",
    "SceneOptions",
    "TemperatureScale",
    "TwinView",
    "build_scene",
    "door_leaves_mesh",
    "crah_states",
    "find_aisles",
    "slice_weights",
    "temperature_scales",
    "visible_walls",
]

#: How the airflow is drawn.
FLOW_MODES = ("none", "arrows", "streamlines")
#: Scales for the air (slices, sections, isosurface, exhaust faces); rack inlets are always on ASHRAE's.
AIR_SCALES = ("neutral", "ashrae")

#: CRAH state → colour (RGB 0–255): the picture of the cooling a shift engineer reads at a glance.
CRAH_STATE_COLOURS: dict[str, tuple[int, int, int]] = {
    "running": (43, 140, 190),  # blue: cooling
    "stopped": (150, 150, 150),  # grey: off but healthy
    "tripped": (227, 26, 28),  # red: a fault
    "unpowered": (82, 82, 82),  # dark grey: no supply
}

WALL_THICKNESS_M = 0.15
MIN_AISLE_M = 0.6  # narrower gaps are not walked (service gaps, a row against a unit)
ISO_MAX_CELLS = 40_000  # the isosurface is contoured on blocks of cells above this (a level of detail)
MAX_AISLE_M = 1.2  # an aisle against a wall is drawn this wide: the rest of the space is the room's


class TwinView(Protocol):
    """What the scene reads: a :class:`~twin.bus.client.TwinClient` or an offline view."""

    hall: dict | None
    summary: dict | None
    fields: tuple[dict, dict[str, np.ndarray]] | None
    status: str


# --- colours --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemperatureScale:
    """The temperature colour scale: ASHRAE's recommended band and the class's allowable limit marked.

    Below the band is blue (over-cooled), the band itself green, from the band's top to the allowable
    limit yellow to orange, above the limit red. The colour jumps at 18, 27 °C and at the limit, so a
    rack that leaves the band changes hue, not just shade.
    """

    ashrae_class: str = "A1"
    recommended_c: tuple[float, float] = ASHRAE_RECOMMENDED_C
    allowable_c: tuple[float, float] = ASHRAE_ALLOWABLE_C["A1"]

    @classmethod
    def for_hall(cls, hall: HallModel, info: dict | None = None) -> TemperatureScale:
        """The hall's ASHRAE class, as the bus states it (``hall["ashrae"]``) or as the hall file says."""
        ashrae = (info or {}).get("ashrae") or {}
        cls_name = ashrae.get("class") or hall.spec.hall.ashrae_class
        rec = tuple(ashrae.get("recommended_c") or ASHRAE_RECOMMENDED_C)
        allow = tuple(ashrae.get("allowable_c") or ASHRAE_ALLOWABLE_C[cls_name])
        return cls(str(cls_name), (float(rec[0]), float(rec[1])), (float(allow[0]), float(allow[1])))

    @property
    def clim_c(self) -> tuple[float, float]:
        """Range of the colour bar, °C: a little below the band, well above the limit (hot aisles)."""
        return self.recommended_c[0] - 4.0, self.allowable_c[1] + 8.0

    def nodes(self) -> list[tuple[float, str]]:
        """(temperature °C, colour) nodes of the scale, in order; equal temperatures make a jump."""
        lo, hi = self.clim_c
        r0, r1 = self.recommended_c
        limit = self.allowable_c[1]
        return [
            (lo, "#08306b"), (r0, "#9ecae1"),  # over-cooled: dark to light blue
            (r0, "#1a9850"), ((r0 + r1) / 2, "#66bd63"), (r1, "#a6d96a"),  # recommended: greens
            (r1, "#fee08b"), (limit, "#f46d43"),  # above the band, within the class: yellow to orange
            (limit, "#d73027"), (hi, "#67001f"),  # beyond the allowable limit: red to maroon
        ]

    def lookup_table(self, bin_k: float = 0.05) -> pv.LookupTable:
        """The VTK lookup table every temperature actor uses (racks, slices, streamlines).

        Bins of ``bin_k`` kelvin start at the bar's lower end, so each jump of the scale falls on a
        bin edge: air at exactly 18.0 °C (a supply setpoint) is inside the band, not below it.
        """
        lo, hi = self.clim_c
        n = max(2, round((hi - lo) / bin_k))
        centres = lo + (np.arange(n) + 0.5) * (hi - lo) / n
        nodes = self.nodes()
        temps = np.array([t for t, _ in nodes])
        colours = np.array([pv.Color(c).float_rgb for _, c in nodes])
        rgb = np.empty((n, 3))
        for i, t in enumerate(centres):
            j = int(np.searchsorted(temps, t, side="right"))  # the node segment [j-1, j] holding t
            j = min(max(j, 1), len(temps) - 1)
            t0, t1 = temps[j - 1], temps[j]
            w = 0.0 if t1 <= t0 else (t - t0) / (t1 - t0)
            rgb[i] = (1 - w) * colours[j - 1] + w * colours[j]
        lut = pv.LookupTable()
        lut.values = np.column_stack([np.round(255 * rgb), np.full(n, 255)]).astype(np.uint8)
        lut.scalar_range = (lo, hi)
        lut.nan_color = "lightgrey"
        lut.annotations = self.annotations()
        return lut

    def annotations(self) -> dict[float, str]:
        """Marks on the colour bar: the band and the allowable limit."""
        r0, r1 = self.recommended_c
        return {r0: f"{r0:g}", r1: f"{r1:g}", self.allowable_c[1]: f"{self.allowable_c[1]:g} {self.ashrae_class}"}

    def rgb(self, t_c: float, lut: pv.LookupTable | None = None) -> tuple[int, int, int]:
        """The colour of one temperature (0–255), as the renderer will draw it."""
        lut = lut or self.lookup_table()
        rgb = [0.0, 0.0, 0.0]
        lut.GetColor(float(t_c), rgb)
        return tuple(int(round(255 * c)) for c in rgb)  # type: ignore[return-value]


@dataclass(frozen=True)
class AirScale(TemperatureScale):
    """A neutral sequential scale for air: pale where cool, deep purple where hot, no jumps.

    Air is not an inlet: a hot aisle at 35 °C is the room working as designed, so air gets no green
    "good" or red "alarm" hues (ISA-101's restraint: colour that alarms only where something is
    wrong). Its hues (blue-purple) are none of the ASHRAE scale's, so a rack face and the air beside
    it are never confused. Same range as the ASHRAE bar, so the two bars read side by side.
    """

    def nodes(self) -> list[tuple[float, str]]:
        lo, hi = self.clim_c
        ramp = ["#f7fcfd", "#bfd3e6", "#8c96c6", "#8c6bb1", "#88419d", "#4d004b"]  # ColorBrewer BuPu
        return [(lo + (hi - lo) * i / (len(ramp) - 1), c) for i, c in enumerate(ramp)]

    def annotations(self) -> dict[float, str]:
        return {}


def temperature_scales(hall: HallModel, info: dict | None, air_scale: str) -> tuple[TemperatureScale,
                                                                                  TemperatureScale]:
    """(rack scale, air scale): racks always on the ASHRAE scale; air on it too (``"ashrae"``) or on
    the neutral :class:`AirScale` (``"neutral"``)."""
    racks = TemperatureScale.for_hall(hall, info)
    if air_scale == "ashrae":
        return racks, racks
    return racks, AirScale(racks.ashrae_class, racks.recommended_c, racks.allowable_c)


def crah_states(summary: dict | None, n: int) -> list[str]:
    """Each CRAH's state: tripped, unpowered, running or stopped (in that precedence)."""
    if not summary or "crahs" not in summary:
        return ["stopped"] * n
    c = summary["crahs"]

    def col(key: str, default: bool) -> list:
        v = c.get(key)
        return list(v) if isinstance(v, list) and len(v) == n else [default] * n

    out = []
    for tripped, powered, running in zip(col("tripped", False), col("powered", True), col("running", True)):
        out.append("tripped" if tripped else "unpowered" if not powered else "running" if running else "stopped")
    return out


# --- aisles ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Aisle:
    """A walkable aisle beside one row or between two: where the camera stands and walks.

    ``axis`` is the direction the aisle runs (0 = x, 1 = y); ``lo``/``hi`` the (x, y) corners of its
    floor rectangle; ``kind`` cold (rack fronts on its sides), hot (backs) or mixed.
    """

    name: str  # "aisle-1", …, numbered west to east / south to north
    label: str  # e.g. "cold aisle A|B (contained)"
    kind: str
    axis: int
    lo: tuple[float, float]
    hi: tuple[float, float]
    rows: tuple[str, ...]

    @property
    def center(self) -> tuple[float, float]:
        return (self.lo[0] + self.hi[0]) / 2, (self.lo[1] + self.hi[1]) / 2

    @property
    def width_m(self) -> float:
        return self.hi[1 - self.axis] - self.lo[1 - self.axis]

    @property
    def length_m(self) -> float:
        return self.hi[self.axis] - self.lo[self.axis]


@dataclass
class _Row:
    name: str
    lo: np.ndarray  # (x, y, z) of the row's bounding box
    hi: np.ndarray
    axis: int  # along which the racks line up
    facing: str


def _rows(hall: HallModel) -> list[_Row]:
    """The hall's rows as boxes (racks grouped by the row they were expanded from)."""
    groups: dict[int, list] = {}
    index = {spec.name: i for i, spec in enumerate(hall.spec.rows)}
    for r in hall.racks:
        groups.setdefault(index.get(r.row, -1), []).append(r)
    rows = []
    for i, racks in sorted(groups.items()):
        spec = hall.spec.rows[i] if 0 <= i < len(hall.spec.rows) else None
        lo = np.min([r.box.lo for r in racks], axis=0)
        hi = np.max([r.box.hi for r in racks], axis=0)
        axis = ("xy".index(spec.along) if spec is not None else int(np.argmax((hi - lo)[:2])))
        rows.append(_Row(spec.name if spec is not None else racks[0].name, lo, hi, axis, racks[0].facing))
    return rows


def find_aisles(hall: HallModel) -> list[Aisle]:
    """The aisles of a hall, found from its rows: the gap on each side of each row, up to the next row,
    object (CRAH, PDU, column) or wall facing it. Gaps narrower than 0.6 m are not aisles; an aisle
    against a wall or a unit is drawn 1.2 m wide at most."""
    rows = _rows(hall)
    sx, sy, _ = hall.spec.hall.size_m
    room_hi = (sx, sy)
    objects = [o.box for o in (*hall.crahs, *hall.pdus, *hall.obstacles)]
    found: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        a, p = row.axis, 1 - row.axis  # along the row, and across it
        f_axis, f_sign = facing_axis_sign(row.facing)
        for side in (-1, +1):
            edge = row.lo[p] if side < 0 else row.hi[p]
            # Nearest thing facing this side that overlaps the row's length.
            best, partner = (0.0 if side < 0 else room_hi[p]), None
            for other in rows:
                if other is row or other.axis != a or _overlap(row, other, a) <= 0.1:
                    continue
                o_edge = other.hi[p] if side < 0 else other.lo[p]
                if (o_edge - edge) * side >= -1e-6 and abs(o_edge - edge) < abs(best - edge):
                    best, partner = o_edge, other
            for box in objects:
                if min(box.hi[a], row.hi[a]) - max(box.lo[a], row.lo[a]) <= 0.1:
                    continue
                o_edge = box.hi[p] if side < 0 else box.lo[p]
                if (o_edge - edge) * side >= -1e-6 and abs(o_edge - edge) < abs(best - edge):
                    best, partner = o_edge, None
            width = abs(best - edge)
            if width < MIN_AISLE_M - 1e-9:
                continue
            front = f_axis == p and f_sign == side
            if partner is not None:
                key = tuple(sorted((row.name, partner.name)))
                sides = found.setdefault(key, {"fronts": {}, "lo": None})
                sides["fronts"][row.name] = front
                a_lo = max(row.lo[a], partner.lo[a])
                a_hi = min(row.hi[a], partner.hi[a])
                p_lo, p_hi = sorted((edge, best))
            else:
                key = (row.name, side)
                sides = found.setdefault(key, {"fronts": {row.name: front}})
                width = min(width, MAX_AISLE_M)
                p_lo, p_hi = sorted((edge, edge + side * width))
                a_lo, a_hi = row.lo[a], row.hi[a]
            lo, hi = [0.0, 0.0], [0.0, 0.0]
            # Rounded to the millimetre: sums like 4.95 + 1.2 would otherwise print as 6.149999….
            lo[a], hi[a], lo[p], hi[p] = (round(float(v), 3) for v in (a_lo, a_hi, p_lo, p_hi))
            sides.update(axis=a, lo=tuple(lo), hi=tuple(hi))
    aisles = []
    for s in found.values():
        fronts = list(s["fronts"].values())
        kind = "cold" if all(fronts) else "hot" if not any(fronts) else "mixed"
        names = list(s["fronts"])
        if len(names) == 2:
            names.sort(key=lambda n: next(r.lo[1 - s["axis"]] for r in rows if r.name == n))
            where = f"{names[0]}|{names[1]}"
        else:
            where = f"{'in front of' if fronts[0] else 'behind'} row {names[0]}"
        contained = any(_rect_overlap(s["lo"], s["hi"], (c.x_m[0], c.y_m[0]), (c.x_m[1], c.y_m[1])) > 0.5
                        for c in hall.spec.containment)
        label = f"{kind} aisle {where}" + (" (contained)" if contained else "")
        aisles.append(dict(label=label, kind=kind, axis=s["axis"], lo=s["lo"], hi=s["hi"], rows=tuple(names)))
    aisles.sort(key=lambda d: (d["axis"], (d["lo"][1 - d["axis"]] + d["hi"][1 - d["axis"]]) / 2,
                               (d["lo"][d["axis"]] + d["hi"][d["axis"]]) / 2))
    return [Aisle(name=f"aisle-{i + 1}", **d) for i, d in enumerate(aisles)]


def _overlap(r1: _Row, r2: _Row, axis: int) -> float:
    return float(min(r1.hi[axis], r2.hi[axis]) - max(r1.lo[axis], r2.lo[axis]))


def _rect_overlap(lo1, hi1, lo2, hi2) -> float:
    """Overlapping area of two rectangles as a share of the first one's area."""
    w = min(hi1[0], hi2[0]) - max(lo1[0], lo2[0])
    h = min(hi1[1], hi2[1]) - max(lo1[1], lo2[1])
    area = (hi1[0] - lo1[0]) * (hi1[1] - lo1[1])
    return max(w, 0.0) * max(h, 0.0) / area if area > 0 else 0.0


# --- walls ----------------------------------------------------------------------------------------


def visible_walls(hall: HallModel, camera_position: tuple[float, float, float]) -> dict[str, bool]:
    """Which walls to draw: those the camera is not outside of. A wall between the camera and the room
    is cut away; from inside the room every wall stays."""
    sx, sy, _ = hall.spec.hall.size_m
    x, y = float(camera_position[0]), float(camera_position[1])
    return {"walls/-x": x >= 0.0, "walls/+x": x <= sx, "walls/-y": y >= 0.0, "walls/+y": y <= sy}


def _wall_meshes(hall: HallModel) -> dict[str, pv.PolyData]:
    sx, sy, sz = hall.spec.hall.size_m
    z0, t = -hall.plenum_depth_m, WALL_THICKNESS_M
    boxes = {
        "walls/-x": (-t, 0.0, -t, sy + t), "walls/+x": (sx, sx + t, -t, sy + t),
        "walls/-y": (0.0, sx, -t, 0.0), "walls/+y": (0.0, sx, sy, sy + t),
    }
    return {name: pv.Box(bounds=(x0, x1, y0, y1, z0, sz)) for name, (x0, x1, y0, y1) in boxes.items()}


# --- meshes ---------------------------------------------------------------------------------------


def _merge(meshes: list[trimesh.Trimesh], index_name: str | None = None) -> pv.PolyData:
    """One PolyData of many triangle meshes; ``index_name`` numbers the cells by source mesh.

    One mesh per kind (not one actor per rack) keeps a 900-rack hall at a handful of draw calls, and
    updates are one array write.
    """
    if not meshes:
        return pv.PolyData()
    points, faces, index = [], [], []
    offset = 0
    for i, m in enumerate(meshes):
        v = np.asarray(m.vertices, dtype=float)
        f = np.asarray(m.faces, dtype=np.int64)
        points.append(v)
        faces.append(np.hstack([np.full((len(f), 1), 3), f + offset]))
        index.append(np.full(len(f), i, dtype=np.int32))
        offset += len(v)
    poly = pv.PolyData(np.vstack(points), np.vstack(faces).ravel())
    if index_name:
        poly.cell_data[index_name] = np.concatenate(index)
    return poly


def door_leaves_mesh(doors: list) -> pv.PolyData:
    """Every leaf of ``doors`` (:func:`viewer.doors.hall_doors`), shut, as one mesh: leaf ``2 i + n`` is
    leaf n of door i, named by the point array ``leaf``. One actor however many doors a hall has; a door
    opens by moving its leaves' points (:meth:`viewer.stage.Stage.set_doors`)."""
    boxes = []
    for i, door in enumerate(doors):
        for n, (lo, hi) in enumerate(door.leaf_boxes(0.0)):
            box = pv.Box(bounds=(lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]))
            box.point_data["leaf"] = np.full(box.n_points, 2 * i + n, np.int32)
            boxes.append(box)
    if not boxes:
        return pv.PolyData()
    return pv.merge(boxes, merge_points=False)


def _static_meshes(hall: HallModel) -> dict[str, pv.PolyData]:
    """Floor, tiles, walls, racks, CRAHs, PDUs, obstacles and containment, as the GLB export builds them."""
    scene = hall_scene(hall)
    by_kind: dict[str, list[tuple[str, trimesh.Trimesh]]] = {}
    for node in scene.graph.nodes_geometry:
        _, geom = scene.graph[node]
        mesh = scene.geometry[geom]
        kind = (mesh.metadata or {}).get("kind", node.split("/")[0])
        by_kind.setdefault(kind, []).append(((mesh.metadata or {}).get("name", node), mesh))

    def in_order(kind: str, names: list[str]) -> list[trimesh.Trimesh]:
        got = dict(by_kind.get(kind, []))
        return [got[n] for n in names]

    meshes: dict[str, pv.PolyData] = {
        "floor": _merge([m for _, m in by_kind.get("floor", [])]),
        "tiles": _merge([m for _, m in by_kind.get("tile", [])]),
        "racks": _merge(in_order("rack", [r.name for r in hall.racks]), "rack_index"),
        "crahs": _merge(in_order("crah", [c.name for c in hall.crahs]), "crah_index"),
        # PDUs are drawn from the hall view's boxes, which carry their index for picking (the GLB has them
        # too, as pdu/<name>, for other tools).
        "pdus": _merge([object_mesh(p.box, p.mesh) for p in hall.pdus], "pdu_index"),
        "obstacles": _merge([m for _, m in by_kind.get("obstacle", [])]),
        # Panels and roofs; the doors are drawn as leaves that slide open (below, from viewer.doors).
        "containment": _merge([m for _, m in by_kind.get("containment", [])
                               if not str((m.metadata or {}).get("part", "")).startswith("door")]),
    }
    meshes["doors"] = door_leaves_mesh(hall_doors(hall))
    meshes.update(_wall_meshes(hall))
    meshes["floor_grid"] = floor_grid(hall)
    meshes["unit_seams"] = unit_seams(hall)
    # Outlines of the equipment: its sharp edges only (a triangulated box's diagonals are not drawn), so
    # neighbouring racks of one colour still read as separate cabinets.
    solids = [pv.PolyData(m.points, m.faces) for k in ("racks", "crahs", "pdus") if (m := meshes[k]).n_cells]
    # Points are not merged: two racks side by side would otherwise share their edges, which would then
    # count as non-manifold and vanish.
    merged = pv.merge(solids, merge_points=False) if solids else None
    meshes["outlines"] = (merged.extract_feature_edges(feature_angle=30.0, boundary_edges=False,
                                                       non_manifold_edges=False, manifold_edges=False)
                          if merged is not None else pv.PolyData())
    # The faces no camera can see (a rack's side against its neighbour, a cabinet's bottom on the floor)
    # go: looking down a row, its racks' sides stacked 40 layers deep, each shaded by a software renderer.
    boxes = np.array([(o.box.lo, o.box.hi) for o in (*hall.racks, *hall.pdus, *hall.crahs)], float).reshape(-1, 2, 3)
    for k in ("racks", "crahs", "pdus"):
        if meshes[k].n_cells:
            keep = ~hidden_faces(meshes[k], boxes)
            if not keep.all():
                meshes[k] = _keep_cells(meshes[k], keep)
    return meshes


def _keep_cells(mesh: pv.PolyData, keep: np.ndarray) -> pv.PolyData:
    """The triangles where ``keep``, with their cell arrays (the points stay as they are)."""
    faces = mesh.faces.reshape(-1, 4)[keep]
    out = pv.PolyData(np.asarray(mesh.points), faces.ravel())
    for name in mesh.cell_data.keys():
        out.cell_data[name] = np.asarray(mesh.cell_data[name])[keep]
    return out


def hidden_faces(mesh: pv.PolyData, boxes: np.ndarray, *, floor_z_m: float = 0.0, gap_m: float = 0.002) -> np.ndarray:
    """Which triangles of ``mesh`` no camera above the floor can see: those lying against a solid box
    (every corner, moved ``gap_m`` out along the face's normal, inside one of ``boxes`` (n, 2, 3)), and
    the downward faces on or below the floor. Boxes are the cabinets' bounding boxes: a neighbour whose
    own mesh is not a full box would leave a hole, so only boxes of box-shaped cabinets belong here."""
    faces = mesh.faces.reshape(-1, 4)[:, 1:] if mesh.n_cells else np.zeros((0, 3), int)
    tri = np.asarray(mesh.points)[faces]  # (n, 3 corners, xyz)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    out = tri + gap_m * normal[:, None, :]
    hidden = np.zeros(len(tri), bool)
    for lo, hi in boxes:
        inside = ((out >= lo - 1e-6) & (out <= hi + 1e-6)).all(axis=2).all(axis=1)
        hidden |= inside
    hidden |= (normal[:, 2] < -0.99) & (tri[:, :, 2].max(axis=1) <= floor_z_m + 1e-6)
    return hidden


#: add_mesh keywords of each static mesh (dynamic ones are styled in :mod:`viewer.stage`).
STATIC_STYLES: dict[str, dict[str, Any]] = {
    "outlines": {"color": "#2a2a2a", "line_width": 1.0},
    "floor_grid": {"color": "#8f8f8f", "line_width": 1.0, "lighting": False},
    "unit_seams": {"color": "#3a3a3a", "line_width": 1.0, "opacity": 0.55, "lighting": False},
    "floor": {"color": "#b4b4b4"},
    "tiles": {"color": "#e6e6e6"},
    "pdus": {"color": "#8c7853", "ambient": 0.45, "diffuse": 0.6},
    "obstacles": {"color": "#aaa59b"},
    "containment": {"color": "#aad2f0", "opacity": 0.3},
    "doors": {"color": "#aad2f0", "opacity": 0.3},  # glazed like the panels
    # Walls: mostly ambient light, so a wall seen at a grazing angle does not turn black.
    **{f"walls/{s}": {"color": "#ece8df", "ambient": 0.6, "diffuse": 0.4} for s in ("-x", "+x", "-y", "+y")},
}


# --- fields ---------------------------------------------------------------------------------------


def slice_weights(coord_m: float, origin_m: float, spacing_m: float, n: int) -> tuple[int, int, float]:
    """The two cell layers whose centres bracket ``coord_m`` and the weight of the second one.

    A slice between cell centres is the linear blend of the two layers (exactly one layer at a cell
    centre); outside the outermost centres it is the outermost layer.
    """
    u = (coord_m - origin_m) / spacing_m - 0.5
    k0 = int(math.floor(u))
    if k0 < 0:
        return 0, 0, 0.0
    if k0 >= n - 1:
        return n - 1, n - 1, 0.0
    return k0, k0 + 1, float(u - k0)


def _blend(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """(1 − w)·a + w·b, taking the other value where one is NaN (a solid on one side of the slice)."""
    if w == 0.0:
        return a
    with np.errstate(invalid="ignore"):
        mixed = (1.0 - w) * a + w * b
    return np.where(np.isnan(a), b, np.where(np.isnan(b), a, mixed))


@dataclass
class SceneOptions:
    """What the scene shows; the live window changes these with keys, renders take them from flags."""

    slice_height_m: float = 1.5
    show_slice: bool = True
    vslice_aisle: int | None = None  # index into the aisles; None hides the vertical slice
    vslice_at_m: float | None = None  # where along the aisle the section stands (default: its middle)
    # The horizontal axis the section is normal to (0: x, 1: y); None: the aisle's own, a section across
    # it. The walk's legs between aisles set the other: a section across the cross aisle ahead.
    vslice_axis: int | None = None
    iso_c: float | None = 27.0  # None hides the isosurface
    flow: str = "none"  # one of FLOW_MODES
    flow_stride: int | None = None  # cells between arrows / seeds (default: ≈ 40 across the hall)
    air_scale: str = "neutral"  # one of AIR_SCALES
    hot_racks: int = 3  # how many of the hottest racks are marked and named (0: none)
    aisle_sections: bool = False  # translucent sections along the aisles' centre planes
    labels: bool = True  # row, aisle and CRAH labels

    def __post_init__(self) -> None:
        if self.flow not in FLOW_MODES:
            raise ValueError(f"flow must be one of {', '.join(FLOW_MODES)}, got {self.flow!r}")
        if self.air_scale not in AIR_SCALES:
            raise ValueError(f"air scale must be one of {', '.join(AIR_SCALES)}, got {self.air_scale!r}")


@dataclass
class HallScene:
    """Named meshes of a hall and of its latest state. Build with :func:`build_scene`."""

    hall: HallModel
    options: SceneOptions
    scale: TemperatureScale
    aisles: list[Aisle]
    meshes: dict[str, pv.DataSet]
    rack_names: list[str]
    crah_names: list[str]
    crah_label_positions: np.ndarray  # (n_crahs, 3), m: where each CRAH's label floats
    crah_labels: list[str] = field(default_factory=list)
    air: TemperatureScale | None = None  # the air's scale (slices, sections, exhaust faces); racks: ``scale``
    row_labels: list[tuple[str, tuple[float, float, float]]] = field(default_factory=list)
    aisle_labels: list[tuple[str, tuple[float, float, float]]] = field(default_factory=list)
    hot: list[tuple[int, float]] = field(default_factory=list)  # (rack index, inlet °C), hottest first
    hot_label_positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    faces: dict[str, RackFaces] = field(default_factory=dict)  # "front" / "back", once the grid is known
    summary: dict | None = None
    grid: dict | None = None  # the fields' grid: shape_xyz, origin_m, spacing_m
    t_c: np.ndarray | None = None  # (nz, ny, nx) float32, NaN in solids
    velocity_m_s: np.ndarray | None = None  # (nz, ny, nx, 3) float32
    _rack_cell: np.ndarray | None = None  # rack index of each cell of ``racks``
    _crah_cell: np.ndarray | None = None
    _hot_ids: tuple[int, ...] = ()  # the racks the cones of ``hot_marks`` stand on
    _arrow_factor: float | None = None  # arrow length per m/s, fixed at the first field so lengths compare

    # --- updating -------------------------------------------------------------------------------

    def update(self, view: TwinView, changed: set[str] | frozenset[str] | None = None) -> set[str]:
        """Write the view's summary and/or fields into the meshes, in place; returns the meshes changed.

        ``changed`` is what :meth:`TwinClient.poll` returned ("summary", "fields", …); None means both.
        """
        out: set[str] = set()
        kinds = {"summary", "fields"} if changed is None else set(changed)
        if "snapshot" in kinds:
            kinds |= {"summary", "fields"}
        if "summary" in kinds and view.summary is not None:
            self.summary = view.summary
            out |= self._update_summary(view.summary)
        if "fields" in kinds and view.fields is not None:
            body, arrays = view.fields
            self.grid = body.get("grid") or (view.hall or {}).get("grid")
            nx, ny, nz = self.grid["shape_xyz"]
            # VTK has no float16: the bus may send half floats to save bandwidth.
            self.t_c = np.asarray(arrays["t_c"], dtype=np.float32).reshape(nz, ny, nx)
            v = arrays.get("velocity_m_s")
            self.velocity_m_s = None if v is None else np.asarray(v, dtype=np.float32).reshape(nz, ny, nx, 3)
            out |= self.refresh_fields()
        return out

    def _update_summary(self, summary: dict) -> set[str]:
        racks = summary.get("racks") or {}
        t = np.full(len(self.rack_names), np.nan)
        names = racks.get("name") or []
        inlet = racks.get("t_inlet_c") or []
        where = {n: i for i, n in enumerate(self.rack_names)}
        for n, v in zip(names, inlet):
            if n in where and v is not None:
                t[where[n]] = v
        mesh = self.meshes["racks"]
        if mesh.n_cells:
            _write(mesh, "t_inlet_c", t[self._rack_cell])
        states = crah_states(summary, len(self.crah_names))
        mesh = self.meshes["crahs"]
        if mesh.n_cells:
            colours = np.array([CRAH_STATE_COLOURS[s] for s in states], dtype=np.uint8)
            _write(mesh, "rgb", colours[self._crah_cell])
        faces = self.meshes["crah_faces"]
        if faces.n_cells > 1 or "side" in faces.cell_data:
            table = summary.get("crahs") or {}
            temps = {0: table.get("t_return_c") or [], 1: table.get("t_supply_c") or []}
            idx, side = np.asarray(faces.cell_data["crah_index"]), np.asarray(faces.cell_data["side"])
            values = [temps[int(s)][i] if i < len(temps[int(s)]) and temps[int(s)][i] is not None else np.nan
                      for i, s in zip(idx, side)]
            _write(faces, "t_c", np.asarray(values, np.float32))
        speeds = (summary.get("crahs") or {}).get("fan_speed") or [None] * len(self.crah_names)
        # One short line: the colour says the state, the label the unit and its fan speed (or its fault).
        self.crah_labels = [f"{n} {100 * f:.0f} %" if s == "running" and isinstance(f, (int, float))
                            else f"{n} {s.upper()}" for n, s, f in zip(self.crah_names, states, speeds)]
        self.hot = hottest_racks(summary, self.rack_names, self.options.hot_racks)
        ids = tuple(i for i, _ in self.hot)
        mesh = self.meshes["hot_marks"]
        if ids and ids == self._hot_ids:
            # The same racks: only their colours change (rebuilding the cones took 9 ms a summary).
            _write(mesh, "t_inlet_c", np.repeat([t for _, t in self.hot], mesh.n_cells // len(ids)))
        else:
            marks, self.hot_label_positions = hot_markers(self.hall, self.hot)
            mesh.copy_from(marks if marks.n_cells else _placeholder("t_inlet_c"), deep=True)
            self._hot_ids = ids
        return {"racks", "crahs", "crah_faces", "crah_labels", "hot_marks"}

    @property
    def hot_labels(self) -> list[str]:
        """'1 A07 29.4 °C': rank, rack and inlet of each marked rack, hottest first."""
        return [f"{n + 1}  {self.rack_names[i]}  {t:.1f} °C" for n, (i, t) in enumerate(self.hot)]

    def refresh_fields(self) -> set[str]:
        """Recompute the field layers from the held fields (after new fields or changed options)."""
        if self.t_c is None or self.grid is None:
            return set()
        out = {"slice", "rack_fronts", "rack_backs", "tile_flow"}
        self._update_slice()
        self._update_faces()
        tiles = self.meshes["tile_flow"]
        if self.velocity_m_s is not None and self._same_grid(tiles):
            w = self.velocity_m_s.reshape(-1, 3)[np.asarray(tiles.cell_data["cell_flat"]), 2]
            _write(tiles, "w_m_s", np.nan_to_num(w, nan=0.0).astype(np.float32))
        else:
            fresh = tile_flow_mesh(self.hall, self.grid, self.velocity_m_s)
            tiles.copy_from(fresh if fresh.n_cells else _placeholder("w_m_s"), deep=True)
        if self.options.aisle_sections and self.aisles:
            sections = self.meshes["asections"]
            if self._same_grid(sections):
                _write(sections, "t_c", self.t_c.ravel()[np.asarray(sections.cell_data["cell_flat"])])
            else:
                sections.copy_from(aisle_section_mesh(self.aisles, self.hall, self.grid, self.t_c), deep=True)
            sections.field_data["grid"] = [str(self.grid)]
            out.add("asections")
        tiles.field_data["grid"] = [str(self.grid)]
        if self.options.vslice_aisle is not None and self.aisles:
            self._update_vslice()
            out.add("vslice")
        if self.options.iso_c is not None:
            self.meshes["iso"].copy_from(self._isosurface(), deep=False)
            out.add("iso")
        if self.options.flow != "none" and self.velocity_m_s is not None:
            flow = self._arrows() if self.options.flow == "arrows" else self._streamlines()
            self.meshes["flow"].copy_from(flow, deep=False)
            out.add("flow")
        return out

    def _same_grid(self, mesh: pv.DataSet) -> bool:
        """Whether a field layer was built on the current grid (then only its values are rewritten)."""
        return ("cell_flat" in mesh.cell_data and "grid" in mesh.field_data
                and str(mesh.field_data["grid"][0]) == str(self.grid))

    def set_section(self, section: tuple[int, float] | tuple[int, float, int | None] | None) -> bool:
        """Show the vertical section across aisle ``section[0]`` at ``section[1]`` m along it (None: hide
        it); a third item, an axis (0: x, 1: y), stands the plane normal to that axis instead (at
        ``section[1]`` m along it), as across a cross aisle. True when that changed anything. Only the
        section is recomputed."""
        aisle, at, axis = (tuple(section) + (None,))[:3] if section is not None else (None, None, None)
        o = self.options
        if (aisle, at, axis) == (o.vslice_aisle, o.vslice_at_m, o.vslice_axis):
            return False
        o.vslice_aisle, o.vslice_at_m, o.vslice_axis = aisle, at, axis
        if aisle is not None and self.t_c is not None and self.aisles:
            self._update_vslice()
        return True

    def set_slice_height(self, height_m: float) -> None:
        """Move the horizontal slice (clamped to the room, plenum included)."""
        sz = self.hall.spec.hall.size_m[2]
        self.options.slice_height_m = float(min(max(height_m, -self.hall.plenum_depth_m + 0.01), sz - 0.01))
        self._update_slice()

    # --- field layers -------------------------------------------------------------------------

    def _update_faces(self) -> None:
        """The racks' front and back faces: air temperature in front of the intake / behind the exhaust."""
        for side in ("front", "back"):
            mesh = self.meshes[f"rack_{side}s"]
            faces = self.faces.get(side)
            if faces is None or faces.mesh.n_cells != mesh.n_cells or not mesh.n_cells:
                faces = self.faces[side] = RackFaces.build(self.hall, self.grid, side)
                if not faces.mesh.n_cells:
                    continue
                mesh.copy_from(faces.mesh, deep=True)
            _write(mesh, "t_c", faces.values(self.t_c))

    def face_profile(self, rack: int, side: str = "front") -> np.ndarray:
        """A rack's air temperatures bottom to top in front of its intake (``side="back"``: behind its
        exhaust), °C, one per cell layer, as drawn."""
        mesh = self.meshes[f"rack_{side}s"]
        if side not in self.faces or "rack_index" not in mesh.cell_data:
            return np.zeros(0)
        return np.asarray(mesh.cell_data["t_c"])[np.asarray(mesh.cell_data["rack_index"]) == rack]

    def _geometry(self) -> tuple[int, int, int, np.ndarray, float]:
        nx, ny, nz = self.grid["shape_xyz"]
        return nx, ny, nz, np.asarray(self.grid["origin_m"], float), float(self.grid["spacing_m"])

    def _update_slice(self) -> None:
        if self.t_c is None:
            return
        nx, ny, nz, o, h = self._geometry()
        z = self.options.slice_height_m
        k0, k1, w = slice_weights(z, o[2], h, nz)
        values = _blend(self.t_c[k0], self.t_c[k1], w)
        mesh = self.meshes["slice"]
        if tuple(mesh.dimensions) != (nx + 1, ny + 1, 1):
            mesh.copy_from(pv.ImageData(dimensions=(nx + 1, ny + 1, 1), spacing=(h, h, 1.0)), deep=True)
        mesh.origin = (o[0], o[1], z)
        _write(mesh, "t_c", values.ravel())

    def _update_vslice(self) -> None:
        nx, ny, nz, o, h = self._geometry()
        aisle = self.aisles[self.options.vslice_aisle % len(self.aisles)]
        # Across the aisle: the plane normal to the aisle's direction, through its middle, spanning the
        # whole room, so that both rows beside it (and their neighbours) appear in section. Across a
        # cross aisle (``vslice_axis`` given): normal to that axis, spanning the room the same way.
        a = aisle.axis if self.options.vslice_axis is None else int(self.options.vslice_axis)
        room = self.hall.spec.hall.size_m[a]
        at = aisle.center[a] if self.options.vslice_at_m is None else self.options.vslice_at_m
        at = float(min(max(at, 0.01), room - 0.01))
        k0, k1, w = slice_weights(at, o[a], h, (nx, ny)[a])
        if a == 1:  # plane y = at: cells (nz, nx), x fastest
            values = _blend(self.t_c[:, k0, :], self.t_c[:, k1, :], w)
            dims, origin = (nx + 1, 1, nz + 1), (o[0], at, o[2])
        else:  # plane x = at: cells (nz, ny), y fastest
            values = _blend(self.t_c[:, :, k0], self.t_c[:, :, k1], w)
            dims, origin = (1, ny + 1, nz + 1), (at, o[1], o[2])
        mesh = self.meshes["vslice"]
        if tuple(mesh.dimensions) != dims:
            mesh.copy_from(pv.ImageData(dimensions=dims, spacing=(h, h, h)), deep=True)
        mesh.origin = origin
        _write(mesh, "t_c", values.ravel())

    def _field_grid(self, *, velocity: bool = False, coarsen: int = 1) -> pv.ImageData:
        """The field as point data on the cell corners (contours and streamlines want points).

        Solid cells get the coldest air temperature (and no velocity): the hot-air surface then closes
        at a rack's face instead of spreading NaN into the air around it. ``coarsen`` > 1 first averages
        blocks of coarsen³ cells (a level of detail for the isosurface; the grid is padded at its far
        edges by repeating the last cells).

        The corner values are the mean of the cells that share the corner (VTK's
        ``vtkCellDataToPointData`` rule), computed here with numpy: VTK's filter took 25 ms a frame
        on the reference hall, the numpy form a few.
        """
        nx, ny, nz, o, h = self._geometry()
        t = self.t_c
        solid = np.isnan(t)
        fill = float(np.nanmin(t)) if not solid.all() else 0.0
        t = np.where(solid, np.float32(fill), t)
        v = None
        if velocity and self.velocity_m_s is not None:
            v = np.where(np.isnan(self.velocity_m_s), np.float32(0.0), self.velocity_m_s)
        if coarsen > 1:
            t = block_mean(t, coarsen)
            v = None if v is None else block_mean(v, coarsen)
            h = h * coarsen
        shape = t.shape  # (nz, ny, nx) of the cells drawn from
        grid = pv.ImageData(dimensions=(shape[2] + 1, shape[1] + 1, shape[0] + 1), origin=tuple(o),
                            spacing=(h, h, h))
        grid.point_data["t_c"] = cells_to_points(t).ravel()
        if v is not None:
            grid.point_data["velocity_m_s"] = cells_to_points(v).reshape(-1, 3)
        return grid

    def iso_coarsening(self) -> int:
        """Cells per side of the blocks the isosurface is contoured on: 1 on small grids, 2 or more on
        grids over ISO_MAX_CELLS cells. Its triangles cost a software renderer per triangle as much as
        per pixel (41,712 triangles on the reference hall took a third of a frame; 2 → about a quarter
        of them), and a surface of the hot air read from across a hall needs no 0.25 m detail."""
        n = int(np.prod(self.grid["shape_xyz"]))
        f = 1
        while n / f**3 > ISO_MAX_CELLS:
            f += 1
        return f

    def _isosurface(self) -> pv.PolyData:
        grid = self._field_grid(coarsen=self.iso_coarsening())
        iso = grid.contour([float(self.options.iso_c)], scalars="t_c", method="flying_edges")
        return iso if iso.n_points else pv.PolyData()

    def _stride(self) -> int:
        nx, ny, *_ = self.grid["shape_xyz"]
        return self.options.flow_stride or max(1, round(max(nx, ny) / 40))

    def _arrows(self) -> pv.PolyData:
        """Arrows of the air velocity at the slice height, one per ``stride`` cells, length ∝ speed."""
        nx, ny, nz, o, h = self._geometry()
        s = self._stride()
        k0, k1, w = slice_weights(self.options.slice_height_m, o[2], h, nz)
        v = self.velocity_m_s
        layer = _blend(v[k0], v[k1], w)[s // 2::s, s // 2::s]  # (ny', nx', 3)
        jj, ii = np.meshgrid(np.arange(ny)[s // 2::s], np.arange(nx)[s // 2::s], indexing="ij")
        ok = np.isfinite(layer).all(axis=-1)
        pts = np.column_stack([o[0] + (ii[ok] + 0.5) * h, o[1] + (jj[ok] + 0.5) * h,
                               np.full(ok.sum(), self.options.slice_height_m + 0.05)])
        vec = layer[ok].astype(float)
        speed = np.linalg.norm(vec, axis=1)
        if len(pts) == 0 or not np.any(speed > 0):
            return pv.PolyData()
        if self._arrow_factor is None:
            # The 95th percentile speed gets an arrow 1.5 arrow spacings long; fixed from then on.
            self._arrow_factor = 1.5 * s * h / max(float(np.percentile(speed, 95)), 1e-6)
        cloud = pv.PolyData(pts)
        cloud.point_data["velocity_m_s"] = vec
        cloud.point_data["speed_m_s"] = np.minimum(speed, 2.5 * s * h / self._arrow_factor)
        return cloud.glyph(orient="velocity_m_s", scale="speed_m_s", factor=self._arrow_factor, geom=pv.Arrow())

    def _streamlines(self) -> pv.PolyData:
        """Streamlines through seeds on the slice plane, both ways, coloured by the air temperature."""
        nx, ny, nz, o, h = self._geometry()
        grid = self._field_grid(velocity=True)
        s = 2 * self._stride()
        xs = o[0] + (np.arange(nx)[s // 2::s] + 0.5) * h
        ys = o[1] + (np.arange(ny)[s // 2::s] + 0.5) * h
        X, Y = np.meshgrid(xs, ys, indexing="ij")
        seeds = pv.PolyData(np.column_stack([X.ravel(), Y.ravel(), np.full(X.size, self.options.slice_height_m)]))
        size = float(np.max(np.asarray(self.grid["shape_xyz"]) * h))
        lines = grid.streamlines_from_source(seeds, vectors="velocity_m_s", integration_direction="both",
                                             max_length=2 * size, initial_step_length=0.5,
                                             step_unit="cl", terminal_speed=1e-4, max_steps=4000)
        return lines if lines.n_points else pv.PolyData()


def block_mean(cells: np.ndarray, f: int) -> np.ndarray:
    """Means over blocks of f × f × f cells of a (nz, ny, nx[, k]) array; the far edges are padded by
    repeating the last cells, so every cell lands in a block."""
    nz, ny, nx = cells.shape[:3]
    pad = [(0, -n % f) for n in (nz, ny, nx)] + [(0, 0)] * (cells.ndim - 3)
    c = np.pad(cells, pad, mode="edge")
    mz, my, mx = (c.shape[0] // f, c.shape[1] // f, c.shape[2] // f)
    return c.reshape(mz, f, my, f, mx, f, *c.shape[3:]).mean(axis=(1, 3, 5), dtype=np.float32)


def cells_to_points(cells: np.ndarray) -> np.ndarray:
    """Cell values (nz, ny, nx[, k]) to corner values (nz+1, ny+1, nx+1[, k]): each corner the mean of
    the cells sharing it. Padding by repeating the edge cells makes a face, edge or corner point the
    mean of its 4, 2 or 1 real cells, as VTK's vtkCellDataToPointData does."""
    pad = [(1, 1)] * 3 + [(0, 0)] * (cells.ndim - 3)
    c = np.pad(cells.astype(np.float32, copy=False), pad, mode="edge")
    out = np.zeros((c.shape[0] - 1, c.shape[1] - 1, c.shape[2] - 1, *c.shape[3:]), np.float32)
    for dz in (0, 1):
        for dy in (0, 1):
            for dx in (0, 1):
                out += c[dz:dz + out.shape[0], dy:dy + out.shape[1], dx:dx + out.shape[2]]
    return out * np.float32(0.125)


def _write(mesh: pv.DataSet, name: str, values: np.ndarray) -> None:
    """Write a cell array in place when it exists with the same shape (the actor keeps its array and
    its colour mapping); otherwise add it."""
    arr = mesh.cell_data.get(name) if name in mesh.cell_data.keys() else None
    values = np.asarray(values)
    if arr is not None and arr.shape == values.shape and arr.dtype == values.dtype:
        arr[:] = values
        mesh.GetCellData().GetArray(name).Modified()
        mesh.Modified()
    else:
        mesh.cell_data[name] = values


def _placeholder(array: str) -> pv.PolyData:
    """A mesh that draws nothing (one degenerate triangle) but holds ``array``, so that an actor mapped
    to that array can be made before the data comes, and keeps its mapping when it does."""
    mesh = pv.PolyData(np.zeros((3, 3)), np.array([3, 0, 1, 2]))
    mesh.cell_data[array] = np.full(1, np.nan, np.float32)
    mesh.cell_data["rack_index"] = np.full(1, -1, np.int32)
    return mesh


def _aisle_label_at(aisle: Aisle, n: int) -> tuple[float, float, float]:
    """On the floor near one end of the aisle, alternating ends: neighbours' labels stand apart."""
    pos = [*aisle.center, 0.05]
    a = aisle.axis
    pos[a] = aisle.lo[a] + 1.0 if n % 2 == 0 else aisle.hi[a] - 1.0
    if not aisle.lo[a] < pos[a] < aisle.hi[a]:
        pos[a] = aisle.center[a]
    return float(pos[0]), float(pos[1]), float(pos[2])


def _row_labels(hall: HallModel) -> list[tuple[str, tuple[float, float, float]]]:
    """'row A' over each end of each row (a row is read from whichever end one stands at)."""
    out = []
    for row in _rows(hall):
        a = row.axis
        for end in (row.lo[a] + 0.3, row.hi[a] - 0.3):
            pos = [(row.lo[0] + row.hi[0]) / 2, (row.lo[1] + row.hi[1]) / 2, float(row.hi[2]) + 0.25]
            pos[a] = float(end)
            out.append((f"row {row.name}", (float(pos[0]), float(pos[1]), float(pos[2]))))
    return out


def build_scene(hall: HallModel, view: TwinView | None = None, options: SceneOptions | None = None) -> HallScene:
    """The scene of a hall and (when given) of a state: every mesh named, every array filled.

    Pure: reads the hall and the view, opens nothing. The meshes keep their identity through
    :meth:`HallScene.update`, so actors made from them never need to be recreated.
    """
    options = options or SceneOptions()
    info = view.hall if view is not None else None
    meshes: dict[str, pv.DataSet] = dict(_static_meshes(hall))
    racks, crahs = meshes["racks"], meshes["crahs"]
    rack_scale, air_scale = temperature_scales(hall, info, options.air_scale)
    scene = HallScene(
        hall=hall, options=options, scale=rack_scale, air=air_scale, aisles=find_aisles(hall),
        meshes=meshes, rack_names=[r.name for r in hall.racks], crah_names=[c.name for c in hall.crahs],
        crah_label_positions=np.array([((c.box.lo[0] + c.box.hi[0]) / 2, (c.box.lo[1] + c.box.hi[1]) / 2,
                                        c.box.hi[2] + 0.35) for c in hall.crahs]).reshape(-1, 3),
    )
    scene._rack_cell = np.asarray(racks.cell_data["rack_index"]) if racks.n_cells else np.zeros(0, int)
    scene._crah_cell = np.asarray(crahs.cell_data["crah_index"]) if crahs.n_cells else np.zeros(0, int)
    if racks.n_cells:
        racks.cell_data["t_inlet_c"] = np.full(racks.n_cells, np.nan)
    if crahs.n_cells:
        crahs.cell_data["rgb"] = np.tile(np.array(CRAH_STATE_COLOURS["stopped"], np.uint8), (crahs.n_cells, 1))
    scene.crah_labels = list(scene.crah_names)
    scene.row_labels = _row_labels(hall)
    scene.aisle_labels = [(f"{a.name} {a.kind}", _aisle_label_at(a, n)) for n, a in enumerate(scene.aisles)]
    meshes["crah_faces"] = crah_faces(hall) if hall.crahs else _placeholder("t_c")
    for name, array in (("rack_fronts", "t_c"), ("rack_backs", "t_c"), ("asections", "t_c"),
                        ("tile_flow", "w_m_s"), ("hot_marks", "t_inlet_c")):
        meshes[name] = _placeholder(array)
    meshes["slice"] = pv.ImageData(dimensions=(2, 2, 1))
    meshes["slice"].cell_data["t_c"] = np.full(1, np.nan, dtype=np.float32)
    meshes["vslice"] = pv.ImageData(dimensions=(2, 1, 2))
    meshes["vslice"].cell_data["t_c"] = np.full(1, np.nan, dtype=np.float32)
    meshes["iso"] = pv.PolyData()
    meshes["flow"] = pv.PolyData()
    if view is not None:
        scene.update(view)
    return scene
