"""The OpenFOAM case generator (validation/openfoam/case_from_hall.py): checks that need no OpenFOAM."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "validation" / "openfoam"))
from case_from_hall import build_case, nominal_state, patch_values, write_case  # noqa: E402

HALLS = ROOT / "validation" / "halls"


@pytest.fixture(scope="module", params=["open-row", "aisle-pair", "contained"])
def case(request):
    return build_case(HALLS / f"{request.param}.toml")


def _face_vectors(case) -> np.ndarray:
    p = case.points[case.faces]
    return 0.5 * np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 1])


def test_every_cell_is_closed(case):
    """Each cell's outward face-area vectors sum to zero (a watertight hexahedron)."""
    sf = _face_vectors(case)
    total = np.zeros((case.n_cells, 3))
    np.add.at(total, case.owner, sf)
    np.add.at(total, case.neighbour, -sf[: len(case.neighbour)])
    assert np.abs(total).max() < 1e-9
    counts = np.bincount(case.owner, minlength=case.n_cells) + np.bincount(case.neighbour, minlength=case.n_cells)
    assert (counts == 6).all()


def test_cells_are_the_twins_fluid_cells_above_the_floor(case):
    """The CFD's cells are the twin's fluid cells of the room (the plenum is omitted), in the same places."""
    vox = case.vox
    room = ~vox.solid[:, :, vox.plenum_layers:]
    assert case.n_cells == int(room.sum())
    assert np.array_equal(case.cell_id[:, :, vox.plenum_layers:] >= 0, room)


def test_internal_faces_are_upper_triangular(case):
    """OpenFOAM's ordering: owner < neighbour, sorted by owner then neighbour."""
    o, n = case.owner[: len(case.neighbour)], case.neighbour
    assert (o < n).all()
    key = o * (case.n_cells + 1) + n
    assert (np.diff(key) > 0).all()


def test_mover_patches_match_the_twins_mover_cells(case):
    """A rack's intake patch borders exactly the cells the twin's rack draws from."""
    for rack, mover in zip(case.hall.racks, case.vox.racks):
        patch = next(m for m in case.movers.values() if m.owner == rack.name and m.kind == "rack_in")
        assert sorted(patch.grid_cells.tolist()) == sorted(mover.intake.tolist())
        out = next(m for m in case.movers.values() if m.owner == rack.name and m.kind == "rack_out")
        assert sorted(out.grid_cells.tolist()) == sorted(mover.outlet.tolist())


def test_mass_balance_and_rack_flows(case):
    """Flows through all mover patches cancel, and each rack moves its servers' airflow at supply intake."""
    state = nominal_state(case)
    vals = patch_values(case, state)
    net = sum(float(vals[n]["U"] @ m.normal_out) * m.area_m2 for n, m in case.movers.items())
    assert abs(net) < 1e-12
    for r in case.hall.racks:
        q_in = next(vals[n]["U"] @ m.normal_out * m.area_m2 for n, m in case.movers.items()
                    if m.owner == r.name and m.kind == "rack_in")
        assert q_in == pytest.approx(r.airflow_m3s_per_w * r.it_w)
        rise = state.rack_exhaust_c[r.name] - 18.0
        assert rise == pytest.approx(r.it_w / (case.rho * case.cp * q_in))


def test_containment_leaks_follow_the_leakage():
    """The open share of a contained aisle's panel faces is its leakage fraction."""
    case = build_case(HALLS / "contained.toml")
    leak = case.hall.spec.containment[0].leakage
    share = case.leak_faces / (case.leak_faces + case.panel_faces)
    assert share == pytest.approx(leak, abs=0.01)


def test_writes_a_case(tmp_path):
    """The case folder has a mesh, initial fields and dictionaries."""
    case = build_case(HALLS / "open-row.toml")
    state = write_case(case, tmp_path)
    for rel in ("constant/polyMesh/faces", "constant/polyMesh/boundary", "0/U", "0/T", "system/controlDict",
                "constant/transportProperties", "constant/g"):
        assert (tmp_path / rel).is_file()
    t_text = (tmp_path / "0" / "T").read_text()
    block = t_text[t_text.index("A03_out"):]
    value_k = float(block[block.index("uniform") + 7:block.index(";", block.index("uniform"))])
    assert value_k == pytest.approx(state.rack_exhaust_c["A03"] + 273.15)
