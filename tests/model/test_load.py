"""Hall files: the bundled halls load and are laid out as documented; every kind of bad input is one
HallError line that names the file, the key path and what is allowed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from tests.halls import CROSSING_ROW, bad_hall
from twin.model import ASSETS_DIR, HallError, HallModel, bundled_hall, load_hall

HALLS_DIR = ASSETS_DIR / "halls"


# --- helpers ------------------------------------------------------------------------------------

def _error(path: Path) -> str:
    """The message of the HallError that loading ``path`` raises; checks it is one line naming the file."""
    with pytest.raises(HallError) as info:
        load_hall(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


def _grid(hall: HallModel) -> tuple[int, int, int]:
    cell = hall.spec.hall.cell_m
    sx, sy, sz = hall.spec.hall.size_m
    return round(sx / cell), round(sy / cell), round((sz + hall.plenum_depth_m) / cell)


def _make_halls_module():
    spec = importlib.util.spec_from_file_location("make_halls", HALLS_DIR / "make_halls.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


# --- bundled halls ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tiny", "reference", "large"])
def test_bundled_hall_loads(name):
    """Each bundled hall loads with one call and has racks, CRAHs and a name."""
    hall = bundled_hall(name)
    assert hall.path == HALLS_DIR / f"{name}.toml"
    assert hall.racks and hall.crahs and hall.name
    assert hall.it_w > 0


@pytest.mark.parametrize(
    ("name", "min_racks", "it_kw_range", "n_crahs", "max_cells"),
    [("reference", 200, (1300, 1600), 10, 1_200_000), ("large", 800, (5000, 7000), 40, 1_200_000)],
)
def test_bundled_hall_sizing(name, min_racks, it_kw_range, n_crahs, max_cells):
    """Racks, IT load, CRAH airflow (1.1–1.3 × servers') and capacity (1.3–1.5 × IT) are as documented."""
    hall = bundled_hall(name)
    nx, ny, nz = _grid(hall)
    loads_kw = np.array([r.it_w for r in hall.racks]) / 1e3
    server_flow_m3s = sum(r.it_w * r.airflow_m3s_per_w for r in hall.racks)
    crah_flow_m3s = sum(c.rated_flow_m3s * c.fan_speed for c in hall.crahs)
    capacity_w = sum(c.rated_cooling_w for c in hall.crahs)
    assert len(hall.racks) >= min_racks
    assert it_kw_range[0] <= loads_kw.sum() <= it_kw_range[1]
    assert loads_kw.min() >= 3.0 and loads_kw.max() <= 15.0 and np.unique(loads_kw).size > 10
    assert len(hall.crahs) == n_crahs
    assert 1.1 <= crah_flow_m3s / server_flow_m3s <= 1.3
    assert 1.3 <= capacity_w / hall.it_w <= 1.5
    assert all(18.0 <= c.supply_setpoint_c <= 20.0 for c in hall.crahs)
    assert all((c.return_from, c.supply_to) == ("top", "floor") for c in hall.crahs)
    assert nx * ny * nz <= max_cells
    assert any(o.mesh is not None for o in hall.obstacles)
    contained = [c for c in hall.spec.containment if c.kind == "cold-aisle"]
    assert 0 < len(contained) < len(hall.spec.tiles)


@pytest.mark.parametrize("name", ["reference", "large"])
def test_racks_draw_from_tiled_cold_aisles(name):
    """Every rack front opens onto a perforated-tile aisle and every rack back onto an aisle without tiles."""
    hall = bundled_hall(name)
    tiles = hall.spec.tiles
    step = {"+x": (1, 0), "-x": (-1, 0), "+y": (0, 1), "-y": (0, -1)}

    def on_tiles(x: float, y: float) -> bool:
        return any(t.x_m[0] < x < t.x_m[1] and t.y_m[0] < y < t.y_m[1] for t in tiles)

    for rack in hall.racks:
        (x0, y0, _), (x1, y1, _) = rack.box.lo, rack.box.hi
        dx, dy = step[rack.facing]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half_x, half_y = (x1 - x0) / 2, (y1 - y0) / 2
        front = (cx + dx * (half_x + 0.3), cy + dy * (half_y + 0.3))
        back = (cx - dx * (half_x + 0.3), cy - dy * (half_y + 0.3))
        assert on_tiles(*front), f"{rack.name} faces no tiles"
        assert not on_tiles(*back), f"{rack.name} exhausts onto tiles"
    for tile in tiles:
        assert 0.25 <= tile.open_fraction <= 0.4
        assert not any(
            r.box.lo[0] < tile.x_m[1] and tile.x_m[0] < r.box.hi[0]
            and r.box.lo[1] < tile.y_m[1] and tile.y_m[0] < r.box.hi[1]
            for r in hall.racks
        ), f"tiles {tile.name} lie under a rack"


@pytest.mark.parametrize("name", ["reference", "large"])
def test_crah_fronts_keep_clear_of_racks(name):
    """At least 1 m of floor lies between each CRAH's front and the nearest rack."""
    hall = bundled_hall(name)
    for crah in hall.crahs:
        (x0, y0, _), (x1, y1, _) = crah.box.lo, crah.box.hi
        front = {"+y": (x0, y1, x1, y1 + 1.0), "-y": (x0, y0 - 1.0, x1, y0),
                 "+x": (x1, y0, x1 + 1.0, y1), "-x": (x0 - 1.0, y0, x0, y1)}[crah.facing]
        blocking = [r.name for r in hall.racks
                    if r.box.lo[0] < front[2] and front[0] < r.box.hi[0]
                    and r.box.lo[1] < front[3] and front[1] < r.box.hi[1]]
        assert not blocking, f"{crah.name}: racks {blocking} within 1 m of its front"


@pytest.mark.parametrize("name", ["reference", "large"])
def test_every_row_has_crahs_beyond_both_ends(name):
    """Each end of each row faces a CRAH 1–4 m beyond it (within 6 m along x): the potential flow has no
    jets, so a row end far from every CRAH gets little tile air and breathes its own exhaust."""
    hall = bundled_hall(name)
    for row in hall.spec.rows:
        assert row.along == "y"
        x_mid = row.start_m[0] + row.rack_size_m[1] / 2
        y0, y1 = row.start_m[1], row.start_m[1] + row.count * row.rack_size_m[0]
        ends = (("south", "+y", lambda c: y0 - c.box.hi[1]), ("north", "-y", lambda c: c.box.lo[1] - y1))
        for end, facing, gap in ends:
            near = [c.name for c in hall.crahs if c.facing == facing and 1.0 <= gap(c) <= 4.0
                    and abs((c.box.lo[0] + c.box.hi[0]) / 2 - x_mid) <= 6.0]
            assert near, f"row {row.name}: no CRAH faces its {end} end"


def test_generated_halls_are_up_to_date():
    """reference.toml and large.toml are exactly what make_halls.py writes."""
    make_halls = _make_halls_module()
    for layout in make_halls.LAYOUTS:
        assert (HALLS_DIR / layout.file).read_text(encoding="utf-8") == make_halls.hall_toml(layout), layout.file


@pytest.mark.parametrize("name", ["column-round.glb", "rack-42u.glb"])
def test_bundled_meshes_are_small_closed_volumes(name):
    """The GLB meshes are small, watertight volumes (so that voxelization fills them)."""
    path = ASSETS_DIR / "meshes" / name
    assert path.stat().st_size < 50_000
    mesh = trimesh.load(path, force="mesh")
    assert mesh.is_watertight and mesh.is_volume
    assert mesh.volume > 0.5 * np.prod(mesh.extents)


# --- bad input: one test per kind --------------------------------------------------------------

def test_unknown_top_level_key(tmp_path):
    """An unknown section at the top level is named, with the allowed sections."""
    message = _error(bad_hall(tmp_path, append="\n[chillers]\ncount = 2\n"))
    assert ": chillers: unknown key" in message
    assert "allowed keys here: hall, air, airflow, raised_floor, tiles, rows, crahs, containment, obstacles" in message


def test_unknown_nested_key(tmp_path):
    """A misspelt key in a row is named with its index path and the keys a row allows."""
    message = _error(bad_hall(tmp_path, ("count = 4\n", "count = 4\nit_kww = 5.0\n")))
    assert ": rows[0].it_kww: unknown key" in message
    assert "allowed keys here:" in message and "it_kw," in message and "rack_size_m" in message


@pytest.mark.parametrize(
    ("edit", "key", "expected"),
    [
        (("cell_m = 0.5", 'cell_m = "fine"'), "hall.cell_m", "Input should be a valid number"),
        (("it_kw = [4.0, 6.0, 8.0, 5.0]", 'it_kw = "lots"'), "rows[0].it_kw", "Input should be a valid number"),
        (("it_kw = [4.0, 6.0, 8.0, 5.0]", 'it_kw = [4.0, 6.0, "eight", 5.0]'), "rows[0].it_kw[2]",
         "Input should be a valid number"),
        (("count = 4", 'count = "four"'), "rows[0].count", "Input should be a valid integer"),
    ],
    ids=["number", "number-or-list", "list-item", "integer"],
)
def test_wrong_type(tmp_path, edit, key, expected):
    """A string where a number is expected names the key (not pydantic's union member) and the type."""
    message = _error(bad_hall(tmp_path, edit))
    assert f": {key}: {expected}" in message
    assert ".float" not in message and "list[" not in message


@pytest.mark.parametrize(
    ("edit", "key", "allowed"),
    [
        (("it_kw = [4.0, 6.0, 8.0, 5.0]", "it_kw = [4.0, -6.0, 8.0, 5.0]"), "rows[0].it_kw",
         "between 0 and 100 kW"),
        (("it_kw = [4.0, 6.0, 8.0, 5.0]", "it_kw = -1.0"), "rows[0].it_kw", "between 0 and 100 kW"),
        (("cell_m = 0.5", "cell_m = 0"), "hall.cell_m", "greater than 0.02"),
        (("fan_speed = 0.8", "fan_speed = 1.5"), "crahs[0].fan_speed", "less than or equal to 1"),
        (("open_fraction = 0.25", "open_fraction = 0.0"), "tiles[0].open_fraction", "greater than 0"),
    ],
    ids=["negative-load-in-list", "negative-load", "zero-cell", "fan-speed", "tile-open-fraction"],
)
def test_value_out_of_range(tmp_path, edit, key, allowed):
    """A value outside its range names the key and the allowed range."""
    message = _error(bad_hall(tmp_path, edit))
    assert f": {key}: " in message and allowed in message


def test_rows_crossing(tmp_path):
    """A row that crosses another names the rack that overlaps and the rack it hits."""
    message = _error(bad_hall(tmp_path, append=CROSSING_ROW))
    assert ": rows[1] (rack 5): 'B05' overlaps 'A03' (rows[0] (rack 3))" in message
    assert "may touch but not overlap" in message


def test_rack_outside_room(tmp_path):
    """A row running through a wall names its first rack outside the room and the room's extent."""
    message = _error(bad_hall(tmp_path, ("start_m = [1.0, 2.5]", "start_m = [4.5, 2.5]")))
    assert ": rows[0] (rack 4): rack spans 6–6.5 × 2.5–3.5 × 0–2 m, outside the room 0–6.0 × 0–5.0 m" in message


def test_crah_outside_room(tmp_path):
    """A CRAH through a wall names its position key and the room's extent."""
    message = _error(bad_hall(tmp_path, ("position_m = [2.0, 4.0]", "position_m = [2.0, 4.5]")))
    assert ": crahs[0].position_m: CRAH 'CRAH-01' spans 2–4 × 4.5–5.5 × 0–2 m" in message
    assert "outside the room 0–6.0 × 0–5.0 × 0–3.0 m" in message


def test_floor_supply_without_raised_floor(tmp_path):
    """supply_to = "floor" without a raised floor names the key and the alternatives."""
    no_floor = ('[raised_floor]\ndepth_m = 0.5\n\n[[tiles]]\nname = "cold-aisle"\nx_m = [1.0, 4.0]\n'
                'y_m = [1.5, 2.5]\nopen_fraction = 0.25\n\n', "")
    message = _error(bad_hall(tmp_path, no_floor))
    assert ": crahs[0].supply_to: 'floor' needs a [raised_floor] section (or supply to front, back or top)" in message


def test_it_kw_list_length_mismatch(tmp_path):
    """A load list of the wrong length says how many values the row needs."""
    message = _error(bad_hall(tmp_path, ("it_kw = [4.0, 6.0, 8.0, 5.0]", "it_kw = [4.0, 6.0, 8.0]")))
    assert ": rows[0].it_kw: 3 values for 4 racks (give one or 4)" in message


@pytest.mark.parametrize(
    ("edit", "key", "described"),
    [
        (("rated_flow_m3s = 3.0\n", ""), "crahs[0].rated_flow_m3s", "Airflow at 100 % fan speed, m³/s."),
        (('name = "A"\n', ""), "rows[0].name", "Row name"),
        (("size_m = [6.0, 5.0, 3.0]", "size_m = [6.0, 5.0]"), "hall.size_m", "Room size x, y, z in m"),
    ],
    ids=["crah-flow", "row-name", "too-few-values"],
)
def test_missing_required_key(tmp_path, edit, key, described):
    """A missing key (or value of a tuple) is named with what it means."""
    message = _error(bad_hall(tmp_path, edit))
    assert f": {key}: " in message and ("required key is missing" in message or "too few values" in message)
    assert described in message


def test_missing_mesh_file(tmp_path):
    """A mesh that is not in assets/meshes/ is named with the directory searched."""
    column = """
[[obstacles]]
name = "column-1"
position_m = [0.0, 0.0, -0.5]
size_m = [0.5, 0.5, 3.5]
mesh = "no-such-column.glb"
"""
    message = _error(bad_hall(tmp_path, append=column))
    assert ": obstacles[0].mesh: mesh file 'no-such-column.glb' not found in " in message
    assert message.endswith(str(ASSETS_DIR / "meshes"))


def test_invalid_toml(tmp_path):
    """A TOML syntax error names the file and the line."""
    message = _error(bad_hall(tmp_path, ("cell_m = 0.5", "cell_m = 0.5 m")))
    assert "not valid TOML" in message and "line 8" in message  # after the #:schema header and a blank line


@pytest.mark.parametrize(
    ("edit", "key", "rule"),
    [
        (("size_m = [6.0, 5.0, 3.0]", "size_m = [6.2, 5.0, 3.0]"), "hall.size_m (x)",
         "6.2 m is not a whole number of cells of 0.5 m"),
        (("size_m = [6.0, 5.0, 3.0]", "size_m = [6.0, 5.0, 3.3]"), "hall.size_m (z)",
         "3.3 m is not a whole number of cells of 0.5 m"),
        (("depth_m = 0.5", "depth_m = 0.6"), "raised_floor.depth_m", "0.6 m is not a whole number of cells of 0.5 m"),
    ],
    ids=["room-x", "room-z", "plenum"],
)
def test_size_not_whole_cells(tmp_path, edit, key, rule):
    """A room or plenum size that the cells do not divide names the axis and the cell size."""
    message = _error(bad_hall(tmp_path, edit))
    assert f": {key}: {rule}" in message


def test_unreadable_file(tmp_path):
    """A path that does not exist is a HallError naming the file, not a traceback."""
    message = _error(tmp_path / "nowhere.toml")
    assert "cannot read file" in message


def test_each_rack_carries_the_row_it_was_expanded_from():
    """reference.toml: every rack names its row, and each row's racks are its count, in order."""
    from twin.model.load import bundled_hall

    hall = bundled_hall("reference")
    for row in hall.spec.rows:
        racks = [r for r in hall.racks if r.row == row.name]
        assert [r.name for r in racks] == [f"{row.name}{n + 1:02d}" for n in range(row.count)]
    assert {r.row for r in hall.racks} == {row.name for row in hall.spec.rows}
