"""The doors of contained aisles, drawn as bi-parting sliding doors that open as the guided walk passes.

A contained aisle with ``doors = true`` is closed at both ends by a door across the aisle. The solver
keeps those doors shut (their cell faces are closed down to the containment's leakage); only the
drawing opens them, for the walk to enter the aisle, stop at its hot racks and leave by the far door,
as an engineer walks through a real containment. The door opens while the camera approaches (from
:data:`DOOR_OPEN_M` away, wide open from :data:`DOOR_FULLY_OPEN_M`, well before the camera reaches its
plane) and closes behind it the same way.

Each door is two leaves in the door's plane, each half the opening wide, sliding apart along the plane
until each has moved its own width: the usual sliding doors of aisle containment, which never swing
out into the cross aisle the walk comes along. Pure geometry from the hall: the tour decides how far
each door is open at each frame (:mod:`viewer.tour`), the stage moves the leaves' actors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.geometry.voxel import Grid, containment_planes
from twin.model.load import HallModel

__all__ = ["DOOR_FULLY_OPEN_M", "DOOR_OPEN_M", "DOOR_THICKNESS_M", "Door", "hall_doors", "opening_at"]

DOOR_OPEN_M = 2.0  # a door starts opening when the camera comes this close to it (plan distance)
DOOR_FULLY_OPEN_M = 1.0  # and is wide open from this close: the camera never meets a moving leaf
DOOR_THICKNESS_M = 0.02  # a glazed leaf, as thick as the GLB export's containment panels


@dataclass(frozen=True)
class Door:
    """One door of a contained aisle: the slab of the closed door and its two leaves.

    ``key`` is ``"<containment name>/<part>"`` (part as in :func:`twin.geometry.voxel.containment_planes`,
    e.g. ``"cold-aisle-GH/door-y"``); ``axis`` the axis the door's plane is normal to (0: x, 1: y);
    ``lo``/``hi`` the closed door's box, m (its thickness centred on the plane where the solver
    closes the faces).
    """

    key: str
    axis: int
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]

    @property
    def slide_axis(self) -> int:
        """The horizontal axis along the door's plane: the leaves slide along it."""
        return 1 - self.axis

    @property
    def width_m(self) -> float:
        return self.hi[self.slide_axis] - self.lo[self.slide_axis]

    def leaf_boxes(self, opening: float = 0.0) -> list[tuple[np.ndarray, np.ndarray]]:
        """The (lo, hi) boxes of the two leaves ``opening`` of the way open (0: shut, 1: wide open)."""
        s = self.slide_axis
        mid = (self.lo[s] + self.hi[s]) / 2
        shift = float(min(max(opening, 0.0), 1.0)) * self.width_m / 2
        out = []
        for a_lo, a_hi, sign in ((self.lo[s], mid, -1.0), (mid, self.hi[s], +1.0)):
            lo, hi = np.array(self.lo, float), np.array(self.hi, float)
            lo[s], hi[s] = a_lo + sign * shift, a_hi + sign * shift
            out.append((lo, hi))
        return out

    def leaf_offsets(self, opening: float) -> list[tuple[float, float, float]]:
        """How far each leaf has moved from its shut place, (dx, dy, dz) m: what the stage moves its
        actors by."""
        shut = self.leaf_boxes(0.0)
        return [tuple(float(v) for v in (now[0] - was[0])) for now, was in zip(self.leaf_boxes(opening), shut)]

    def distance_m(self, xy) -> float:
        """Plan distance from a point (x, y) to the shut door."""
        return float(self.distances_m(np.asarray(xy, float)[None, :2])[0])

    def distances_m(self, xy: np.ndarray) -> np.ndarray:
        """Plan distances from points (n, 2) to the shut door."""
        lo, hi = np.asarray(self.lo[:2]), np.asarray(self.hi[:2])
        d = np.maximum(np.maximum(lo - xy, xy - hi), 0.0)
        return np.hypot(d[:, 0], d[:, 1])

    def crossed(self, a_xy, b_xy) -> bool:
        """Whether a step from ``a_xy`` to ``b_xy`` passes through the door's plane within its width."""
        at = (self.lo[self.axis] + self.hi[self.axis]) / 2
        da, db = float(a_xy[self.axis]) - at, float(b_xy[self.axis]) - at
        if (da < 0) == (db < 0):  # on the plane counts as its far side: a pass through it counts once
            return False
        w = da / (da - db)
        s = self.slide_axis
        x = float(a_xy[s]) + w * (float(b_xy[s]) - float(a_xy[s]))
        return self.lo[s] <= x <= self.hi[s]


def hall_doors(hall: HallModel) -> list[Door]:
    """Every door of the hall's contained aisles, where the solver closes their faces."""
    grid = Grid.for_hall(hall)
    sx, sy, sz = hall.spec.hall.size_m
    t = DOOR_THICKNESS_M / 2
    out = []
    for c in hall.spec.containment:
        for p in containment_planes(grid, c):
            if not p.part.startswith("door"):
                continue
            lo = [grid.origin_m[a] + p.lo[a] * grid.cell_m for a in range(3)]
            hi = [grid.origin_m[a] + p.hi[a] * grid.cell_m for a in range(3)]
            at = grid.origin_m[p.axis] + p.index * grid.cell_m
            lo[p.axis], hi[p.axis] = at - t, at + t
            lo = [max(v, 0.0) for v in lo]
            hi = [min(v, m) for v, m in zip(hi, (sx, sy, sz))]
            out.append(Door(f"{c.name}/{p.part}", int(p.axis), (lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2])))
    return out


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def opening_at(distance_m: float) -> float:
    """How far a door is open with the camera ``distance_m`` from it, while the walk goes through it:
    shut from DOOR_OPEN_M, wide open within DOOR_FULLY_OPEN_M, eased in between."""
    return _smoothstep((DOOR_OPEN_M - distance_m) / (DOOR_OPEN_M - DOOR_FULLY_OPEN_M))
