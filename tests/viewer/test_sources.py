"""Where the viewer reads from besides the bus: `twin run` output folders, and the reference hall."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.viewer.conftest import REFERENCE, TINY


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A one-minute run of tiny.toml with field snapshots at 0, 30 and 60 s."""
    from twin.cli import main

    out = tmp_path_factory.mktemp("run") / "tiny"
    assert main(["run", str(TINY), "--duration", "60", "--fields-every", "30", "--out", str(out), "--json"]) == 0
    return out


def test_run_folder_view_is_its_last_state(tiny_run, capsys):
    """A run folder reads as its last field snapshot with the time-series row of the same time."""
    import pyarrow.parquet as pq
    import pyvista as pv

    from viewer.sources import hall_from_view, open_file

    capsys.readouterr()
    view = open_file(tiny_run)
    assert view.summary["clock"]["time_s"] == 60.0 and view.fields[0]["time_s"] == 60.0
    vti = pv.read(tiny_run / "fields" / "t_00000060s.vti")
    assert np.array_equal(view.fields[1]["t_c"].ravel(), vti.cell_data["t_c"], equal_nan=True)
    table = pq.read_table(tiny_run / "timeseries.parquet")
    last = {c: table.column(c)[-1].as_py() for c in table.column_names}
    assert table.column("time_s")[-1].as_py() == 60.0
    assert view.summary["racks"]["name"] == ["A01", "A02", "A03", "A04"]
    assert view.summary["racks"]["t_inlet_c"] == [last[f"rack.A0{i}.t_inlet_c"] for i in range(1, 5)]
    assert view.summary["crahs"]["running"] == [True]
    assert hall_from_view(view).name == "Tiny test hall"
    run = json.loads((tiny_run / "summary.json").read_text())
    assert view.summary["hall"]["max_inlet_c"] == pytest.approx(run["max_inlet_c"], abs=0.01)


def test_render_a_run_folder(tiny_run, tmp_path, capsys):
    """`twin render OUT_DIR --out FILE.png` renders a run's final state (what `make demo` does)."""
    from tests.viewer.test_render import _cli

    out = tmp_path / "final.png"
    assert _cli("render", str(tiny_run), "--size", "320x240", "--out", str(out)) == 0
    assert out.stat().st_size > 1000
    assert _cli("render", str(tmp_path), "--out", str(out)) == 2
    assert "is not the output of `twin run`" in capsys.readouterr().err


@pytest.mark.slow
def test_reference_hall_renders(tmp_path):
    """The reference hall (200 racks, containment, a GLB column) renders: every rack coloured, every
    contained aisle's panels drawn, the hot aisles above 27 °C in the isosurface."""
    import pyvista as pv

    from twin.bus.offline import offline_view
    from twin.model.load import load_hall
    from viewer.render import render_image
    from viewer.scene import build_scene

    view, hall = offline_view(REFERENCE), load_hall(REFERENCE)
    scene = build_scene(hall, view)
    assert len(set(scene.meshes["racks"].cell_data["rack_index"])) == 200
    assert not np.isnan(scene.meshes["racks"].cell_data["t_inlet_c"]).any()
    assert scene.meshes["containment"].n_cells == 3 * 3 * 12  # three aisles: two panels and a roof each
    # and two doors each, as two sliding leaves
    doors = scene.meshes["doors"]
    assert doors.n_cells == 3 * 2 * 2 * 6 and sorted(set(doors.point_data["leaf"])) == list(range(12))
    assert scene.meshes["iso"].n_points > 0 and scene.meshes["obstacles"].n_cells > 12  # the round column
    out = render_image(view, hall, tmp_path / "reference.png", window_size=(640, 480))
    img = pv.read(out)
    assert tuple(img.dimensions[:2]) == (640, 480)
