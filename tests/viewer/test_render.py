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
from viewer.cameras import named_pose, view_defaults
from viewer.render import make_stage, render_image
from viewer.scene import SceneOptions, find_aisles

BASELINE = Path(__file__).parent / "baseline"
SIZE = (800, 600)
# vtkImageDifference's error summed over the image (pyvista.compare_images). Renders on this machine
# repeat exactly (error 0); other Mesa versions differ in antialiased text and edges by a few hundred.
# A real change of the picture costs thousands (test_a_broken_picture_fails shows how many).
TOLERANCE = 1000.0


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
        stage.select(("rack", 2))
        assert stage.pick_box.GetVisibility() and stage.pick_box.GetInput().startswith("rack A03")
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


def test_walkthrough_frames(tmp_path, capsys):
    """`--walkthrough` writes one numbered PNG per step of the walk (and says where)."""
    from twin.model.load import load_hall
    from viewer.cameras import walkthrough_poses

    hall = load_hall(TINY)
    n = len(walkthrough_poses(find_aisles(hall), hall, step_m=1.0))
    out = tmp_path / "walk"
    assert _cli("render", str(TINY), "--walkthrough", "--step", "1", "--size", "240x180", "--out", str(out)) == 0
    frames = sorted(out.glob("frame-*.png"))
    assert [f.name for f in frames] == [f"frame-{i:05d}.png" for i in range(n)] and n >= 3
    assert f"wrote {n} frames" in capsys.readouterr().out
