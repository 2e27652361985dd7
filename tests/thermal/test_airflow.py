"""Potential flow: mass conservation, no flow through solids, walls or closed panels, cheap re-solves."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from tests.halls import hall_from, tiny_dict
from twin.geometry.voxel import voxelize_hall
from twin.model import bundled_hall
from twin.thermal.airflow import BASIS_RTOL, AirflowSolver, face_divergence
from twin.thermal.network import build_network
from twin.thermal.pressure_mg import PressureMultigrid


def _contained_hall():
    """Tiny, plus cold-aisle containment with leaky doors and roof, and a column in the hot aisle."""
    data = tiny_dict()
    data["containment"] = [{"name": "CA", "kind": "cold-aisle", "x_m": (1.0, 3.0), "y_m": (1.5, 2.5),
                            "height_m": 2.0, "roof": True, "doors": True, "leakage": 0.05}]
    data["obstacles"] = [{"name": "col", "position_m": (5.0, 3.5, -0.5), "size_m": (0.5, 0.5, 3.5)}]
    return hall_from(data)


def _grid_face_flows(net, flows):
    """Scatter network face flows onto full grid face arrays (zeros where the network has no face)."""
    shape = net.vox.grid.shape
    out = []
    for axis in range(3):
        fshape = list(shape)
        fshape[axis] += 1
        arr = np.zeros(fshape)
        sel = net.face_axis == axis
        lo = np.array(np.unravel_index(net.fluid_flat[net.face_a[sel]], shape))
        idx = lo.copy()
        idx[axis] += 1  # the face on the high side of cell a
        arr[tuple(idx)] = flows[sel]
        out.append(arr)
    return out


def _flows(hall):
    vox = voxelize_hall(hall)
    net = build_network(vox)
    solver = AirflowSolver(net)
    q = np.array([r.it_w * r.airflow_m3s_per_w for r in hall.racks]
                 + [c.rated_flow_m3s * c.fan_speed for c in hall.crahs] + [0.0] * len(hall.pdus))
    return vox, net, solver, q, solver.solve(q)


def test_zero_divergence_in_every_fluid_cell():
    """Net outflow of each fluid cell equals its mover source, to solver precision (grid-wise np.diff)."""
    for hall in (bundled_hall("tiny"), _contained_hall()):
        vox, net, solver, q, flows = _flows(hall)
        fx, fy, fz = _grid_face_flows(net, flows)
        div = np.diff(fx, axis=0) + np.diff(fy, axis=1) + np.diff(fz, axis=2)
        source = net.to_grid(solver.sources_m3s(q), fill=0.0)
        scale = np.abs(flows).max()
        assert np.abs(div - source)[~vox.solid].max() < 1e-9 * scale
        assert np.abs(div)[vox.solid].max() == 0.0


def test_no_flow_through_solids_walls_floor_or_closed_panels():
    """Faces of solids and walls carry nothing; the raised floor passes air only at tiles."""
    vox, net, solver, q, flows = _flows(_contained_hall())
    faces = _grid_face_flows(net, flows)
    for axis, f in enumerate(faces):
        moved = np.moveaxis(f, axis, 0)
        assert not moved[0].any() and not moved[-1].any()  # walls, floor of the plenum, ceiling
        solid = np.moveaxis(vox.solid, axis, 0)
        assert not moved[1:][solid].any() and not moved[:-1][solid].any()
        assert not f[vox.open_faces[axis] == 0].any()
    # Air crosses the raised floor (z-faces at the plenum's top) only through perforated tiles.
    floor = faces[2][:, :, vox.plenum_layers]
    tiles = vox.open_faces[2][:, :, vox.plenum_layers] > 0
    assert np.abs(floor[~tiles]).max() == 0.0
    assert floor[tiles].sum() > 0  # upward through the tiles


def test_every_mover_moves_its_flow_through_its_faces():
    """Each rack's intake draws its server airflow; a CRAH's supply leaves through the floor plenum."""
    hall = bundled_hall("tiny")
    vox, net, solver, q, flows = _flows(hall)
    assert np.allclose(net.intake.sum(axis=0), 1.0) and np.allclose(net.outlet.sum(axis=0), 1.0)
    faces = _grid_face_flows(net, flows)
    # Tiles carry the CRAH supply minus what returns through... nothing else: all supply rises through them.
    floor = faces[2][:, :, vox.plenum_layers]
    crah_flow = hall.crahs[0].rated_flow_m3s * hall.crahs[0].fan_speed
    assert np.isclose(floor.sum(), crah_flow, rtol=1e-9)


def test_sealed_containment_is_an_error():
    """A contained aisle with zero leakage that cuts rack intakes off from exhausts is rejected."""
    data = tiny_dict()
    data["containment"] = [{"name": "CA", "kind": "cold-aisle", "x_m": (1.0, 3.0), "y_m": (1.5, 2.5),
                            "height_m": 2.0, "leakage": 0.0}]
    data["tiles"] = []
    import pytest

    from twin.model import HallError
    from twin.sim.twin import HallTwin

    with pytest.raises(HallError, match="cannot return to its intake"):
        HallTwin(hall_from(data))


def test_fan_speed_change_reuses_the_multigrid_and_warm_starts():
    """A CRAH speed change keeps the multigrid hierarchy (the costly part) and, warm-started, needs
    fewer CG iterations than a cold solve for a small change (2 %, the twin's re-flow tolerance)."""
    hall = bundled_hall("reference")
    vox = voxelize_hall(hall)
    net = build_network(vox)
    solver = AirflowSolver(net)
    q = np.array([r.it_w * r.airflow_m3s_per_w for r in hall.racks]
                 + [c.rated_flow_m3s * c.fan_speed for c in hall.crahs] + [0.0] * len(hall.pdus))
    amg = solver.multigrid
    solver.solve(q)
    cold = solver.iterations
    q2 = q.copy()
    q2[len(hall.racks):] *= 1.02
    flows = solver.solve(q2)
    assert solver.multigrid is amg
    assert solver.iterations < cold
    # Linearity: the field for the changed flows is what superposition predicts.
    solver.phi[:] = 0.0
    f_racks = solver.solve(np.concatenate([q[:len(hall.racks)], 0 * q[len(hall.racks):]]))
    f_crahs = solver.solve(np.concatenate([0 * q[:len(hall.racks)], q2[len(hall.racks):]]))
    assert np.allclose(flows, f_racks + f_crahs, atol=1e-8 * np.abs(flows).max())


def test_network_faces_are_exactly_the_open_faces_between_fluid_cells():
    """Brute force over the grid: a face carries flow iff both its cells are air and it is open (> 0)."""
    vox, net, solver, q, flows = _flows(_contained_hall())
    nx, ny, nz = vox.grid.shape
    expected = set()
    for axis in range(3):
        for i in range(nx):
            for j in range(ny):
                for k in range(nz):
                    lo = (i, j, k)
                    hi = tuple(c + (1 if a == axis else 0) for a, c in enumerate(lo))
                    if hi[axis] >= vox.grid.shape[axis] or vox.solid[lo] or vox.solid[hi]:
                        continue
                    if vox.open_faces[axis][hi] > 0:
                        expected.add((axis, lo))
    got = {(int(ax), tuple(int(c) for c in np.unravel_index(net.fluid_flat[a], vox.grid.shape)))
           for ax, a in zip(net.face_axis, net.face_a)}
    assert got == expected
    # and the closed ones: the leaky containment panels and the raised floor outside tiles are in
    # the open set only with their reduced openness
    assert np.isclose(net.face_open.min(), 0.05**2)


@pytest.fixture(scope="module")
def reference_flow():
    """The reference hall's network, a solver (its multigrid set up once for the module) and its movers' flows."""
    hall = bundled_hall("reference")
    net = build_network(voxelize_hall(hall))
    q = np.array([r.it_w * r.airflow_m3s_per_w for r in hall.racks]
                 + [c.rated_flow_m3s * c.fan_speed for c in hall.crahs] + [0.0] * len(hall.pdus))
    return net, AirflowSolver(net, multigrid="gmg"), q


def _fresh(solver):
    """The solver with its multigrid hierarchy but no potential, no recorded flows and no basis."""
    out = copy.copy(solver)
    out.phi, out.phi_movers_m3s, out._basis = np.zeros(solver.net.n), None, {}
    return out


def _cold(solver, q):
    """Face flows for q solved from zero, as the solver's own first solve does."""
    return _fresh(solver).solve(q)


def _residual(solver, q):
    """‖s − L φ‖ / ‖s‖ of the solver's last potential for mover flows q."""
    s = solver.sources_m3s(q)
    return np.linalg.norm(s - solver.laplacian @ solver.phi) / np.linalg.norm(s)


def test_crah_only_changes_are_superposed_from_basis_potentials_and_meet_the_tolerance(reference_flow):
    """Linearity: a CRAH trip and a speed change (only CRAHs moved) are solved by adding Δq_j φ_j to the last
    potential, with no CG iteration; the result meets the solver's tolerance and gives the flows a cold solve
    gives. A change of rack flows still runs CG (racks have no basis), from the superposed start."""
    net, shared, q = reference_flow
    solver = _fresh(shared)
    nr = net.n_racks
    solver.solve(q)
    cold_iterations = solver.iterations
    q_trip = q.copy()
    q_trip[nr + 2] = 0.0  # CRAH-03 trips
    q_trip[nr + 5] *= 1.07  # and CRAH-06 speeds up
    flows = solver.solve(q_trip)
    assert solver.iterations == 0 and cold_iterations > 5
    assert sorted(solver._basis) == [nr + 2, nr + 5]
    assert _residual(solver, q_trip) <= solver.rtol
    expected = _cold(shared, q_trip)
    assert np.abs(flows - expected).max() < 1e-8 * np.abs(expected).max()
    # Racks moved too: CG runs, and still meets the tolerance.
    q_both = q_trip.copy()
    q_both[:nr] *= 1.03
    q_both[nr + 5] = q[nr + 5]
    flows = solver.solve(q_both)
    assert solver.iterations > 0 and _residual(solver, q_both) <= solver.rtol
    assert np.abs(flows - _cold(shared, q_both)).max() < 1e-8 * np.abs(flows).max()


def test_a_start_that_does_not_solve_its_flows_is_corrected_by_cg(reference_flow):
    """The superposed start is only a start: with a potential that does not belong to the recorded mover flows
    (here reset to zero) the residual check sends the solve through CG, and the answer is still right."""
    net, shared, q = reference_flow
    solver = _fresh(shared)
    solver.solve(q)
    solver.phi[:] = 0.0  # phi_movers_m3s still says q: the bookkeeping is wrong
    q2 = q.copy()
    q2[net.n_racks] *= 0.9
    flows = solver.solve(q2)
    assert solver.iterations > 5 and _residual(solver, q2) <= solver.rtol
    assert np.abs(flows - _cold(shared, q2)).max() < 1e-8 * np.abs(flows).max()


# ------------------------------------------------------------------ the two multigrid paths (gmg default, amg)


def _small_hall():
    """Tiny cut to 4 × 5 × 2.5 m: at most 500 fluid cells, which the grid multigrid solves directly."""
    data = tiny_dict()
    data["hall"]["size_m"] = (4.0, 5.0, 2.5)
    return hall_from(data)


def _movers(hall):
    return np.array([r.it_w * r.airflow_m3s_per_w for r in hall.racks]
                    + [c.rated_flow_m3s * c.fan_speed for c in hall.crahs] + [0.0] * len(hall.pdus))


def test_unknown_multigrid_is_refused():
    net = build_network(voxelize_hall(bundled_hall("tiny")))
    with pytest.raises(ValueError, match="multigrid"):
        AirflowSolver(net, multigrid="sa")


def test_grid_multigrid_s_operator_is_the_laplacian():
    """The structured multigrid's finest operator, on the fluid cells, is exactly L (conductances h·openness on
    the grid faces, the grounding on each region's first cell): L x for a random x, both ways."""
    rng = np.random.default_rng(3)
    for hall in (_contained_hall(), _small_hall()):
        net = build_network(voxelize_hall(hall))
        solver = AirflowSolver(net, multigrid="gmg")
        assert isinstance(solver.multigrid, PressureMultigrid) and solver.method == "gmg"
        x = rng.standard_normal(net.n)
        grid = np.zeros(solver.multigrid.shape)
        grid.ravel()[solver._padded_index] = x
        y = solver.multigrid.matvec(grid)
        expected = solver.laplacian @ x
        assert np.abs(y.ravel()[solver._padded_index] - expected).max() < 1e-14 * np.abs(expected).max()
        outside = np.ones(y.size, dtype=bool)
        outside[solver._padded_index] = False
        assert not y.ravel()[outside].any()


@pytest.mark.parametrize("make_hall", [_contained_hall, _small_hall])
def test_gmg_and_amg_paths_give_the_direct_solution_to_their_tolerance(make_hall):
    """Either preconditioner: φ and the face flows are spsolve's to the tolerance, every cell conserves mass
    (net outflow = source) and the residual meets rtol; a grid of ≤ 500 fluid cells is one level (direct)."""
    hall = make_hall()
    net = build_network(voxelize_hall(hall))
    q = _movers(hall)
    results = {}
    for method in ("gmg", "amg"):
        solver = AirflowSolver(net, multigrid=method)
        flows = solver.solve(q)
        s = solver.sources_m3s(q)
        exact_phi = spla.spsolve(solver.laplacian.tocsc(), s)
        exact = solver.conductance_m * (exact_phi[net.face_a] - exact_phi[net.face_b])
        scale = np.abs(exact).max()
        assert np.abs(flows - exact).max() < 1e-8 * scale
        assert np.abs(solver.phi - exact_phi).max() < 1e-8 * np.abs(exact_phi).max()
        assert np.abs(face_divergence(net, flows) - s).max() < 1e-9 * scale
        assert np.linalg.norm(s - solver.laplacian @ solver.phi) <= solver.rtol * np.linalg.norm(s)
        results[method] = flows, solver
    gmg = results["gmg"][1]
    if net.n <= 500:
        assert len(gmg.multigrid.levels) == 1 and gmg.iterations == 1  # one exact preconditioner application
    else:
        assert len(gmg.multigrid.levels) > 1 and gmg.iterations > 1
    assert np.abs(results["gmg"][0] - results["amg"][0]).max() < 2e-8 * np.abs(results["amg"][0]).max()


def test_gmg_warm_start_solves_the_correction_from_the_last_potential(reference_flow):
    """A 2 % rack change on the grid multigrid path starts from the last φ: fewer CG iterations
    than a cold solve, the same flows as a cold solve, and the residual measured on ‖s‖ (not on the start's
    residual) meets rtol."""
    net, shared, q = reference_flow
    assert shared.method == "gmg"
    solver = _fresh(shared)
    solver.solve(q)
    cold = solver.iterations
    q2 = q.copy()
    q2[:net.n_racks] *= 1.02
    flows = solver.solve(q2)
    assert 0 < solver.iterations < cold
    assert _residual(solver, q2) <= solver.rtol
    expected = _cold(shared, q2)
    assert np.abs(flows - expected).max() < 1e-8 * np.abs(expected).max()
    # A start that solves the system already: CG from it takes no iteration.
    mg = solver.multigrid
    b = np.zeros(mg.shape)
    b.ravel()[solver._padded_index] = solver.sources_m3s(q2)
    x0 = mg.solve(b, 1e-11)
    assert mg.iterations > 0
    again = mg.solve(b, 1e-11, x0=x0)
    assert mg.iterations == 0 and np.array_equal(again, x0)


@pytest.mark.parametrize("method", ["gmg", "amg"])
def test_basis_potentials_meet_their_tolerance_in_the_true_residual(reference_flow, method):
    """A CRAH's basis potential solves its unit sources to BASIS_RTOL in the true residual ‖s − L φ_j‖ (CG's
    updated residual alone stopped at 1.06e-12 on this hall); each path's basis is the other's to 1e-10."""
    net, shared, q = reference_flow
    solver = shared if method == "gmg" else AirflowSolver(net, multigrid="amg")
    solver = _fresh(solver)
    j = net.n_racks  # CRAH-01: the one whose updated residual stops short of the tolerance (1.06e-12, 1.04e-12)
    phi_j = solver.basis_potential(j)
    unit = np.zeros(q.size)
    unit[j] = 1.0
    s = solver.sources_m3s(unit)
    assert np.linalg.norm(s - solver.laplacian @ phi_j) <= BASIS_RTOL * np.linalg.norm(s)
    other = _fresh(AirflowSolver(net, multigrid="amg") if method == "gmg" else shared)
    assert np.abs(other.basis_potential(j) - phi_j).max() < 1e-10 * np.abs(phi_j).max()
