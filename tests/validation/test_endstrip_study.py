"""validation/endstrip_study.py: chosen perforated faces as free-slip or open plates, and the profiles' averaging."""

from __future__ import annotations

import numpy as np
import pytest

from twin.geometry.voxel import Grid, HallVoxels, Mover
from twin.thermal.momentum import _DIRS, MomentumSettings, MomentumSolver, MoverJets
from validation.benchmarks import closed_box_faces
from validation.endstrip_study import OpenEndStripSolver, _box_mean, recalibrated_openness

H_M = 0.1
Q_M3S = 0.06
PLATE_K = 3  # the z-face between cell 2 (plenum) and cell 3 (room)
OPEN_FRACTION = 0.25


def _box() -> HallVoxels:
    """A 2 × 0.6 × 1 m closed box split by a plate at z 0.3 m: closed, but perforated (25 %) over x 1.0–1.6 m.
    A mover draws from the room's top cells at x < 0.3 m and blows into the plenum below at x < 0.3 m, so the
    plenum air runs along x under the plate and up through the perforated part, then back along the ceiling."""
    shape = (20, 6, 10)
    solid = np.zeros(shape, bool)
    faces = closed_box_faces(shape)
    faces[2][:, :, PLATE_K] = 0.0
    faces[2][10:16, :, PLATE_K] = OPEN_FRACTION
    cell = np.ravel_multi_index
    intake = np.array([cell((i, j, 9), shape) for i in range(3) for j in range(6)])
    outlet = np.array([cell((i, j, 0), shape) for i in range(3) for j in range(6)])
    owner = np.full(shape, -1, dtype=np.int32)
    return HallVoxels(Grid(shape, (0.0, 0.0, 0.0), H_M), solid, owner, ["crah"], tuple(faces),
                      crahs=[Mover("C01", intake, outlet)])


def _plate_faces(i_lo: int, i_hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    i, j = np.meshgrid(np.arange(i_lo, i_hi), np.arange(6), indexing="ij")
    return i.ravel(), j.ravel(), np.full(i.size, PLATE_K)


def _solver(**kw) -> MomentumSolver:
    vox = _box()
    args = (vox.solid, [f.copy() for f in vox.open_faces], H_M, MoverJets.from_voxels(vox))
    settings = MomentumSettings(buoyancy=False)
    if not kw:
        return MomentumSolver(*args, settings=settings)
    return OpenEndStripSolver(*args, settings=settings, **kw)


@pytest.fixture(scope="module")
def solved() -> dict[str, MomentumSolver]:
    out = {"plain": _solver(), "slip": _solver(open_faces_z=_plate_faces(10, 16), slip_only=True),
           "slip-room": _solver(open_faces_z=_plate_faces(10, 16), slip_only=True, room_side_only=True),
           "open": _solver(open_faces_z=_plate_faces(10, 16))}
    for s in out.values():
        s.solve(np.array([Q_M3S]), tol=1e-5, max_iterations=4000)
    return out


def test_the_plate_keeps_its_flow_law_and_mass_is_conserved(solved):
    """Whatever the plate's tangential treatment, its faces keep the perforated plate's Borda–Carnot loss and
    open fraction (what sets the tile split), each cell's net outflow is its source to round-off, and all of
    the mover's air passes the perforated part (the rest of the plate is closed)."""
    plain = solved["plain"]
    for name, s in solved.items():
        for c in range(3):
            np.testing.assert_array_equal(s._loss[c], plain._loss[c], err_msg=name)
            np.testing.assert_array_equal(s.openness[c], plain.openness[c], err_msg=name)
        residual = s._divergence_m3s(s.u) - s.sources_m3s(np.array([Q_M3S]))
        assert np.abs(residual[s.fluid]).max() < 1e-12, name
        through = float(s.u[2][10:16, :, PLATE_K].sum()) * H_M ** 2
        assert through == pytest.approx(Q_M3S, rel=1e-9), name


def test_slip_takes_the_shear_away_only_where_asked(solved):
    """Free slip: the u_x CVs just above the chosen faces lose the plate's wall factor (2: a no-slip wall half a
    cell away), their pass fraction stays 0 (no plenum momentum comes through); with ``room_side_only`` the
    plenum's CVs below keep it. Every other CV side is the plain solver's."""
    plain, slip, room = solved["plain"], solved["slip"], solved["slip-room"]
    down, up = _DIRS.index((2, -1)), _DIRS.index((2, 1))
    # u_x faces with both cells over the chosen faces: x-face index 11..15 between cells 10..15
    above = (slice(11, 16), slice(None), PLATE_K)
    below = (slice(11, 16), slice(None), PLATE_K - 1)
    assert np.all(plain._wall_factor[0][down][above] == 2.0)
    assert np.all(slip._wall_factor[0][down][above] == 0.0)
    assert np.all(room._wall_factor[0][down][above] == 0.0)
    assert np.all(slip._wall_factor[0][up][below] == 0.0)
    assert np.all(room._wall_factor[0][up][below] == 2.0)
    for s in (slip, room):
        for c in (0, 1):
            for kk in plain._theta[c]:
                np.testing.assert_array_equal(s._theta[c][kk], plain._theta[c][kk])
    outside = (slice(0, 10), slice(None), PLATE_K)
    np.testing.assert_array_equal(slip._wall_factor[0][down][outside], plain._wall_factor[0][down][outside])


def test_a_slip_plate_drags_less_on_the_air_along_it(solved):
    """Physics: the plenum's air runs along x under the plate and the room's slowly over it; without the plate's
    shear the first cells beside the slip part move faster along it than beside the no-slip plate (room side
    +4 %, plenum side +4 % here), on the plenum side only when its shear is taken away too; and a wholly open
    face (tangential momentum passes) brings the plenum's along-plate flow up into the room (about 4 times the
    slip plate's u_x just above it)."""
    def along(s: MomentumSolver, k: int) -> float:
        return float(np.abs(s.u[0][11:16, :, k]).mean())

    plain, slip, room, opened = (solved[n] for n in ("plain", "slip", "slip-room", "open"))
    assert along(slip, PLATE_K) > 1.02 * along(plain, PLATE_K)
    assert along(room, PLATE_K) > 1.02 * along(plain, PLATE_K)
    assert along(slip, PLATE_K - 1) > 1.02 * along(plain, PLATE_K - 1)
    assert along(room, PLATE_K - 1) == pytest.approx(along(plain, PLATE_K - 1), rel=5e-3)
    assert along(opened, PLATE_K) > 2.0 * along(slip, PLATE_K)


@pytest.mark.parametrize("h", [0.15, 0.075])
def test_box_mean_averages_onto_the_coarse_cells(h):
    """The profiles average any grid onto the 0.15 m cells: for a field linear in z (u_z = z) the mean over a
    coarse cell is its centre's z, on the 0.15 m grid and on the 0.075 m one, and NaN (solid) cells are left out."""
    x = np.arange(0.0, 1.2, h) + h / 2
    f = {"x_m": x, "y_m": x, "z_m": x}
    u = np.zeros((x.size, x.size, x.size, 3))
    u[..., 2] = x[None, None, :]
    u[0, 0, :] = np.nan  # a solid column: its z-profile leaves the mean unchanged
    f["velocity_m_s"] = u
    for zc in (0.075, 0.525, 0.975):
        got = _box_mean(f, 2, (0.0, 0.3), (0.0, 0.3), (zc - 0.075, zc + 0.075))
        assert got == pytest.approx(zc, abs=1e-12)


def test_recalibrated_openness_is_exact_for_the_borda_carnot_law():
    """At a fixed pressure drop a face's flow is √(2Δp/ρ)·A·σ/(1 − σ) (ζ = (1/σ − 1)²): one recalibration
    step from any σ gives the target flow to round-off."""
    dp_pa, rho, area_m2 = 12.0, 1.19, 0.0225
    sigma = np.array([0.1, 0.25, 0.4, 0.6])
    target = np.array([0.02, 0.03, 0.011, 0.05])

    def flow(s: np.ndarray) -> np.ndarray:
        zeta = (1.0 / s - 1.0) ** 2
        return area_m2 * np.sqrt(2.0 * dp_pa / (rho * zeta))

    new = recalibrated_openness(sigma, flow(sigma), target)
    np.testing.assert_allclose(flow(new), target, rtol=1e-12)
    assert np.all((new > 0.0) & (new < 1.0))


def test_recalibration_brings_a_plate_s_split_to_a_target_on_the_solver():
    """On the box's perforated plate (36 faces) the momentum solver's split is pulled to an uneven target
    (twice as much through the far half, x 1.3–1.6 m, as through the near half): within 1 % per face after four
    rounds, the error shrinking each round (the plenum's pressure answers the new open fractions)."""
    vox = _box()
    faces = [f.copy() for f in vox.open_faces]
    i, j, k = _plate_faces(10, 16)
    weight = np.where(i >= 13, 2.0, 1.0)
    target = Q_M3S * weight / weight.sum()
    errors = []
    for _ in range(5):
        s = MomentumSolver(vox.solid, [f.copy() for f in faces], H_M, MoverJets.from_voxels(vox),
                           settings=MomentumSettings(buoyancy=False))
        s.solve(np.array([Q_M3S]), tol=1e-6, max_iterations=4000)
        q = s.u[2][i, j, k] * H_M ** 2
        errors.append(float(np.abs(q / target - 1.0).max()))
        faces[2][i, j, k] = recalibrated_openness(faces[2][i, j, k], q, target)
    assert errors[0] > 0.2  # the plain plate's split is far from the target
    assert all(b < a for a, b in zip(errors, errors[1:]))
    assert errors[4] < 0.01


def test_a_lever_without_a_steady_state_is_one_line_and_exit_3(monkeypatch, tmp_path, capsys):
    """k-epsilon-lu-1 has no steady state (validation/README.md): `run` says so in one line, exits 3 as the
    twin's CLI does, and saves nothing."""
    import validation.endstrip_study as es
    from twin.sim.twin import NoSteadyState

    def no_steady_state(lever):
        raise NoSteadyState("no steady state found: the momentum airflow did not converge\nresidual history: ...")

    monkeypatch.setattr(es, "solve", no_steady_state)
    assert es.main(["run", "k-epsilon-lu-1", "--save", str(tmp_path / "out.npz")]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "k-epsilon-lu-1" in err[0] and "no steady state" in err[0], err
    assert not (tmp_path / "out.npz").exists()
