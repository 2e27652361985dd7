"""run_cfd.py --cell-m / --init-from: the CFD of a hall on a finer grid, the hall file still the one source
(validation/README.md, "Is the CFD reference grid-converged at the row ends?"). Case generation only."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "validation" / "openfoam"))
from case_from_hall import build_case  # noqa: E402
from run_cfd import cell_variant, initial_fields, main, read_internal  # noqa: E402

HALL = ROOT / "validation" / "halls" / "aisle-pair.toml"
COARSE = ROOT / "validation" / "results" / "aisle-pair"


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """aisle-pair's plenum case on its own 0.15 m grid and on 0.075 m."""
    fine_hall = cell_variant(HALL, 0.075, tmp_path_factory.mktemp("hall"))
    return build_case(HALL, plenum=True), build_case(fine_hall, plenum=True)


def _patch_areas_m2(case) -> dict[str, float]:
    p = case.points[case.faces]
    area = np.linalg.norm(0.5 * np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]), axis=1)
    return {name: float(area[start:start + n].sum()) for name, _, start, n in case.patches}


def test_the_variant_changes_only_the_cell(tmp_path):
    """The copy differs from the hall file in the one [hall] cell_m line."""
    variant = cell_variant(HALL, 0.075, tmp_path)
    old, new = HALL.read_text().splitlines(), variant.read_text().splitlines()
    assert len(old) == len(new)
    assert [(a, b) for a, b in zip(old, new) if a != b] == [("cell_m = 0.15", "cell_m = 0.075")]


def test_half_the_cell_is_eight_times_the_cells_on_the_same_patches(cases):
    """Halving the cell of a hall whose every size is a whole number of cells gives 8x the fluid cells, 4x the
    faces on every patch and the same patch areas (racks, CRAHs, walls) and the same tile area."""
    coarse, fine = cases
    assert fine.n_cells == 8 * coarse.n_cells
    coarse_faces = {name: n for name, _, _, n in coarse.patches}
    assert {name: n for name, _, _, n in fine.patches} == {k: 4 * v for k, v in coarse_faces.items()}
    a_coarse, a_fine = _patch_areas_m2(coarse), _patch_areas_m2(fine)
    assert a_fine.keys() == a_coarse.keys()
    for name, area in a_coarse.items():
        assert a_fine[name] == pytest.approx(area, rel=1e-12), name
    assert len(fine.tile_faces.room_grid) * 0.075**2 == pytest.approx(len(coarse.tile_faces.room_grid) * 0.15**2)


def test_a_fine_start_is_the_coarse_field_injected(cases, tmp_path):
    """--init-from: every 0.075 m cell starts at the T and U of the 0.15 m cell it lies in, so the mean over
    the eight children of a coarse cell is that cell's value; the racks start at the coarse run's intakes."""
    _, fine = cases
    t_text, u_text, state = initial_fields(fine, COARSE)
    (tmp_path / "T").write_text(f"FoamFile {{}}\n{t_text}boundaryField {{}}\n")
    (tmp_path / "U").write_text(f"FoamFile {{}}\n{u_text}boundaryField {{}}\n")
    t_c = read_internal(tmp_path / "T", fine.n_cells) - 273.15
    u = read_internal(tmp_path / "U", fine.n_cells)
    with np.load(COARSE / "fields.npz") as z:
        t_coarse, u_coarse = z["t_c"], z["velocity_m_s"]
    t3 = np.full(fine.cell_id.shape, np.nan)
    t3[fine.cell_id >= 0] = t_c[fine.cell_id[fine.cell_id >= 0]]
    nx, ny, nz = (s // 2 for s in t3.shape)
    children = t3.reshape(nx, 2, ny, 2, nz, 2)
    fluid = np.isfinite(t_coarse)
    t_mean = np.where(np.isfinite(children), children, 0.0).sum(axis=(1, 3, 5))[fluid] / 8.0
    assert np.isfinite(children).all(axis=(1, 3, 5))[fluid].all()  # the grids' solids coincide
    np.testing.assert_allclose(t_mean, t_coarse[fluid], atol=1e-5)
    assert np.isfinite(t_c).all() and np.isfinite(u).all()
    i, j, k = np.argwhere(fine.cell_id >= 0)[1234]
    np.testing.assert_allclose(u[fine.cell_id[i, j, k]], u_coarse[i // 2, j // 2, k // 2], rtol=1e-5, atol=1e-8)
    with open(COARSE / "racks.csv", newline="") as f:
        intakes = {row["rack"]: float(row["t_intake_c"]) for row in csv.DictReader(f)}
    for r in fine.hall.racks:  # each rack heats its coarse-run intake by P / (rho c_p q)
        rise_k = r.it_w / (fine.rho * fine.cp * state.rack_flow_m3s[r.name])
        assert state.rack_exhaust_c[r.name] == pytest.approx(intakes[r.name] + rise_k, abs=1e-9)


def test_a_cell_that_does_not_divide_the_hall_is_refused_in_one_line(tmp_path, capsys):
    """--cell-m 0.1 does not divide aisle-pair's 0.45 m floor: exit 2, one line naming the hall file, the key
    and the cell, before a case is written."""
    with pytest.raises(SystemExit) as exc:
        main([str(HALL), "--plenum", "--cell-m", "0.1", "--case", str(tmp_path / "case"),
              "--results", str(tmp_path / "results")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(HALL) in err[0] and "--cell-m 0.1" in err[0] and "raised_floor.depth_m" in err[0]
    assert not (tmp_path / "case").exists() and not (tmp_path / "results").exists()


def test_a_start_that_does_not_nest_is_refused(cases, tmp_path):
    """--init-from needs a field on cells that are whole multiples of the case's: a 0.1 m field cannot be
    injected into 0.075 m cells; the error names the file."""
    _, fine = cases
    with np.load(COARSE / "fields.npz") as z:
        np.savez(tmp_path / "fields.npz", t_c=z["t_c"], velocity_m_s=z["velocity_m_s"], cell_m=0.1)
    with pytest.raises(ValueError, match=r"fields.npz: cell_m 0.1 m is not a whole multiple of this case's 0.075 m"):
        initial_fields(fine, tmp_path)
