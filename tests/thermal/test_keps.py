"""The momentum model's standard k-ε closure: the model's own analytic answers (decaying turbulence, the
log-law wall's local equilibrium), a free plane jet's spreading against experiments, and a hall that
solves with it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.halls import hall_from, tiny_dict
from twin.sim.twin import HallTwin
from twin.thermal.airflow import face_divergence
from twin.thermal.momentum import (
    KARMAN,
    KEPS_C2,
    KEPS_C_MU,
    LOG_LAW_E,
    MomentumSettings,
    MomentumSolver,
    MoverJets,
    Wall,
)
from validation.benchmarks import closed_box_faces

_SLIP_BOX = {side: Wall(slip=True) for side in ("x-", "x+", "y-", "y+", "z-", "z+")}


def test_still_air_turbulence_decays_as_the_k_epsilon_power_law():
    """Uniform turbulence in still air with slip walls obeys dk/dt = −ε, dε/dt = −C₂ ε²/k, whose solution
    is k = k₀ (1 + (C₂ − 1) ε₀ t / k₀)^(−1/(C₂−1)): the implicit steps at Δt and Δt/2, extrapolated
    (Richardson), meet it within 0.3 % after k has fallen to 40 %; ν_t = C_μ k²/ε of the result."""
    shape = (3, 3, 2)
    settings = MomentumSettings(buoyancy=False, turbulence_model="k-epsilon", walls=_SLIP_BOX)
    k0, eps0, t_end = 0.02, 0.02, 1.5
    final = []
    for steps in (50, 100):
        solver = MomentumSolver(np.zeros(shape, bool), closed_box_faces(shape), 0.1, settings=settings)
        solver.k, solver.eps = np.full(shape, k0), np.full(shape, eps0)
        for _ in range(steps):
            solver.turbulence_step(np.zeros(0), None, t_end / steps)
        assert np.ptp(solver.k) < 1e-8 * k0  # homogeneous: no gradients, no diffusion (round-off only)
        final.append(solver.k.mean())
    exact = k0 * (1 + (KEPS_C2 - 1) * eps0 * t_end / k0) ** (-1 / (KEPS_C2 - 1))
    assert final[1] == pytest.approx(exact, rel=0.03)  # first order: halving Δt halves the error
    assert 2 * final[1] - final[0] == pytest.approx(exact, rel=0.003), (final, exact)
    nu_t = KEPS_C_MU * solver.k.mean() ** 2 / solver.eps.mean()
    assert solver.nu_t.mean() == pytest.approx(nu_t, rel=1e-12)


def test_wall_function_is_the_log_law_in_local_equilibrium():
    """At y = h/2 with the log-law speed U = u_τ/κ ln(E y⁺) (u_τ = C_μ^¼ √k), the wall shear ν_w U / y is
    u_τ², and the wall cell's production equals its dissipation u_τ³/(κ y); below y⁺ 11.53 the wall is
    viscous (ν_w = ν)."""
    shape = (3, 3, 3)
    settings = MomentumSettings(buoyancy=False, turbulence_model="k-epsilon")
    solver = MomentumSolver(np.zeros(shape, bool), closed_box_faces(shape), 0.15, settings=settings)
    nu, y = settings.viscosity_m2s, 0.075
    k = np.array([1e-4, 1e-2, 0.1])
    nu_w, eps_w, production_per_speed = solver._wall_function(k)
    u_tau = KEPS_C_MU ** 0.25 * np.sqrt(k)
    y_plus = u_tau * y / nu
    assert np.all(y_plus > 11.53)
    speed = u_tau / KARMAN * np.log(LOG_LAW_E * y_plus)
    np.testing.assert_allclose(nu_w * speed / y, u_tau ** 2, rtol=1e-12)
    np.testing.assert_allclose(eps_w, u_tau ** 3 / (KARMAN * y), rtol=1e-12)
    np.testing.assert_allclose(production_per_speed * speed, eps_w, rtol=1e-12)
    viscous = solver._wall_function(np.array([1e-9]))[0]
    assert viscous[0] == nu


@pytest.mark.slow
def test_turbulent_channel_meets_dean_s_friction_and_centreline_laws():
    """A 2D channel, 0.3 m high and 40 heights long, 10 cells across, air at a bulk 1 m/s (Re_m 20,000)
    blown in over the whole inlet: where the flow has developed (24–34 heights) the wall shear from the
    pressure gradient, τ_w = −(dp/dx) H/2, is Dean's (1978) c_f = 0.073 Re_m^−¼ within 20 % (measured: 0.86
    of it, the same on 16 cells), the centreline speed is Dean's U_c/U_b = 1.28 Re_m^−0.0116 within 3 %, and
    the first cell's k is in local equilibrium with that shear, C_μ^¼ √k = u_τ within 3 %."""
    n, lengths, height_m, u_b = 10, 40, 0.3, 1.0
    h = height_m / n
    nx = lengths * n
    shape = (nx, 1, n)
    supply_cells = np.ravel_multi_index((np.zeros(n, int), np.zeros(n, int), np.arange(n)), shape)
    exhaust_cells = np.ravel_multi_index((np.full(n, nx - 1), np.zeros(n, int), np.arange(n)), shape)
    movers = MoverJets([exhaust_cells], [supply_cells], np.array([[1.0, 0.0, 0.0]]), ["fan"])
    settings = MomentumSettings(buoyancy=False, turbulence_model="k-epsilon", tol=1e-6,
                                walls={"y-": Wall(slip=True), "y+": Wall(slip=True)})
    solver = MomentumSolver(np.zeros(shape, bool), closed_box_faces(shape), h, movers, settings=settings)
    assert solver.solve(np.array([u_b * height_m * h])).converged
    x = (np.arange(nx) + 0.5) * h
    developed = (x > 0.6 * nx * h) & (x < 0.85 * nx * h)
    dp_dx = np.polyfit(x[developed], solver.p[:, 0, :].mean(axis=1)[developed], 1)[0]
    tau_w = -dp_dx * height_m / 2
    re_m = u_b * height_m / settings.viscosity_m2s
    assert tau_w / (0.5 * u_b ** 2) == pytest.approx(0.073 * re_m ** -0.25, rel=0.2)
    station = int(0.75 * nx)
    assert solver.u[0][station, 0, :].max() / u_b == pytest.approx(1.28 * re_m ** -0.0116, rel=0.03)
    assert solver.k is not None
    for wall_cell in (0, n - 1):
        u_tau_k = KEPS_C_MU ** 0.25 * np.sqrt(solver.k[station, 0, wall_cell])
        assert u_tau_k == pytest.approx(np.sqrt(tau_w), rel=0.03)


def test_an_unknown_turbulence_model_is_refused_by_name(tmp_path):
    """A solver refuses an unknown closure by name; a hall file's one line names the file, the key path
    and the allowed values."""
    from tests.halls import bad_hall, hall_error_line

    shape = (3, 3, 3)
    with pytest.raises(ValueError, match="k-omega.*chen-xu, k-epsilon"):
        MomentumSolver(np.zeros(shape, bool), closed_box_faces(shape), 0.1,
                       settings=MomentumSettings(turbulence_model="k-omega"))
    message = hall_error_line(bad_hall(tmp_path, append='\n[airflow]\nmodel = "momentum"\nturbulence = "k-omega"\n'))
    assert "airflow.turbulence" in message and "'chen-xu'" in message and "'k-epsilon'" in message, message


def test_a_hall_solves_steady_with_k_epsilon_conserving_mass_and_energy():
    """The tiny hall with [airflow] turbulence = "k-epsilon": the buoyant steady solve converges, its faces
    carry exactly the movers' sources, energy balances to 1e-9, k and ε are positive and finite, ν_t stays
    below its cap with turbulence where the jets are, and the field is not Chen–Xu's."""
    data = tiny_dict()
    data["airflow"] = {"model": "momentum", "turbulence": "k-epsilon"}
    twin = HallTwin(hall_from(data))
    assert twin.momentum is not None and twin.momentum.keps
    state = twin.steady()
    m = twin.momentum
    assert state.momentum is not None and {"k", "eps"} <= set(state.momentum)
    k, eps = state.momentum["k"][m.fluid], state.momentum["eps"][m.fluid]
    assert np.all(np.isfinite(k)) and np.all(k > 0) and np.all(np.isfinite(eps)) and np.all(eps > 0)
    nu_t = m.eddy_viscosity_m2s()[m.fluid]
    assert 1e-4 < nu_t.max() < 1e4 * m.settings.viscosity_m2s
    src = twin.airflow.sources_m3s(state.flow_movers_m3s)
    div = face_divergence(twin.net, state.face_flow_m3s)
    assert np.max(np.abs(div - src)) < 1e-12 * max(1.0, np.abs(state.face_flow_m3s).max())
    assert abs(twin.energy_balance_error(state)) < 1e-9
    data["airflow"] = {"model": "momentum"}
    chen_xu = HallTwin(hall_from(data)).steady()
    assert np.max(np.abs(chen_xu.t_intake_c - state.t_intake_c)) > 1e-3


def test_buoyant_production_damps_turbulence_in_stable_air_and_feeds_it_in_unstable_air():
    """With keps_buoyancy, still air with uniform k and ε and a vertical temperature gradient dT/dz loses
    k faster when warm air lies on top (G_b = −g β ν_t/Pr_t dT/dz < 0) and gains when it lies below; the
    middle cell's step is the implicit update with that G_b (Pr_t 0.9, β = 1/293.15 K), to 1e-5: the end cells
    see half the gradient, and diffusion from them reaches it within the step's Gauss–Seidel sweeps."""
    from twin.thermal.momentum import KEPS_C1, TURBULENT_PRANDTL

    shape = (3, 3, 5)
    k0, eps0, dt, grad_k_m = 0.01, 0.002, 0.05, 2.0
    z_m = (np.arange(shape[2]) + 0.5) * 0.1
    results = {}
    for label, buoyancy, grad in (("off", False, grad_k_m), ("stable", True, grad_k_m), ("unstable", True, -grad_k_m)):
        settings = MomentumSettings(turbulence_model="k-epsilon", keps_buoyancy=buoyancy, walls=_SLIP_BOX)
        solver = MomentumSolver(np.zeros(shape, bool), closed_box_faces(shape), 0.1, settings=settings)
        solver.k, solver.eps = np.full(shape, k0), np.full(shape, eps0)
        t_c = np.broadcast_to(20.0 + grad * z_m, shape).copy()
        solver.turbulence_step(np.zeros(0), t_c, dt)
        results[label] = solver.k[1, 1, 2]
    nu_t = KEPS_C_MU * k0 ** 2 / eps0
    g_b = 9.81 / 293.15 * nu_t / TURBULENT_PRANDTL * grad_k_m
    eps_stable = (eps0 / dt) / (1 / dt + KEPS_C2 * eps0 / k0)
    eps_unstable = (eps0 / dt + KEPS_C1 * eps0 / k0 * g_b) / (1 / dt + KEPS_C2 * eps0 / k0)
    assert results["stable"] < results["off"] < results["unstable"]
    assert results["stable"] == pytest.approx((k0 / dt) / (1 / dt + (eps_stable + g_b) / k0), rel=1e-5)
    assert results["unstable"] == pytest.approx((k0 / dt + g_b) / (1 / dt + eps_unstable / k0), rel=1e-5)
