"""The steady temperature solve's Krylov methods: BiCGSTAB (the momentum model's steady loop) and GMRES give
the same field, and a BiCGSTAB that stops short is finished by GMRES."""

from __future__ import annotations

import numpy as np
import pytest

from twin.model import bundled_hall
from twin.sim.twin import HallTwin
from twin.thermal import steady as steady_mod
from twin.thermal.steady import solve_steady_field
from twin.thermal.transport import flux_operator


@pytest.fixture(scope="module")
def momentum_system():
    """The tiny hall's recirculating momentum flow with racks at their rise and CRAHs at setpoint."""
    twin = HallTwin(bundled_hall("tiny"), airflow="momentum")
    state = twin.initial_state()
    q = twin.mover_flow_m3s(state)
    twin.solve_flow(state, q, converge=True)
    nr, nc = twin.n_racks, len(twin.crahs.names)
    rc = twin.air.rho_cp
    alpha = np.concatenate([np.ones(nr), np.zeros(nc), np.zeros(twin.n_pdus)])
    beta = np.concatenate([state.rack_heat_w / (rc * q[:nr]), np.full(nc, 18.0), np.zeros(twin.n_pdus)])
    args = (twin.net, state.face_flow_m3s, q, state.flow_phi, twin.air, alpha, beta)
    kwargs = {"mover_heat_w": twin.mover_heat_w(state), "t_guess_c": state.t_air_c,
              "face_diffusivity_m2s": state.face_diffusivity_m2s}
    heat_w = float(state.rack_heat_w.sum() + twin.mover_heat_w(state).sum())
    return twin, args, kwargs, heat_w, q


def _removed_w(twin, res, q) -> float:
    """Heat the CRAHs remove: ρ c_p q (T_return − T_supply)."""
    cr = twin._crah
    t_in = twin.net.intake.T @ res.t_air_c
    return float((twin.air.rho_cp * q[cr] * (t_in[cr] - res.outlet_c[cr])).sum())


def test_bicgstab_and_gmres_give_the_same_field_and_both_balance_the_heat(momentum_system):
    """At 1e-9 K both methods reach one field (within 1e-6 K), and the coils remove the heat released."""
    twin, args, kwargs, heat_w, q = momentum_system
    res = {k: solve_steady_field(*args, **kwargs, tol_k=1e-9, krylov=k) for k in ("gmres", "bicgstab")}
    assert np.abs(res["gmres"].t_air_c - res["bicgstab"].t_air_c).max() < 1e-6
    for r in res.values():
        assert r.residual_k < 1e-8
        assert _removed_w(twin, r, q) == pytest.approx(heat_w, rel=1e-6)


def test_dilu_preconditioned_bicgstab_reaches_the_same_field_in_fewer_iterations(momentum_system):
    """BiCGSTAB with DILU's diagonals in its preconditioner solves the same system as with symmetric
    Gauss–Seidel's (within 1e-6 K at 1e-9 K, the heat balanced) and needs fewer iterations for it; a misspelt
    preconditioner is refused by name."""
    twin, args, kwargs, heat_w, q = momentum_system
    res = {p: solve_steady_field(*args, **kwargs, tol_k=1e-9, krylov="bicgstab", preconditioner=p)
           for p in ("sgs", "dilu")}
    assert np.abs(res["sgs"].t_air_c - res["dilu"].t_air_c).max() < 1e-6
    for r in res.values():
        assert r.residual_k < 1e-8
        assert _removed_w(twin, r, q) == pytest.approx(heat_w, rel=1e-6)
    assert res["dilu"].iterations < res["sgs"].iterations
    with pytest.raises(ValueError, match="'sgs' or 'dilu'"):
        solve_steady_field(*args, **kwargs, preconditioner="ilu")


def test_bicgstab_that_stops_short_is_finished_by_gmres(momentum_system, monkeypatch):
    """With BiCGSTAB allowed two iterations only, GMRES takes over from its iterate and reaches the tolerance."""
    twin, args, kwargs, heat_w, q = momentum_system
    exact = solve_steady_field(*args, **kwargs, tol_k=1e-9)
    monkeypatch.setattr(steady_mod, "_BICGSTAB_MAXITER", 2)
    res = solve_steady_field(*args, **kwargs, tol_k=1e-9, krylov="bicgstab")
    assert res.iterations > 2 and res.residual_k < 1e-8
    assert np.abs(res.t_air_c - exact.t_air_c).max() < 1e-6


def test_unknown_krylov_method_is_refused_by_name(momentum_system):
    """A misspelt method names the allowed ones."""
    _, args, kwargs, _, _ = momentum_system
    with pytest.raises(ValueError, match="'gmres' or 'bicgstab'"):
        solve_steady_field(*args, **kwargs, krylov="cg")


def test_ordered_forward_substitution_is_superlu_s_solve_of_the_permuted_lower_triangle(momentum_system, rng):
    """The preconditioner's compiled forward substitution in flow order (gather and scatter in the same pass)
    solves the same triangular system as SuperLU's factorization of it, to rounding."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    twin, args, _, _, q = momentum_system
    net, face = args[0], args[1]
    k_op = flux_operator(net, face, q, twin.air) + sp.identity(net.n, format="csr")
    k_op = (sp.diags(1.0 / k_op.diagonal()) @ k_op).tocsr()
    order = np.argsort(-args[3], kind="stable")
    r = rng.standard_normal(net.n)
    lower = sp.tril(k_op[order][:, order], format="csr")
    lower.sum_duplicates()
    expected = np.empty(net.n)
    expected[order] = spla.splu(lower.tocsc(), permc_spec="NATURAL", diag_pivot_thresh=0.0).solve(r[order])
    got = steady_mod._ordered_lower_solve(lower.indptr.astype(np.int64), lower.indices.astype(np.int64), lower.data,
                                          order.astype(np.int64), r)
    assert np.abs(lower - sp.diags(lower.diagonal())).sum() > 0  # the triangle couples cells: not a diagonal
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_compiled_scaled_operator_is_flux_operator_divided_by_its_diagonal(momentum_system, rng):
    """The steady solve's one-pass assembly gives transport's reference operator (plus the anchor on the
    diagonal) with each row divided by its diagonal, to rounding, with sorted indices."""
    import scipy.sparse as sp

    twin, args, kwargs, _, q = momentum_system
    net, face, air = args[0], args[1], args[4]
    diffusivity = kwargs["face_diffusivity_m2s"]
    extra = rng.uniform(0.0, 1.0, net.n)  # stands in for the anchor: any diagonal addition
    k_ref = flux_operator(net, face, q, air, face_diffusivity_m2s=diffusivity) + sp.diags(extra)
    rc = air.rho_cp
    cond = rc * diffusivity * net.face_open * net.face_area_m2 / net.dist_m
    sink = rc * (net.intake @ q) + extra
    ptr, idx, val, diag = steady_mod._scaled_operator(net.n, net.face_a.astype(np.int64),
                                                      net.face_b.astype(np.int64), face, rc * np.abs(face),
                                                      cond, sink)
    got = sp.csr_matrix((val, idx, ptr), shape=(net.n, net.n))
    assert got.has_sorted_indices
    np.testing.assert_allclose(diag, k_ref.diagonal(), rtol=1e-13)
    expected = (sp.diags(1.0 / k_ref.diagonal()) @ k_ref).toarray()
    assert np.count_nonzero(expected - np.diag(np.diag(expected))) > net.n  # cells coupled to neighbours
    np.testing.assert_allclose(got.toarray(), expected, rtol=1e-13, atol=1e-15)


def _scaled_system_in_flow_order(momentum_system):
    """The network, K + I scaled by its diagonal (scipy's, sorted CSR), the cells' flow order (by falling
    potential) and the movers' flows, as the steady solve builds them."""
    import scipy.sparse as sp

    twin, args, _, _, q = momentum_system
    net, face, phi = args[0], args[1], args[3]
    k_op = flux_operator(net, face, q, twin.air) + sp.identity(net.n, format="csr")
    k_op = (sp.diags(1.0 / k_op.diagonal()) @ k_op).tocsr()
    k_op.sort_indices()
    return net, k_op, np.argsort(-phi, kind="stable").astype(np.int64), q


def test_compiled_triangle_and_block_system_are_scipy_s_entry_for_entry(momentum_system, rng):
    """The permuted lower triangle and the coupled system's CSR hold scipy's entries in scipy's order (the
    same bits: the steady answer does not move)."""
    import scipy.sparse as sp

    net, k_op, order, q = _scaled_system_in_flow_order(momentum_system)
    expected = sp.tril(k_op[order][:, order], format="csr")
    expected.sum_duplicates()
    tri = steady_mod._ordered_triangles(k_op.indptr, k_op.indices, k_op.data, order)
    upper = sp.triu(k_op[order][:, order], format="csr")
    for (ptr, idx, val), scipy_s in ((tri[:3], expected), (tri[3:], upper)):
        assert np.array_equal(ptr, scipy_s.indptr) and np.array_equal(idx, scipy_s.indices)
        assert np.array_equal(val, scipy_s.data)

    m = q.size
    alpha = rng.uniform(0.0, 1.0, m)
    inject = (-(net.outlet @ sp.diags(rng.uniform(1.0, 2.0, m)))).tocsr()
    coupling = (-(sp.diags(alpha) @ net.intake.T)).tocsr()
    coupling.sort_indices()
    expected = sp.vstack([sp.hstack([k_op, inject]), sp.hstack([coupling, sp.identity(m)])]).tocsr()
    ptr, idx, val = steady_mod._block_system(k_op.indptr, k_op.indices, k_op.data, inject.indptr, inject.indices,
                                             inject.data, coupling.indptr, coupling.indices, coupling.data)
    assert np.array_equal(ptr, expected.indptr) and np.array_equal(idx, expected.indices)
    assert np.array_equal(val, expected.data)


def test_symmetric_gauss_seidel_preconditioner_is_the_two_triangular_solves(momentum_system, rng):
    """BiCGSTAB's preconditioner on the cells is z = U⁻¹ D L⁻¹ r in flow order (L, U the triangles of the
    permuted operator with its diagonal D), by SuperLU to rounding; each mover then takes its intake's mix."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    net, k_op, order, q = _scaled_system_in_flow_order(momentum_system)
    perm = k_op[order][:, order]
    m = q.size
    alpha = rng.uniform(0.0, 1.0, m)
    r = rng.standard_normal(net.n + m)
    y = spla.splu(sp.tril(perm, format="csc"), permc_spec="NATURAL", diag_pivot_thresh=0.0).solve(r[:net.n][order])
    z = spla.splu(sp.triu(perm, format="csc"), permc_spec="NATURAL", diag_pivot_thresh=0.0).solve(
        perm.diagonal() * y)
    expected = np.empty(net.n)
    expected[order] = z
    intake_t = net.intake.T.tocsr()
    tri = steady_mod._ordered_triangles(k_op.indptr, k_op.indices, k_op.data, order)
    lo, up = tri[:3], tri[3:]
    u32 = [a.astype(np.uint32) for a in (lo[0], lo[1], up[0], up[1], order, intake_t.indptr, intake_t.indices)]
    got = np.empty(net.n + m)
    steady_mod._precondition(u32[0], u32[1], lo[2], u32[2], u32[3], up[2], u32[4], u32[5], u32[6],
                             intake_t.data.astype(float), alpha, r, got, np.empty(net.n))
    assert np.abs(z - y).max() > 1e-3 * np.abs(y).max()  # the backward sweep does something
    np.testing.assert_allclose(got[:net.n], expected, rtol=1e-11, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_allclose(got[net.n:], r[net.n:] + alpha * (intake_t @ expected), rtol=1e-11, atol=1e-11)


def test_dilu_preconditioner_equals_the_operator_on_its_diagonal_and_pattern(momentum_system):
    """DILU's diagonals d̃ make M = (d̃ + L) d̃⁻¹ (d̃ + U) equal the flow-ordered operator on its diagonal and on
    every entry of its pattern (the product's fill falls outside it: no two neighbours of a cell are each
    other's), unlike symmetric Gauss–Seidel's, which leaves L D⁻¹ U on the diagonal; each d̃ lies in (0, a_ii]."""
    import scipy.sparse as sp

    net, k_op, order, _ = _scaled_system_in_flow_order(momentum_system)
    n = net.n
    lo_ptr, lo_idx, lo_src, up_ptr, up_idx, up_src = steady_mod._ordered_triangle_sources(k_op.indptr,
                                                                                           k_op.indices, order)
    # Each entry's transpose, by scipy: the positions 0..nnz-1 as values, transposed.
    positions = sp.csr_matrix((np.arange(k_op.nnz, dtype=float), k_op.indices, k_op.indptr), shape=(n, n))
    rows = np.repeat(np.arange(n), np.diff(k_op.indptr))
    transpose = np.asarray(positions.T.tocsr()[rows, k_op.indices]).ravel().astype(np.int64)
    lo_val, up_val = k_op.data[lo_src], k_op.data[up_src]
    diag = steady_mod._dilu_diagonals(lo_ptr, lo_idx, lo_val, lo_src, up_ptr, up_val, transpose, k_op.data)
    perm = k_op[order][:, order].toarray()
    assert np.all(diag > 0.0) and np.all(diag <= np.diag(perm) * (1 + 1e-15))
    assert np.any(diag < 0.999 * np.diag(perm))  # the diagonals do change where cells couple both ways
    lower = sp.csr_matrix((lo_val, lo_idx, lo_ptr), shape=(n, n)).toarray()
    upper = sp.csr_matrix((up_val, up_idx, up_ptr), shape=(n, n)).toarray()
    np.testing.assert_array_equal(np.diag(lower), diag)
    np.testing.assert_array_equal(np.diag(upper), diag)
    m = lower @ np.diag(1.0 / diag) @ upper
    pattern = perm != 0.0
    np.testing.assert_allclose(m[pattern], perm[pattern], rtol=1e-12, atol=1e-14)
    assert np.abs(m[~pattern]).max() > 1e-6  # the fill DILU leaves out of the pattern (M is not A)
    sgs = np.tril(perm) @ np.diag(1.0 / np.diag(perm)) @ np.triu(perm)
    assert np.abs(np.diag(sgs) - np.diag(perm)).max() > 1e-6  # symmetric Gauss–Seidel's M misses the diagonal


def test_flow_ordering_is_reused_only_while_it_is_the_stable_sort(momentum_system):
    """The ordering a network's last solve built is reused when its order still sorts the new potential
    (falling, ties by index) and the operator's pattern is the same; otherwise it is built anew. Either way the
    order is ``argsort(-potential, kind="stable")`` and the triangles scipy's, entry for entry."""
    import scipy.sparse as sp

    net, k_op, _, _ = _scaled_system_in_flow_order(momentum_system)
    phi = momentum_system[1][3]
    net.solver_cache.pop("steady_ordering", None)
    first = steady_mod._flow_ordering(net, phi, k_op.indptr, k_op.indices)
    # The fan law's nudge: every potential moves by far less than the gaps between them.
    gaps = np.diff(np.sort(phi))
    nudged = phi * (1.0 + 0.1 * gaps[gaps > 0].min() / np.abs(phi).max())
    assert not np.array_equal(nudged, phi)
    assert steady_mod._flow_ordering(net, nudged, k_op.indptr, k_op.indices) is first
    # Two cells swap places in the order: a new one.
    swapped = phi.copy()
    a, b = first.order[10], first.order[-10]
    swapped[a], swapped[b] = phi[b], phi[a]
    for potential in (swapped, -phi):
        new = steady_mod._flow_ordering(net, potential, k_op.indptr, k_op.indices)
        assert new is not first
        order = np.argsort(-potential, kind="stable")
        np.testing.assert_array_equal(new.order, order)
        perm = k_op[order][:, order]
        for ptr, idx, src, scipy_s in ((new.lo_ptr, new.lo_idx, new.lo_src, sp.tril(perm, format="csr")),
                                       (new.up_ptr, new.up_idx, new.up_src, sp.triu(perm, format="csr"))):
            assert np.array_equal(ptr, scipy_s.indptr) and np.array_equal(idx, scipy_s.indices)
            assert np.array_equal(k_op.data[src], scipy_s.data)
        first = new
    # Ties fall to the lower index first, as the stable sort has them; a NaN potential is never "still sorted".
    flat = np.zeros_like(phi)
    assert steady_mod._stable_order_holds(np.arange(phi.size), -flat)
    assert not steady_mod._stable_order_holds(np.arange(phi.size)[::-1], -flat)
    broken = phi.copy()
    broken[first.order[5]] = np.nan
    assert not steady_mod._stable_order_holds(first.order, -broken)


def test_operator_values_into_the_kept_structure_are_the_one_pass_assembly_s(momentum_system, rng):
    """The scaled operator assembled into the network's kept structure holds _scaled_operator's entries to the
    bit, for the momentum flow and for one with every face's direction drawn at random (the structure does
    not depend on the flow, the values do)."""
    twin, args, _, _, q = momentum_system
    net, face = args[0], args[1]
    rc = twin.air.rho_cp
    cond = rng.uniform(0.1, 1.0, face.size)
    sink = rc * (net.intake @ q) + 1e-3
    structure = steady_mod._operator_structure(net)
    assert steady_mod._operator_structure(net) is structure  # kept
    for flow in (face, face * rng.choice([-1.0, 1.0], face.size)):
        ptr, idx, val, diag = steady_mod._scaled_operator(net.n, structure.face_a, structure.face_b, flow,
                                                          rc * np.abs(flow), cond, sink)
        got_val, got_diag = steady_mod._scaled_operator_values(net.n, structure.face_a, structure.face_b, flow,
                                                               rc * np.abs(flow), cond, sink, structure.pos_a,
                                                               structure.pos_b, structure.pos_diag)
        assert np.array_equal(structure.ptr, ptr) and np.array_equal(structure.idx, idx)
        assert np.array_equal(got_val, val) and np.array_equal(got_diag, diag)


def test_a_network_that_goes_takes_its_kept_structures_with_it():
    """The operator structure and flow ordering kept for a network go with the network (a finished run, a
    sweep's case): nothing else holds them or it. A network still in use keeps its own, also when its ordering
    was rebuilt in between."""
    import gc
    import weakref

    def solved_twin() -> HallTwin:
        twin = HallTwin(bundled_hall("tiny"))
        state = twin.initial_state()
        q = twin.mover_flow_m3s(state)
        twin.solve_flow(state, q, converge=True)
        nr, nc = twin.n_racks, len(twin.crahs.names)
        alpha = np.concatenate([np.ones(nr), np.zeros(nc), np.zeros(twin.n_pdus)])
        beta = np.concatenate([state.rack_heat_w / (twin.air.rho_cp * q[:nr]), np.full(nc, 18.0),
                               np.zeros(twin.n_pdus)])
        for phi in (state.flow_phi, -state.flow_phi):  # the second order replaces the first's entry
            solve_steady_field(twin.net, state.face_flow_m3s, q, phi, twin.air, alpha, beta,
                               mover_heat_w=twin.mover_heat_w(state), t_guess_c=state.t_air_c, tol_k=1e-6,
                               krylov="bicgstab")
        return twin

    kept, dropped = solved_twin(), solved_twin()
    for net in (kept.net, dropped.net):
        assert set(net.solver_cache) == {"steady_structure", "steady_ordering"}
    del net
    gone = weakref.ref(dropped.net)
    gone_ordering = weakref.ref(dropped.net.solver_cache["steady_ordering"])
    del dropped
    gc.collect()
    assert gone() is None  # nothing else holds the network
    assert gone_ordering() is None  # nor what was kept for it
    assert set(kept.net.solver_cache) == {"steady_structure", "steady_ordering"}  # the kept one keeps its own


def test_gauss_seidel_sweeps_approach_the_exact_field_and_stop_at_the_tolerance(momentum_system):
    """The inexact solve of the steady loop (``sweeps``): its residual and its distance to the exact field fall
    with the sweeps, it reaches that field (and the heat balance) when given enough, and it stops as soon as the
    tolerance is met instead of sweeping on."""
    twin, args, kwargs, heat_w, q = momentum_system
    exact = solve_steady_field(*args, **kwargs, tol_k=1e-10, krylov="bicgstab")
    runs = [solve_steady_field(*args, **kwargs, tol_k=1e-10, sweeps=n) for n in (0, 5, 25)]
    assert [r.iterations for r in runs] == [0, 5, 25]
    residuals = [r.residual_k for r in runs]
    errors = [np.abs(r.t_air_c - exact.t_air_c).max() for r in runs]
    assert residuals[0] > 10 * residuals[1] > 100 * residuals[2], residuals
    assert errors[0] > errors[1] > errors[2], errors
    done = solve_steady_field(*args, **kwargs, tol_k=1e-10, sweeps=5000)
    assert done.iterations < 5000 and done.residual_k < 1e-10
    assert np.abs(done.t_air_c - exact.t_air_c).max() < 1e-6
    assert _removed_w(twin, done, q) == pytest.approx(heat_w, rel=1e-6)
    loose = solve_steady_field(*args, **kwargs, tol_k=1e-3, sweeps=5000)
    assert loose.residual_k < 1e-3 and loose.iterations < done.iterations
