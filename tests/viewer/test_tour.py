"""The guided walk, tested as poses (no rendering): where the camera goes, how it moves, what it faces."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.viewer.conftest import REFERENCE, TINY
from twin.model.load import facing_axis_sign, load_hall
from viewer.cameras import EYE_HEIGHT_M
from viewer.scene import find_aisles
from viewer.tour import END_DOOR_CLEARANCE_M, HOLD_S, SOLID_CLEARANCE_M, door_box, guided_tour, solid_boxes

FPS = 30.0
PACE = 1.2


def _hot_racks(hall, names):
    where = {r.name: i for i, r in enumerate(hall.racks)}
    return [(where[n], 35.0 - k) for k, n in enumerate(names)]


@pytest.fixture(scope="module", params=["tiny", "reference", "tiny-contained"])
def walk(request):
    if request.param == "tiny-contained":
        path = request.getfixturevalue("contained_tiny_path")  # its only aisle behind doors
    else:
        path = TINY if request.param == "tiny" else REFERENCE
    hall = load_hall(path)
    # H03 faces the contained cold aisle G|H: the walk goes in through its door to stand in front of it.
    hot = _hot_racks(hall, ["C11", "H03", "B16"] if request.param == "reference" else ["A02"])
    return hall, hot, guided_tour(hall, find_aisles(hall), hot, fps=FPS, pace_m_s=PACE)


def _directions(tour) -> np.ndarray:
    d = np.array([np.subtract(p.focal_point, p.position) for p in tour.poses])
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def test_the_camera_stays_in_the_room_at_eye_height_and_out_of_every_solid(walk):
    hall, _, tour = walk
    pos = np.array([p.position for p in tour.poses])
    assert len(tour) > 0 and (pos[:, 2] == EYE_HEIGHT_M).all()
    sx, sy, _ = hall.spec.hall.size_m
    assert (pos[:, 0] >= 0.3 - 1e-9).all() and (pos[:, 0] <= sx - 0.3 + 1e-9).all()
    assert (pos[:, 1] >= 0.3 - 1e-9).all() and (pos[:, 1] <= sy - 0.3 + 1e-9).all()
    for lo, hi in solid_boxes(hall):
        # Distance in plan from each camera position to the box (cabinets stand floor to above the eyes).
        dx = np.maximum(np.maximum(lo[0] - pos[:, 0], pos[:, 0] - hi[0]), 0.0)
        dy = np.maximum(np.maximum(lo[1] - pos[:, 1], pos[:, 1] - hi[1]), 0.0)
        assert np.hypot(dx, dy).min() >= SOLID_CLEARANCE_M - 1e-6


def test_cold_aisles_first_then_hot_and_every_aisle_walked(walk):
    hall, _, tour = walk
    aisles = {a.name: a for a in find_aisles(hall)}
    visited = [name for _, name in tour.stops if name.startswith("aisle")]
    assert sorted(visited) == sorted(aisles)
    kinds = [aisles[n].kind for n in visited]
    assert kinds == sorted(kinds, key=lambda k: k == "hot")  # no cold aisle after a hot one
    path = tour.path_xy
    for a in aisles.values():
        # Contained aisles too (through their doors): the path runs along each aisle's centre line over
        # its length (where a walk ends in a containment, to END_DOOR_CLEARANCE_M of its far door).
        for frac in (0.1, 0.5, 0.9):
            p = np.array(a.center)
            p[a.axis] = a.lo[a.axis] + frac * (a.hi[a.axis] - a.lo[a.axis])
            if door_box(a, hall) is not None:
                p[a.axis] = min(max(p[a.axis], a.lo[a.axis] + END_DOOR_CLEARANCE_M), a.hi[a.axis] - END_DOOR_CLEARANCE_M)
            assert np.linalg.norm(path - p, axis=1).min() < 0.1, a.name


def test_the_walk_is_smooth(walk):
    """Never faster than the pace, speeding up and slowing down gradually, turning at most 4° a frame."""
    _, _, tour = walk
    pos = np.array([p.position for p in tour.poses])
    step = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    assert step.max() <= PACE / FPS * 1.05
    assert np.abs(np.diff(step)).max() <= PACE / FPS * 0.1  # eased: no jumps in speed
    d = _directions(tour)
    turn_deg = np.degrees(np.arccos(np.clip(np.sum(d[1:] * d[:-1], axis=1), -1, 1)))
    assert turn_deg.max() < 4.0


def test_the_camera_never_faces_a_wall(walk):
    """Along its gaze, the camera always has at least 1.5 m of room before a wall."""
    hall, _, tour = walk
    sx, sy, _ = hall.spec.hall.size_m
    for p, d in zip(tour.poses, _directions(tour)):
        x, y = p.position[:2]
        room = []
        for c, v, size in ((x, d[0], sx), (y, d[1], sy)):
            if v > 1e-9:
                room.append((size - c) / v)
            elif v < -1e-9:
                room.append(-c / v)
        horizontal = math.hypot(d[0], d[1])
        assert min(room) * horizontal >= 1.5, p


def test_it_stops_to_face_each_hot_rack(walk):
    """At each hot rack it stops for HOLD_S seconds looking straight at the rack's front."""
    hall, hot, tour = walk
    gaze = _directions(tour)
    for rack, _ in hot:
        frames = [f for f, r in tour.facing.items() if r == rack]
        assert len(frames) == int(HOLD_S * FPS)
        r = hall.racks[rack]
        f, sign = facing_axis_sign(r.facing)
        front = np.array([(r.box.lo[0] + r.box.hi[0]) / 2, (r.box.lo[1] + r.box.hi[1]) / 2, 1.2])
        front[f] = r.box.hi[f] if sign > 0 else r.box.lo[f]
        for i in frames:
            p = tour.poses[i]
            to = front - p.position
            assert np.dot(to / np.linalg.norm(to), gaze[i]) > 0.999
            assert np.linalg.norm(to[:2]) < 1.0  # from the aisle in front of it
        stop = next(fr for fr, what in tour.stops if what == f"rack {r.name}")
        assert tour.next_stop(stop - 1) == stop and tour.next_stop(stop, -1) < stop


def test_no_aisles_no_walk(tiny_hall):
    assert len(guided_tour(tiny_hall, [], [])) == 0
    with pytest.raises(ValueError):
        guided_tour(tiny_hall, find_aisles(tiny_hall), fps=0)


def test_the_walk_never_enters_a_voxel_solid_or_crosses_a_panel(walk):
    """On the solver's own voxels: every camera position is in an air cell, and every step between two
    positions crosses only open cell faces (no cabinet, wall, containment panel or roof; the panels'
    faces are open only to their leakage), or the faces of a door the walk holds wide open at both ends
    of the step. Every contained aisle is walked through: in by one door, out by the other."""
    from twin.geometry.voxel import Grid, containment_planes, voxelize_hall

    hall, _, tour = walk
    vox = voxelize_hall(hall)
    grid = Grid.for_hall(hall)
    o, h = np.asarray(grid.origin_m), grid.cell_m
    # The door faces, from the solver's own placement of the containment: axis → {face index: door key}.
    door_faces: dict[int, dict[tuple, str]] = {0: {}, 1: {}, 2: {}}
    for c in hall.spec.containment:
        for p in containment_planes(grid, c):
            if p.part.startswith("door"):
                span = [range(p.lo[a], p.hi[a]) if a != p.axis else [p.index] for a in range(3)]
                for face in np.array(np.meshgrid(*span, indexing="ij")).reshape(3, -1).T:
                    door_faces[p.axis][tuple(int(v) for v in face)] = f"{c.name}/{p.part}"
    pos = np.array([p.position for p in tour.poses])
    # Every step, sampled at 2 cm (steps are ≤ 4 cm at walking pace), as cell indices (nx, ny, nz order),
    # with the frame each sample's step ends at.
    fine, frame = [pos[0]], [0]
    for f, (a, b) in enumerate(zip(pos[:-1], pos[1:])):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / 0.02)))
        fine.extend(a + (b - a) * t for t in np.linspace(0, 1, n + 1)[1:])
        frame.extend([f + 1] * n)
    cells = np.floor((np.array(fine) - o) / h).astype(int)
    assert not vox.solid[tuple(cells.T)].any()
    moved = np.flatnonzero(np.any(cells[1:] != cells[:-1], axis=1))
    assert (np.abs(cells[moved + 1] - cells[moved]).sum(axis=1) == 1).all()  # one face at a time
    through: dict[str, int] = {}
    for i in moved:
        c0, c1 = cells[i], cells[i + 1]
        axis = int(np.flatnonzero(c1 != c0)[0])
        face = c0.copy()
        face[axis] = max(c0[axis], c1[axis])
        if vox.open_faces[axis][tuple(face)] == 1.0:
            continue
        key = door_faces[axis].get(tuple(int(v) for v in face))
        f = frame[i + 1]
        assert key is not None, ("a closed face that is no door", fine[i], axis)
        assert tour.doors[f - 1].get(key, 0.0) == 1.0 and tour.doors[f].get(key, 0.0) == 1.0, (key, f)
        through[key] = through.get(key, 0) + 1
    contained = [a for a in find_aisles(hall) if door_box(a, hall) is not None]
    if hall.spec.containment:
        assert contained  # reference.toml: three contained cold aisles, each walked through
    end = pos[-1]
    for c in hall.spec.containment:
        doors = {f"{c.name}/{p.part}" for p in containment_planes(grid, c) if p.part.startswith("door")}
        passed = {k for k in through if k.startswith(c.name + "/")}
        # In by one door; out by the other unless the walk ends inside.
        inside = c.x_m[0] < end[0] < c.x_m[1] and c.y_m[0] < end[1] < c.y_m[1]
        assert len(passed) == (1 if inside else 2) and passed <= doors, (c.name, passed)


def test_doors_open_as_the_camera_comes_and_shut_behind_it(walk):
    """A door opens only for the walk through it, smoothly, and is wide open before the camera gets
    near; the camera never comes within 0.3 m of a leaf, shut, sliding or open (the near plane); every
    door is shut whenever the camera is 2 m or more from it."""
    from viewer.doors import DOOR_OPEN_M, hall_doors

    hall, _, tour = walk
    doors = hall_doors(hall)
    assert len(doors) == 2 * sum(c.doors for c in hall.spec.containment)
    pos = np.array([p.position for p in tour.poses])
    assert len(tour.doors) == len(tour)
    # Shut at the start and the end, unless the camera stands near one then (a walk that starts beside
    # a door, or ends in a containment shorter than 2 m past its door).
    for f in (0, -1):
        assert all(door.distance_m(pos[f]) < DOOR_OPEN_M for door in doors if door.key in tour.doors[f])
    for door in doors:
        opening = np.array([tour.doors[f].get(door.key, 0.0) for f in range(len(tour))])
        dist = np.array([door.distance_m(p) for p in pos])
        assert (opening[dist >= DOOR_OPEN_M] == 0.0).all()
        crossings = sum(door.crossed(a, b) for a, b in zip(pos[:-1, :2], pos[1:, :2]))
        if crossings:
            assert (opening[dist <= 1.0] == 1.0).all()
        # Smooth (no door jumps open between two frames) and one opening per pass: up, then down.
        assert np.abs(np.diff(opening)).max(initial=0.0) <= 0.1
        open_runs = np.diff(np.r_[0, (opening > 0).astype(int), 0])
        assert (open_runs == 1).sum() == crossings
        for f in np.flatnonzero(dist < DOOR_OPEN_M + 0.5):
            for lo, hi in door.leaf_boxes(opening[f]):
                d = np.hypot(max(lo[0] - pos[f, 0], pos[f, 0] - hi[0], 0.0), max(lo[1] - pos[f, 1], pos[f, 1] - hi[1], 0.0))
                assert d >= 0.3, (door.key, f, opening[f], d)
    if hall.spec.containment:
        assert any(tour.doors)


def test_the_section_stands_across_the_way_ahead(walk):
    """Issue 16: the walk's vertical section of air is always one it is walking toward. Moving along an
    aisle, the section is across that aisle past its far end; moving between aisles (a cross aisle), it
    is across the direction of travel, past the leg's end, in the room. Either way it lies ahead of the
    camera, at least half a metre off, and the camera never walks through it. Along an aisle with one
    row (against a wall) it stands along the aisle's open side instead."""
    hall, _, tour = walk
    aisles = find_aisles(hall)
    size = hall.spec.hall.size_m
    pos = np.array([p.position for p in tour.poses])
    assert len(tour.sections) == len(tour) and all(s is not None for s in tour.sections)
    crossing = 0
    for i in range(1, len(tour)):
        step = pos[i] - pos[i - 1]
        if np.linalg.norm(step) < 1e-6:
            continue  # holding or turning on the spot: the section stays what it was (tests below)
        index, at, axis = tour.sections[i]
        aisle = aisles[index]
        axis = aisle.axis if axis is None else axis
        assert 0.0 < at < size[axis]
        travel = int(np.argmax(np.abs(step[:2])))
        side = None
        if len(aisle.rows) == 1 and axis != aisle.axis:
            row = [r.box for r in hall.racks if r.row == aisle.rows[0]]
            row_hi = np.mean([(b.lo[axis] + b.hi[axis]) / 2 for b in row]) > aisle.center[axis]
            side = aisle.lo[axis] if row_hi else aisle.hi[axis]  # the open side, away from the row
        if side is not None and at == pytest.approx(side):
            # Along an aisle with one row: the plane along its open side, beside the camera (which
            # walks the aisle's centre line, in the aisle's span), not across the way.
            assert abs(pos[i, axis] - aisle.center[axis]) < 0.5 * aisle.width_m, (i, tour.sections[i], pos[i])
        elif abs(step[travel]) > 0.9 * np.linalg.norm(step[:2]):  # a straight stretch (not a fillet)
            assert axis == travel, (i, tour.sections[i], step)
            crossing += axis != aisles[index].axis
            # Ahead, by at least half a metre, unless the wall stops it (the plane keeps 5 cm off it).
            ahead_m = (at - pos[i, axis]) * math.copysign(1.0, step[axis])
            room_m = (size[axis] - pos[i, axis]) if step[axis] > 0 else pos[i, axis]
            assert ahead_m >= min(0.5, room_m - 0.1), (i, tour.sections[i], pos[i])
        if tour.sections[i] == tour.sections[i - 1]:
            # Never walked through: the camera stays on one side of the plane while it is shown.
            before, after = pos[i - 1, axis] - at, pos[i, axis] - at
            assert before * after > 0, (i, tour.sections[i], pos[i - 1], pos[i])
    # With more than one aisle the walk has legs between them, and the section turns with the walk there.
    assert (crossing > 0) == (len(aisles) > 1), crossing


def test_door_leaves_shut_the_doorway_and_clear_it_when_open(contained_tiny_path):
    """Shut, the two leaves cover the door's width edge to edge; half open, half of it; wide open they
    stand wholly beside the doorway; they never leave the door's plane or change size."""
    from viewer.doors import hall_doors

    for hall in (load_hall(contained_tiny_path), load_hall(REFERENCE)):
        doors = hall_doors(hall)
        assert doors
        for door in doors:
            s = door.slide_axis
            for opening, covered in ((0.0, 1.0), (0.5, 0.5), (1.0, 0.0)):
                leaves = door.leaf_boxes(opening)
                over = sum(max(0.0, min(hi[s], door.hi[s]) - max(lo[s], door.lo[s])) for lo, hi in leaves)
                assert over == pytest.approx(covered * door.width_m)
                for lo, hi in leaves:
                    assert hi[s] - lo[s] == pytest.approx(door.width_m / 2)
                    assert (lo[door.axis], hi[door.axis]) == (door.lo[door.axis], door.hi[door.axis])
