"""Object meshes: GLB meshes turned to their facing and fitted to their boxes; cells inside meshes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from twin.geometry.meshes import object_mesh
from twin.geometry.voxel import Grid, box_cells, mesh_cells, voxelize_hall
from twin.model import ASSETS_DIR, Box, load_hall, parse_hall
from twin.model.load import HallError, coarse_hall

RACK_GLB = ASSETS_DIR / "meshes" / "rack-42u.glb"
COLUMN_GLB = ASSETS_DIR / "meshes" / "column-round.glb"
# The rack mesh as authored (assets/meshes/make_meshes.py): 0.6 × 1.2 × 2.2 m, a 40 mm frame around a
# door recessed 15 mm into the front (-y) face.
RACK_SIZE_M = (0.6, 1.2, 2.2)
FRAME_M = 0.04
INSET_M = 0.015
AXES = {"x": 0, "y": 1}


def _facing(facing: str) -> tuple[int, int]:
    """(axis, sign) of a direction such as "+x"."""
    return AXES[facing[1]], (1 if facing[0] == "+" else -1)


def _rack_hall() -> dict:
    """A 6 × 6 m hall with one two-rack row of GLB racks facing each direction, on 0.1 m cells."""
    def row(name: str, start: tuple[float, float], along: str, facing: str) -> dict:
        return {"name": name, "start_m": list(start), "along": along, "facing": facing, "count": 2,
                "rack_size_m": list(RACK_SIZE_M), "it_kw": 5.0, "mesh": "rack-42u.glb"}

    return {
        "hall": {"name": "facings", "size_m": [6.0, 6.0, 3.0], "cell_m": 0.1},
        "rows": [
            row("N", (1.0, 1.0), "x", "+y"),
            row("S", (3.5, 1.0), "x", "-y"),
            row("E", (1.0, 3.5), "y", "+x"),
            row("W", (3.5, 3.5), "y", "-x"),
        ],
    }


def _box_cells(box: Box, grid: Grid) -> np.ndarray:
    """Cells whose centres lie inside ``box`` (the analytic answer for an axis-aligned box)."""
    inside = [(grid.centers(a) > box.lo[a]) & (grid.centers(a) < box.hi[a]) for a in range(3)]
    return inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :]


def test_facing_none_keeps_the_authored_orientation():
    """Without a facing the mesh is only fitted: its door stays on the -y face."""
    box = Box((1.0, 2.0, 0.0), (1.6, 3.2, 2.2))
    mesh = object_mesh(box, RACK_GLB)
    assert np.allclose(mesh.bounds, [box.lo, box.hi])
    assert np.any(np.isclose(mesh.vertices[:, 1], box.lo[1] + INSET_M))
    assert not np.any(np.isclose(mesh.vertices[:, 1], box.hi[1] - INSET_M))


def test_unknown_facing_is_an_error():
    """A facing that is not one of the four directions is refused, naming the allowed ones."""
    with pytest.raises(ValueError, match=r"\+x, -x|-y, \+x"):
        object_mesh(Box((0, 0, 0), (1, 1, 1)), RACK_GLB, facing="up")


@pytest.mark.parametrize("facing", ["+x", "-x", "+y", "-y"])
def test_rack_mesh_turned_to_its_facing(facing):
    """The rack mesh fills its box, keeps its volume and outward normals, and has its door on the facing side."""
    axis, sign = _facing(facing)
    other = 1 - axis
    size = np.zeros(3)
    size[axis], size[other], size[2] = RACK_SIZE_M[1], RACK_SIZE_M[0], RACK_SIZE_M[2]  # depth across, width along
    box = Box((2.0, 1.0, 0.0), tuple(np.array([2.0, 1.0, 0.0]) + size))
    mesh = object_mesh(box, RACK_GLB, facing=facing)

    assert np.allclose(mesh.bounds, [box.lo, box.hi])
    # A proper rotation and no stretch (the box has the mesh's own size): the authored, positive volume
    # (the GLB stores float32, hence 1e-6).
    assert mesh.is_volume
    w, d, h = RACK_SIZE_M
    assert mesh.volume == pytest.approx(w * d * h - (w - 2 * FRAME_M) * (h - 2 * FRAME_M) * INSET_M, rel=1e-6)

    front = box.hi[axis] if sign > 0 else box.lo[axis]
    back = box.lo[axis] if sign > 0 else box.hi[axis]
    levels = np.unique(np.round(mesh.vertices[:, axis], 9))
    assert levels == pytest.approx(sorted([back, front, front - sign * INSET_M]))
    # The door panel: faces on the recessed plane whose outward normal points the facing way.
    normal = np.zeros(3)
    normal[axis] = sign
    centroids = mesh.triangles_center[:, axis]
    door = np.isclose(centroids, front - sign * INSET_M) & np.all(np.isclose(mesh.face_normals, normal), axis=1)
    door_area = (RACK_SIZE_M[0] - 2 * FRAME_M) * (RACK_SIZE_M[2] - 2 * FRAME_M)
    assert mesh.area_faces[door].sum() == pytest.approx(door_area, rel=1e-6)


def test_voxelized_glb_racks_fill_their_boxes_in_every_facing():
    """On 0.1 m cells each turned GLB rack owns exactly the cells of its box (the 15 mm recess is sub-cell)."""
    hall = parse_hall(_rack_hall())
    vox = voxelize_hall(hall)
    assert {r.facing for r in hall.racks} == {"+x", "-x", "+y", "-y"}
    for rack in hall.racks:
        owned = vox.owner == vox.owners.index(rack.name)
        expected = _box_cells(rack.box, vox.grid)
        assert expected.sum() == round(np.prod(np.subtract(rack.box.hi, rack.box.lo)) / 0.1**3)
        np.testing.assert_array_equal(owned, expected, err_msg=rack.name)
        np.testing.assert_array_equal(owned.any(axis=2), expected.any(axis=2), err_msg=f"{rack.name} footprint")


@pytest.mark.parametrize("facing", ["+x", "-x", "+y", "-y"])
def test_fine_cells_see_the_door_recess_on_the_facing_side(facing):
    """On 20 mm cells the layer behind the front face is hollow where the door is; the back layer is full."""
    hall = parse_hall(_rack_hall())
    rack = next(r for r in hall.racks if r.facing == facing)
    mesh = object_mesh(rack.box, rack.mesh, facing=rack.facing)
    axis, sign = _facing(facing)
    other = 1 - axis
    cell = 0.02
    for side, hollow in ((sign, True), (-sign, False)):
        # One layer of cells whose centres lie 10 mm inside the face on ``side`` (the door is 15 mm in).
        origin = np.array(rack.box.lo, float)
        origin[axis] = rack.box.hi[axis] - cell if side > 0 else rack.box.lo[axis]
        shape = np.round((np.subtract(rack.box.hi, rack.box.lo)) / cell).astype(int)
        shape[axis] = 1
        grid = Grid(tuple(int(n) for n in shape), tuple(origin), cell)
        cells = mesh_cells(mesh, grid)
        along = grid.centers(other) - rack.box.lo[other]
        up = grid.centers(2)
        in_door = (((along > FRAME_M) & (along < RACK_SIZE_M[0] - FRAME_M))[:, None]
                   & ((up > FRAME_M) & (up < RACK_SIZE_M[2] - FRAME_M))[None, :])
        expected = ~in_door if hollow else np.ones_like(in_door)
        np.testing.assert_array_equal(np.moveaxis(cells, axis, 0)[0], expected)


# --- mesh_cells against analytic counts ---------------------------------------------------------

def test_box_cells_match_the_analytic_count():
    """A box off the grid's planes owns exactly the cells whose centres lie inside it."""
    grid = Grid((40, 30, 20), (-0.013, 0.021, -0.5), 0.05)
    box = Box((0.111, 0.237, -0.33), (1.272, 0.9, 0.41))
    cells = mesh_cells(object_mesh(box), grid)
    expected = _box_cells(box, grid)
    counts = [int(((grid.centers(a) > box.lo[a]) & (grid.centers(a) < box.hi[a])).sum()) for a in range(3)]
    assert cells.sum() == np.prod(counts) > 0
    np.testing.assert_array_equal(cells, expected)


def test_non_convex_rack_cells_match_the_analytic_count():
    """The rack mesh (not convex: point-in-mesh by ray tests) owns its box's cells less those in the door recess."""
    box = Box((0.3, 0.2, 0.0), (0.9, 1.4, 2.2))
    mesh = object_mesh(box, RACK_GLB)
    assert not mesh.is_convex  # so mesh_cells takes the mesh.contains path
    # Cell centres 7 mm behind the front face (inside the 15 mm recess) and off every frame edge.
    grid = Grid((20, 30, 50), (box.lo[0] - 0.0123, box.lo[1] - 0.018, -0.0077), 0.05)
    cells = mesh_cells(mesh, grid)
    recess = Box((box.lo[0] + FRAME_M, box.lo[1], FRAME_M), (box.hi[0] - FRAME_M, box.lo[1] + INSET_M, 2.2 - FRAME_M))
    expected = _box_cells(box, grid) & ~_box_cells(recess, grid)
    assert _box_cells(recess, grid).sum() > 0  # the recess does hold cell centres
    np.testing.assert_array_equal(cells, expected)


def _disc_count(grid: Grid, centre: tuple[float, float], radius: float) -> int:
    """Cell centres of one z layer within ``radius`` of ``centre`` (Gauss's circle count, column by column)."""
    dx = grid.centers(0) - centre[0]
    half = np.sqrt(np.clip(radius**2 - dx**2, 0.0, None))
    cy = grid.centers(1)
    return int(sum(((cy >= centre[1] - hw) & (cy <= centre[1] + hw)).sum() for hw in half[np.abs(dx) <= radius]))


def test_round_column_cells_approximate_the_cylinder():
    """The 32-sided column owns about π r² h / cell³ cells: bracketed exactly by its in- and circumcircle."""
    r, h, cell = 1.0, 1.0, 0.05
    box = Box((1.0, 1.0, 0.0), (1.0 + 2 * r, 1.0 + 2 * r, h))
    mesh = object_mesh(box, COLUMN_GLB)
    grid = Grid((70, 70, 20), (0.0137, 0.0071, 0.0), cell)
    cells = mesh_cells(mesh, grid)
    n = int(cells.sum())
    layers = round(h / cell)

    # Rigorous: the polygon (vertices on the circle of radius r) lies between its incircle and the circle.
    centre = (1.0 + r, 1.0 + r)
    inner = _disc_count(grid, centre, r * np.cos(np.pi / 32) - 1e-9) * layers
    outer = _disc_count(grid, centre, r + 1e-9) * layers
    assert inner <= n <= outer

    # Approximate: the 32-gon has 0.64 % less area than its circle, and counting lattice points in a disc
    # of r/cell = 20 cells errs by about (r/cell)^(2/3) ≈ 7 cells of 1257 per layer (0.6 %): allow 1.5 %.
    assert n * cell**3 == pytest.approx(np.pi * r**2 * h, rel=0.015)

    # The convex fast path agrees with trimesh's ray-test point-in-mesh on every cell near the mantle.
    idx = np.argwhere(np.ones(grid.shape, bool))
    pts = np.stack([grid.centers(a)[idx[:, a]] for a in range(3)], axis=1)
    rho = np.hypot(pts[:, 0] - centre[0], pts[:, 1] - centre[1])
    near = (rho > 0.9 * r) & (rho < r + cell)
    assert near.sum() > 1000
    np.testing.assert_array_equal(cells.reshape(-1)[near], mesh.contains(pts[near]))


# --- boxes without trimesh -------------------------------------------------------------------------

VALIDATION_HALLS = Path(__file__).resolve().parents[2] / "validation" / "halls"


def _box_halls() -> list[Path]:
    return sorted((ASSETS_DIR / "halls").glob("*.toml")) + sorted(VALIDATION_HALLS.glob("*.toml"))


@pytest.mark.parametrize("path", _box_halls(), ids=lambda p: p.stem)
def test_box_cells_are_the_box_meshes_cells(path):
    """Every plain box of the bundled and validation halls, on their grids and on the grids twice as coarse
    (grid sequencing): box_cells gives mesh_cells' answer for the box's trimesh mesh, cell for cell."""
    hall = load_hall(path)
    halls = [hall]
    try:
        halls.append(coarse_hall(hall, 2))
    except HallError:  # no coarser grid fits this hall: its own grid is checked
        pass
    boxes = 0
    for h in halls:
        grid = Grid.for_hall(h)
        for obj in [*h.racks, *h.crahs, *h.obstacles, *h.pdus]:
            if obj.mesh is None:
                np.testing.assert_array_equal(box_cells(obj.box, grid), mesh_cells(object_mesh(obj.box), grid),
                                              err_msg=f"{path.name}: {obj.name}")
                boxes += 1
    assert boxes >= len(hall.racks)


def test_box_cells_of_a_box_off_the_grid_and_outside_it():
    """A box off the grid's planes owns the cells whose centres lie inside it; one outside the grid owns none."""
    grid = Grid((40, 30, 20), (-0.013, 0.021, -0.5), 0.05)
    box = Box((0.111, 0.237, -0.33), (1.272, 0.9, 0.41))
    np.testing.assert_array_equal(box_cells(box, grid), _box_cells(box, grid))
    assert not box_cells(Box((5.0, 5.0, 5.0), (6.0, 6.0, 6.0)), grid).any()


def test_a_hall_of_boxes_builds_its_twin_without_trimesh_and_a_glb_hall_still_loads_it():
    """Importing the CLI and the twin and building a box hall's twin imports no trimesh (a third of a steady
    run's start-up); a hall with GLB racks then imports it and voxelizes its meshes (a fresh interpreter)."""
    code = f"""
import sys
import twin.cli, twin.sim.jobs
from twin.sim.twin import HallTwin
from twin.model import bundled_hall, parse_hall
HallTwin(bundled_hall("tiny"))
assert "trimesh" not in sys.modules, "box hall imported trimesh"
assert "scipy.spatial" not in sys.modules, "box hall imported scipy.spatial"
from twin.geometry.voxel import voxelize_hall
hall = parse_hall({_rack_hall()!r})
vox = voxelize_hall(hall)
assert "trimesh" in sys.modules
print(sum(int((vox.owner == vox.owners.index(r.name)).sum()) for r in hall.racks))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    # Eight racks of 0.6 x 1.2 x 2.2 m on 0.1 m cells, each owning its whole box (the door recess is sub-cell).
    assert int(out.stdout.split()[-1]) == 8 * 6 * 12 * 22
