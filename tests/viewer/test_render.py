"""Off-screen renders compared with stored images, picking, and the `render` command.

The stored images live in tests/viewer/baseline/. After a deliberate change of the picture, look at
the new renders, then rewrite them with ``VIEWER_UPDATE_BASELINE=1 .venv/bin/python -m pytest
tests/viewer/test_render.py`` and commit them with the change.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pytest

from tests.viewer.conftest import TINY
from twin.model.load import facing_axis_sign
from viewer.cameras import named_pose, view_defaults
from viewer.render import make_stage, render_image
from viewer.scene import SceneOptions, find_aisles
from viewer.tour import guided_tour

BASELINE = Path(__file__).parent / "baseline"
SIZE = (800, 600)
# vtkImageDifference's error summed over the image (pyvista.compare_images). Renders on this machine
# repeat exactly (error 0); other Mesa versions differ in antialiased text and edges by a few hundred.
# A real change of the picture costs thousands (test_a_broken_picture_fails shows how many).
TOLERANCE = 1000.0


def _walk_options(hall) -> SceneOptions:
    """The scene options of the guided walk (the live window's and `twin render --walkthrough`'s)."""
    options = SceneOptions()
    view_defaults("walk", find_aisles(hall), options, hall=hall)
    return options


def _render(view, hall, name: str, out: Path, **opts) -> Path:
    options = SceneOptions(**opts)
    view_defaults(name, find_aisles(hall), options, explicit=set(opts))
    return render_image(view, hall, out, view_name=name, options=options, window_size=SIZE)


@pytest.mark.parametrize("name", ["overview", "aisle-1"])
def test_render_matches_the_stored_image(tiny_hall, tiny_view, tmp_path, name):
    """The overview and the aisle view of tiny.toml look as stored (within the tolerance)."""
    import pyvista as pv

    out = _render(tiny_view, tiny_hall, name, tmp_path / f"{name}.png")
    stored = BASELINE / f"tiny-{name}.png"
    if os.environ.get("VIEWER_UPDATE_BASELINE"):
        stored.parent.mkdir(exist_ok=True)
        stored.write_bytes(out.read_bytes())
    assert stored.exists(), f"no stored image {stored}: run with VIEWER_UPDATE_BASELINE=1 once"
    img = pv.read(out)
    assert tuple(img.dimensions[:2]) == SIZE
    error = pv.compare_images(str(out), str(stored))
    assert error < TOLERANCE, f"{name}: image error {error:.0f} ≥ {TOLERANCE:.0f}; new render at {out}"


def test_a_broken_picture_fails(tiny_hall, tiny_view, tmp_path):
    """The comparison can fail: a slice at the wrong height, or racks 8 K off, is far beyond the tolerance."""
    import pyvista as pv

    from tests.viewer.test_scene import shifted

    stored = BASELINE / "tiny-overview.png"
    wrong_height = _render(tiny_view, tiny_hall, "overview", tmp_path / "a.png", slice_height_m=0.75)
    assert pv.compare_images(str(wrong_height), str(stored)) > 3 * TOLERANCE
    hotter = _render(shifted(tiny_view, 8.0, time_s=0.0), tiny_hall, "overview", tmp_path / "b.png")
    assert pv.compare_images(str(hotter), str(stored)) > 3 * TOLERANCE


def test_picking_a_rack_and_the_crah(tiny_hall, tiny_view):
    """A click on a rack's top (seen in the overview) picks that rack; on the CRAH, the CRAH."""
    options = SceneOptions()
    view_defaults("overview", find_aisles(tiny_hall), options)
    stage, plotter = make_stage(tiny_view, tiny_hall, options, window_size=SIZE)
    try:
        stage.set_camera(named_pose("overview", tiny_hall, find_aisles(tiny_hall), aspect=SIZE[0] / SIZE[1]))
        stage.screenshot()
        renderer = plotter.renderer

        def pixel(x: float, y: float, z: float) -> tuple[int, int]:
            renderer.SetWorldPoint(x, y, z, 1.0)
            renderer.WorldToDisplay()
            px, py, _ = renderer.GetDisplayPoint()
            return int(round(px)), int(round(py))

        r = tiny_hall.racks[2]
        top = ((r.box.lo[0] + r.box.hi[0]) / 2, (r.box.lo[1] + r.box.hi[1]) / 2, r.box.hi[2])
        assert stage.pick(*pixel(*top)) == ("rack", 2)
        c = tiny_hall.crahs[0]
        assert stage.pick(*pixel((c.box.lo[0] + c.box.hi[0]) / 2, c.box.lo[1] + 0.3, c.box.hi[2])) == ("crah", 0)
        assert stage.pick(5, 5) is None  # a corner of the window: nothing there
        # A rack's front (row A faces -y, toward this camera): the rack, and its profile in the figures.
        front = ((r.box.lo[0] + r.box.hi[0]) / 2, r.box.lo[1], 1.0)
        assert stage.pick(*pixel(*front)) == ("rack", 2) and stage.picked_height_m == pytest.approx(1.0, abs=0.1)
        stage.select(("rack", 2))
        text = stage.pick_box.GetInput()
        assert stage.pick_box.GetVisibility() and text.startswith("rack A03")
        profile = " ".join(f"{t:.1f}" for t in stage.scene.face_profile(2))
        assert f"in front, bottom → top: {profile} °C" in text
    finally:
        plotter.close()


def _cli(*argv: str) -> int:
    from viewer.cli import add_parsers, run_render

    p = argparse.ArgumentParser(prog="twin")
    add_parsers(p.add_subparsers(dest="command", required=True))
    return run_render(p.parse_args(list(argv)))


def test_render_command_writes_a_png(tmp_path, capsys):
    """`twin render HALL --view top --out FILE.png` writes an image of the requested size."""
    import pyvista as pv

    out = tmp_path / "top.png"
    assert _cli("render", str(TINY), "--view", "top", "--flow", "arrows", "--size", "320x240", "--out", str(out)) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    img = pv.read(out)
    assert tuple(img.dimensions[:2]) == (320, 240)
    assert np.ptp(img.point_data[img.array_names[0]]) > 100  # not a blank picture


@pytest.mark.parametrize("argv, message", [
    (["--view", "aisle-9"], "unknown view 'aisle-9': use one of overview, top, aisle-1"),
    (["--section", "aisle-4"], "--section 'aisle-4': use one of aisle-1 or none"),
])
def test_render_command_user_errors(tmp_path, capsys, argv, message):
    """Bad input: one line on stderr naming the problem, exit status 2."""
    assert _cli("render", str(TINY), *argv, "--out", str(tmp_path / "x.png")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("twin render: error:")


def test_render_command_errors_without_a_twin(tmp_path, capsys):
    """No file, a missing file, or nobody at the endpoint: one line each, exit 2."""
    from tests.viewer.conftest import free_port

    assert _cli("render", "--out", str(tmp_path / "x.png")) == 2
    assert _cli("render", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "x.png")) == 2
    port = free_port()
    assert _cli("render", "--connect", f"tcp://127.0.0.1:{port}", "--timeout", "0.3",
                "--out", str(tmp_path / "x.png")) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    assert "give a hall .toml, a checkpoint .npz, a `twin run` folder or --connect" in lines[0]
    assert "missing.toml: no such file" in lines[1]
    assert f"no twin answered at tcp://127.0.0.1:{port}" in lines[2]


def test_walkthrough_video(tiny_hall, tiny_view, tmp_path, capsys):
    """`--walkthrough` writes walkthrough.mp4: the title card, then one frame per pose of the guided walk,
    at the size and rate asked for (read back with imageio's ffmpeg reader)."""
    import imageio.v2 as imageio

    from viewer.overlays import hottest_racks
    from viewer.render import TITLE_S

    hot = hottest_racks(tiny_view.summary, [r.name for r in tiny_hall.racks], 3)
    n_walk = len(guided_tour(tiny_hall, find_aisles(tiny_hall), hot, fps=10.0, pace_m_s=3.0))
    out = tmp_path / "walk"
    assert _cli("render", str(TINY), "--walkthrough", "--fps", "10", "--pace", "3", "--size", "160x96",
                "--out", str(out)) == 0
    video = out / "walkthrough.mp4"
    assert capsys.readouterr().out.strip() == f"wrote {video}"
    reader = imageio.get_reader(video)
    try:
        meta = reader.get_meta_data()
        assert meta["size"] == (160, 96) and meta["fps"] == 10.0
        assert reader.count_frames() == round(TITLE_S * 10) + n_walk
        frame = reader.get_data(0)
        assert frame.shape == (96, 160, 3) and np.ptp(frame) > 100
    finally:
        reader.close()


def _best_fit(p: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """For each pixel, the smallest distance to any of ``colours`` lit at 35 … 115 % brightness."""
    k = np.clip((p @ colours.T) / np.sum(colours * colours, axis=1), 0.35, 1.15)
    return np.linalg.norm(p[:, None, :] - k[..., None] * colours[None, :, :], axis=2).min(axis=1)


def _temperature_share(img: np.ndarray, scales) -> float:
    """Share of a frame's pixels coloured by temperature: pixels that are a colour of one of the scales
    (under any lighting from 35 to 115 %), and nearer to it than to any plain material of the scene
    (walls, floor, PDUs, CRAH states, the white background and HUD)."""
    from viewer.scene import CRAH_STATE_COLOURS, STATIC_STYLES

    scale_colours = []
    for scale in scales:
        lut = scale.lookup_table()
        lo, hi = scale.clim_c
        scale_colours += [scale.rgb(t, lut) for t in np.linspace(lo, hi, 80)]
    import pyvista as pv

    materials = [np.array(pv.Color(st["color"]).int_rgb) for st in STATIC_STYLES.values() if "color" in st]
    materials += [np.array(c) for c in CRAH_STATE_COLOURS.values()] + [np.array((255, 255, 255))]
    # A frame has about a thousand distinct colours among its 10⁵ pixels: each is classified once (a pixel's
    # distances depend on its colour alone, so the result is the same, bit for bit, as pixel by pixel).
    p, pixel_colour = np.unique(img[..., :3].reshape(-1, 3), axis=0, return_inverse=True)
    p = p.astype(float)
    to_scale = _best_fit(p, np.array(scale_colours, float))
    to_material = _best_fit(p, np.array(materials, float))
    return float(((to_scale < 14.0) & (to_scale < to_material))[pixel_colour.ravel()].mean())


def _hot_view(view, hall, rack: int, t_c: float = 34.0):
    """``view`` with one rack's inlet at ``t_c``: its summary figure and the air in front of its intake."""
    from tests.viewer.test_scene import shifted
    from viewer.overlays import RackFaces

    hot = shifted(view, 0.0, time_s=0.0)
    hot.summary["racks"]["t_inlet_c"][rack] = t_c
    body, arrays = hot.fields
    faces = RackFaces.build(hall, body["grid"], "front")
    t = np.array(arrays["t_c"], np.float32)
    cells = faces.gather[np.asarray(faces.mesh.cell_data["rack_index"]) == rack]
    t.ravel()[cells[cells >= 0]] = t_c
    hot.fields = (body, {**arrays, "t_c": t})
    return hot


def test_a_hot_rack_is_marked_and_named(tiny_hall, tiny_view):
    """Issue 15: with A02 at 34 °C, the overview shows a red cone over A02 and the label '1  A02  34.0 °C'."""
    hot = _hot_view(tiny_view, tiny_hall, 1)
    options = SceneOptions()
    view_defaults("overview", find_aisles(tiny_hall), options)
    stage, plotter = make_stage(hot, tiny_hall, options, window_size=(400, 300))
    try:
        stage.set_camera(named_pose("overview", tiny_hall, find_aisles(tiny_hall), aspect=4 / 3))
        img = stage.screenshot()
        label = stage.hot_labels[0].actor
        assert label.GetVisibility() and label.GetInput() == "1  A02  34.0 °C"
        r = tiny_hall.racks[1].box
        renderer = plotter.renderer
        renderer.SetWorldPoint((r.lo[0] + r.hi[0]) / 2, (r.lo[1] + r.hi[1]) / 2, r.hi[2] + 0.55, 1.0)
        renderer.WorldToDisplay()
        x, y, _ = renderer.GetDisplayPoint()
        row, col = 300 - int(round(y)), int(round(x))
        patch = img[row - 3:row + 4, col - 3:col + 4, :3].reshape(-1, 3).astype(int)
        red = (patch[:, 0] > 120) & (patch[:, 1] < 70) & (patch[:, 2] < 70)  # the ASHRAE red: beyond 32 °C (A1)
        assert red.mean() > 0.3, patch
        # The other racks' cones are not red: they are in the band.
        assert stage.scene.hot[1][1] < 27.0
    finally:
        plotter.close()


def test_walk_frames_show_temperatures_and_face_the_hot_rack(tiny_hall, tiny_view):
    """Issue 16 on tiny.toml: every frame of the walk (one in 20 drawn) is at least a third racks or air
    coloured by temperature; the frames that face the hot rack show its front in the warning colour."""

    hot = _hot_view(tiny_view, tiny_hall, 1)
    options = _walk_options(tiny_hall)
    stage, plotter = make_stage(hot, tiny_hall, options, window_size=(320, 240))
    try:
        tour = guided_tour(tiny_hall, find_aisles(tiny_hall), stage.scene.hot, fps=10.0)
        scales = (stage.scene.scale, stage.scene.air)
        for i in range(0, len(tour), 20):
            stage.refresh()
            stage.show_tour_frame(tour, i)
            share = _temperature_share(stage.screenshot(), scales)
            assert share >= 1 / 3, (i, share)
        facing = sorted(f for f, rack in tour.facing.items() if rack == 1)
        stage.set_camera(tour.poses[facing[len(facing) // 2]])
        img = stage.screenshot()[60:180, 80:240, :3].reshape(-1, 3).astype(int)
        red = (img[:, 0] > 120) & (img[:, 1] < 80) & (img[:, 2] < 80)
        assert red.mean() > 0.5, red.mean()
    finally:
        plotter.close()


@pytest.fixture(scope="module")
def reference():
    from tests.viewer.conftest import REFERENCE
    from twin.bus.offline import offline_view
    from twin.model.load import load_hall

    return load_hall(REFERENCE), offline_view(REFERENCE)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["aisle-2", "aisle-3"])
def test_reference_aisle_views_match_the_stored_images(reference, tmp_path, name):
    """Issue 16's baselines: a cold aisle (aisle-2, A|B) and a hot aisle (aisle-3, B|C) of the reference hall."""
    import pyvista as pv

    hall, view = reference
    options = SceneOptions()
    view_defaults(name, find_aisles(hall), options)
    out = render_image(view, hall, tmp_path / f"{name}.png", view_name=name, options=options, window_size=(480, 360))
    stored = BASELINE / f"reference-{name}.png"
    if os.environ.get("VIEWER_UPDATE_BASELINE"):
        stored.write_bytes(out.read_bytes())
    assert stored.exists(), f"no stored image {stored}: run with VIEWER_UPDATE_BASELINE=1 once"
    error = pv.compare_images(str(out), str(stored))
    assert error < TOLERANCE, f"{name}: image error {error:.0f} ≥ {TOLERANCE:.0f}; new render at {out}"


def _projected_face(plotter, corners) -> np.ndarray:
    """A mask of the image pixels (rows from the top, as in a screenshot) inside the convex quadrilateral
    that a rectangle's four ``corners`` (in order round it, all in front of the camera) project onto."""
    renderer = plotter.renderer
    w, h = plotter.window_size
    pts = []
    for corner in corners:
        renderer.SetWorldPoint(*map(float, corner), 1.0)
        renderer.WorldToDisplay()
        x, y, _ = renderer.GetDisplayPoint()
        pts.append((x, h - y))  # to image rows
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    signs = []
    for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1]):
        signs.append((x1 - x0) * (rows - y0) - (y1 - y0) * (cols - x0))
    return np.all([sg >= 0 for sg in signs], axis=0) | np.all([sg <= 0 for sg in signs], axis=0)


def _faced_in_red(hall, view, rack_name: str) -> list[float]:
    """With ``rack_name`` (inside a contained aisle) at 34 °C, then as it is: the share of the pixels
    of its intake face, as projected in the walk frame that faces it, in the ASHRAE scale's red.
    Checks on the way that the frame is inside the containment and came in through an opened door."""

    rack = next(i for i, r in enumerate(hall.racks) if r.name == rack_name)
    r = hall.racks[rack]
    f_axis, sign = facing_axis_sign(r.facing)
    front = r.box.hi[f_axis] if sign > 0 else r.box.lo[f_axis]
    in_front = np.array([(r.box.lo[0] + r.box.hi[0]) / 2, (r.box.lo[1] + r.box.hi[1]) / 2])
    in_front[f_axis] = front + 0.6 * sign
    contained = next(c for c in hall.spec.containment
                     if c.x_m[0] < in_front[0] < c.x_m[1] and c.y_m[0] < in_front[1] < c.y_m[1])
    options = _walk_options(hall)
    shares = []
    for state in (_hot_view(view, hall, rack), view):
        stage, plotter = make_stage(state, hall, options, window_size=(320, 240))
        try:
            tour = guided_tour(hall, find_aisles(hall), _hot_racks(hall, stage, rack), fps=10.0)
            frames = sorted(f for f, i in tour.facing.items() if i == rack)
            assert frames, f"the walk does not face {rack_name}"
            f = frames[len(frames) // 2]
            x, y, _ = tour.poses[f].position
            assert contained.x_m[0] < x < contained.x_m[1] and contained.y_m[0] < y < contained.y_m[1]
            assert any(k.startswith(contained.name + "/") for d in tour.doors[:f] for k in d)  # a door opened
            stage.refresh()
            stage.show_tour_frame(tour, f)
            img = stage.screenshot()[:, :, :3].astype(int)
            # The rack's intake face (its box flattened onto its front), projected.
            lo, hi = list(r.box.lo), list(r.box.hi)
            lo[f_axis] = hi[f_axis] = front
            s = 1 - f_axis
            corners = []
            for a_s, z in ((lo[s], lo[2]), (hi[s], lo[2]), (hi[s], hi[2]), (lo[s], hi[2])):
                c = [0.0, 0.0, z]
                c[f_axis], c[s] = front, a_s
                corners.append(c)
            mask = _projected_face(plotter, corners)
            assert mask.mean() > 0.1  # it fills much of the view
            patch = img[mask]
            warning = stage.scene.scale.rgb(34.0)
            assert warning[0] > 2 * warning[1] and warning[0] > 2 * warning[2]  # the scale's red
            red = (patch[:, 0] > 100) & (patch[:, 0] > 2 * patch[:, 1]) & (patch[:, 0] > 2 * patch[:, 2])
            shares.append(float(red.mean()))
        finally:
            plotter.close()
    return shares


def test_a_hot_rack_inside_a_contained_aisle_is_faced_in_the_warning_colour(contained_tiny_path,
                                                                            contained_tiny_view):
    """Issue 16 on a contained hall (tiny.toml with its cold aisle contained, doors at both ends): with
    A02 at 34 °C, beyond A1's allowable 32 °C, the walk goes in through the door, and the frame that
    faces A02 shows its front in the warning colour over most of the area its front projects onto; the
    same frame of the unchanged hall (A02 in the band) shows none of it."""
    from twin.model.load import load_hall

    shares = _faced_in_red(load_hall(contained_tiny_path), contained_tiny_view, "A02")
    assert shares[0] > 0.7 and shares[1] < 0.05, shares


@pytest.mark.slow
def test_a_hot_rack_inside_a_contained_aisle_of_reference_is_faced_in_the_warning_colour(reference):
    """The same on reference.toml: H03, inside the contained cold aisle G|H, at 34 °C."""
    hall, view = reference
    shares = _faced_in_red(hall, view, "H03")
    assert shares[0] > 0.7 and shares[1] < 0.05, shares  # 0.82 and 0.0 here (seams, outlines, its label: the rest)


def _hot_racks(hall, stage, rack: int) -> list[tuple[int, float]]:
    """The scene's hottest racks, with ``rack`` among them (the unchanged hall's walk stops there too,
    for the comparison frame)."""
    hot = list(stage.scene.hot)
    if rack not in {i for i, _ in hot}:
        hot.append((rack, 0.0))
    return hot


@pytest.mark.slow
def test_reference_walk_frames_show_temperatures(reference):
    """Issue 16 on reference.toml: every second of the walk (cold and hot aisles, the cross aisles and
    the turns between them, the doors of the contained aisles) is at least a third racks or air
    coloured by temperature. Drawn small (160×120: the share of pixels barely depends on the size),
    one frame in 10 of the 10 frames/s walk: about 170 frames; the dips there were on main lasted a
    second or more."""

    hall, view = reference
    options = _walk_options(hall)
    stage, plotter = make_stage(view, hall, options, window_size=(160, 120))
    try:
        tour = guided_tour(hall, find_aisles(hall), stage.scene.hot, fps=10.0)
        scales = (stage.scene.scale, stage.scene.air)
        shares = []
        for i in range(0, len(tour), 10):
            stage.show_tour_frame(tour, i)
            shares.append((i, _temperature_share(stage.screenshot(), scales)))
        low = [(i, round(s, 3)) for i, s in shares if s < 1 / 3]
        assert len(shares) > 100 and not low, low
    finally:
        plotter.close()


def _label_depth_check(stage, plotter) -> tuple[int, int, list]:
    """(labels shown in the view, labels with an opaque surface in front of their anchor, labels shown
    although a surface hides their anchor). What is in front is what the renderer drew at the anchor's
    pixel: VTK's hardware prop picker (a selection render) over the solid actors, walls included."""
    from vtkmodules.vtkRenderingCore import vtkPropPicker

    cam = plotter.camera
    eye = np.asarray(cam.position, float)
    ahead = np.asarray(cam.focal_point, float) - eye
    ahead /= np.linalg.norm(ahead)
    plotter.render()
    w, h = plotter.window_size
    renderer = plotter.renderer
    picker = vtkPropPicker()
    picker.PickFromListOn()
    for name, actor in stage.actors.items():
        if name in ("racks", "rack_fronts", "rack_backs", "crahs", "crah_faces", "pdus", "obstacles") \
                or name.startswith("walls/"):
            actor.SetPickable(True)
            picker.AddPickList(actor)
    shown, blocked, wrong = 0, 0, []
    for lb in stage.labels:
        if lb.actor.GetInput().strip() == "":
            continue
        dist = float((lb.anchor - eye) @ ahead)
        if dist <= 0.1:
            continue
        renderer.SetWorldPoint(*lb.anchor, 1.0)
        renderer.WorldToDisplay()
        x, y, _ = renderer.GetDisplayPoint()
        if not (0 <= x < w and 0 <= y < h):
            continue
        hidden = False
        if picker.Pick(x, y, 0, renderer):
            hit = np.asarray(picker.GetPickPosition(), float)
            hidden = float((hit - eye) @ ahead) < dist - 0.3
        blocked += hidden
        if lb.actor.GetVisibility():
            shown += 1
            if hidden:
                wrong.append((lb.kind, lb.actor.GetInput(), round(dist, 1)))
    return shown, blocked, wrong


@pytest.mark.slow
def test_labels_never_show_through_geometry(reference):
    """Issue 16: along the reference walk (and from the overview), no label is drawn whose anchor the
    rendered depth buffer says lies behind a cabinet, unit, column or wall; and the check bites: some
    labels are behind geometry in these views (and those are hidden)."""

    hall, view = reference
    options = _walk_options(hall)
    stage, plotter = make_stage(view, hall, options, window_size=(480, 360))
    try:
        tour = guided_tour(hall, find_aisles(hall), stage.scene.hot, fps=10.0)
        total_shown, total_blocked = 0, 0
        for i in np.linspace(0, len(tour) - 1, 12).astype(int):
            stage.refresh()
            stage.show_tour_frame(tour, i)
            shown, blocked, wrong = _label_depth_check(stage, plotter)
            assert not wrong, (i, wrong)
            total_shown += shown
            total_blocked += blocked
        assert total_shown > 0 and total_blocked > 0
    finally:
        plotter.close()
