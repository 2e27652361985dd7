"""The scene builder, tested without rendering: meshes, colours, slices, aisles, cameras, HUD text."""

from __future__ import annotations

import copy
import tomllib

import numpy as np
import pytest

from tests.viewer.conftest import REFERENCE, TINY
from twin.bus.offline import OfflineView
from twin.model.load import load_hall, parse_hall
from viewer.cameras import EYE_HEIGHT_M, aisle_pose, named_pose, overview_pose, view_defaults, walkthrough_poses
from viewer.hud import format_sim_time, hud_text, pick_text, stale_text
from viewer.scene import (
    CRAH_STATE_COLOURS,
    SceneOptions,
    TemperatureScale,
    build_scene,
    crah_states,
    find_aisles,
    slice_weights,
    visible_walls,
)


def shifted(view, dt_k: float, *, time_s: float = 60.0) -> OfflineView:
    """Another state: the same hall dt_k warmer (inlets and air), at another time."""
    summary = copy.deepcopy(view.summary)
    summary["racks"]["t_inlet_c"] = [t + dt_k for t in summary["racks"]["t_inlet_c"]]
    summary["clock"]["time_s"] = time_s
    body, arrays = view.fields
    return OfflineView(view.hall, summary, (body, {**arrays, "t_c": arrays["t_c"] + np.float32(dt_k)}))


def test_one_rack_mesh_with_every_rack(tiny_hall, tiny_view):
    """All racks are one mesh (one actor): 12 triangles per box rack, each cell knowing its rack."""
    scene = build_scene(tiny_hall, tiny_view)
    racks = scene.meshes["racks"]
    assert racks.n_cells == 12 * len(tiny_hall.racks) == 48
    assert sorted(set(racks.cell_data["rack_index"])) == [0, 1, 2, 3]
    for i, r in enumerate(tiny_hall.racks):
        cells = racks.extract_cells(np.flatnonzero(racks.cell_data["rack_index"] == i))
        assert np.allclose(np.reshape(cells.bounds, (3, 2)).T, [r.box.lo, r.box.hi])
    assert scene.meshes["crahs"].n_cells == 12 and scene.meshes["pdus"].n_cells == 24


def test_rack_cells_carry_their_inlet_temperature(tiny_hall, tiny_view):
    """Each rack's cells hold that rack's inlet temperature from the summary."""
    scene = build_scene(tiny_hall, tiny_view)
    racks = scene.meshes["racks"]
    inlet = dict(zip(tiny_view.summary["racks"]["name"], tiny_view.summary["racks"]["t_inlet_c"]))
    expected = np.array([inlet[scene.rack_names[i]] for i in racks.cell_data["rack_index"]])
    assert np.array_equal(racks.cell_data["t_inlet_c"], expected)


def test_colour_scale_marks_the_ashrae_band():
    """Known temperatures get the scale's colours; the hue jumps at 18 °C, 27 °C and the A1 limit 32 °C."""
    scale = TemperatureScale()  # A1
    lut = scale.lookup_table()
    rgb = {t: np.array(scale.rgb(t, lut)) for t in (15.0, 17.8, 18.2, 22.5, 26.8, 27.2, 31.8, 32.2, 39.0)}
    assert rgb[15.0][2] > rgb[15.0][0] + 80  # over-cooled: blue
    assert rgb[22.5][1] > max(rgb[22.5][0], rgb[22.5][2]) + 40  # in the band: green
    assert rgb[31.8][0] > 200 and rgb[31.8][2] < 120  # above the band: orange
    assert rgb[32.2][0] > 180 and rgb[32.2][1] < 80  # beyond the allowable limit: red
    for below, above in ((17.8, 18.2), (26.8, 27.2), (31.8, 32.2)):
        assert np.abs(rgb[above] - rgb[below]).sum() > 60, (below, above)
    # Outside the bar's range the colours saturate rather than wrap.
    assert scale.rgb(5.0, lut) == scale.rgb(scale.clim_c[0], lut)
    assert scale.rgb(80.0, lut) == scale.rgb(scale.clim_c[1], lut)
    assert set(scale.annotations()) == {18.0, 27.0, 32.0}


def test_scale_follows_the_hall_class(tiny_hall):
    """The allowable limit marked is the hall's class's (A3: 40 °C), as the bus states it."""
    scale = TemperatureScale.for_hall(tiny_hall, {"ashrae": {"class": "A3", "recommended_c": [18, 27],
                                                             "allowable_c": [5, 40]}})
    assert scale.allowable_c == (5.0, 40.0) and 40.0 in scale.annotations()


def test_slice_weights():
    """Layers bracketing a height: exact at a cell centre, a blend between, clamped at the ends."""
    assert slice_weights(1.25, -0.5, 0.5, 7) == (3, 4, 0.0)
    assert slice_weights(1.5, -0.5, 0.5, 7) == (3, 4, 0.5)
    assert slice_weights(-0.5, -0.5, 0.5, 7) == (0, 0, 0.0)
    assert slice_weights(3.0, -0.5, 0.5, 7) == (6, 6, 0.0)


@pytest.mark.parametrize("height_m", [1.25, 1.5, 0.4])
def test_horizontal_slice_at_its_height(tiny_hall, tiny_view, height_m):
    """The slice lies at the chosen height and holds the field blended between the bracketing layers."""
    scene = build_scene(tiny_hall, tiny_view, SceneOptions(slice_height_m=height_m))
    sl = scene.meshes["slice"]
    assert sl.bounds[4] == sl.bounds[5] == pytest.approx(height_m)
    assert sl.bounds[0:4] == pytest.approx((0.0, 6.0, 0.0, 5.0))
    t = tiny_view.fields[1]["t_c"]  # (nz, ny, nx)
    k0, k1, w = slice_weights(height_m, -0.5, 0.5, t.shape[0])
    a, b = t[k0].ravel(), t[k1].ravel()
    both = ~np.isnan(a) & ~np.isnan(b)
    got = np.asarray(sl.cell_data["t_c"])
    assert np.allclose(got[both], ((1 - w) * a + w * b)[both], atol=1e-5)
    one = np.isnan(a) ^ np.isnan(b)  # a solid on one side: the other side's air
    assert np.allclose(got[one], np.where(np.isnan(a), b, a)[one])
    assert np.isnan(got[np.isnan(a) & np.isnan(b)]).all()  # inside a rack: nothing (drawn transparent)


def test_slice_moves_in_place(tiny_hall, tiny_view):
    """Moving the slice keeps the mesh object; it lands at the new height."""
    scene = build_scene(tiny_hall, tiny_view)
    sl = scene.meshes["slice"]
    scene.set_slice_height(0.75)
    assert scene.meshes["slice"] is sl and sl.bounds[4] == pytest.approx(0.75)


def test_vertical_section_across_the_aisle(tiny_hall, tiny_view):
    """The section across tiny's aisle (which runs along x) is the plane x = its middle, floor to ceiling."""
    scene = build_scene(tiny_hall, tiny_view, SceneOptions(vslice_aisle=0))
    aisle = scene.aisles[0]
    vs = scene.meshes["vslice"]
    x = aisle.center[0]
    assert vs.bounds[0] == vs.bounds[1] == pytest.approx(x)
    assert vs.bounds[2:] == pytest.approx((0.0, 5.0, -0.5, 3.0))
    t = tiny_view.fields[1]["t_c"]
    k0, k1, w = slice_weights(x, 0.0, 0.5, t.shape[2])
    a, b = t[:, :, k0].ravel(), t[:, :, k1].ravel()
    ok = ~np.isnan(a) & ~np.isnan(b)
    assert np.allclose(np.asarray(vs.cell_data["t_c"])[ok], ((1 - w) * a + w * b)[ok], atol=1e-5)


def test_isosurface_at_its_temperature(tiny_hall, tiny_view):
    """The isosurface's points lie where the (point-interpolated) field equals its temperature; above
    the hottest air there is none."""
    scene = build_scene(tiny_hall, tiny_view, SceneOptions(iso_c=27.0))
    iso = scene.meshes["iso"]
    assert iso.n_points > 0
    probe = iso.sample(scene._field_grid())
    assert np.allclose(probe.point_data["t_c"], 27.0, atol=0.05)
    t_max = float(np.nanmax(tiny_view.fields[1]["t_c"]))
    scene.options.iso_c = t_max + 1.0
    scene.refresh_fields()
    assert scene.meshes["iso"] is iso and iso.n_points == 0


def test_update_in_place_keeps_meshes_and_arrays(tiny_hall, tiny_view):
    """A newer state changes values, never the mesh objects (actors keep drawing the same data)."""
    scene = build_scene(tiny_hall, tiny_view, SceneOptions(vslice_aisle=0, flow="arrows"))
    meshes = dict(scene.meshes)
    inlet_array = scene.meshes["racks"].cell_data["t_inlet_c"]
    before = np.array(inlet_array)
    slice_before = np.array(scene.meshes["slice"].cell_data["t_c"])
    changed = scene.update(shifted(tiny_view, 5.0))
    assert {"racks", "crahs", "slice", "vslice", "iso", "flow"} <= changed
    assert all(scene.meshes[k] is m for k, m in meshes.items())
    assert np.allclose(inlet_array, before + 5.0)  # the very array the actor maps, rewritten
    assert np.allclose(scene.meshes["slice"].cell_data["t_c"], slice_before + 5.0, equal_nan=True)
    only_summary = scene.update(shifted(tiny_view, 1.0), {"summary"})
    assert "slice" not in only_summary and np.allclose(inlet_array, before + 1.0)


def test_float16_fields_as_the_bus_sends_them(tiny_hall, tiny_view):
    """Half-precision fields (the server's default) become float32 for VTK, values kept."""
    body, arrays = tiny_view.fields
    half = OfflineView(tiny_view.hall, tiny_view.summary,
                       (body, {k: v.astype(np.float16) for k, v in arrays.items()}))
    scene = build_scene(tiny_hall, half)
    assert scene.t_c.dtype == np.float32
    assert np.allclose(scene.t_c, arrays["t_c"], atol=0.02, equal_nan=True)


def test_crah_colours_follow_their_state(tiny_hall, tiny_view):
    """A tripped CRAH turns red and says so in its label; a running one shows its fan speed."""
    scene = build_scene(tiny_hall, tiny_view)
    rgb = scene.meshes["crahs"].cell_data["rgb"]
    assert (rgb == CRAH_STATE_COLOURS["running"]).all()
    assert scene.crah_labels == ["CRAH-01 80 %"]
    tripped = shifted(tiny_view, 0.0)
    tripped.summary["crahs"]["tripped"] = [True]
    tripped.summary["crahs"]["running"] = [False]
    scene.update(tripped, {"summary"})
    assert (rgb == CRAH_STATE_COLOURS["tripped"]).all() and scene.crah_labels == ["CRAH-01 TRIPPED"]


def test_crah_state_precedence():
    """Tripped outranks no power, which outranks running/stopped."""
    summary = {"crahs": {"tripped": [True, False, False, False], "powered": [False, False, True, True],
                         "running": [False, False, True, False]}}
    assert crah_states(summary, 4) == ["tripped", "unpowered", "running", "stopped"]


def test_glb_rack_meshes_fill_their_boxes(tiny_hall):
    """A row that names rack-42u.glb is drawn with that mesh, fitted into each rack's box."""
    data = tomllib.loads(TINY.read_text())
    data["rows"][0]["mesh"] = "rack-42u.glb"
    hall = parse_hall(data, source=TINY)
    racks = build_scene(hall).meshes["racks"]
    assert racks.n_cells > 12 * len(hall.racks)
    for i, r in enumerate(hall.racks):
        cells = racks.extract_cells(np.flatnonzero(racks.cell_data["rack_index"] == i))
        assert np.allclose(np.reshape(cells.bounds, (3, 2)).T, [r.box.lo, r.box.hi], atol=1e-6)


def test_aisles_of_the_reference_hall():
    """Eleven aisles west to east: hot and cold alternate, the three eastern cold aisles are contained."""
    aisles = find_aisles(load_hall(REFERENCE))
    assert [a.name for a in aisles] == [f"aisle-{i}" for i in range(1, 12)]
    assert [a.kind for a in aisles] == ["hot", "cold"] * 5 + ["hot"]
    assert [a.name for a in aisles if "contained" in a.label] == ["aisle-6", "aisle-8", "aisle-10"]
    ab = aisles[1]
    assert ab.label == "cold aisle A|B" and ab.axis == 1
    assert (ab.lo, ab.hi) == ((4.95, 4.0), (6.2, 16.0))  # front to front, along the rows' length
    assert aisles[0].width_m == pytest.approx(1.2)  # against the wall: drawn 1.2 m wide


def test_aisle_of_the_tiny_hall(tiny_hall):
    """Tiny's one walkable aisle is the cold aisle in front of row A (behind it the CRAH is 0.5 m away)."""
    (aisle,) = find_aisles(tiny_hall)
    assert aisle.kind == "cold" and aisle.axis == 0 and aisle.rows == ("A",)
    assert (aisle.lo, aisle.hi) == ((1.0, 1.3), (3.0, 2.5))


def test_walls_toward_the_camera_are_cut_away(tiny_hall):
    """From outside, south-east: the south and east walls go; from inside, every wall stays."""
    walls = visible_walls(tiny_hall, overview_pose(tiny_hall).position)
    assert walls == {"walls/-x": True, "walls/+x": False, "walls/-y": False, "walls/+y": True}
    assert all(visible_walls(tiny_hall, (3.0, 2.0, 1.6)).values())


def test_camera_presets(tiny_hall):
    """The overview looks at the hall from above; an aisle view stands in the aisle at eye height."""
    aisles = find_aisles(tiny_hall)
    over = overview_pose(tiny_hall)
    assert over.position[2] > 3.0 and over.position[1] < 0.0
    pose = aisle_pose(aisles[0], tiny_hall)
    assert pose.position[2] == EYE_HEIGHT_M
    assert aisles[0].lo[1] < pose.position[1] < aisles[0].hi[1]
    assert pose.focal_point[0] > pose.position[0]  # looking down the aisle (+x)
    assert named_pose("aisle-1", tiny_hall, aisles) == pose
    with pytest.raises(ValueError, match="unknown view 'aisle-9'.*aisle-1"):
        named_pose("aisle-9", tiny_hall, aisles)


def test_view_defaults_keep_what_the_user_set(tiny_hall):
    """Aisle views and the walk hide the horizontal slice unless the user asked for it."""
    aisles = find_aisles(tiny_hall)
    opts = SceneOptions()
    view_defaults("aisle-1", aisles, opts)
    assert not opts.show_slice and opts.vslice_aisle == 0
    opts = SceneOptions(show_slice=True)
    view_defaults("aisle-1", aisles, opts, explicit={"show_slice"})
    assert opts.show_slice
    for name in ("overview", "top", "walk"):
        opts = SceneOptions()
        view_defaults(name, aisles, opts)
        assert opts.show_slice == (name != "walk") and opts.vslice_aisle is None, name


def test_walkthrough_visits_every_aisle_at_eye_height():
    """The walk passes along every aisle of the reference hall, inside the room, in even steps."""
    hall = load_hall(REFERENCE)
    aisles = find_aisles(hall)
    poses = walkthrough_poses(aisles, hall, step_m=0.5)
    pos = np.array([p.position for p in poses])
    assert (pos[:, 2] == EYE_HEIGHT_M).all()
    assert (pos[:, 0] > 0).all() and (pos[:, 0] < 30).all() and (pos[:, 1] > 0).all() and (pos[:, 1] < 20).all()
    steps = np.linalg.norm(np.diff(pos[:, :2], axis=0), axis=1)
    assert steps.max() <= 0.5 + 1e-9 and np.median(steps) == pytest.approx(0.5)
    for a in aisles:
        centre = np.array(a.center)
        assert np.min(np.linalg.norm(pos[:, :2] - centre, axis=1)) < 0.3, a.name


def test_hud_text(tiny_view):
    """The HUD states time, speed, PUE, IT and cooling power, the hottest inlet and the alarms."""
    s = copy.deepcopy(tiny_view.summary)
    s["clock"].update(time_s=3725.0, speed=10.0, paused=False, server="abc")
    s["alarms"]["active"] = [{"name": "CRAH-01.trip", "priority": "high", "state": "UNACK"}]
    text = hud_text(s, hall_name="Tiny", status="live")
    assert "[LIVE]" in text and "t = 01:02:05" in text and "speed ×10" in text
    kpi = s["hall"]
    assert f"PUE {kpi['pue']:.3f}" in text and f"IT load {kpi['it_load_w'] / 1e3:.1f} kW" in text
    assert f"cooling {kpi['cooling_power_w'] / 1e3:.1f} kW" in text
    assert "max inlet 19.9 °C (A01)" in text
    assert "alarms: 1 active" in text and "HIGH" in text and "CRAH-01.trip" in text
    assert format_sim_time(90061) == "1 d 01:01:01"
    assert stale_text("stale", 4.2) == "STALE — no data for 4 s" and stale_text("live", 0.1) == ""


def test_pick_text(tiny_view):
    """A picked rack or CRAH shows its own figures."""
    rack = pick_text("rack", "A03", tiny_view.summary)
    assert rack.startswith("rack A03") and "inlet 18.1 °C" in rack and "IT load 8.0 kW" in rack
    crah = pick_text("crah", "CRAH-01", tiny_view.summary)
    assert "running" in crah and "fan 80 %" in crah and "supply 18.0 °C" in crah
