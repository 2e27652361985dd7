"""The momentum model's time-accurate step (MomentumSolver.advance): a decaying Taylor–Green vortex, whose
amplitude has a closed form, shows the step is backward Euler in time (first order) and that the steady
march's few sweeps are not; an impulsively started jet converges at first order with mass conserved every step."""

from __future__ import annotations

import numpy as np
import pytest

from twin.thermal.momentum import MomentumSettings, MomentumSolver, MoverJets, Wall
from validation.benchmarks import closed_box_faces

#: Box side, cells per side, viscosity and the vortex's velocity amplitude: a cell Péclet number U h/ν of
#: 6e-5 (upwind convection adds a numerical viscosity U h/2, 3e-5 ν: negligible), so the vortex decays by
#: viscosity alone.
SIDE_M, CELLS, NU_M2S, U0_M_S = 1.0, 16, 1e-2, 1e-5
#: Sweeps that solve this vortex's steps (diffusion number ν dt/h² up to 1.3) to 1e-6: more than the hall's
#: default needs (there ν_t dt/h² ≈ 0.1 at dt 0.25 s), so that what is tested is the step, not the sweeps.
SOLVED = 60


def _taylor_green(*, sweeps: int = SOLVED) -> tuple[MomentumSolver, float]:
    """A solver holding u = U sin(kx) cos(kz), w = −U cos(kx) sin(kz) (k = π/L) in a free-slip box, one cell
    thick in y, and the mode's discrete decay rate λ_h = 2ν (2/h sin(kh/2))², 1/s.

    The slip walls are exactly the vortex's symmetry lines (no normal flow, no shear), and on the MAC grid
    the sampled mode is discretely divergence-free and an eigenvector of the discrete Laplacian."""
    h = SIDE_M / CELLS
    shape = (CELLS, 1, CELLS)
    slip = {side: Wall(slip=True) for side in ("x-", "x+", "y-", "y+", "z-", "z+")}
    settings = MomentumSettings(viscosity_m2s=NU_M2S, turbulence=False, buoyancy=False, walls=slip, sweeps=sweeps)
    solver = MomentumSolver(np.zeros(shape, dtype=bool), closed_box_faces(shape), h, settings=settings)
    k = np.pi / SIDE_M
    x_face = np.arange(CELLS + 1) * h
    centre = (np.arange(CELLS) + 0.5) * h
    solver.u[0][:, 0, :] = U0_M_S * np.outer(np.sin(k * x_face), np.cos(k * centre))
    solver.u[2][:, 0, :] = -U0_M_S * np.outer(np.cos(k * centre), np.sin(k * x_face))
    rate = 2.0 * NU_M2S * (2.0 / h * np.sin(k * h / 2.0)) ** 2
    return solver, rate


def _amplitude(solver: MomentumSolver) -> float:
    """The vortex's amplitude: the field projected on its initial shape (U0 at t = 0)."""
    k, h = np.pi / SIDE_M, SIDE_M / CELLS
    shape_x = np.outer(np.sin(k * np.arange(CELLS + 1) * h), np.cos(k * (np.arange(CELLS) + 0.5) * h))
    return float(np.sum(solver.u[0][:, 0, :] * shape_x) / np.sum(shape_x**2))


def _decay(dt_s: float, end_s: float, *, sweeps: int = SOLVED) -> tuple[float, float, MomentumSolver]:
    solver, rate = _taylor_green(sweeps=sweeps)
    for _ in range(round(end_s / dt_s)):
        solver.advance(np.zeros(0), dt_s=dt_s, sweeps=sweeps)
    return _amplitude(solver) / U0_M_S, rate, solver


def test_taylor_green_vortex_decays_as_backward_euler_and_first_order_in_time():
    """Over 10 s (λ_h t ≈ 2), the amplitude is backward Euler's (1 + λ dt)^−n to 1e-4, its error against
    exp(−λ t) halves with dt (first order), the shape stays the vortex's, and the flow stays divergence-free."""
    end_s = 10.0
    errors = {}
    for dt_s in (0.5, 0.25):
        amp, rate, solver = _decay(dt_s, end_s)
        n = round(end_s / dt_s)
        assert amp == pytest.approx((1.0 + rate * dt_s) ** -n, rel=1e-4)
        errors[dt_s] = amp - np.exp(-rate * end_s)
        # The field is still the vortex (no other mode grew): its remainder off the mode is tiny.
        k, h = np.pi / SIDE_M, SIDE_M / CELLS
        centre = (np.arange(CELLS) + 0.5) * h
        mode_x = amp * U0_M_S * np.outer(np.sin(k * np.arange(CELLS + 1) * h), np.cos(k * centre))
        assert np.abs(solver.u[0][:, 0, :] - mode_x).max() < 1e-4 * amp * U0_M_S
        assert np.abs(solver._divergence_m3s(solver.u)).max() < 1e-15
    assert errors[0.5] > 0  # backward Euler decays too slowly
    assert errors[0.5] / errors[0.25] == pytest.approx(2.0, rel=0.05)


def test_the_steady_march_s_two_sweeps_are_not_a_time_step():
    """The same step with the steady march's two Gauss–Seidel sweeps (a relaxation, not a solve) decays the
    vortex far too little: its path in time is not the flow's, which is why advance() solves each step."""
    for dt_s in (0.5, 0.1):
        amp_solved, rate, _ = _decay(dt_s, 10.0)
        amp_relaxed, _, _ = _decay(dt_s, 10.0, sweeps=2)
        exact = np.exp(-rate * 10.0)
        # Relaxed: 2.7x the true amplitude at dt 0.5 s, still 19 % high at 0.1 s; solved: 9.5 % and 1.9 %.
        assert amp_relaxed - exact > 0.15 * exact
        assert amp_relaxed - exact > 5 * (amp_solved - exact) > 0


def test_a_time_step_refuses_a_nonpositive_step_or_a_meaningless_tolerance():
    """dt must be positive and the projection's tolerance in (0, 1): a clear error, not a silent no-op."""
    solver, _ = _taylor_green()
    with pytest.raises(ValueError, match="dt_s must be positive"):
        solver.advance(np.zeros(0), dt_s=0.0)
    for rtol in (0.0, -1e-8, 1.0):  # a CG to its cap every step, or no projection at all
        with pytest.raises(ValueError, match="pressure_rtol must be between 0 and 1"):
            solver.advance(np.zeros(0), dt_s=0.1, pressure_rtol=rtol)


def _fan_box() -> tuple[MomentumSolver, np.ndarray]:
    """A 2 × 0.8 × 0.8 m closed box with a fan that draws from its x = 0 end and blows +x at 1 m/s from a
    0.2 m square (turbulent, no buoyancy), from still air."""
    shape, h = (20, 8, 8), 0.1
    solid = np.zeros(shape, bool)
    cell = np.ravel_multi_index
    intake = np.array([cell((0, j, k), shape) for j in (3, 4) for k in (3, 4)])
    outlet = np.array([cell((2, j, k), shape) for j in (3, 4) for k in (3, 4)])
    movers = MoverJets([intake], [outlet], np.array([[1.0, 0.0, 0.0]]), ["fan"])
    solver = MomentumSolver(solid, closed_box_faces(shape), h, movers, settings=MomentumSettings(buoyancy=False))
    return solver, np.array([0.04])


def test_an_impulsively_started_jet_converges_at_first_order_in_time_and_conserves_mass_every_step():
    """From rest, 1 s of a fan's jet (convection, Chen–Xu ν_t, the outlet's momentum source) at dt 0.05, 0.025
    and 0.0125 s: the field's differences between successive halvings shrink about twofold (first order: 2.25
    here, 2.49 one halving coarser); every step's face flows carry exactly the fan's source; the reported
    Courant number is max |u| dt / h."""
    fields = {}
    for dt_s in (0.05, 0.025, 0.0125):
        solver, q = _fan_box()
        source = solver.sources_m3s(q)
        for _ in range(round(1.0 / dt_s)):
            info = solver.advance(q, dt_s=dt_s)
            assert np.abs(solver._divergence_m3s(solver.u) - source).max() < 1e-12 * q[0]
        assert info.courant_max == pytest.approx(max(np.abs(u).max() for u in solver.u) * dt_s / solver.h)
        fields[dt_s] = np.concatenate([u.ravel() for u in solver.u])
    coarse = np.linalg.norm(fields[0.05] - fields[0.025])
    fine = np.linalg.norm(fields[0.025] - fields[0.0125])
    assert 1.8 < coarse / fine < 2.5, (coarse, fine)
    assert np.abs(fields[0.0125]).max() > 0.5  # the jet is there (1 m/s at the outlet)
