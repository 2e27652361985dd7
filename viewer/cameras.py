"""Camera presets and the walkthrough: where a person would stand to look at the hall.

Poses are plain data computed from the hall and its aisles, so renders are reproducible and tested
without rendering. The guided walk is :mod:`viewer.tour`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twin.model.load import HallModel
from viewer.scene import Aisle, SceneOptions

__all__ = ["EYE_HEIGHT_M", "CameraPose", "aisle_pose", "named_pose", "overview_pose", "top_pose",
           "view_defaults", "view_names", "walk_slice_height_m"]

EYE_HEIGHT_M = 1.6  # a standing person's eyes
LOOK_HEIGHT_M = 1.3  # where they look at the far end of an aisle: mid-rack, slightly down
WALK_VIEW_ANGLE_DEG = 65.0  # a wide lens indoors, as a person's field of view
WALL_CLEARANCE_M = 0.3  # the camera keeps this far from the walls
ROW_END_CLEARANCE_M = 0.6  # and this far past the last cabinet of a row when it turns into a cross aisle
SECTION_PAST_ROWS_M = 1.3  # an aisle view's section stands this far past the rows: a backdrop, not a wall


@dataclass(frozen=True)
class CameraPose:
    position: tuple[float, float, float]
    focal_point: tuple[float, float, float]
    view_up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    view_angle_deg: float = 30.0


def overview_pose(hall: HallModel, *, azimuth_deg: float = 25.0, elevation_deg: float = 40.0,
                  aspect: float = 4 / 3) -> CameraPose:
    """The whole hall from above its south side, a little east: the walls toward the camera are cut away.

    The distance is chosen so the hall's bounding box fits the view at this aspect ratio (width/height).
    """
    sx, sy, sz = hall.spec.hall.size_m
    z0 = -hall.plenum_depth_m
    centre = np.array([sx / 2, sy / 2, (z0 + sz) / 3])
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    direction = np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)])
    angle = 30.0
    corners = np.array(np.meshgrid([0, sx], [0, sy], [z0, sz], indexing="ij")).reshape(3, -1).T - centre
    # Fit every corner: its offset across the view must stay inside the half-angles, vertically and
    # horizontally (the horizontal half-angle follows from the aspect ratio).
    up = np.array([0.0, 0.0, 1.0]) - direction * direction[2]
    up /= np.linalg.norm(up)
    right = np.cross(up, direction)
    tan_v = math.tan(math.radians(angle / 2))
    tan_h = tan_v * aspect
    need = 0.0
    for c in corners:
        depth = float(c @ direction)  # toward the camera
        need = max(need, depth + abs(float(c @ up)) / tan_v, depth + abs(float(c @ right)) / tan_h)
    distance = 1.04 * need
    pos = centre + distance * direction
    return CameraPose(tuple(map(float, pos)), tuple(map(float, centre)), (0.0, 0.0, 1.0), angle)


def top_pose(hall: HallModel) -> CameraPose:
    """Straight down on the plan (north up): the slice reads like a map."""
    sx, sy, sz = hall.spec.hall.size_m
    angle = 30.0
    distance = 0.52 * max(sx, sy * 4 / 3) / math.tan(math.radians(angle / 2)) + sz
    return CameraPose((sx / 2, sy / 2, distance), (sx / 2, sy / 2, 0.0), (0.0, 1.0, 0.0), angle)


def _ends(aisle: Aisle, hall: HallModel) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) points where a walk through the aisle starts and stops: clear of the row ends and of
    whatever stands in line with them (PDUs, columns), kept inside the room."""
    a, p = aisle.axis, 1 - aisle.axis
    c = np.array(aisle.center)
    room = hall.spec.hall.size_m[a]
    # Cabinets on either side of the aisle (a rack's depth or so), and what continues their lines.
    near_lo, near_hi = aisle.lo[p] - 1.5, aisle.hi[p] + 1.5
    boxes = [o.box for o in (*hall.racks, *hall.pdus, *hall.obstacles, *hall.crahs)]
    boxes = [b for b in boxes if min(b.hi[p], near_hi) - max(b.lo[p], near_lo) > 0.05]
    lo, hi = aisle.lo[a], aisle.hi[a]
    grown = True
    while grown:  # follow the line of cabinets past the racks, as long as they touch
        grown = False
        for b in boxes:
            if b.lo[a] < lo and b.hi[a] >= lo - 0.05:
                lo, grown = b.lo[a], True
            if b.hi[a] > hi and b.lo[a] <= hi + 0.05:
                hi, grown = b.hi[a], True
    start, stop = c.copy(), c.copy()
    start[a] = max(lo - ROW_END_CLEARANCE_M, WALL_CLEARANCE_M)
    stop[a] = min(hi + ROW_END_CLEARANCE_M, room - WALL_CLEARANCE_M)
    return start, stop


def aisle_pose(aisle: Aisle, hall: HallModel) -> CameraPose:
    """Standing at the near end of an aisle at eye height, looking down its length."""
    start, stop = _ends(aisle, hall)
    return CameraPose((float(start[0]), float(start[1]), EYE_HEIGHT_M),
                      (float(stop[0]), float(stop[1]), LOOK_HEIGHT_M), (0.0, 0.0, 1.0), WALK_VIEW_ANGLE_DEG)


def view_names(aisles: list[Aisle]) -> list[str]:
    return ["overview", "top", *(a.name for a in aisles)]


def named_pose(name: str, hall: HallModel, aisles: list[Aisle], *, aspect: float = 4 / 3) -> CameraPose:
    """The pose of a view name: overview, top or aisle-N. ValueError (one line) for an unknown name."""
    if name == "overview":
        return overview_pose(hall, aspect=aspect)
    if name == "top":
        return top_pose(hall)
    for a in aisles:
        if a.name == name:
            return aisle_pose(a, hall)
    known = ", ".join(view_names(aisles)) if aisles else "overview, top (this hall has no aisles)"
    raise ValueError(f"unknown view {name!r}: use one of {known}")


def walk_slice_height_m(hall: HallModel) -> float:
    """Where the walk's horizontal slice lies: just above the racks, under the ceiling. Seen from eye
    height it is a ceiling of air over the aisles, showing the hot air that spills over a row."""
    top = max((r.box.hi[2] for r in hall.racks), default=2.0)
    return float(min(top + 0.3, hall.spec.hall.size_m[2] - 0.15))


def view_defaults(name: str, aisles: list[Aisle], options: SceneOptions, *,
                  explicit: set[str] | frozenset[str] = frozenset(), hall: HallModel | None = None) -> None:
    """Set what a view shows by default, leaving alone the options the user gave (``explicit``).

    Overview and top: the horizontal slice and the isosurface (a section would hide half the hall).
    Aisle views and the walk (``name="walk"``): no horizontal slice (at 1.5 m it would be a floor just
    under the eyes); the walk also hides the isosurface unless asked for. Aisle views also show the
    section across the aisle just past its far end, as a backdrop that shows how the air is layered
    from floor to ceiling. The walk (given ``hall``) shows the horizontal slice just above the racks
    (:func:`walk_slice_height_m`): the air overhead; other views put it back at 1.5 m.
    """
    aisle = next((i for i, a in enumerate(aisles) if a.name == name), None)
    inside = aisle is not None or name == "walk"  # standing in the room, at eye height
    walk_slice = name == "walk" and hall is not None
    if "show_slice" not in explicit:
        options.show_slice = not inside or walk_slice
    if "slice_height_m" not in explicit:
        options.slice_height_m = walk_slice_height_m(hall) if walk_slice else SceneOptions.slice_height_m
    if name == "walk" and "iso_c" not in explicit:
        options.iso_c = None  # at eye height the 27 °C surface is a haze in front of the racks
    if "aisle_sections" not in explicit:
        options.aisle_sections = inside
    if "vslice_aisle" not in explicit:
        options.vslice_aisle = aisle
        options.vslice_axis = None  # across the aisle, not across a cross aisle as the walk left it
    if "vslice_at_m" not in explicit:
        if aisle is not None:
            a = aisles[aisle]
            options.vslice_at_m = a.hi[a.axis] + SECTION_PAST_ROWS_M
        else:
            options.vslice_at_m = None
