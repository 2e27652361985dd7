"""Heat transport: analytic fronts, a closed room heating up, conservation over runs."""

from __future__ import annotations

import functools
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import erfc

from tests.halls import hall_from, tiny_dict, two_crah_dict
from twin.geometry.voxel import Grid, HallVoxels, Mover
from twin.model import bundled_hall
from twin.sim.twin import HallTwin, TwinState
from twin.thermal.airflow import AirflowSolver
from twin.thermal.network import build_network
from twin.thermal.transport import AirProperties, TransportOperator, heat_rate_w, linear_upwind_correction_w


def _duct(n_cells: int, cell_m: float) -> HallVoxels:
    """A 1-cell-wide duct along x; a fan takes air from the last cell and blows it into the first."""
    shape = (n_cells, 1, 1)
    open_faces = (np.ones((n_cells + 1, 1, 1)), np.ones((n_cells, 2, 1)), np.ones((n_cells, 1, 2)))
    open_faces[0][[0, -1]] = 0.0
    open_faces[1][:] = 0.0
    open_faces[2][:] = 0.0
    fan = Mover("fan", intake=np.array([n_cells - 1]), outlet=np.array([0]))
    return HallVoxels(Grid(shape, (0.0, 0.0, 0.0), cell_m), np.zeros(shape, bool),
                      np.full(shape, -1, np.int32), [], open_faces, crahs=[fan])


def _front_error(cell_m: float, *, length_m=12.0, u_m_s=0.5, alpha_m2s=0.05, cfl=0.5, t_end_s=8.0,
                 x0_m=3.0) -> float:
    """L1 error of the front T = ½ erfc((x − x0 − u t)/(2√(α t))) after t_end, on one grid."""
    n = int(round(length_m / cell_m))
    net = build_network(_duct(n, cell_m))
    q = np.array([u_m_s * cell_m**2])
    solver = AirflowSolver(net)
    flows = solver.solve(q)
    assert np.allclose(flows, q[0])
    air = AirProperties(diffusivity_m2s=alpha_m2s)
    dt = cfl * cell_m / u_m_s
    x = (np.arange(n) + 0.5) * cell_m
    t0 = 1.0  # start from the exact solution at t0 (a smooth front), so the comparison is of the scheme
    exact = lambda t: 0.5 * erfc((x - x0_m - u_m_s * t) / (2.0 * np.sqrt(alpha_m2s * t)))  # noqa: E731
    op = TransportOperator(net, flows, q, solver.phi, air, dt, tol_k=1e-12, rtol=0.0)
    t = exact(t0)
    steps = int(round((t_end_s - t0) / dt))
    for _ in range(steps):
        t, _ = op.step(t, np.array([1.0]))
    return float(np.mean(np.abs(t - exact(t0 + steps * dt))))


def test_advection_diffusion_front_converges_at_first_order():
    """Implicit upwind transport of an erfc front converges to the analytic solution at order ≈ 1."""
    cells = [0.1, 0.05, 0.025, 0.0125]
    errors = [_front_error(h) for h in cells]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 0.01
    assert np.all(orders > 0.8) and np.all(orders < 1.3), orders


def test_linear_upwind_correction_makes_a_quadratic_profile_s_advection_exact_and_conserves_heat():
    """With the deferred correction, the heat a cell's faces carry of T = x² is exact (linear upwind with
    central gradients reproduces the face-value difference 2 x h, where upwind has 2 x h − h²); the
    correction only moves heat between cells; it adds nothing at an extremum (the limiter's first order)."""
    cell_m, n = 0.1, 30
    net = build_network(_duct(n, cell_m))
    x = (np.arange(n) + 0.5) * cell_m + 1.0
    q_m3s = 0.02
    flows = np.full(net.face_a.size, q_m3s)
    air = AirProperties()
    t = x**2
    corr = linear_upwind_correction_w(net, flows, t, air)
    upwind_out = air.rho_cp * q_m3s * (t[1:-1] - t[:-2])  # heat leaving cell i by upwind advection, net
    exact_out = air.rho_cp * q_m3s * 2.0 * x[1:-1] * cell_m
    interior = slice(2, -2)  # away from the duct's closed ends, where the gradient is one-sided
    assert np.allclose((upwind_out - corr[1:-1])[interior], exact_out[interior], rtol=1e-12)
    assert np.max(np.abs(upwind_out - exact_out)[interior]) > 0.1 * air.rho_cp * q_m3s * cell_m**2
    assert abs(corr.sum()) < 1e-9 * np.abs(corr).sum()
    peak = np.minimum(t, t[::-1])  # a tent: the middle cells are an extremum
    corr_peak = linear_upwind_correction_w(net, flows, peak, air)
    top = int(np.argmax(peak))
    # A cell colder than all six open neighbours, which have one value (no gradient): a minimum, no step.
    shape = (3, 3, 3)
    box = HallVoxels(Grid(shape, (0.0, 0.0, 0.0), cell_m), np.zeros(shape, bool), np.full(shape, -1, np.int32), [],
                     (np.ones((4, 3, 3)), np.ones((3, 4, 3)), np.ones((3, 3, 4))))
    box_net = build_network(box)
    dip = np.zeros(box_net.n)
    dip[box_net.cell_of[1, 1, 1]] = -1.0
    box_flows = np.full(box_net.face_a.size, q_m3s)
    box_corr = linear_upwind_correction_w(box_net, box_flows, dip, air)
    assert box_corr[box_net.cell_of[1, 1, 1]] == 0.0 and np.all(np.isfinite(box_corr))
    # The top cells (two of one value) pass on upwind's value: nothing extra leaves them; the rising cell
    # before them still sends its second-order share.
    assert corr_peak[top + 1] == 0.0 and corr_peak[top] > 0.0, corr_peak[top - 1:top + 3]


@pytest.mark.parametrize("kernel", ["fused", "reference"])
def test_layers_of_different_diffusivity_pass_the_same_heat_at_gradients_inverse_to_it(rng, kernel):
    """Fourier's law across layers (per-face diffusivity, as the momentum model's eddies give it): heat
    released at one end of a closed duct warms it at a uniform rate once the start has died away, so each
    face passes the heat for the cells beyond it, P·(n − k)/n, at a temperature drop ΔT_f = that flux ·
    d / (ρ c_p α_f A). Implicit Euler is exact for a field rising linearly in time."""
    n, cell_m, power_w = 20, 0.1, 50.0
    net = build_network(_duct(n, cell_m))
    assert np.array_equal(net.face_a, np.arange(n - 1))  # faces in order along the duct
    alpha_m2s = rng.uniform(0.005, 0.05, net.face_a.size)
    q = np.zeros(1)  # fan off: diffusion alone
    air = AirProperties()
    op = TransportOperator(net, np.zeros(net.face_a.size), q, np.zeros(n), air, 20.0, tol_k=1e-13, rtol=0.0,
                           max_sweeps=2000, kernel=kernel, face_diffusivity_m2s=alpha_m2s)
    t = np.full(n, 20.0)
    for _ in range(300):  # 6000 s, far past the slowest decay L²/(π² α_min) ≈ 80 s
        t, _ = op.step(t, np.array([0.0]), np.array([power_w]))
    flux_w = power_w * (n - 1 - np.arange(n - 1)) / n  # face k passes the heat of cells k+1 … n−1
    drop_k = t[:-1] - t[1:]
    expected_k = flux_w * cell_m / (air.rho_cp * alpha_m2s * cell_m**2)
    assert np.allclose(drop_k, expected_k, rtol=1e-6), np.max(np.abs(drop_k / expected_k - 1))
    # A constant per-face array is the constant diffusivity.
    const = TransportOperator(net, np.zeros(net.face_a.size), q, np.zeros(n), air, 20.0, kernel=kernel,
                              face_diffusivity_m2s=np.full(net.face_a.size, air.diffusivity_m2s))
    plain = TransportOperator(net, np.zeros(net.face_a.size), q, np.zeros(n), air, 20.0, kernel=kernel)
    start = np.linspace(15.0, 25.0, n)
    a, b = const.step(start, np.array([0.0]), np.array([power_w]))[0], plain.step(start, np.array([0.0]),
                                                                                  np.array([power_w]))[0]
    assert np.array_equal(a, b)


def test_reference_form_and_fast_step_agree():
    """The fast ordered solver satisfies the plain (reference) balance ρc_pV dT/dt = heat_rate(T')."""
    twin = HallTwin(bundled_hall("tiny"), dt_s=2.0)
    state = twin.initial_state()
    for _ in range(30):
        twin.step(state)
    op = twin.operator(state)
    t_old = state.t_air_c.copy()
    outlet = np.concatenate([state.t_rack_c, state.t_coil_c, np.zeros(twin.n_pdus)])
    heat = twin.mover_heat_w(state)
    op.tol_k, op.rtol = 1e-12, 0.0
    t_new, t_in = op.step(t_old, outlet, heat)
    # Converged to 1e-12 K, the implicit iterate and the conservative new field coincide.
    rate = heat_rate_w(twin.net, state.face_flow_m3s, op.mover_flow_m3s, twin.air, t_new, outlet, heat)
    lhs = op.cell_heat_j_per_k * (t_new - t_old) / op.dt_s
    assert np.allclose(lhs, rate, rtol=0, atol=1e-9 * np.abs(rate).max())
    assert np.allclose(t_in, twin.intake_c(t_new), atol=1e-9)


def _closed_room(thermal_mass_kj_per_k: float):
    data = tiny_dict()
    data["crahs"] = []
    data["tiles"] = []
    data.pop("raised_floor")
    for row in data["rows"]:
        row["thermal_mass_kj_per_k"] = thermal_mass_kj_per_k
    return hall_from(data)


def test_closed_room_without_cooling_heats_at_total_heat_over_heat_capacity():
    """No cooling: the air warms at P/(ρ c_p V_air + ΣC_rack); with light racks ≈ P/(ρ c_p V_air)."""
    for mass_kj_per_k, dt in ((150.0, 1.0), (0.5, 0.25)):
        hall = _closed_room(mass_kj_per_k)
        twin = HallTwin(hall, dt_s=dt)
        state = twin.initial_state()
        sx, sy, sz = hall.spec.hall.size_m
        v_air = sx * sy * sz - sum(np.prod(np.subtract(r.box.hi, r.box.lo)) for r in hall.racks)
        rho_cp = hall.spec.air.density_kg_m3 * hall.spec.air.cp_j_kgk
        power = hall.it_w
        c_racks = sum(r.heat_capacity_j_per_k for r in hall.racks)
        for _ in range(int(2400 / dt)):  # past the racks' lag (minutes for 150 kJ/K)
            twin.step(state)
        t_mean0, t0 = state.t_air_c.mean(), state.time_s
        for _ in range(int(600 / dt)):
            twin.step(state)
        rate = (state.t_air_c.mean() - t_mean0) / (state.time_s - t0)
        assert np.isclose(rate, power / (rho_cp * v_air + c_racks), rtol=2e-3), (mass_kj_per_k, rate)
        if mass_kj_per_k < 1.0:
            assert np.isclose(rate, power / (rho_cp * v_air), rtol=0.02)


def test_energy_balance_closes_over_a_run_with_load_steps_and_fan_ramps():
    """Heat in − heat removed − Δ stored heat stays at round-off through load steps and reflows."""
    data = tiny_dict()
    for row in data["rows"]:
        row["fan_ramp_start_c"] = 19.0  # server fans speed up in this run: the flow field changes
    twin = HallTwin(hall_from(data), dt_s=2.0)
    state = twin.initial_state()
    stored0 = twin.stored_heat_j(state)
    for i in range(1800):
        if i == 600:
            state.rack_it_w = state.rack_it_w * 1.8  # a load step
            state.rack_heat_w = state.rack_it_w
        if i == 1200:
            state.crah_fan_speed = state.crah_fan_speed * 0.7  # a CRAH slows down
        twin.step(state)
    assert twin.flow_solves > 3
    # Independent bookkeeping from the fields themselves.
    rho_cp_v = twin.air.rho_cp * twin.net.cell_volume_m3
    stored = rho_cp_v * state.t_air_c.sum() + twin.racks.heat_capacity_j_per_k @ state.t_rack_c
    imbalance = state.heat_in_j - state.heat_removed_j - (stored - stored0)
    assert abs(imbalance) < 1e-9 * state.heat_in_j
    assert abs(twin.energy_balance_error(state)) < 1e-9


def test_each_step_keeps_the_air_within_its_sources():
    """Discrete maximum principle: each step's field lies between the coldest and hottest of the old
    field and the air the movers blow (racks' exhaust; CRAH supply = coil outlet + its fan's heat)."""
    twin = HallTwin(hall_from(tiny_dict()))
    state = twin.initial_state()
    for _ in range(600):
        old_c = state.t_air_c
        exhaust_c = state.t_rack_c
        twin.step(state)
        fan_rise_k = twin.crah_fan_power_w(state) / (twin.air.rho_cp * state.crah_flow_m3s)
        blown_c = np.concatenate([exhaust_c, state.t_coil_c, state.t_coil_c + fan_rise_k])
        lo, hi = min(old_c.min(), blown_c.min()), max(old_c.max(), blown_c.max())
        assert state.t_air_c.min() >= lo - 1e-6 and state.t_air_c.max() <= hi + 1e-6


def _operators_on_a_run(model: str) -> tuple[HallTwin, object, dict]:
    """Tiny hall with ``model`` airflow, 40 s into a run from still air (a field with gradients), and both
    forms of the transport operator on its flow field (and, with the momentum model, its eddy diffusivity)."""
    data = tiny_dict()
    data["airflow"] = {"model": model}
    twin = HallTwin(hall_from(data), dt_s=2.0)
    state = twin.initial_state()
    for _ in range(20):
        twin.step(state)
    args = (twin.net, state.face_flow_m3s, state.flow_movers_m3s, state.flow_phi, twin.air, twin.dt_s)
    # The momentum model mixes at its own eddy diffusivity, one per face: both forms get it.
    assert (state.face_diffusivity_m2s is None) == (model == "potential")
    return twin, state, {k: TransportOperator(*args, kernel=k, face_diffusivity_m2s=state.face_diffusivity_m2s)
                         for k in ("reference", "fused")}


@functools.cache
def _compare_forms(model: str) -> int:
    """Checks both forms on one step at a loose and a round-off tolerance; returns the latter's sweeps."""
    twin, state, ops = _operators_on_a_run(model)
    outlet = np.concatenate([state.t_rack_c, state.t_coil_c, np.zeros(twin.n_pdus)])
    heat = twin.mover_heat_w(state)
    guess = 2.0 * state.t_air_c - state.t_air_prev_c
    for tol_k, rtol in ((1e-3, 0.1), (1e-12, 0.0)):
        out, sweeps = {}, {}
        for kernel, op in ops.items():
            op.tol_k, op.rtol = tol_k, rtol
            out[kernel] = op.step(state.t_air_c, outlet, heat, t_guess_c=guess)
            sweeps[kernel] = op.last_sweeps
            # The operator's own extrapolation from the field before (what HallTwin.step asks for) is the
            # same first guess, so the very same step.
            t_new, t_in = op.step(state.t_air_c, outlet, heat, t_prev_c=state.t_air_prev_c)
            assert op.last_sweeps == sweeps[kernel]
            assert np.array_equal(t_new, out[kernel][0]) and np.array_equal(t_in, out[kernel][1])
        assert sweeps["fused"] == sweeps["reference"] >= (1 if rtol else 3)
        span_k = np.ptp(state.t_air_c)
        assert span_k > 0.5  # a field worth transporting
        assert np.abs(out["fused"][0] - out["reference"][0]).max() < 1e-11 * span_k + 1e-12
        assert np.abs(out["fused"][1] - out["reference"][1]).max() < 1e-11 * span_k + 1e-12
        # Each form on its own conserves energy to round-off: stored-heat change = heat in − heat drawn out.
        q = ops["fused"].mover_flow_m3s
        inject_w = float((twin.air.rho_cp * q * outlet + heat).sum())
        drawn_w = float(twin.air.rho_cp * q @ out["fused"][1])
        stored_w = ops["fused"].cell_heat_j_per_k * float((out["fused"][0] - state.t_air_c).sum()) / twin.dt_s
        assert abs(stored_w - (inject_w - drawn_w)) < 1e-9 * abs(inject_w)
    return sweeps["fused"]


@pytest.mark.parametrize("model", ["potential", "momentum"])
@pytest.mark.parametrize("couplings", ["float64", "float32"])
def test_compiled_assembly_is_the_plain_ordered_matrix(model, couplings):
    """The fused operator's compiled assembly (from the neighbour table, each time the flow changes) gives the
    plain CSR assembly's matrix: the same row order, the same columns in each row, the very same couplings,
    the diagonal to round-off (its terms are summed in another order), and so the same contraction; on the
    potential flow and on the momentum model's recirculating one with its per-face eddy diffusivity."""
    from twin.thermal.transport import _ordered_matrix, _single_couplings

    twin, state, ops = _operators_on_a_run(model)
    args = (twin.net, state.face_flow_m3s, state.flow_movers_m3s, state.flow_phi, twin.air, twin.dt_s)
    fused = TransportOperator(*args, face_diffusivity_m2s=state.face_diffusivity_m2s, couplings=couplings)
    order, a_ord = _ordered_matrix(*args[:3], twin.air, twin.dt_s, np.argsort(-state.flow_phi, kind="stable"),
                                   state.face_diffusivity_m2s)
    if couplings == "float32":
        a_ord = _single_couplings(a_ord)
    assert np.array_equal(fused.order, order)
    n = twin.net.n
    rows = np.repeat(np.arange(n), np.diff(a_ord.indptr))
    off = rows != a_ord.indices
    # Padding slots point at their own row with a zero value; the rest is the CSR row in column order.
    used = fused._ell_col != np.arange(n)[:, None]
    assert not fused._ell_val[~used].any()
    assert np.array_equal(np.repeat(np.arange(n), used.sum(axis=1)), rows[off])
    assert np.array_equal(fused._ell_col[used], a_ord.indices[off])
    assert np.array_equal(fused._ell_val[used], a_ord.data[off])
    assert np.allclose(fused._diag, a_ord.diagonal(), rtol=4e-16 * 6, atol=0)
    assert fused.contraction == pytest.approx(ops["reference"].contraction if couplings == "float64"
                                              else TransportOperator(*args, kernel="reference",
                                                                     couplings=couplings,
                                                                     face_diffusivity_m2s=state.face_diffusivity_m2s
                                                                     ).contraction, rel=1e-13)
    # Something to compare: advection couples each face one way only, so the matrix is not symmetric.
    assert abs(a_ord - a_ord.T).max() > 0.1 * np.abs(a_ord.data[off]).max()


@pytest.mark.parametrize("model", ["potential", "momentum"])
def test_fused_sweep_matches_the_reference_operator_to_round_off(model):
    """The compiled sweep runs the reference operator's iteration: same sweeps, same field to round-off,
    for the potential flow and for the momentum model's recirculating flows."""
    _compare_forms(model)


def test_recirculating_flow_needs_more_sweeps_than_potential_flow():
    """The momentum model's recirculation puts advective couplings upstream of the sweep order (potential
    order): converging to round-off takes more sweeps than on the potential flow, where only diffusion does."""
    sweeps = {model: _compare_forms(model)
              for model in ("potential", "momentum")}
    assert sweeps["momentum"] > sweeps["potential"], sweeps


def test_fused_sweep_runs_where_numba_cannot_cache(tmp_path):
    """A read-only (here: unusable) numba cache location turns caching off instead of failing the first
    step: CI images and system-wide installs compile in memory."""
    not_a_dir = tmp_path / "cache-is-a-file"
    not_a_dir.write_text("")
    code = ("import numpy as np; from twin.thermal import transport as t; from twin.model import bundled_hall; "
            "from twin.sim.twin import HallTwin; tw = HallTwin(bundled_hall('tiny')); s = tw.initial_state(); "
            "tw.step(s); print(t._CACHE, abs(tw.energy_balance_error(s)) < 1e-12)")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(not_a_dir)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("model", ["potential", "momentum"])
def test_sweeps_stop_within_their_tolerance_of_the_exact_implicit_solution(model):
    """The stopping test bounds the iterate's true error: the intakes (averages of the iterate) lie within
    tol_k of those of the implicit step solved directly by SuperLU's full LU (spsolve), on both flows."""
    import scipy.sparse.linalg as spla

    twin, state, ops = _operators_on_a_run(model)
    ref = ops["reference"]
    outlet = np.concatenate([state.t_rack_c, state.t_coil_c, np.zeros(twin.n_pdus)])
    heat = twin.mover_heat_w(state)
    a_ord = (sp.tril(ref._lu.L @ ref._lu.U) + ref.upper).tocsc()  # the ordered matrix, M + U
    inject = ref._outlet_ord @ (twin.air.rho_cp * ref.mover_flow_m3s * outlet + heat)
    b = ref.cell_heat_j_per_k / ref.dt_s * state.t_air_c[ref.order] + inject
    exact_in = ref._intake_t_ord @ spla.spsolve(a_ord, b)
    for tol_k in (1e-2, 1e-4):
        for op in ops.values():
            op.tol_k, op.rtol = tol_k, 0.0
            _, t_in = op.step(state.t_air_c, outlet, heat)  # from the old field: a poor guess
            assert np.abs(t_in - exact_in).max() < tol_k, (op.kernel, tol_k, op.last_sweeps)


def test_single_precision_couplings_conserve_energy_and_stay_with_double_precision():
    """Couplings stored as float32 (half their bytes per sweep): the diagonal takes up what rounding moved, so
    every step still conserves energy to round-off, and over a run with load steps the field stays within
    1e-5 K of the float64 operator's (the couplings differ by at most 6e-8 of themselves)."""
    twin = HallTwin(bundled_hall("tiny"), dt_s=2.0)
    state = twin.initial_state()
    for _ in range(20):
        twin.step(state)
    args = (twin.net, state.face_flow_m3s, state.flow_movers_m3s, state.flow_phi, twin.air, twin.dt_s)
    ops = {c: TransportOperator(*args, couplings=c) for c in ("float64", "float32")}
    assert ops["float32"]._ell_val.dtype == np.float32
    assert ops["float32"].bytes_per_sweep < ops["float64"].bytes_per_sweep
    q = ops["float64"].mover_flow_m3s
    outlet = np.concatenate([state.t_rack_c, state.t_coil_c, np.zeros(twin.n_pdus)])
    heat = twin.mover_heat_w(state)
    fields = {c: state.t_air_c.copy() for c in ops}
    for k in range(100):
        out_k = outlet + (3.0 if k >= 30 else 0.0)  # the exhausts and supplies 3 K warmer from step 30 on
        for c, op in ops.items():
            t_new, t_in = op.step(fields[c], out_k, heat)
            inject_w = float((twin.air.rho_cp * q * out_k + heat).sum())
            drawn_w = float(twin.air.rho_cp * q @ t_in)
            stored_w = op.cell_heat_j_per_k * float((t_new - fields[c]).sum()) / op.dt_s
            assert abs(stored_w - (inject_w - drawn_w)) < 1e-9 * abs(inject_w), c
            fields[c] = t_new
    assert np.ptp(fields["float64"]) > 1.0  # a field worth comparing
    assert 0 < np.abs(fields["float32"] - fields["float64"]).max() < 1e-5


@pytest.mark.parametrize("jump_k", [0.0, 0.3])
def test_one_sweeps_error_after_a_supply_jump_stays_within_the_stopping_bound(jump_k):
    """A step in the CRAHs' supply temperature (what a valve loop on a quantised, noisy sensor does every second)
    is carried along the flow exactly by the first sweep, but the downstream diffusive couplings still read the
    extrapolated guess: the error left after that sweep, against the implicit step solved directly, is real, and
    the stopping test's bound (error_bound_k after one sweep) must cover it; the fused kernel stopped after one
    sweep leaves the same iterate as the reference form."""
    import scipy.sparse.linalg as spla

    from twin.thermal.transport import error_bound_k

    twin, state, ops = _operators_on_a_run("potential")
    ref = ops["reference"]
    outlet = np.concatenate([state.t_rack_c, state.t_coil_c, np.zeros(twin.n_pdus)])
    outlet[twin.n_racks:twin.n_racks + state.t_coil_c.size] += jump_k
    heat = twin.mover_heat_w(state)
    a_ord = (sp.tril(ref._lu.L @ ref._lu.U) + ref.upper).tocsc()
    inject = ref._outlet_ord @ (twin.air.rho_cp * ref.mover_flow_m3s * outlet + heat)
    t_old = state.t_air_c[ref.order]
    b = ref.cell_heat_j_per_k / ref.dt_s * t_old + inject
    exact = spla.spsolve(a_ord, b)
    guess = (2.0 * state.t_air_c - state.t_air_prev_c)[ref.order]
    one = ref._lu.solve(b - ref.upper @ guess)  # one sweep of the iteration, from the extrapolated guess
    error_k = np.abs(one - exact).max()
    bound_k = error_bound_k(float(np.abs(one - guess).max()), 0.0, ref.contraction)
    assert error_k <= bound_k, (error_k, bound_k)
    if jump_k:
        # The jump reaches the field (the supply moves cells by a good part of it) and leaves an error that
        # a stopping test must see: more than a thousandth of a kelvin, the default tol_k.
        assert np.abs(one - t_old).max() > 0.5 * jump_k
        assert error_k > 1e-3
    for op in ops.values():
        op.max_sweeps = 1
        _, t_in = op.step(state.t_air_c, outlet, heat, t_prev_c=state.t_air_prev_c)
        assert op.last_sweeps == 1
        assert np.abs(t_in - ref._intake_t_ord @ one).max() < 1e-9
        assert np.abs(t_in - ref._intake_t_ord @ exact).max() <= bound_k


def _two_crah_operators() -> tuple[HallTwin, TwinState, dict]:
    """The two-CRAH tiny hall 40 s into a run under embedded control, and both forms of its transport
    operator responding to the CRAHs' injections (what HallTwin builds under embedded control)."""
    twin = HallTwin(hall_from(two_crah_dict()), dt_s=2.0, control="embedded")
    state = twin.initial_state()
    for _ in range(20):
        twin.step(state)
    crahs = np.arange(twin._crah.start, twin._crah.stop)
    args = (twin.net, state.face_flow_m3s, state.flow_movers_m3s, state.flow_phi, twin.air, twin.dt_s)
    return twin, state, {k: TransportOperator(*args, kernel=k, respond_movers=crahs) for k in ("reference", "fused")}


def test_responses_are_the_implicit_steps_echo_of_each_movers_injection():
    """Column k·m + j of the stored responses is P^k R e_j, R = A⁻¹ B and P = A⁻¹ ρ c_p V/dt, the ordered
    implicit step solved directly (spsolve): kept entries within the responses' precision, and what was dropped
    below the cutoff; both forms of the operator store the same responses."""
    import scipy.sparse.linalg as spla

    twin, state, ops = _two_crah_operators()
    ref = ops["reference"]
    a_ord = (sp.tril(ref._lu.L @ ref._lu.U) + ref.upper).tocsc()
    movers = ref.respond_movers
    m, steps, n = movers.size, TransportOperator.RESPONSE_STEPS, twin.net.n
    stored = {}
    for kernel, op in ops.items():
        row, col, val = op._build_response()
        assert np.all(np.diff(row) >= 0)  # sorted by row: the kernel reads the field in memory order
        dense = np.zeros((n, steps * m))
        dense[row, col] = val
        stored[kernel] = dense
    for j, mover in enumerate(movers):
        b = ref._outlet_ord[:, mover].toarray().ravel()  # 1 W blown in by this mover, spread over its outlet
        x = spla.spsolve(a_ord, b)
        largest = np.abs(x).max()
        assert largest > 0
        for k in range(steps):
            if k:
                x = spla.spsolve(a_ord, ref.cell_heat_j_per_k / ref.dt_s * x)
            got = stored["fused"][:, k * m + j]
            kept = got != 0
            # The echo k steps on: still there, and spreading downstream (more cells above the cutoff).
            assert kept.sum() > 0
            err = np.abs(got - x)
            assert err[kept].max() < 2 * TransportOperator.RESPONSE_RTOL * largest, (k, j)
            assert err[~kept].max(initial=0.0) < (TransportOperator.RESPONSE_CUTOFF
                                                  + 2 * TransportOperator.RESPONSE_RTOL) * largest, (k, j)
            # The two forms run the same iteration; the fused one also cuts values below RESPONSE_FLOOR of the
            # largest as it goes (to skip the cells a response never reaches), which moves them by about that.
            floor = TransportOperator.RESPONSE_FLOOR * largest
            assert np.abs(stored["reference"][:, k * m + j] - got).max() < 10 * floor


def test_a_guess_that_foresees_the_coil_jumps_saves_sweeps_and_keeps_the_answer():
    """The coil outlets jump by a tenth of a kelvin or two each step (a valve loop on a 12-bit sensor): the
    extrapolation 2 T − T_prev cannot foresee it and the first sweep's error bound misses the tolerance; the
    responses to the CRAHs' injections added to it make most steps end after one sweep. The answer is the
    same within the stopping test's tolerance against the step solved directly, each step conserves energy
    to round-off, and the two forms of the operator take the same sweeps to the same fields."""
    import scipy.sparse.linalg as spla

    twin, state, ops = _two_crah_operators()
    ref = ops["reference"]
    a_ord = (sp.tril(ref._lu.L @ ref._lu.U) + ref.upper).tocsc()
    crah = twin._crah
    base = np.concatenate([state.t_rack_c, state.t_coil_c, np.zeros(twin.n_pdus)])
    heat = twin.mover_heat_w(state)
    q = ref.mover_flow_m3s
    sweeps: dict[str, list[int]] = {}
    for mode in ("plain", "fused", "reference"):
        op = ops["fused" if mode == "plain" else mode]
        if mode == "reference":
            # The very responses the fused form used (the forms compute them alike only to RESPONSE_FLOOR:
            # test_responses_are_the_implicit_steps_echo_of_each_movers_injection), so the same iteration.
            op._resp = ops["fused"]._resp
        t_prev, t = state.t_air_prev_c.copy(), state.t_air_c.copy()
        history = None
        sweeps[mode] = []
        rng = np.random.default_rng(7)  # the same jumps for each
        fields = []
        for _ in range(25):
            outlet = base.copy()
            outlet[crah] += rng.choice([-0.2, -0.1, 0.0, 0.1, 0.2], size=outlet[crah].size)
            t_new, t_in = op.step(t, outlet, heat, t_prev_c=t_prev,
                                  inject_history_w=None if mode == "plain" else history)
            sweeps[mode].append(op.last_sweeps)
            inject = op.inject_w(outlet, heat)
            stored_w = op.cell_heat_j_per_k * float((t_new - t).sum()) / op.dt_s
            assert abs(stored_w - (inject.sum() - twin.air.rho_cp * q @ t_in)) < 1e-9 * inject.sum()
            b = ref.cell_heat_j_per_k / ref.dt_s * t[ref.order] + ref._outlet_ord @ inject
            exact = np.empty_like(t)
            exact[ref.order] = spla.spsolve(a_ord, b)
            moved = np.abs(exact - t).max()
            assert np.abs(t_new - exact).max() < max(op.tol_k, op.rtol * moved)
            history = inject[None, :] if history is None else np.vstack([inject, history[:TransportOperator.RESPONSE_STEPS]])
            t_prev, t = t, t_new
            fields.append(t_new)
        if mode == "fused":
            fused_fields = fields
        if mode == "reference":
            assert sweeps["reference"] == sweeps["fused"]
            assert max(np.abs(a - b).max() for a, b in zip(fields, fused_fields)) < 1e-10
    # Once the history is there (two steps back for the first second difference), one sweep mostly does.
    assert np.mean(sweeps["plain"][7:]) >= 1.9, sweeps["plain"]
    assert np.mean(sweeps["fused"][7:]) <= 1.3, sweeps["fused"]


def test_no_responses_on_recirculating_flows_where_they_would_cost_more_than_they_save():
    """On the momentum model's recirculating flow the iteration contracts slowly (ρ above
    RESPONSE_MAX_CONTRACTION): each response would take over a hundred sweeps to save at most one per step, so
    the operator leaves them out and the guess is the plain extrapolation, step for step the same."""
    twin, state, ops = _operators_on_a_run("momentum")
    op = ops["fused"]
    assert op.contraction > TransportOperator.RESPONSE_MAX_CONTRACTION
    args = (twin.net, state.face_flow_m3s, state.flow_movers_m3s, state.flow_phi, twin.air, twin.dt_s)
    responding = TransportOperator(*args, face_diffusivity_m2s=state.face_diffusivity_m2s,
                                   respond_movers=np.arange(twin._crah.start, twin._crah.stop))
    outlet = np.concatenate([state.t_rack_c, state.t_coil_c, np.zeros(twin.n_pdus)])
    heat = twin.mover_heat_w(state)
    history = np.vstack([responding.inject_w(outlet + 0.1 * k, heat) for k in range(3)])
    plain = op.step(state.t_air_c, outlet, heat, t_prev_c=state.t_air_prev_c)
    guessed = responding.step(state.t_air_c, outlet, heat, t_prev_c=state.t_air_prev_c, inject_history_w=history)
    assert responding._resp is None and responding.response_steps == 0
    assert np.array_equal(plain[0], guessed[0]) and np.array_equal(plain[1], guessed[1])


def test_a_field_handed_back_skips_the_gather_and_steps_to_the_same_bits():
    """The operator keeps the fields it made in flow order: stepping on the field it returned (read-only, so
    unchanged since) skips the gather into flow order. A run handing the fields back is bit for bit a run
    handing it copies (which the operator must gather), and writing into a returned field is refused."""
    twin = HallTwin(bundled_hall("tiny"), dt_s=2.0)
    state = twin.initial_state()
    for _ in range(5):
        twin.step(state)
    op = twin.operator(state)
    outlet = np.concatenate([state.t_rack_c, state.t_coil_c, np.zeros(twin.n_pdus)])
    heat = twin.mover_heat_w(state)
    runs = {}
    for handed_back in (True, False):
        t_prev, t = state.t_air_prev_c.copy(), state.t_air_c.copy()
        out = []
        for k in range(12):
            out_k = outlet + (2.0 if k >= 4 else 0.0)  # a transient: the exhausts and supplies 2 K warmer
            t_new, t_in = op.step(t, out_k, heat, t_prev_c=t_prev)
            out.append((t_new.copy(), t_in))
            t_prev, t = (t, t_new) if handed_back else (t.copy(), t_new.copy())
        runs[handed_back] = out
    assert np.ptp(runs[True][-1][0] - state.t_air_c) > 0.5  # the field moved
    for (a, ia), (b, ib) in zip(runs[True], runs[False]):
        assert np.array_equal(a, b) and np.array_equal(ia, ib)
    returned, _ = op.step(state.t_air_c, outlet, heat)
    with pytest.raises(ValueError):
        returned[0] = 0.0
