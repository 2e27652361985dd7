"""The guided camera: a walk an engineer would take through a hall, as one camera pose per video frame.

It walks each cold aisle, then each hot aisle, at eye height (1.6 m), looking along the aisle. The
path goes through the aisles' ends and the cross aisles between them, with its corners rounded
(quadratic Bézier fillets), and the camera eases in and out of every stop. At the racks with the
hottest inlets it stops, turns to face the rack's front, holds, and turns back. At the end it turns
round to look back down the last aisle. The path is checked against every cabinet, unit and column: where a
leg between two aisles would cross a row, its corner moves out into the cross aisle.

A contained aisle is walked like an open one: its doors (:mod:`viewer.doors`) slide open as the camera
comes to them and shut behind it (:attr:`Tour.doors`), so the walk stands in front of the hot racks
inside a containment too. The camera never passes a shut door or a panel.

Each frame also names the vertical section of air it shows ahead: across the aisle past its far end
while walking an aisle (along the open side of an aisle with one row), across the cross aisle at the
next aisle mouth (then past the leg's end) while walking between aisles.

Pure data computed from the hall, its aisles and the hot racks: tested without rendering, and the
same tour drives the live window (``k``, arrows) and the video (``twin render --walkthrough``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from twin.model.load import HallModel, facing_axis_sign
from viewer.cameras import (
    EYE_HEIGHT_M,
    LOOK_HEIGHT_M,
    SECTION_PAST_ROWS_M,
    WALK_VIEW_ANGLE_DEG,
    WALL_CLEARANCE_M,
    CameraPose,
    _ends,
)
from viewer.doors import DOOR_OPEN_M, hall_doors, opening_at
from viewer.scene import Aisle

__all__ = ["SOLID_CLEARANCE_M", "Tour", "guided_tour", "solid_boxes"]

WALK_PACE_M_S = 1.2  # an unhurried walk
EASE_S = 0.8  # speeding up from a stop, slowing down into one
TURN_S = 1.2  # turning to face a rack (and back)
HOLD_S = 2.0  # looking at it
START_HOLD_S = 1.0
FILLET_M = 1.0  # radius of the rounded corners (less where legs are short)
LOOK_AHEAD_M = 1.2  # the camera looks at the path this far ahead: it turns into a corner before it
SOLID_CLEARANCE_M = 0.25  # the path keeps this far from any cabinet
END_DOOR_CLEARANCE_M = 0.6  # a walk that ends in a contained aisle ends this far inside its far door
FACE_LOOK_HEIGHT_M = 1.2  # facing a rack: the middle of its front, a little below the eyes
# On a leg between aisles the section stands across the cross aisle at the mouth of each aisle the walk
# passes (where a hot aisle's air spills round the row ends), the next one at least
# CROSS_SECTION_AHEAD_M ahead; past the last, this far past the leg's end: ahead of the camera until it
# turns into the next aisle (the corner's fillet is 1 m). It fills the view down the cross aisle, which
# would otherwise be a PDU's side, a CRAH and a wall.
CROSS_SECTION_PAST_M = 1.0
CROSS_SECTION_AHEAD_M = 1.0


@dataclass
class Tour:
    """Poses at ``fps``; ``stops`` are (frame, what) of aisle entries and hot-rack holds, for stepping."""

    poses: list[CameraPose]
    fps: float
    stops: list[tuple[int, str]] = field(default_factory=list)
    path_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # the smoothed path (minimap)
    facing: dict[int, int] = field(default_factory=dict)  # frame → rack index, for frames facing a hot rack
    # Per frame: the vertical section of air ahead, a backdrop from floor to ceiling. In an aisle: across
    # it, just past its far end — (aisle index into the aisles given, where along the aisle's axis, m,
    # None). On a leg between aisles: across the direction of travel, just past the leg's end —
    # (index of the aisle walked to, where along the axis of travel, m, that axis).
    sections: list[tuple[int, float, int | None] | None] = field(default_factory=list)
    # Per frame: the doors of contained aisles standing open, by key (viewer.doors.Door.key), and how far
    # (0 … 1); a door not named is shut. They open as the walk goes through them and close behind it.
    doors: list[dict[str, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.poses)

    @property
    def duration_s(self) -> float:
        return len(self.poses) / self.fps

    def next_stop(self, frame: int, step: int = +1) -> int:
        """The frame of the next (``step=+1``) or previous (``-1``) stop from ``frame``."""
        frames = [f for f, _ in self.stops]
        if step > 0:
            later = [f for f in frames if f > frame]
            return later[0] if later else len(self.poses) - 1
        earlier = [f for f in frames if f < frame]
        return earlier[-1] if earlier else 0


def solid_boxes(hall: HallModel) -> list[tuple[np.ndarray, np.ndarray]]:
    """(lo, hi) of every cabinet, unit, PDU and column: what the camera must never enter."""
    return [(np.asarray(o.box.lo, float), np.asarray(o.box.hi, float))
            for o in (*hall.racks, *hall.crahs, *hall.pdus, *hall.obstacles)]


def door_box(aisle: Aisle, hall: HallModel) -> tuple[np.ndarray, np.ndarray] | None:
    """The (x, y) corners of the containment that closes ``aisle`` with doors, or None: an aisle
    whose centre lies inside a contained footprint that has doors across its ends (the walk goes in
    through one door and out through the other)."""
    cx, cy = aisle.center
    for c in hall.spec.containment:
        if c.doors and c.x_m[0] <= cx <= c.x_m[1] and c.y_m[0] <= cy <= c.y_m[1]:
            return np.array([c.x_m[0], c.y_m[0]]), np.array([c.x_m[1], c.y_m[1]])
    return None


def _blocked(p_xy: np.ndarray, boxes, margin: float) -> bool:
    for lo, hi in boxes:
        if lo[0] - margin < p_xy[0] < hi[0] + margin and lo[1] - margin < p_xy[1] < hi[1] + margin \
                and lo[2] < EYE_HEIGHT_M + 0.2:
            return True
    return False


def _segment_blocked(a: np.ndarray, b: np.ndarray, boxes, margin: float) -> bool:
    n = max(2, int(np.linalg.norm(b - a) / 0.1) + 1)
    return any(_blocked(a + (b - a) * t, boxes, margin) for t in np.linspace(0.0, 1.0, n))


def _order(aisles: list[Aisle]) -> list[Aisle]:
    """Cold aisles (and mixed ones) first, west to east / south to north; then the hot aisles from the
    one nearest the last cold aisle on: from the far side back, rather than a walk across the hall to
    begin again at the first."""
    cold = [a for a in aisles if a.kind != "hot"]
    hot = [a for a in aisles if a.kind == "hot"]
    if cold and len(hot) > 1:
        last = np.array(cold[-1].center)
        if np.linalg.norm(np.array(hot[-1].center) - last) < np.linalg.norm(np.array(hot[0].center) - last):
            hot = hot[::-1]
    return cold + hot


def _waypoints(aisles: list[Aisle], hall: HallModel, boxes) -> tuple[np.ndarray, list[tuple[int, str, int, float]]]:
    """The corner points of the walk, and for each aisle (index of the waypoint where it starts, its
    name, its index in ``aisles``, where the section past its far end stands)."""
    sx, sy, _ = hall.spec.hall.size_m
    room = np.array([sx, sy])
    pts: list[np.ndarray] = []
    starts: list[tuple[int, str, int, float]] = []
    ordered = _order(aisles)
    for n_aisle, aisle in enumerate(ordered):
        a = aisle.axis
        ends = _ends(aisle, hall)
        if pts:
            here = pts[-1]
            entry, exit_ = sorted(ends, key=lambda e: float(np.linalg.norm(e - here)))
            # Leave the last aisle along its own line into the cross aisle, cross over, and enter this
            # one along its line. The crossing stands clear of every row end it passes.
            lo_side = entry[a] < aisle.center[a]
            cross = min(here[a], entry[a]) if lo_side else max(here[a], entry[a])
            step = -0.25 if lo_side else 0.25
            while True:
                c1, c2 = here.copy(), entry.copy()
                c1[a] = c2[a] = cross
                if not (_segment_blocked(here, c1, boxes, SOLID_CLEARANCE_M)
                        or _segment_blocked(c1, c2, boxes, SOLID_CLEARANCE_M)
                        or _segment_blocked(c2, entry, boxes, SOLID_CLEARANCE_M)):
                    break
                nxt = cross + step
                if not WALL_CLEARANCE_M <= nxt <= room[a] - WALL_CLEARANCE_M:
                    break  # no clear crossing: keep the last try (the path check in tests will say)
                cross = nxt
            for c in (c1, c2):
                if np.linalg.norm(c - pts[-1]) > 1e-6:
                    pts.append(c)
            if np.linalg.norm(entry - pts[-1]) > 1e-6:
                pts.append(entry)
        else:
            entry, exit_ = ends
            pts.append(entry)
        ahead = 1.0 if exit_[a] > entry[a] else -1.0
        far = aisle.hi[a] if ahead > 0 else aisle.lo[a]
        at = exit_[a] + ahead * 1.0
        at = max(at, far + SECTION_PAST_ROWS_M) if ahead > 0 else min(at, far - SECTION_PAST_ROWS_M)
        at = float(min(max(at, 0.05), room[a] - 0.05))
        starts.append((len(pts) - 1, aisle.name, aisles.index(aisle), at))
        if n_aisle == len(ordered) - 1:
            # The last aisle ends where its rows end: the walk turns round there, looking back down the
            # aisle, instead of walking on to stare at whatever stands past the rows.
            exit_ = exit_.copy()
            exit_[a] = min(max(exit_[a], aisle.lo[a]), aisle.hi[a])
            # In a contained aisle that is inside it, clear of its far door: not in the doorway, where
            # the door would stand open for good.
            for door in hall_doors(hall):
                across = door.slide_axis
                if door.axis == a and door.lo[across] <= aisle.center[across] <= door.hi[across]:
                    plane = (door.lo[a] + door.hi[a]) / 2
                    if abs(exit_[a] - plane) < END_DOOR_CLEARANCE_M:
                        inward = 1.0 if aisle.center[a] > plane else -1.0
                        exit_[a] = plane + inward * END_DOOR_CLEARANCE_M
        pts.append(exit_)
    return np.array(pts), starts


def _aisle_section(aisles: list[Aisle], index: int, past_m: float, hall: HallModel) -> tuple[int, float, int | None]:
    """The section shown while walking aisle ``index``: across it, ``past_m`` along it (past its far
    end). An aisle with a row on one side only (against a wall) instead gets the plane along its open
    side, floor to ceiling: walking its centre line, the camera sees the air between the row and the
    wall against height and length there (its centre plane would be edge-on), where it would see a
    bare wall."""
    aisle = aisles[index]
    if len(aisle.rows) != 1:
        return (index, past_m, None)
    across = 1 - aisle.axis
    row = [r for r in hall.racks if r.row == aisle.rows[0]]
    if not row:
        return (index, past_m, None)
    row_mid = float(np.mean([(r.box.lo[across] + r.box.hi[across]) / 2 for r in row]))
    side = aisle.lo[across] if row_mid > aisle.center[across] else aisle.hi[across]
    return (index, float(side), across)


def _crossing_legs(corners: np.ndarray, starts: list[tuple[int, str, int, float]], aisles: list[Aisle],
                   hall: HallModel) -> dict[int, tuple[int, int, float, list[float]]]:
    """For each leg of the walk between aisles (by the index of the corner it starts from): (index of the
    aisle walked to, the leg's axis, its direction along it (±1), where the sections across it stand
    along that axis, m, in the order passed: the mouths of the aisles it passes, then just past its
    end). Legs along an open aisle (from its entry to its exit) are not in it: they keep the aisle's."""
    sizes = hall.spec.hall.size_m
    in_aisle = {i for i, _name, _index, _past in starts}
    out: dict[int, tuple[int, int, float, list[float]]] = {}
    for j in range(len(corners) - 1):
        if j in in_aisle:
            continue
        d = corners[j + 1] - corners[j]
        axis = int(np.argmax(np.abs(d)))
        if abs(float(d[axis])) < 1e-9:
            continue
        sign = math.copysign(1.0, float(d[axis]))
        start, end = float(corners[j][axis]), float(corners[j + 1][axis])
        mouths = sorted((a.center[axis] for a in aisles if a.axis != axis
                         and 0.0 < (a.center[axis] - start) * sign < (end - start) * sign - 1e-6),
                        key=lambda x: (x - start) * sign)
        last = min(max(end + sign * CROSS_SECTION_PAST_M, 0.05), sizes[axis] - 0.05)
        to = next((index for i, _name, index, _past in starts if i > j), starts[-1][2] if starts else 0)
        out[j] = (to, axis, sign, [float(x) for x in mouths] + [float(last)])
    return out


def _smooth(points: np.ndarray, radius_m: float = FILLET_M, per_m: int = 20) -> tuple[np.ndarray, list[int]]:
    """The polyline with rounded corners, densely sampled; and the sample index of each waypoint (the
    middle of its fillet)."""
    if len(points) < 2:
        return points.copy(), [0] * len(points)
    out = [points[0]]
    at = [0]
    for i in range(1, len(points) - 1):
        prev, here, nxt = points[i - 1], points[i], points[i + 1]
        d_in, d_out = here - prev, nxt - here
        l_in, l_out = float(np.linalg.norm(d_in)), float(np.linalg.norm(d_out))
        r = min(radius_m, 0.45 * l_in, 0.45 * l_out)
        a = here - d_in / l_in * r
        b = here + d_out / l_out * r
        out.extend(_line(out[-1], a, per_m)[1:])
        curve = [(1 - t) ** 2 * a + 2 * (1 - t) * t * here + t ** 2 * b for t in np.linspace(0, 1, max(3, per_m))]
        out.extend(curve[1:])
        at.append(len(out) - 1 - len(curve) // 2)
    out.extend(_line(out[-1], points[-1], per_m)[1:])
    at.append(len(out) - 1)
    return np.array(out), at


def _line(a: np.ndarray, b: np.ndarray, per_m: int) -> list[np.ndarray]:
    n = max(2, int(math.ceil(float(np.linalg.norm(b - a)) * per_m)) + 1)
    return [a + (b - a) * t for t in np.linspace(0.0, 1.0, n)]


def _eased(distance_m: float, pace: float, fps: float) -> np.ndarray:
    """Distances travelled at each frame of one leg: a trapezoid of speed (ease in, walk, ease out)."""
    if distance_m <= 1e-9:
        return np.zeros(0)
    ramp = EASE_S
    if distance_m < pace * ramp:  # too short to reach walking pace: a smooth S-curve
        ramp = distance_m / pace
    duration = distance_m / pace + ramp
    t = np.arange(1, int(math.ceil(duration * fps)) + 1) / fps
    t = np.minimum(t, duration)
    v_area = np.where(t < ramp, 0.5 * pace * t ** 2 / ramp,
                      np.where(t < duration - ramp, 0.5 * pace * ramp + pace * (t - ramp),
                               distance_m - 0.5 * pace * (duration - t) ** 2 / ramp))
    return np.clip(v_area, 0.0, distance_m)


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def _turn(d0: np.ndarray, d1: np.ndarray, w: float, dyaw: float | None = None) -> np.ndarray:
    """A direction between d0 and d1 (3D unit vectors), turning about the vertical by yaw and pitch
    (the shorter way, unless ``dyaw``, the yaw to turn through, is given)."""
    yaw0, yaw1 = math.atan2(d0[1], d0[0]), math.atan2(d1[1], d1[0])
    if dyaw is None:
        dyaw = (yaw1 - yaw0 + math.pi) % (2 * math.pi) - math.pi
    pitch0 = math.asin(max(-1.0, min(1.0, d0[2])))
    pitch1 = math.asin(max(-1.0, min(1.0, d1[2])))
    yaw, pitch = yaw0 + w * dyaw, pitch0 + w * (pitch1 - pitch0)
    return np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), math.sin(pitch)])


def guided_tour(hall: HallModel, aisles: list[Aisle], hot: list[tuple[int, float]] = (), *, fps: float = 30.0,
                pace_m_s: float = WALK_PACE_M_S) -> Tour:
    """The tour of ``aisles`` (cold first), pausing to face each rack of ``hot`` ((rack index, °C))."""
    if fps <= 0 or pace_m_s <= 0:
        raise ValueError("fps and pace must be positive")
    boxes = solid_boxes(hall)
    corners, starts = _waypoints(aisles, hall, boxes)
    if len(corners) < 2:
        return Tour([], fps)
    path, at = _smooth(corners)
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    s_cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = float(s_cum[-1])

    def point(s: float) -> np.ndarray:
        s = min(max(s, 0.0), total)
        i = int(min(np.searchsorted(s_cum, s, side="right") - 1, len(seg) - 1))
        w = 0.0 if seg[i] <= 0 else (s - s_cum[i]) / seg[i]
        return path[i] + w * (path[i + 1] - path[i])

    def heading(s: float, limit: float = total) -> np.ndarray:
        """Along the path, at the point a little ahead (turns begin before the corner), but not past
        ``limit`` (the next stop: where the walk turns back after looking into a contained aisle, a
        look past it would swing the gaze round before the camera gets there)."""
        here = point(s)
        ahead = point(min(s + LOOK_AHEAD_M, limit))
        d = ahead - here
        if np.linalg.norm(d) < 0.2:  # at a stop or the end: the last direction of travel
            d = here - point(s - 0.5) if s > 0.5 else point(s + 0.5) - here
        d = d / max(float(np.linalg.norm(d)), 1e-9)
        drop = EYE_HEIGHT_M - LOOK_HEIGHT_M
        v = np.array([d[0], d[1], -drop / 8.0])  # a slight downward gaze, as walking
        return v / np.linalg.norm(v)

    # Where to stop: aisle entries (for stepping only) and, in the aisle a hot rack faces, the path
    # point nearest its front.
    # Each hold: (s, what it looks at (x, y, z), stop name, rack index or -1).
    holds: list[tuple[float, tuple[float, float, float], str, int]] = []
    for rack, _t in hot:
        r = hall.racks[rack]
        f, sign = facing_axis_sign(r.facing)
        front = np.array([(r.box.lo[0] + r.box.hi[0]) / 2, (r.box.lo[1] + r.box.hi[1]) / 2])
        front[f] = (r.box.hi[f] if sign > 0 else r.box.lo[f]) + sign * 0.6
        i = int(np.argmin(np.linalg.norm(path - front, axis=1)))
        if float(np.linalg.norm(path[i] - front)) < 1.0:  # a rack with no aisle in front is not visited
            target = [(r.box.lo[0] + r.box.hi[0]) / 2, (r.box.lo[1] + r.box.hi[1]) / 2, FACE_LOOK_HEIGHT_M]
            target[f] = r.box.hi[f] if sign > 0 else r.box.lo[f]
            holds.append((float(s_cum[i]), tuple(target), f"rack {r.name}", rack))
    holds.sort(key=lambda h: h[0])
    poses: list[CameraPose] = []
    stops: list[tuple[int, str]] = []
    facing: dict[int, int] = {}
    entry_s = sorted((float(s_cum[at[i]]), name, index, past) for i, name, index, past in starts)
    sections: list[tuple[int, float, int | None] | None] = []
    section: list = [_aisle_section(aisles, entry_s[0][2], entry_s[0][3], hall) if entry_s else None]
    # Across the aisle past its far end: what a one-row aisle's walk shows instead of its open side from
    # where it turns out of the aisle (the side plane is then behind the camera) and at the walk's end.
    across: list = [(entry_s[0][2], entry_s[0][3], None) if entry_s else None]
    crossing = _crossing_legs(corners, starts, aisles, hall)
    corner_s = np.array([float(s_cum[i]) for i in at])

    def ahead(s: float) -> tuple[int, float, int | None] | None:
        """The section ahead at ``s``: across the cross aisle on a leg between aisles (from the middle
        of the turn into it to the middle of the turn out), else across the aisle being walked."""
        j = int(np.searchsorted(corner_s, s, side="right")) - 1
        if j not in crossing:
            if j + 1 >= len(corner_s) or s > corner_s[j + 1] - FILLET_M - LOOK_AHEAD_M:
                return across[0]  # turning out of the aisle
            return section[0]
        to, axis, sign, stands = crossing[j]
        here = float(point(s)[axis])
        at = next((x for x in stands if (x - here) * sign >= CROSS_SECTION_AHEAD_M), stands[-1])
        return (to, at, axis)

    def emit(pos_xy: np.ndarray, direction: np.ndarray, shown: tuple | None = None) -> None:
        eye = np.array([pos_xy[0], pos_xy[1], EYE_HEIGHT_M])
        focal = eye + 3.0 * direction
        poses.append(CameraPose(tuple(map(float, eye)), tuple(map(float, focal)), (0.0, 0.0, 1.0),
                                WALK_VIEW_ANGLE_DEG))
        sections.append(section[0] if shown is None else shown)

    for _ in range(int(START_HOLD_S * fps)):
        emit(point(0.0), heading(0.0))
    legs = [h[0] for h in holds] + [total]
    s0 = 0.0
    entries = list(entry_s)
    for n, s1 in enumerate(legs):
        for ds in _eased(s1 - s0, pace_m_s, fps):
            s = s0 + float(ds)
            while entries and entries[0][0] <= s:
                _, name, index, past = entries.pop(0)
                stops.append((len(poses), name))
                section[0] = _aisle_section(aisles, index, past, hall)
                across[0] = (index, past, None)
            emit(point(s), heading(s, s1), ahead(s))
        s0 = s1
        if n < len(holds):
            _, target, what, rack = holds[n]
            here = point(s0)
            to_rack = np.asarray(target, float) - np.array([here[0], here[1], EYE_HEIGHT_M])
            to_rack /= np.linalg.norm(to_rack)
            along = heading(s0, s0)  # how it came
            onward = heading(s0 + 1e-3, legs[n + 1])  # how it goes on
            stops.append((len(poses), what))
            n_turn, n_hold = int(TURN_S * fps), int(HOLD_S * fps)
            # Turning to it: three quarters of the way round, the section of what it turns to replaces
            # the one it walked toward, which until then fills the side of the view the turn leaves;
            # turning back, a quarter of the way.
            arrived = ahead(max(s0 - 1e-3, 0.0))
            for k in range(n_turn):
                emit(here, _turn(along, to_rack, _smoothstep((k + 1) / n_turn)),
                     arrived if 4 * (k + 1) <= 3 * n_turn else None)
            for _k in range(n_hold):
                if rack >= 0:
                    facing[len(poses)] = rack
                emit(here, to_rack)
            for k in range(n_turn):
                emit(here, _turn(to_rack, onward, _smoothstep((k + 1) / n_turn)),
                     ahead(s0 + 1e-3) if 4 * (k + 1) > n_turn else None)
    # At the end, turn round to look back down the last aisle (never stand staring at a wall), turning
    # through the side with more room before its wall: toward the racks, not the nearer wall.
    end = point(total)
    last = heading(total)
    back = np.array([-last[0], -last[1], last[2]])
    sx, sy, _ = hall.spec.hall.size_m

    def room_along(d: np.ndarray) -> float:
        out = math.inf
        for c, v, size in ((end[0], d[0], sx), (end[1], d[1], sy)):
            if abs(v) > 1e-9:
                out = min(out, ((size - c) if v > 0 else -c) / v)
        return out

    left = np.array([-last[1], last[0], 0.0])
    via = math.pi if room_along(left) >= room_along(-left) else -math.pi
    n_turn = int(2 * TURN_S * fps)
    for k in range(n_turn):
        emit(end, _turn(last, back, _smoothstep((k + 1) / n_turn), dyaw=via), across[0])
    for _ in range(int(START_HOLD_S * fps)):
        emit(end, back, across[0])
    return Tour(poses, fps, stops, path, facing, sections, _door_openings(hall, poses))


def _door_openings(hall: HallModel, poses: list[CameraPose]) -> list[dict[str, float]]:
    """Per frame, the doors open and how far (key → 0 … 1; shut doors left out). A door opens only
    for a walk through it: over the frames around each crossing of its plane while the camera is
    within DOOR_OPEN_M of it (walking by in a cross aisle, it stays shut), by :func:`opening_at` of
    that distance: it opens as the camera comes and closes behind it."""
    out: list[dict[str, float]] = [{} for _ in poses]
    if not poses:
        return out
    xy = np.array([p.position[:2] for p in poses], float)
    for door in hall_doors(hall):
        dist = door.distances_m(xy)
        near = dist < DOOR_OPEN_M
        # Only steps near the door can cross it: test those.
        for i in np.flatnonzero(near[:-1] | near[1:]):
            if not door.crossed(xy[i], xy[i + 1]):
                continue
            lo, hi = int(i), int(i) + 1
            while lo > 0 and near[lo - 1]:
                lo -= 1
            while hi < len(xy) - 1 and near[hi + 1]:
                hi += 1
            for f in range(lo, hi + 1):
                w = opening_at(float(dist[f]))
                if w > 0.0:
                    out[f][door.key] = max(out[f].get(door.key, 0.0), w)
    return out
