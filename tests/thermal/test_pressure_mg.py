"""The structured multigrid of the momentum model's pressure correction (twin.thermal.pressure_mg): its coarse
operators are Galerkin's, its cycle is a symmetric positive definite preconditioner, its CG solves, and the
momentum solver's projection with it gives the pyamg path's flows."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from twin.thermal.momentum import MomentumSettings, MomentumSolver
from twin.thermal.pressure_mg import PressureMultigrid, block_offsets, galerkin_coarse
from validation.benchmarks import closed_box_faces


def _problem(shape: tuple[int, int, int], rng: np.random.Generator
             ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Fluid cells with solid blocks, face weights in (0, 1] (some closed, some partly open) between fluid
    cells, and one grounded cell per connected region (a wall of closed faces splits the grid in two)."""
    fluid = np.ones(shape, bool)
    fluid[1:3, 2:4, 1:3] = False
    fluid[-2:, 0, :] = False
    weights = []
    for a in range(3):
        face_shape = tuple(n + (a == b) for b, n in enumerate(shape))
        w = rng.choice([1.0, 1.0, 0.7, 0.2, 0.0], size=face_shape)
        lo, hi = [slice(None)] * 3, [slice(None)] * 3
        lo[a], hi[a] = slice(0, -1), slice(1, None)
        both = np.zeros(face_shape, bool)
        both[tuple(hi)] = fluid
        low_side = np.zeros(face_shape, bool)
        low_side[tuple(lo)] = fluid
        inner = [slice(None)] * 3
        inner[a] = slice(1, -1)
        passable = np.zeros(face_shape, bool)
        passable[tuple(inner)] = (both & low_side)[tuple(inner)]
        weights.append(np.where(passable, w, 0.0))
    weights[0][shape[0] // 2] = 0.0  # closed faces across x: two regions (at least)
    adjacency = _laplacian(fluid, weights, np.zeros(shape)) != 0
    _, label = sp.csgraph.connected_components(adjacency, directed=False)
    ground = np.zeros(shape)
    flat = np.flatnonzero(fluid.ravel())
    for region in np.unique(label):
        ground.ravel()[flat[np.flatnonzero(label == region)[0]]] = 1.0
    return fluid, weights, ground


def _laplacian(fluid: np.ndarray, weights: list[np.ndarray], ground: np.ndarray) -> sp.csr_matrix:
    """The weighted graph Laplacian plus grounding over the fluid cells (flat order), built face by face."""
    index = np.full(fluid.shape, -1)
    index[fluid] = np.arange(int(fluid.sum()))
    n = int(fluid.sum())
    rows, cols, vals = [], [], []
    for a in range(3):
        w = weights[a]
        for f in zip(*np.nonzero(w)):
            lo = list(f)
            lo[a] -= 1
            i, j = index[tuple(lo)], index[f]
            assert i >= 0 and j >= 0
            rows += [i, j, i, j]
            cols += [i, j, j, i]
            vals += [w[f], w[f], -w[f], -w[f]]
    lap = sp.coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()
    return (lap + sp.diags(ground[fluid])).tocsr()


def _prolongation(fluid: np.ndarray, fluid_c: np.ndarray, offsets: tuple[int, int, int] = (0, 0, 0)
                  ) -> sp.csr_matrix:
    """Piecewise-constant P: fine fluid cell (i, j, k) takes its 2×2×2 block's coarse value (blocks starting
    at ``offsets``: with offset 1 along an axis, cell 0 is a block of its own, then (1, 2), (3, 4), …)."""
    fine = np.argwhere(fluid)
    index_c = np.full(fluid_c.shape, -1)
    index_c[fluid_c] = np.arange(int(fluid_c.sum()))
    blocks = (fine + np.asarray(offsets)) // 2
    cols = index_c[blocks[:, 0], blocks[:, 1], blocks[:, 2]]
    assert np.all(cols >= 0)
    return sp.csr_matrix((np.ones(len(fine)), (np.arange(len(fine)), cols)), shape=(len(fine), int(fluid_c.sum())))


def _pad(fluid: np.ndarray, v: np.ndarray) -> np.ndarray:
    grid = np.zeros(fluid.shape)
    grid[fluid] = v
    return np.pad(grid, 1)


def _unpad(fluid: np.ndarray, x: np.ndarray) -> np.ndarray:
    return x[1:-1, 1:-1, 1:-1][fluid]


@pytest.mark.parametrize("offsets", [(0, 0, 0), (1, 0, 1), (0, 1, 1)])
@pytest.mark.parametrize("shape", [(9, 7, 6), (8, 8, 5)])
def test_coarse_operator_is_galerkin_s_pt_a_p(shape, offsets, rng):
    """On grids with solids, closed and partly open faces, two regions and odd sizes, the coarse grid's
    Laplacian (coarse face weights = sums of the fine ones between two blocks, grounding summed) is PᵀAP of
    scipy's fine matrix with piecewise-constant P, over two levels, with blocks starting at either cell."""
    fluid, weights, ground = _problem(shape, rng)
    a = _laplacian(fluid, weights, ground)
    for _ in range(2):
        fluid_c, weights_c, ground_c = galerkin_coarse(fluid, weights, ground, offsets)
        assert fluid_c.shape == tuple((n + o + 1) // 2 for n, o in zip(fluid.shape, offsets))
        p = _prolongation(fluid, fluid_c, offsets)
        a_c = _laplacian(fluid_c, weights_c, ground_c)
        galerkin = (p.T @ a @ p).tocsr()
        assert abs(a_c - galerkin).max() < 1e-13
        assert a_c.nnz > 0 and abs(galerkin).max() > 0.5
        fluid, weights, ground, a = fluid_c, weights_c, ground_c, a_c


def test_levels_operators_are_the_fine_matrix_and_its_galerkin_products(rng):
    """The multigrid's own operator on every level (its compiled product, padded grids) is scipy's matrix:
    the finest is A, each coarser PᵀAP of the one above; the levels stop at max_coarse fluid cells."""
    fluid, weights, ground = _problem((12, 10, 9), rng)
    mg = PressureMultigrid(fluid, weights, ground, max_coarse=20)
    assert len(mg.levels) >= 3 and mg.levels[-1].n_fluid <= 20 < mg.levels[-2].n_fluid
    a = _laplacian(fluid, weights, ground)
    v = rng.standard_normal(int(fluid.sum()))
    np.testing.assert_allclose(_unpad(fluid, mg.matvec(_pad(fluid, v))), a @ v, rtol=0, atol=1e-13)
    for fine, coarse in zip(mg.levels[:-1], mg.levels[1:]):
        p = _prolongation(fine.fluid, coarse.fluid, fine.offsets)
        a = (p.T @ a @ p).tocsr()
        dense = mg._dense(mg.levels.index(coarse))
        np.testing.assert_allclose(dense, a.toarray(), rtol=0, atol=1e-12)


def test_preconditioner_is_symmetric_and_positive_definite(rng):
    """yᵀ M x = xᵀ M y to rounding (forward sweeps before the coarse correction, backward after, over W-cycles
    of four levels), xᵀ M x > 0, and M is not trivial (one cycle reduces the residual)."""
    fluid, weights, ground = _problem((14, 12, 10), rng)
    mg = PressureMultigrid(fluid, weights, ground, max_coarse=10)
    assert len(mg.levels) >= 4
    a = _laplacian(fluid, weights, ground)
    for _ in range(5):
        x, y = (_pad(fluid, rng.standard_normal(int(fluid.sum()))) for _ in range(2))
        mx, my = mg.precondition(x), mg.precondition(y)
        assert abs(np.vdot(y, mx) - np.vdot(x, my)) < 1e-12 * abs(np.vdot(y, mx)) + 1e-14
        assert np.vdot(x, mx) > 0.0
        b = _unpad(fluid, x)
        assert np.linalg.norm(b - a @ _unpad(fluid, mx)) < 0.5 * np.linalg.norm(b)
    # the padding and the solid cells stay zero
    assert not np.any(mx[1:-1, 1:-1, 1:-1][~fluid]) and not np.any(mx[0]) and not np.any(mx[:, :, -1])


@pytest.mark.parametrize("rtol", [1e-10, 1e-3, 0.1])
def test_preconditioned_cg_solves_a_poisson_problem_with_a_known_solution(rtol, rng):
    """b = A x* for a known x*: CG reaches ‖b − A x‖ < rtol ‖b‖, and at 1e-10 it is x*; a handful of iterations
    (a multigrid-preconditioned, not a plain CG)."""
    fluid, weights, ground = _problem((20, 16, 12), rng)
    mg = PressureMultigrid(fluid, weights, ground)
    a = _laplacian(fluid, weights, ground)
    x_true = rng.standard_normal(int(fluid.sum()))
    b = a @ x_true
    x = _unpad(fluid, mg.solve(_pad(fluid, b), rtol))
    assert np.linalg.norm(b - a @ x) < rtol * np.linalg.norm(b)
    assert 1 <= mg.iterations <= 25
    if rtol == 1e-10:
        np.testing.assert_allclose(x, x_true, rtol=0, atol=1e-7 * np.abs(x_true).max())


@pytest.mark.parametrize("shape", [(5, 4, 3), (10, 8, 6)])
def test_small_grid_is_one_level_and_a_direct_solve(shape, rng):
    """A grid with at most ``direct_below`` (500) fluid cells is not coarsened: one cycle solves it exactly
    (a projection to any tolerance is then exact, as pyamg's one-level hierarchy was for such grids)."""
    fluid, weights, ground = _problem(shape, rng)
    assert 60 < fluid.sum() <= 500 or shape == (5, 4, 3)
    mg = PressureMultigrid(fluid, weights, ground)
    assert len(mg.levels) == 1
    assert len(PressureMultigrid(fluid, weights, ground, direct_below=0).levels) == (2 if fluid.sum() > 60 else 1)
    a = _laplacian(fluid, weights, ground)
    b = rng.standard_normal(int(fluid.sum()))
    np.testing.assert_allclose(a @ _unpad(fluid, mg.precondition(_pad(fluid, b))), b, rtol=0, atol=1e-12)


def test_blocks_are_aligned_so_that_a_weak_plane_falls_between_them():
    """A raised floor's tile layer (weak faces at one height): the blocks along z start so that the layer
    is a block boundary, at either parity; the other axes, uniform, keep offset 0. Where the unaligned blocks
    (offset 0) would straddle the layer (an odd face) the aligned ones need far fewer CG iterations (6 against
    12 here); where they would not, both are the same blocks."""
    shape = (12, 10, 11)
    for layer in (3, 4):
        weights = closed_box_faces(shape)
        weights[2][:, :, layer] *= 0.05
        offsets = block_offsets(weights)
        assert offsets[:2] == (0, 0)
        assert (layer + offsets[2]) % 2 == 0  # face `layer` lies between blocks: cells layer−1 and layer apart
        fluid = np.ones(shape, bool)
        ground = np.zeros(shape)
        ground[0, 0, 0] = 1.0
        b = np.random.default_rng(layer).standard_normal(shape)
        b -= b.mean()
        iterations = {}
        for aligned in (True, False):
            mg = PressureMultigrid(fluid, weights, ground, max_coarse=10, aligned=aligned)
            mg.solve(np.pad(b, 1), 1e-6)
            iterations[aligned] = mg.iterations
        if layer % 2:
            assert 2 * iterations[True] <= iterations[False], iterations
        else:
            assert iterations[True] == iterations[False], iterations


def test_bad_alpha_and_unknown_pressure_solver_are_refused():
    shape = (4, 4, 4)
    with pytest.raises(ValueError, match="alpha"):
        PressureMultigrid(np.ones(shape, bool), closed_box_faces(shape), np.ones(shape), alpha=2.0)
    with pytest.raises(ValueError, match="pressure_solver"):
        MomentumSolver(np.zeros(shape, bool), closed_box_faces(shape), 0.1,
                       settings=MomentumSettings(pressure_solver="fft"))


def test_solver_s_multigrid_matrix_is_its_laplacian(rng):
    """The momentum solver's structured multigrid (default) holds its pressure matrix: openness weights,
    solids, the grounding of each connected region (a sealed wall makes two), the same as its CSR Laplacian."""
    shape = (12, 8, 6)
    solid = np.zeros(shape, bool)
    solid[3:5, 2:6, 0:4] = True
    faces = [np.where(rng.random(f.shape) < 0.2, 0.5, 1.0) * f for f in closed_box_faces(shape)]
    faces[0][8] = 0.0  # a sealed wall across x
    solver = MomentumSolver(solid, faces, 0.1)
    assert solver.settings.pressure_solver == "gmg" and solver.pressure_mg is not None
    assert solver.n_components == 2
    v = rng.standard_normal(solver.n_cells)
    got = _unpad(solver.fluid, solver.pressure_mg.matvec(_pad(solver.fluid, v)))
    np.testing.assert_allclose(got, solver.laplacian @ v, rtol=0, atol=1e-13)


@pytest.mark.parametrize("rtol", [0.1, 1e-3, None])
def test_projection_with_either_multigrid_gives_the_same_flows_to_its_tolerance(rtol, rng):
    """A projection of a random face field with the structured multigrid and with pyamg's: both make
    D F = s to their tolerance (None: one cycle, at least halving it), and at 1e-3 give the same flows
    within it; closed by the spanning tree, D F = s to round-off."""
    shape = (16, 10, 8)
    solid = np.zeros(shape, bool)
    solid[4:7, 3:6, 0:5] = True
    faces = closed_box_faces(shape)
    results = {}
    for kind in ("gmg", "amg"):
        solver = MomentumSolver(solid, faces, 0.1, settings=MomentumSettings(pressure_solver=kind))
        u = [np.where(solver.active[a], np.random.default_rng(7).standard_normal(solver.u[a].shape), 0.0)
             for a in range(3)]
        s = np.zeros(shape)
        before = np.linalg.norm(solver._divergence_m3s(u)[solver.fluid])
        phi = solver._project(u, s, 1.0, rtol)
        after = np.linalg.norm(solver._divergence_m3s(u)[solver.fluid])
        assert phi.shape == shape and not np.any(phi[solid])
        assert after < (0.5 if rtol is None else rtol) * before
        results[kind] = np.concatenate([x.ravel() for x in u])
        solver._close_divergence(u, s)
        assert np.abs(solver._divergence_m3s(u)[solver.fluid]).max() < 1e-13 * before
    if rtol == 1e-3:
        scale = np.abs(results["amg"]).max()
        assert np.abs(results["gmg"] - results["amg"]).max() < 0.05 * scale
