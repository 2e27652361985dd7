"""validation/fas_study.py: the FAS cycles' grid transfers and the consistency of their forcing (tiny hall)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.halls import hall_from, tiny_dict
from validation import fas_study as fs

SHAPE_COARSE = (4, 3, 5)  # a fine grid of 8 x 6 x 10 cells


def _fine_faces(rng: np.random.Generator) -> list[np.ndarray]:
    nx, ny, nz = (2 * n for n in SHAPE_COARSE)
    return [rng.normal(size=(nx + (a == 0), ny + (a == 1), nz + (a == 2))) for a in range(3)]


def test_restricted_velocities_carry_the_fine_flows_so_each_coarse_cell_keeps_its_childrens_divergence():
    """Flux conservation: a coarse face's flow (u (2h)²) is its four fine faces' (Σ u h²), so the divergence of
    every coarse cell is the sum of its eight children's, for any fine field."""
    rng = np.random.default_rng(3)
    u = _fine_faces(rng)
    uc = [fs.restrict_face_velocity(u[a], a) for a in range(3)]
    nx, ny, nz = SHAPE_COARSE
    assert [x.shape for x in uc] == [(nx + 1, ny, nz), (nx, ny + 1, nz), (nx, ny, nz + 1)]
    h = 0.1
    div_f = (h * h) * (np.diff(u[0], axis=0) + np.diff(u[1], axis=1) + np.diff(u[2], axis=2))
    div_c = (2 * h) ** 2 * (np.diff(uc[0], axis=0) + np.diff(uc[1], axis=1) + np.diff(uc[2], axis=2))
    np.testing.assert_allclose(div_c, fs.restrict_cell_sum(div_f, SHAPE_COARSE), atol=1e-12)


def test_restricted_forces_keep_the_total_and_a_uniform_force_density():
    """The coarse control volumes tile the fine ones: the total force is kept, and a uniform force per fine
    face gives every interior coarse face eight times it (its control volume holds eight fine ones)."""
    rng = np.random.default_rng(5)
    for a, f in enumerate(_fine_faces(rng)):
        fc = fs.restrict_face_force(f, a)
        assert fc.sum() == pytest.approx(f.sum(), rel=1e-12, abs=1e-12)
        uniform = fs.restrict_face_force(np.ones_like(f), a)
        interior = [slice(None)] * 3
        interior[a] = slice(1, -1)
        np.testing.assert_allclose(uniform[tuple(interior)], 8.0)
        # A fine face half a fine cell off the coarse planes lies in two coarse control volumes: half to each;
        # one on a coarse plane wholly in that plane's.
        for plane, expect in ((3, {1: 0.5, 2: 0.5}), (4, {2: 1.0})):
            point = np.zeros_like(f)
            index = [1, 1, 1]
            index[a] = plane
            point[tuple(index)] = 1.0
            got = fs.restrict_face_force(point, a)
            coarse_index = [0, 0, 0]
            for k, share in expect.items():
                coarse_index[a] = k
                assert got[tuple(coarse_index)] == share
            assert got.sum() == 1.0


def test_fas_cycles_converge_and_their_forcing_vanishes_with_the_fine_residual():
    """Tiny at 0.25 m (its 0.5 m grid the coarse one), isothermal: FAS cycles reach 1e-5 like the plain march,
    and at the converged fine field the coarse correction moves the flow by a small fraction of what it moves
    it at the coarse start (the forcing's promise: none at a fine solution)."""
    data = tiny_dict()
    data["hall"]["cell_m"] = 0.25
    data["airflow"] = {"model": "momentum"}
    hall = hall_from(data)
    result = fs.flow_study(hall, buoyancy=False, held_t_c=None, tol=1e-5, cycle=(3, 15, 3), weight=0.75)
    assert result["plain"]["converged"] and result["fas"]["converged"]
    fine, coarse, _, _ = fs._levels(hall, buoyancy=False, held_t_c=None)
    at_start = fs.coarse_correction(fine, coarse, 15, 0.75)
    assert at_start > 1e-4
    assert result["consistency_m_s"] < 0.02 * at_start, (result["consistency_m_s"], at_start)


def test_fas_inside_the_steady_loop_lands_where_the_plain_loop_does_and_every_patch_is_undone():
    """Tiny at 0.25 m: the steady loop with FAS-converged flows in each outer iteration settles within 0.2 K of
    the plain loop's intakes (both stop on the same 0.05 K rule; the study runs both unlagged, as it was made);
    afterwards the march, the sequenced start and the loop's constants are the module's own again, also when a
    solve inside the patches fails."""
    import twin.sim.twin as twin_module
    from twin.sim.twin import HallTwin
    from twin.thermal.momentum import MomentumSolver

    data = tiny_dict()
    data["hall"]["cell_m"] = 0.25
    data["airflow"] = {"model": "momentum"}
    hall = hall_from(data)
    names = ("_STEADY_FLOW_ITERATIONS", "AndersonMixer", "_pack_state", "_unpack_state", "_STEADY_REASSEMBLE_EVERY")
    before = {name: getattr(twin_module, name) for name in names}
    march, start = MomentumSolver._march, HallTwin._sequenced_start
    plain, _ = fs._steady_run(hall)
    fas, _ = fs._steady_run(hall, ((3, 15, 3), 0.75), converge_to=1e-5)
    assert "failed" not in plain and "failed" not in fas, (plain, fas)
    assert np.max(np.abs(np.subtract(fas["intakes_c"], plain["intakes_c"]))) < 0.2
    with pytest.raises(RuntimeError):
        with fs.steady_loop_patched(flow_iterations=5, relax=1.0, temperatures_only=True), \
                fs.fas_in_steady_loop((3, 15, 3), 0.75):
            assert twin_module._STEADY_FLOW_ITERATIONS == 5 and MomentumSolver._march is not march
            raise RuntimeError("a solve that fails")
    assert all(getattr(twin_module, name) is value for name, value in before.items())
    assert MomentumSolver._march is march and HallTwin._sequenced_start is start
