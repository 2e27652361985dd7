"""The buoyancy study's plumbing (validation/buoyancy_study.py): the twin's flow blind to T, its errors."""

from __future__ import annotations

import pytest

from twin.model import load_hall
from twin.sim.twin import HallTwin
from validation.buoyancy_study import hall_without_buoyancy, intake_errors, main
from validation.compare import HALLS


def test_hall_copy_switches_the_flows_buoyancy_off(tmp_path):
    """The copy keeps aisle-pair as it is except [airflow] buoyancy = false (and the closure asked for), so
    the momentum solver it builds has no Boussinesq term, with the same racks and grid."""
    path = hall_without_buoyancy(HALLS / "aisle-pair.toml", tmp_path, turbulence="k-epsilon")
    copy, original = load_hall(path), load_hall(HALLS / "aisle-pair.toml")
    assert copy.spec.airflow.buoyancy is False and original.spec.airflow.buoyancy is True
    assert copy.spec.airflow.turbulence == "k-epsilon"
    assert [r.name for r in copy.racks] == [r.name for r in original.racks]
    twin = HallTwin(copy, airflow="momentum")
    assert twin.momentum is not None and twin.momentum.settings.buoyancy is False
    assert twin.momentum.settings.turbulence_model == "k-epsilon"


def test_hall_copy_refuses_a_file_that_sets_buoyancy(tmp_path):
    """A hall that already says buoyancy is not silently given a second key: the error names the file."""
    src = tmp_path / "src"
    src.mkdir()
    hall = src / "h.toml"
    hall.write_text((HALLS / "aisle-pair.toml").read_text() + "\n[airflow]\nbuoyancy = true\n")
    with pytest.raises(ValueError, match="h.toml: \\[airflow\\] buoyancy"):
        hall_without_buoyancy(hall, tmp_path)


def test_intake_errors_are_twin_minus_cfd_with_the_row_ends_apart():
    """RMS and mean over every rack of the CFD; the row ends' mean over A01/A04/B01/B04 only."""
    cfd = {"A01": 20.0, "A02": 18.0, "A03": 18.0, "A04": 22.0, "B01": 20.0, "B02": 18.0, "B03": 18.0, "B04": 22.0}
    twin = {**cfd, "A01": 19.0, "B04": 21.0, "A02": 18.4}
    err = intake_errors(twin, cfd)
    assert err["row_ends_mean_k"] == pytest.approx(-0.5)
    assert err["mean_k"] == pytest.approx(-1.6 / 8)
    assert err["rms_k"] == pytest.approx(((1 + 1 + 0.16) / 8) ** 0.5)


def test_negative_gravity_scale_is_one_line(capsys, tmp_path):
    """twin --gravity-scale -1 exits 2 with one line saying what is allowed, and saves nothing."""
    with pytest.raises(SystemExit) as exc:
        main(["twin", "aisle-pair", "--gravity-scale", "-1", "--save", str(tmp_path / "t.npz")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ">= 0" in err[0]
    assert not (tmp_path / "t.npz").exists()


def test_imposed_tile_flows_missing_a_face_is_one_line(capsys, tmp_path):
    """A tiles.csv without a row for one of the hall's tile faces is refused before the solve, naming the
    file and the face."""
    src = HALLS.parent / "results" / "buoyancy-study" / "plenum-g0" / "tiles.csv"
    short = tmp_path / "tiles.csv"
    short.write_text("".join(src.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(SystemExit) as exc:
        main(["twin", "aisle-pair", "--gravity-scale", "0", "--imposed-tile-flows", str(short),
              "--save", str(tmp_path / "t.npz")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(short) in err[0] and "no flow for the tile face" in err[0]
    assert not (tmp_path / "t.npz").exists()
