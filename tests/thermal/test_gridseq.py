"""Grid sequencing's transfers between a grid and one twice as fine (twin.thermal.gridseq)."""

from __future__ import annotations

import numpy as np
import pytest

from twin.thermal.gridseq import grid_offset, prolong_cells, prolong_faces, prolong_momentum, restrict_cells
from twin.thermal.momentum import MomentumSolver, MoverJets


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def _face_shape(shape, axis):
    return tuple(n + (a == axis) for a, n in enumerate(shape))


def _divergence(u):
    return np.diff(u[0], axis=0) + np.diff(u[1], axis=1) + np.diff(u[2], axis=2)


@pytest.mark.parametrize("ratio", [2, 3])
def test_prolonged_faces_carry_each_coarse_cells_divergence_in_equal_shares(rng, ratio):
    """A random coarse face field: every fine cell's net outflow (fine face area) is its coarse parent's over r³,
    and the fine faces on a coarse face's plane carry that face's flux between them exactly."""
    shape = (4, 3, 5)
    u = [rng.normal(size=_face_shape(shape, a)) for a in range(3)]
    fine = [prolong_faces(u[a], a, ratio) for a in range(3)]
    assert [f.shape for f in fine] == [_face_shape(tuple(ratio * n for n in shape), a) for a in range(3)]
    div_c = _divergence(u)  # per unit coarse face area H²
    div_f = _divergence(fine) / ratio**2  # in the same unit: a fine face has area H²/r²
    expected = np.repeat(np.repeat(np.repeat(div_c, ratio, 0), ratio, 1), ratio, 2) / ratio**3
    assert np.allclose(div_f, expected, rtol=0, atol=1e-12)
    # Flux through the coarse face plane x = 2 H: the sum of its fine faces' velocities over r².
    flux_c = u[0][2].sum()
    assert np.isclose(fine[0][2 * ratio].sum() / ratio**2, flux_c, rtol=1e-13)


def test_prolonged_faces_reproduce_uniform_and_normal_linear_fields():
    """A uniform field stays uniform; u_x = a + b x is reproduced at every fine x-face."""
    shape, ratio = (3, 4, 2), 2
    uniform = prolong_faces(np.full(_face_shape(shape, 1), 0.7), 1, ratio)
    assert np.all(uniform == 0.7)
    x_c = np.arange(shape[0] + 1, dtype=float)  # coarse x-faces at x = i H
    ux = np.broadcast_to((0.3 + 1.5 * x_c)[:, None, None], _face_shape(shape, 0))
    fine = prolong_faces(ux, 0, ratio)
    x_f = np.arange(ratio * shape[0] + 1) / ratio
    assert np.allclose(fine, (0.3 + 1.5 * x_f)[:, None, None], rtol=0, atol=1e-13)


def test_prolonged_cells_are_trilinear_and_ignore_solid_placeholders():
    """A linear cell field is reproduced inside the outermost half coarse cell; a solid coarse cell's 0 does not
    leak: its fine children take the nearest fluid values, a uniform field stays uniform."""
    shape, ratio = (5, 4, 6), 2
    centres = [np.arange(n) + 0.5 for n in shape]  # coarse cell centres, H = 1
    x, y, z = np.meshgrid(*centres, indexing="ij")
    f = 1.0 + 0.5 * x - 0.25 * y + 2.0 * z
    fluid = np.ones(shape, dtype=bool)
    fine = prolong_cells(f, fluid, ratio)
    fc = [(np.arange(ratio * n) + 0.5) / ratio for n in shape]
    xf, yf, zf = np.meshgrid(*fc, indexing="ij")
    inner = (xf > 0.5) & (xf < shape[0] - 0.5) & (yf > 0.5) & (yf < shape[1] - 0.5) & (zf > 0.5) & (zf < shape[2] - 0.5)
    assert np.allclose(fine[inner], (1.0 + 0.5 * xf - 0.25 * yf + 2.0 * zf)[inner], rtol=0, atol=1e-12)
    fluid[2, 1:3, 2:4] = False
    const = np.where(fluid, 21.5, 0.0)
    assert np.allclose(prolong_cells(const, fluid, ratio), 21.5, rtol=0, atol=1e-12)


def test_restriction_keeps_a_uniform_field_and_the_heat_of_the_air(rng):
    """Mean over the fluid children: a uniform field stays uniform; with all cells fluid the total is kept."""
    shape, ratio = (6, 4, 8), 2
    fluid = np.ones(shape, dtype=bool)
    f = rng.normal(22.0, 2.0, size=shape)
    coarse_fluid = np.ones((3, 2, 4), dtype=bool)
    c = restrict_cells(f, fluid, ratio, coarse_fluid)
    assert np.isclose(c.sum() * ratio**3, f.sum(), rtol=1e-13)
    fluid[:2, :2, :2] = False
    c = restrict_cells(np.where(fluid, 20.0, -5.0), fluid, ratio, coarse_fluid)
    assert np.allclose(c, 20.0)


def _parents(n_fine, ratio, offset):
    """Coarse parent of each fine cell along an axis when the coarse grid reaches ``offset`` fine cells lower."""
    return (np.arange(n_fine) + offset) // ratio


@pytest.mark.parametrize(("ratio", "offset_z"), [(2, 1), (3, 1), (3, 2)])
def test_offset_prolongation_gives_each_fine_cell_its_parents_divergence(rng, ratio, offset_z):
    """A coarse grid reaching ``offset_z`` fine cells below the fine one (a plenum deepened to whole coarse cells):
    fine cell k lies in coarse cell (k + offset) // r and carries its divergence over r³; the fine faces on a
    coarse face's plane carry that face's flux; the fine grid's bottom face lies inside the lowest coarse cell."""
    shape = (3, 4, 5)
    offset = (0, 0, offset_z)
    u = [rng.normal(size=_face_shape(shape, a)) for a in range(3)]
    fine = [prolong_faces(u[a], a, ratio, offset=offset) for a in range(3)]
    fine_shape = (ratio * shape[0], ratio * shape[1], ratio * shape[2] - offset_z)
    assert [f.shape for f in fine] == [_face_shape(fine_shape, a) for a in range(3)]
    assert grid_offset(shape, fine_shape, ratio) == offset
    div_c = _divergence(u)
    div_f = _divergence(fine) / ratio**2
    ix, iy, iz = (_parents(n, ratio, o) for n, o in zip(fine_shape, offset, strict=True))
    expected = div_c[np.ix_(ix, iy, iz)] / ratio**3
    assert np.allclose(div_f, expected, rtol=0, atol=1e-12)
    # The coarse face plane z = 2 H is fine face plane 2 r - offset.
    assert np.isclose(fine[2][:, :, 2 * ratio - offset_z].sum() / ratio**2, u[2][:, :, 2].sum(), rtol=1e-13)
    # The fine bottom face, 'offset' fine cells above the coarse floor: between that floor and the face above.
    t = offset_z / ratio
    bottom = np.repeat(np.repeat((1 - t) * u[2][:, :, 0] + t * u[2][:, :, 1], ratio, 0), ratio, 1)
    assert np.allclose(fine[2][:, :, 0], bottom, rtol=0, atol=1e-13)


def test_offset_prolongation_reproduces_uniform_and_linear_fields():
    """With the coarse grid one fine cell deeper: a uniform face field stays uniform, u_z = a + b z is reproduced
    at every fine z-face and a linear cell field at every fine centre away from the outermost half coarse cell,
    all at the fine cells' own heights (z measured from the coarse grid's bottom)."""
    shape, ratio, offset = (3, 4, 5), 2, (0, 0, 1)
    n_fz = ratio * shape[2] - 1
    uniform = prolong_faces(np.full(_face_shape(shape, 0), -0.4), 0, ratio, offset=offset)
    assert uniform.shape == (7, 8, n_fz) and np.all(uniform == -0.4)
    z_c = np.arange(shape[2] + 1, dtype=float)  # coarse z-faces at z = k H
    uz = np.broadcast_to(0.3 + 1.5 * z_c, _face_shape(shape, 2))
    z_f = (np.arange(n_fz + 1) + 1) / ratio  # fine face k at (k + offset) H / r
    assert np.allclose(prolong_faces(uz, 2, ratio, offset=offset), 0.3 + 1.5 * z_f, rtol=0, atol=1e-13)
    x, y, z = np.meshgrid(*[np.arange(n) + 0.5 for n in shape], indexing="ij")
    f = 20.0 + 0.5 * x - 0.25 * y + 2.0 * z
    fine = prolong_cells(f, np.ones(shape, dtype=bool), ratio, offset=offset)
    fc = [(np.arange(ratio * n - o) + o + 0.5) / ratio for n, o in zip(shape, offset, strict=True)]
    xf, yf, zf = np.meshgrid(*fc, indexing="ij")
    assert fine.shape == xf.shape
    inner = ((xf > 0.5) & (xf < shape[0] - 0.5) & (yf > 0.5) & (yf < shape[1] - 0.5) & (zf > 0.5)
             & (zf < shape[2] - 0.5))
    assert np.allclose(fine[inner], (20.0 + 0.5 * xf - 0.25 * yf + 2.0 * zf)[inner], rtol=0, atol=1e-12)
    # Below the lowest coarse centre (the fine bottom cell at z = 0.75 H): that centre's value, not extrapolated.
    assert np.allclose(fine[:, :, 0], prolong_cells(f, np.ones(shape, dtype=bool), ratio)[:, :, 1], atol=1e-12)


def test_offset_restriction_averages_the_children_each_coarse_cell_has(rng):
    """The lowest coarse cell of a grid one fine cell deeper has half its children: it takes their mean; a uniform
    field stays uniform and, weighting each coarse cell by its children, the total is kept."""
    fine_shape, ratio = (6, 4, 7), 2
    f = rng.normal(22.0, 2.0, size=fine_shape)
    fluid = np.ones(fine_shape, dtype=bool)
    coarse_fluid = np.ones((3, 2, 4), dtype=bool)
    c = restrict_cells(f, fluid, ratio, coarse_fluid)
    assert np.allclose(c[:, :, 0], f[:, :, 0].reshape(3, 2, 2, 2).mean(axis=(1, 3)), rtol=0, atol=1e-12)
    children = np.full((3, 2, 4), ratio**3)
    children[:, :, 0] //= 2
    assert np.isclose((c * children).sum(), f.sum(), rtol=1e-13)
    assert np.allclose(restrict_cells(np.full(fine_shape, 19.5), fluid, ratio, coarse_fluid), 19.5, atol=1e-12)
    with pytest.raises(ValueError, match="is not 2 times"):
        restrict_cells(f, fluid, ratio, np.ones((3, 2, 3), dtype=bool))  # the coarse grid would not reach the top


def _room(shape, cell_m):
    """A room with a block in it and a 'rack' that draws air at one side of the block and blows it out of the
    other, on a grid of ``shape`` cells of ``cell_m``."""
    solid = np.zeros(shape, dtype=bool)
    nx, ny, nz = shape
    solid[nx // 2 - nx // 6: nx // 2 + nx // 6, ny // 3: 2 * ny // 3, : nz // 2] = True
    open_faces = [np.ones(tuple(n + (a == b) for b, n in enumerate(shape))) for a in range(3)]
    cells = np.argwhere(solid)
    lo, hi = cells.min(0), cells.max(0)
    grid = np.arange(np.prod(shape)).reshape(shape)
    intake = grid[lo[0] - 1, lo[1]: hi[1] + 1, : hi[2] + 1].ravel()
    outlet = grid[hi[0] + 1, lo[1]: hi[1] + 1, : hi[2] + 1].ravel()
    movers = MoverJets([intake], [outlet], np.array([[1.0, 0.0, 0.0]]), ["R1"])
    return MomentumSolver(solid, open_faces, cell_m, movers)


def test_a_coarse_solution_prolonged_and_projected_is_divergence_free_on_the_fine_grid():
    """A solved coarse flow carried to the grid twice as fine (its block and mover cells voxelized there, not
    the coarse ones refined) conserves mass there to round-off: net outflow = the mover's source."""
    coarse, fine = _room((6, 6, 4), 0.4), _room((12, 12, 8), 0.2)
    q = np.array([0.3])
    coarse.solve(q)
    state = {"ux": coarse.u[0], "uy": coarse.u[1], "uz": coarse.u[2], "p": coarse.p}
    out = prolong_momentum(state, coarse, fine, 2, q)
    u = [out["ux"], out["uy"], out["uz"]]
    div = fine.h**2 * _divergence(u) - fine.sources_m3s(q)
    assert np.max(np.abs(div)) < 1e-14 * q[0] * 1e3
    for a in range(3):
        assert np.all(u[a][~fine.active[a]] == 0.0)  # no flow through solids or the walls
    # And it is the coarse flow, not a new one: the mean speed within 30 % of the coarse field's.
    speed_c = np.mean(np.linalg.norm(coarse.fluid_cell_velocity_m_s(), axis=1))
    speed_f = np.mean(np.linalg.norm(fine.fluid_cell_velocity_m_s(), axis=1))
    assert abs(speed_f / speed_c - 1.0) < 0.3
    # The fine solve from it takes fewer iterations than from rest.
    warm = fine.solve(q).iterations
    fine.reset()
    cold = fine.solve(q).iterations
    assert warm < cold
