"""The scene builder, tested without rendering: meshes, colours, slices, aisles, cameras, HUD text."""

from __future__ import annotations

import copy
import tomllib

import numpy as np
import pytest
import pyvista as pv

from tests.viewer.conftest import REFERENCE, TINY
from twin.bus.offline import OfflineView
from twin.model.load import load_hall, parse_hall
from viewer.cameras import EYE_HEIGHT_M, aisle_pose, named_pose, overview_pose, view_defaults
from viewer.hud import caption_text, format_sim_time, hud_text, pick_text, stale_text
from viewer.labels import Occluder
from viewer.scene import (
    CRAH_STATE_COLOURS,
    SceneOptions,
    TemperatureScale,
    build_scene,
    crah_states,
    find_aisles,
    slice_weights,
    temperature_scales,
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
    """All racks are one mesh (one actor), each cell knowing its rack: 12 triangles per box rack less
    the faces no camera sees (2 on the floor, 2 per side against a neighbour)."""
    scene = build_scene(tiny_hall, tiny_view)
    racks = scene.meshes["racks"]
    # tiny.toml: one row of four racks, 0.5 m apart from its PDU: 4 bottoms and 3 shared sides (2 faces each).
    assert racks.n_cells == 12 * 4 - 2 * 4 - 2 * 2 * 3 == 28
    assert sorted(set(racks.cell_data["rack_index"])) == [0, 1, 2, 3]
    for i, r in enumerate(tiny_hall.racks):
        cells = racks.extract_cells(np.flatnonzero(racks.cell_data["rack_index"] == i))
        assert np.allclose(np.reshape(cells.bounds, (3, 2)).T, [r.box.lo, r.box.hi])
    assert scene.meshes["crahs"].n_cells == 12 - 2


def test_hidden_faces_are_the_shared_sides_and_the_bottoms():
    """Two boxes side by side: the faces against each other and the faces on the floor are hidden,
    the rest (tops, outer sides) not; a box standing apart keeps its bottom only if above the floor."""
    import trimesh

    from viewer.scene import hidden_faces

    lo_a, hi_a, lo_b, hi_b = (0, 0, 0), (1, 0.6, 2), (0, 0.6, 0), (1, 1.2, 2)
    boxes = np.array([(lo_a, hi_a), (lo_b, hi_b)], float)
    tri = trimesh.creation.box(bounds=[lo_a, hi_a])
    mesh = pv.PolyData(np.asarray(tri.vertices), np.column_stack([np.full(12, 3), tri.faces]).ravel())
    hidden = hidden_faces(mesh, boxes)
    normals = np.asarray(mesh.compute_normals(cell_normals=True, point_normals=False).cell_data["Normals"])
    assert set(map(tuple, np.round(normals[hidden]).astype(int))) == {(0, 1, 0), (0, 0, -1)}
    assert hidden.sum() == 4
    # A taller neighbour covers the side too; a shorter one does not cover all of it: kept.
    shorter = np.array([(lo_a, hi_a), (lo_b, (1, 1.2, 1.0))], float)
    assert hidden_faces(mesh, shorter).sum() == 2
    raised = pv.PolyData(np.asarray(tri.vertices) + [0, 0, 0.5], mesh.faces)
    assert hidden_faces(raised, boxes[:0]).sum() == 0


@pytest.fixture(scope="module")
def reference_scene():
    """The reference hall's scene at its steady state (about 10 s: the steady solve)."""
    from twin.bus.offline import offline_view

    return build_scene(load_hall(REFERENCE), offline_view(REFERENCE))


@pytest.mark.slow
def test_cabinet_faces_point_outward(reference_scene):
    """Back faces of the cabinets are culled in the stage: every face kept must face away from its box."""
    hall = reference_scene.hall
    for name, objects in (("racks", hall.racks), ("pdus", hall.pdus), ("crahs", hall.crahs)):
        mesh = reference_scene.meshes[name]
        normals = np.asarray(mesh.compute_normals(cell_normals=True, point_normals=False, auto_orient_normals=False,
                                                  consistent_normals=False).cell_data["Normals"])
        centre = np.array([(np.asarray(o.box.lo) + o.box.hi) / 2 for o in objects])
        index = np.asarray(mesh.cell_data[name[:-1] + "_index"])
        out = ((np.asarray(mesh.cell_centers().points) - centre[index]) * normals).sum(axis=1)
        assert (out > 0).all(), name


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


def test_vertical_section_across_the_cross_aisle(tiny_hall, tiny_view):
    """The walk's section between aisles: given an axis, the plane is normal to it (here y = 4.2 m,
    across tiny's aisle's direction), floor to ceiling over the room's length, with the air's values
    blended between the two cell layers beside it; the caption names it; back to the aisle's own plane
    without it. Only the section's mesh changes (in place)."""
    from viewer.hud import caption_text

    scene = build_scene(tiny_hall, tiny_view, SceneOptions(vslice_aisle=0))
    vs = scene.meshes["vslice"]
    assert scene.set_section((0, 4.2, 1)) and not scene.set_section((0, 4.2, 1))
    assert scene.meshes["vslice"] is vs
    assert vs.bounds[2] == vs.bounds[3] == pytest.approx(4.2)
    sx, _, sz = tiny_hall.spec.hall.size_m
    assert vs.bounds[0] == pytest.approx(0.0) and vs.bounds[1] == pytest.approx(sx)
    assert vs.bounds[4] == pytest.approx(-tiny_hall.plenum_depth_m) and vs.bounds[5] == pytest.approx(sz)
    t = tiny_view.fields[1]["t_c"]
    k0, k1, w = slice_weights(4.2, 0.0, 0.5, t.shape[1])
    a, b = t[:, k0, :].ravel(), t[:, k1, :].ravel()
    ok = ~np.isnan(a) & ~np.isnan(b)
    assert ok.sum() > 10
    assert np.allclose(np.asarray(vs.cell_data["t_c"])[ok], ((1 - w) * a + w * b)[ok], atol=1e-5)
    assert "section across the cross aisle at y = 4.2 m" in caption_text("walk", scene.options, scene.aisles)
    assert scene.set_section((0, 2.0))  # two items: across the aisle itself (x = 2 m for tiny's)
    assert vs.bounds[0] == vs.bounds[1] == pytest.approx(2.0)
    assert "section across aisle-1" in caption_text("walk", scene.options, scene.aisles)


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


def test_corner_values_as_vtk_computes_them(tiny_view):
    """The numpy corner averages equal VTK's vtkCellDataToPointData on the same image, scalars and
    vectors, at the faces, edges and corners of the grid too."""
    from viewer.scene import cells_to_points

    rng = np.random.default_rng(3)
    cells = rng.normal(25.0, 3.0, size=(4, 5, 6)).astype(np.float32)
    vec = rng.normal(size=(4, 5, 6, 3)).astype(np.float32)
    grid = pv.ImageData(dimensions=(7, 6, 5))
    grid.cell_data["t"] = cells.ravel()
    grid.cell_data["v"] = vec.reshape(-1, 3)
    ref = grid.cell_data_to_point_data()
    assert np.allclose(cells_to_points(cells).ravel(), ref.point_data["t"], atol=1e-5)
    assert np.allclose(cells_to_points(vec).reshape(-1, 3), ref.point_data["v"], atol=1e-5)


@pytest.mark.slow
def test_isosurface_level_of_detail(reference_scene):
    """On the reference hall (172,800 cells) the isosurface is contoured on 2 × 2 × 2 blocks: about a
    quarter of the triangles, and still at its temperature on the field it was drawn from; block means
    conserve the field's mean where the grid divides evenly."""
    from viewer.scene import block_mean

    scene = reference_scene
    assert scene.iso_coarsening() == 2
    iso = scene.meshes["iso"]
    fine = scene._field_grid().contour([27.0], scalars="t_c", method="flying_edges")
    assert 0.15 * fine.n_cells < iso.n_cells < 0.4 * fine.n_cells
    probe = iso.sample(scene._field_grid(coarsen=2))
    assert np.allclose(probe.point_data["t_c"], 27.0, atol=0.05)
    cells = np.arange(4 * 6 * 8, dtype=np.float32).reshape(4, 6, 8)
    assert block_mean(cells, 2).mean() == pytest.approx(cells.mean())
    assert block_mean(cells, 2)[0, 0, 0] == pytest.approx(cells[:2, :2, :2].mean())


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
    # After the walk's legs between aisles (a section across the cross aisle), an aisle view's section
    # is across its aisle again.
    opts = SceneOptions(vslice_aisle=0, vslice_at_m=1.0, vslice_axis=1)
    view_defaults("aisle-1", aisles, opts)
    assert opts.vslice_axis is None and opts.vslice_at_m == pytest.approx(aisles[0].hi[0] + 1.3)
    opts = SceneOptions(show_slice=True)
    view_defaults("aisle-1", aisles, opts, explicit={"show_slice"})
    assert opts.show_slice
    for name in ("overview", "top", "walk"):
        opts = SceneOptions()
        view_defaults(name, aisles, opts)
        assert opts.show_slice == (name != "walk") and opts.vslice_aisle is None, name


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


def test_air_scale_is_neutral_and_inlets_stay_on_ashrae(tiny_hall):
    """Air: one hue family, darker as it warms, no jump at 27 °C; a 35 °C hot aisle is not the inlet
    scale's alarm red. Inlets keep the ASHRAE scale. ``ashrae`` puts the air back on the inlet scale."""
    racks, air = temperature_scales(tiny_hall, None, "neutral")
    assert racks == TemperatureScale.for_hall(tiny_hall) and air is not racks
    lut = air.lookup_table()
    temps = np.arange(15.0, 40.0, 0.5)
    rgb = np.array([air.rgb(t, lut) for t in temps], float)
    luminance = rgb @ [0.2126, 0.7152, 0.0722]
    assert (np.diff(luminance) <= 0.5).all() and luminance[0] - luminance[-1] > 120  # warmer is darker
    assert np.abs(np.diff(rgb, axis=0)).sum(axis=1).max() < 25  # no jumps anywhere on the scale
    hot_aisle = np.array(air.rgb(35.0, lut))
    assert hot_aisle[2] >= hot_aisle[0] and hot_aisle[1] < hot_aisle[2]  # purple-blue, not red or orange
    red = np.array(racks.rgb(35.0))
    assert red[0] > 150 and red[1] < 60 and red[2] < 60  # on the inlet scale: red, beyond the A1 limit
    same = temperature_scales(tiny_hall, None, "ashrae")
    assert same[0] is same[1]
    with pytest.raises(ValueError, match="air scale must be one of neutral, ashrae"):
        SceneOptions(air_scale="rainbow")


def test_rack_faces_carry_the_air_in_front_and_behind(tiny_hall, tiny_view):
    """Each rack's intake face holds, band by band, the air one cell in front of it; its mean is the
    solver's inlet temperature, and back minus front is the rack's rise P/(ṁ c_p) that the bus reports."""
    scene = build_scene(tiny_hall, tiny_view)
    body, arrays = tiny_view.fields
    nx, ny, nz = body["grid"]["shape_xyz"]
    t = np.asarray(arrays["t_c"], float).reshape(nz, ny, nx)
    o, h = np.asarray(body["grid"]["origin_m"]), body["grid"]["spacing_m"]
    racks = tiny_view.summary["racks"]
    for i, r in enumerate(tiny_hall.racks):  # row A faces -y: the air in front is at y = lo - h/2
        front = scene.face_profile(i, "front")
        back = scene.face_profile(i, "back")
        j_front = int((r.box.lo[1] - h / 2 - o[1]) // h)
        j_back = int((r.box.hi[1] + h / 2 - o[1]) // h)
        ii = [k for k in range(nx) if r.box.lo[0] <= o[0] + (k + 0.5) * h <= r.box.hi[0]]
        kk = [k for k in range(nz) if r.box.lo[2] <= o[2] + (k + 0.5) * h <= r.box.hi[2]]
        assert np.allclose(front, t[kk][:, j_front][:, ii].mean(axis=1), atol=1e-4)
        assert np.allclose(back, t[kk][:, j_back][:, ii].mean(axis=1), atol=1e-4)
        assert front.mean() == pytest.approx(racks["t_inlet_c"][i], abs=0.5)
        rise = racks["t_exhaust_c"][i] - racks["t_inlet_c"][i]
        assert back.mean() - front.mean() == pytest.approx(rise, rel=0.1)
    # Updated in place with the field: 5 K warmer air, 5 K warmer faces, same mesh.
    mesh = scene.meshes["rack_fronts"]
    before = np.array(mesh.cell_data["t_c"])
    scene.update(shifted(tiny_view, 5.0))
    assert scene.meshes["rack_fronts"] is mesh and np.allclose(mesh.cell_data["t_c"], before + 5.0, atol=1e-4)


def test_aisle_sections_lie_on_the_centre_planes(tiny_hall, tiny_view):
    """The section along tiny's cold aisle is the field on the cell layer through its centre line."""
    scene = build_scene(tiny_hall, tiny_view, SceneOptions(aisle_sections=True))
    sec = scene.meshes["asections"]
    (aisle,) = scene.aisles
    assert sec.bounds[2] == sec.bounds[3] == pytest.approx(aisle.center[1])
    body, arrays = tiny_view.fields
    nx, ny, nz = body["grid"]["shape_xyz"]
    t = np.asarray(arrays["t_c"]).reshape(nz, ny, nx)
    j = int(aisle.center[1] // 0.5)
    centres = sec.cell_centers().points
    for (x, _, z), v in zip(centres, sec.cell_data["t_c"]):
        want = t[int((z + 0.5) // 0.5), j, int(x // 0.5)]
        assert (np.isnan(v) and np.isnan(want)) or v == pytest.approx(want)
    before = np.array(sec.cell_data["t_c"])
    scene.update(shifted(tiny_view, 2.0))  # new fields: the same mesh, its values rewritten
    assert scene.meshes["asections"] is sec
    assert np.allclose(sec.cell_data["t_c"], before + 2.0, equal_nan=True, atol=1e-4)


def test_tiles_carry_their_airflow(tiny_hall, tiny_view):
    """Each tile cell shows the upward air speed of the cell above it. All of it rises, and times the
    tile area it is most of the CRAH's supply (all of it passes the tiles; the cell-centred speed half
    a cell up has already lost some of the jet sideways)."""
    scene = build_scene(tiny_hall, tiny_view)
    tiles = scene.meshes["tile_flow"]
    w = np.asarray(tiles.cell_data["w_m_s"])
    body, arrays = tiny_view.fields
    nx, ny, nz = body["grid"]["shape_xyz"]
    v = np.asarray(arrays["velocity_m_s"]).reshape(nz, ny, nx, 3)
    for (x, y, _), got in zip(tiles.cell_centers().points, w):
        assert got == pytest.approx(v[1, int(y // 0.5), int(x // 0.5), 2])  # layer 1: z 0 … 0.5 m
    assert (w > 0).all()
    area = tiles.compute_cell_sizes()["Area"]
    crah = tiny_hall.crahs[0]
    supplied = crah.rated_flow_m3s * crah.fan_speed
    assert 0.5 * supplied < float(w @ area) <= supplied


def test_hottest_racks_are_marked_and_named(tiny_hall, tiny_view):
    """The N hottest inlets, hottest first, each with a cone over its rack and a label naming it."""
    hot = shifted(tiny_view, 0.0)
    hot.summary["racks"]["t_inlet_c"][2] = 33.0
    scene = build_scene(tiny_hall, hot, SceneOptions(hot_racks=2))
    names = tiny_view.summary["racks"]["name"]
    assert scene.hot[0] == (2, 33.0) and len(scene.hot) == 2
    assert scene.hot_labels[0] == f"1  {names[2]}  33.0 °C"
    cones = scene.meshes["hot_marks"]
    r = tiny_hall.racks[2].box
    first = cones.extract_cells(np.flatnonzero(cones.cell_data["t_inlet_c"] == 33.0))
    assert r.lo[0] < first.center[0] < r.hi[0] and first.bounds[4] > r.hi[2]


def test_caption_names_the_view_and_its_layers(tiny_hall):
    """The caption: the view, the slice height, the isosurface and the air scale."""
    aisles = find_aisles(tiny_hall)
    opts = SceneOptions(slice_height_m=1.25, iso_c=27.0, flow="arrows")
    text = caption_text("overview", opts, aisles)
    assert text.startswith("overview view") and "slice at 1.25 m" in text and "isosurface 27 °C" in text
    assert "arrows" in text and "air: neutral scale" in text
    view_defaults("aisle-1", aisles, opts)
    assert caption_text("aisle-1", opts, aisles).startswith("aisle-1: cold aisle in front of row A")


def test_labels_behind_cabinets_are_hidden(tiny_hall, tiny_view):
    """From the cold aisle at eye height, the CRAH behind row A is out of sight; from above it is not.
    Its own cabinet does not hide its label."""
    scene = build_scene(tiny_hall, tiny_view)
    m = scene.meshes
    occ = Occluder([(m["racks"], m["racks"].cell_data["rack_index"]),
                    (m["crahs"], 1000 + np.asarray(m["crahs"].cell_data["crah_index"]))])
    label = scene.crah_label_positions[:1]
    below = occ.visible((2.0, 1.9, 1.6), np.array([[2.0, 4.0, 1.0]]))  # a point inside the CRAH
    assert not below[0]
    assert not occ.visible((2.0, 1.9, 1.0), label, np.array([1000]))[0]  # row A is in the way
    assert occ.visible((2.0, -6.0, 8.0), label, np.array([1000]))[0]
    assert not occ.visible((2.0, 1.9, 1.0), label, np.array([1000]), ahead=(0.0, -1.0, 0.0))[0]  # behind


def test_crah_faces_carry_return_and_supply_air(tiny_hall, tiny_view):
    """Tiny's CRAH takes its return from the top and supplies the floor: the top face holds the return
    temperature the bus reports, the strip at the foot of its front the supply temperature."""
    scene = build_scene(tiny_hall, tiny_view)
    faces = scene.meshes["crah_faces"]
    crah = tiny_view.summary["crahs"]
    box = tiny_hall.crahs[0].box
    ret = faces.extract_cells(np.flatnonzero(np.asarray(faces.cell_data["side"]) == 0))
    sup = faces.extract_cells(np.flatnonzero(np.asarray(faces.cell_data["side"]) == 1))
    assert ret.bounds[4] == pytest.approx(box.hi[2], abs=0.01)  # on the top
    assert sup.bounds[5] < 0.3 and sup.bounds[2] == pytest.approx(box.lo[1], abs=0.01)  # foot of the front (-y)
    assert ret.cell_data["t_c"][0] == pytest.approx(crah["t_return_c"][0], abs=1e-4)
    assert sup.cell_data["t_c"][0] == pytest.approx(crah["t_supply_c"][0], abs=1e-4)
    assert crah["t_return_c"][0] > crah["t_supply_c"][0] + 5  # the coil takes heat out: return warmer
