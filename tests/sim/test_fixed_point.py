"""Anderson mixing (twin.sim.fixed_point) against its textbook form and numpy's least squares."""

from __future__ import annotations

import numpy as np
import pytest

from twin.sim.fixed_point import AndersonMixer, least_squares


def _reference_next(xs: list[np.ndarray], rs: list[np.ndarray], relax: float) -> np.ndarray:
    """Walker & Ni's update from the whole history (oldest first), with numpy's least squares."""
    x, r = xs[-1], rs[-1]
    if len(xs) == 1:
        return x + relax * r
    dx = np.diff(np.array(xs), axis=0).T
    dr = np.diff(np.array(rs), axis=0).T
    gamma = np.linalg.lstsq(dr, r, rcond=None)[0]
    return x + relax * r - (dx + relax * dr) @ gamma


@pytest.mark.parametrize("case", ["random", "rank-deficient", "ill-conditioned"])
def test_least_squares_is_numpy_s(case, rng):
    """The QR-based least squares gives np.linalg.lstsq's answer, also where a column depends on the others
    (the cut-off drops it as gelsd does) or nearly so."""
    a = rng.standard_normal((5000, 4))
    if case == "rank-deficient":
        a[:, 3] = 2.0 * a[:, 0] - a[:, 1]
    elif case == "ill-conditioned":
        a[:, 3] = a[:, 0] + 1e-9 * a[:, 3]
    b = rng.standard_normal(5000)
    expected = np.linalg.lstsq(a, b, rcond=None)[0]
    got = least_squares(a, b)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())
    # The normal equations hold: the residual is orthogonal to a's columns.
    assert np.abs(a.T @ (b - a @ got)).max() < 1e-8 * np.linalg.norm(b) * np.linalg.norm(a)


def test_mixer_follows_the_textbook_update(rng):
    """Over more iterations than its memory, the mixer's iterates are the textbook update's from the last
    ``memory + 1`` iterates (which it keeps as differences)."""
    memory, relax = 3, 0.5
    mixer = AndersonMixer(memory=memory, relax=relax)
    xs: list[np.ndarray] = []
    rs: list[np.ndarray] = []
    x = rng.standard_normal(200)
    for _ in range(8):
        r = rng.standard_normal(200)
        xs.append(x.copy())
        rs.append(r.copy())
        expected = _reference_next(xs[-(memory + 1):], rs[-(memory + 1):], relax)
        x = mixer.next(x, r)
        np.testing.assert_allclose(x, expected, rtol=1e-10, atol=1e-12)


def test_mixing_solves_a_linear_fixed_point_in_about_its_dimension(rng):
    """x = G x + c with G's spectral radius 0.99: plain relaxation needs hundreds of steps, Anderson mixing
    with a memory of the problem's size about that many (it is then GMRES on I − G)."""
    n = 6
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    g = q @ np.diag(np.linspace(0.5, 0.99, n)) @ q.T
    c = rng.standard_normal(n)
    exact = np.linalg.solve(np.eye(n) - g, c)
    mixer = AndersonMixer(memory=n, relax=1.0)
    x = np.zeros(n)
    for step in range(1, 40):  # noqa: B007 - the count is checked after the loop
        x = mixer.next(x, g @ x + c - x)
        if np.linalg.norm(x - exact) < 1e-8 * np.linalg.norm(exact):
            break
    assert step <= 3 * n
    plain = np.zeros(n)
    for _ in range(3 * n):
        plain = g @ plain + c
    assert np.linalg.norm(plain - exact) > 0.5 * np.linalg.norm(exact)  # what mixing saves


def test_mixer_takes_the_qr_least_squares_where_the_differences_are_nearly_dependent(rng):
    """Residuals whose differences repeat one direction (a stalled iteration) make the Gram matrix singular
    to rounding: the mixer then solves by QR and still gives the textbook update (numpy's lstsq, which drops
    the dependent direction); with independent differences it uses the normal equations."""
    memory, relax = 3, 0.5
    mixer = AndersonMixer(memory=memory, relax=relax)
    xs: list[np.ndarray] = []
    rs: list[np.ndarray] = []
    base, direction = rng.standard_normal(300), rng.standard_normal(300)
    x = rng.standard_normal(300)
    for step in range(6):
        # Every residual difference is the same vector, up to rounding.
        r = base + (step + 1.0) * direction
        xs.append(x.copy())
        rs.append(r.copy())
        expected = _reference_next(xs[-(memory + 1):], rs[-(memory + 1):], relax)
        x = mixer.next(x, r)
        np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-9 * np.abs(expected).max())
    assert mixer.qr_steps >= 3  # each step with two or more nearly parallel differences
    independent = AndersonMixer(memory=memory, relax=relax)
    y = rng.standard_normal(300)
    for _ in range(6):
        y = independent.next(y, rng.standard_normal(300))
    assert independent.qr_steps == 0
