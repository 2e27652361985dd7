"""validation/rack_patch_study.py: the racks' faces as the CFD's patches, on a tiny box with one rack."""

from __future__ import annotations

import numpy as np
import pytest

from twin.geometry.voxel import Grid, HallVoxels, Mover
from twin.thermal.momentum import MomentumSettings, MomentumSolver, MoverJets
from validation.benchmarks import closed_box_faces
from validation.rack_patch_study import VARIANTS, RackPatchSolver

H_M = 0.1
Q_M3S = 0.08  # over the 2 × 2 cells of the rack's faces: q/A = 2 m/s


def _box() -> HallVoxels:
    """A 2 × 1 × 1 m closed box with a one-cell-deep rack (2 × 2 cells) at x index 3: it draws from the
    cells in front (x index 2) and blows +x from the cells behind (x index 4)."""
    shape = (20, 10, 10)
    solid = np.zeros(shape, bool)
    solid[3, 4:6, 4:6] = True
    faces = closed_box_faces(shape)
    cell = np.ravel_multi_index
    intake = np.array([cell((2, j, k), shape) for j in (4, 5) for k in (4, 5)])
    outlet = np.array([cell((4, j, k), shape) for j in (4, 5) for k in (4, 5)])
    owner = np.where(solid, 0, -1).astype(np.int32)
    return HallVoxels(Grid(shape, (0.0, 0.0, 0.0), H_M), solid, owner, ["rack"], tuple(faces),
                      racks=[Mover("R01", intake, outlet)])


def _solve(variant: str) -> RackPatchSolver:
    vox = _box()
    a, b = VARIANTS[variant]
    s = RackPatchSolver(vox.solid, vox.open_faces, H_M, MoverJets.from_voxels(vox),
                        settings=MomentumSettings(buoyancy=False), n_racks=1, intake_patch=a, exhaust_inlet=b)
    s.solve(np.array([Q_M3S]), tol=1e-5, max_iterations=3000)
    return s


@pytest.fixture(scope="module")
def solved() -> dict[str, RackPatchSolver]:
    return {v: _solve(v) for v in VARIANTS}


def test_every_variant_carries_exactly_the_rack_s_flow(solved):
    """Mass: each fluid cell's net outflow equals its source (the rack's −q/4 in front, +q/4 behind) to
    round-off, whatever the faces' treatment; the air through the plane x = 1 m beside the rack is zero
    net (the box is closed, so what the rack blows out comes back round it)."""
    for v, s in solved.items():
        residual = s._divergence_m3s(s.u) - s.sources_m3s(np.array([Q_M3S]))
        assert np.abs(residual[s.fluid]).max() < 1e-12, v
        assert abs(float(s.u[0][10].sum()) * H_M ** 2) < 1e-12, v


def test_intake_face_carries_q_over_a_and_no_shear(solved):
    """(a): the rack's front face is the intake patch: its normal velocity, read by the assembly, is q/A = 2 m/s
    into the rack on all four faces and nowhere else; the tangential CV sides on it lose their wall factor
    (2 for a side wholly on the rack face, as a no-slip wall half a cell away) and keep the others."""
    s = solved["a"]
    normal = s.intake_velocity_m_s(np.array([Q_M3S]))
    assert np.allclose(normal[0][3, 4:6, 4:6], 2.0) and np.count_nonzero(normal[0]) == 4
    assert not np.any(normal[1]) and not np.any(normal[2])
    base = solved["base"]
    k_plus_x = 1  # _DIRS index of (axis 0, side +1): towards the rack from the intake cells
    y_face_between = (2, 5, 4)  # the y-face between intake cells (2, 4, 4) and (2, 5, 4)
    assert base._wall_factor[1][k_plus_x][y_face_between] == 2.0
    assert s._wall_factor[1][k_plus_x][y_face_between] == 0.0
    assert base._wall_factor[1][k_plus_x][2, 4, 4] == pytest.approx(1.0) and s._wall_factor[1][k_plus_x][2, 4, 4] == 0.0  # half on it
    # The field with the wall shear gone: the intake cells' sideways inflow is no longer slowed by the face.
    assert not np.allclose(s.u[1], base.u[1])


def test_exhaust_inlet_leaves_at_q_over_a(solved):
    """(b): the jet leaves the outlet cells' downstream face at q/A = 2 m/s (within 5 %) as from a velocity
    inlet; the twin's volume source leaves it at about 3/4 of that, slowed by its own air counted at rest."""
    jet = {v: float(solved[v].u[0][5, 4:6, 4:6].mean()) for v in VARIANTS}
    assert abs(jet["b"] - 2.0) < 0.1 and abs(jet["ab"] - 2.0) < 0.1, jet
    assert jet["base"] < 0.8 * 2.0, jet


def test_base_variant_is_the_twin_s_solver():
    """The study solver with neither patch gives the twin's MomentumSolver's field bit for bit."""
    vox = _box()
    plain = MomentumSolver.from_voxels(vox, settings=MomentumSettings(buoyancy=False))
    plain.solve(np.array([Q_M3S]), tol=1e-5, max_iterations=3000)
    study = _solve("base")
    for a in range(3):
        assert np.array_equal(plain.u[a], study.u[a])


def test_cli_names_a_missing_hall_in_one_line(capsys):
    from validation.rack_patch_study import main

    assert main(["steady", "no-such-hall", "--variant", "a"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-hall.toml" in err[0] and "no such hall file" in err[0]
