"""Momentum airflow: classic benchmarks (Ghia's cavity, de Vahl Davis' heated cavity), conservation, buoyancy,
jets, warm re-solves and failure reporting."""

from __future__ import annotations

import numpy as np
import pytest

from twin.geometry.voxel import Grid, HallVoxels, Mover
from twin.thermal.airflow import AirflowSolver, cell_velocity_m_s, face_divergence
from twin.thermal.momentum import (
    SIDES,
    FlowNotConverged,
    MomentumSettings,
    MomentumSolver,
    MoverJets,
    Wall,
    wall_distance_m,
)
from twin.thermal.network import build_network
from validation.benchmarks import annex20_room, closed_box_faces, heated_cavity, lid_driven_cavity
from validation.reference_data import GHIA_U, GHIA_V, GHIA_X, GHIA_Y


def _voxels(solid: np.ndarray, open_faces: list[np.ndarray], cell_m: float, movers: list[Mover]) -> HallVoxels:
    owner = np.where(solid, 0, -1).astype(np.int32)
    return HallVoxels(Grid(solid.shape, (0.0, 0.0, 0.0), cell_m), solid, owner, ["block"], tuple(open_faces),
                      racks=movers)


def test_lid_driven_cavity_matches_ghia_at_re_100():
    """Centreline u(z) and w(x) of the Re = 100 cavity at 32² lie within 0.01 RMS of Ghia et al. (1982)."""
    result = lid_driven_cavity(100, 32, tol=1e-6)
    assert result.info.converged and result.info.history[-1].max() < 1e-6
    assert result.rms_u < 0.01 and result.rms_w < 0.01, (result.rms_u, result.rms_w)


def test_typed_ghia_tables_hold_the_published_extremes_and_wall_values():
    """Ghia's tables as typed: no-slip and lid values at the ends, stations ordered, and the published
    extremes (u_min −0.2109 / −0.3829, v_min −0.2453 / −0.5155, v_max 0.1753 / 0.3710 at Re 100 / 1000)."""
    assert np.all(np.diff(GHIA_Y) < 0) and np.all(np.diff(GHIA_X) < 0)
    for re_, u_min, v_min, v_max in ((100, -0.2109, -0.2453, 0.1753), (1000, -0.3829, -0.5155, 0.3710)):
        u, v = GHIA_U[re_], GHIA_V[re_]
        assert (u[0], u[-1], v[0], v[-1]) == (1.0, 0.0, 0.0, 0.0)
        assert u.min() == pytest.approx(u_min, abs=1e-4) and v.min() == pytest.approx(v_min, abs=1e-4)
        assert v.max() == pytest.approx(v_max, abs=1e-4)
        # one sign change along each centreline (one primary vortex)
        assert np.count_nonzero(np.diff(np.sign(u[1:-1]))) == 1
        assert np.count_nonzero(np.diff(np.sign(v[1:-1]))) == 1


def test_heated_cavity_nusselt_matches_de_vahl_davis_at_ra_1e4():
    """Mean Nusselt number of the differentially heated square cavity at Ra = 1e4, Pr = 0.71, within 5 %
    of de Vahl Davis (1983), 2.243, from the wall heat flux; hot and cold walls balance; his velocity
    maxima (u 16.18 on the vertical midline, w 19.62 on the horizontal, in α/L) within 5 %."""
    result = heated_cavity(1e4, 32)
    assert result.coupling.converged and result.coupling.temperature_change_k < 1e-6
    assert abs(result.nu_error) < 0.05, result.nu_hot
    assert abs(result.nu_hot - result.nu_cold) < 1e-6 * result.nu_hot
    assert abs(result.u_max_error) < 0.05 and abs(result.w_max_error) < 0.05, (result.u_max, result.w_max)


def test_annex20_room_has_an_attached_decaying_ceiling_jet_and_one_room_sized_eddy():
    """IEA Annex 20 room on a coarse grid (H/18, Chen–Xu): the supply jet clings to the ceiling (its peak
    in the top fifth at x = H and 2H) and slows down the room; the air returns along the floor in the
    middle of the room; one eddy turns about the room's middle third (the stream function's minimum)."""
    room = annex20_room(18)
    assert room.info.converged
    for profile in (room.u_x1, room.u_x2):
        assert profile.max() > 0 and room.z_over_h[np.argmax(profile)] > 0.8
    assert room.u_x2.max() < room.u_x1.max() < 1.0
    beyond = room.x_over_h > 0.5
    assert np.all(np.diff(room.jet_max[beyond]) < 0)
    middle = (room.x_over_h > 1.5) & (room.x_over_h < 2.5)
    assert np.all(room.u_bottom[middle] < 0)
    assert 0.75 < room.eddy_centre[0] < 2.25 and 0.25 < room.eddy_centre[1] < 0.75, room.eddy_centre


def test_face_flows_carry_exactly_the_mover_sources(rng):
    """With random solids, tiles, panels and movers, each fluid cell's net outflow equals its mover source."""
    shape = (14, 10, 8)
    h = 0.2
    solid = rng.random(shape) < 0.1
    faces = closed_box_faces(shape)
    for o in faces:
        r = rng.random(o.shape)
        o[(r < 0.1) & (o > 0)] = 0.0  # closed panels
        partial = (r > 0.1) & (r < 0.3) & (o > 0)
        o[partial] = rng.uniform(0.05, 0.9, int(partial.sum()))  # tiles and leaky panels
    vox = _voxels(solid, faces, h, [])
    net = build_network(vox)
    big = np.argmax(np.bincount(net.component))
    cells = net.fluid_flat[net.component == big]
    movers = [Mover(f"m{j}", rng.choice(cells, 2, replace=False), rng.choice(cells, 3, replace=False))
              for j in range(4)]
    vox = _voxels(solid, faces, h, movers)
    net = build_network(vox)
    solver = MomentumSolver.from_voxels(vox, settings=MomentumSettings(buoyancy=False))
    q = rng.uniform(0.05, 0.3, 4)
    solver.resolve(q, iterations=15)
    flows = solver.face_flows_m3s()
    assert flows.shape == net.face_a.shape
    source = net.outlet @ q - net.intake @ q
    assert np.allclose(solver.sources_m3s(q).ravel()[net.fluid_flat], source)
    assert np.abs(face_divergence(net, flows) - source).max() < 1e-13 * np.abs(flows).max()
    assert np.all(np.isfinite(flows)) and np.abs(flows).max() > 0
    # The spanning-tree closure alone: a divergence-free field stays as it is, and a field with noise on
    # every open face comes back exactly conservative, moved only by about the noise's size.
    before = [u.copy() for u in solver.u]
    solver._close_divergence(solver.u, solver.sources_m3s(q))
    assert max(np.abs(u - b).max() for u, b in zip(solver.u, before)) < 1e-13 * np.abs(flows).max() / h**2
    for a in range(3):
        solver.u[a] += np.where(solver.active[a], rng.normal(0.0, 1e-4, solver.u[a].shape), 0.0)
    solver._close_divergence(solver.u, solver.sources_m3s(q))
    fixed = solver.face_flows_m3s()
    assert np.abs(face_divergence(net, fixed) - source).max() < 1e-13 * np.abs(flows).max()
    assert np.abs(fixed - flows).max() < 0.05 * np.abs(flows).max()


def test_warm_floor_patch_drives_a_plume_and_nothing_moves_without_a_cause():
    """Warm air over a floor patch rises and the rest sinks; with nothing to drive it the air stays still."""
    n = 12
    shape = (n, n, n)
    faces = closed_box_faces(shape)
    t = np.full(shape, 20.0)
    t[4:8, 4:8, 0:2] = 30.0
    solver = MomentumSolver(np.zeros(shape, bool), faces, 0.1, settings=MomentumSettings())
    info = solver.resolve(np.zeros(0), t, iterations=60)
    w = solver.cell_velocity_m_s()[..., 2]
    assert w[5:7, 5:7, 2:8].min() > 0.02, w[5:7, 5:7, 2:8].min()
    assert np.all(w[0:2, 0:2, 4] < 0.0)  # and what rises comes down along the walls
    assert np.all(np.isfinite(info.history))
    still = MomentumSolver(np.zeros(shape, bool), faces, 0.1, settings=MomentumSettings(buoyancy=False))
    info = still.solve(np.zeros(0), t)
    assert info.converged and info.iterations == 0
    assert all(np.all(u == 0.0) for u in still.u)
    uniform = MomentumSolver(np.zeros(shape, bool), faces, 0.1)
    uniform.solve(np.zeros(0), np.full(shape, 24.0))
    assert all(np.all(u == 0.0) for u in uniform.u)


def _jet_box() -> tuple[HallVoxels, float]:
    """A 3 × 1.2 × 1.2 m box with a fan unit at one end: it draws from x = 0 and blows +x from a 0.2 m square."""
    shape, h = (30, 12, 12), 0.1
    solid = np.zeros(shape, bool)
    solid[1, 5:7, 5:7] = True
    faces = closed_box_faces(shape)
    for a in range(3):  # no air through the fan body's sides
        lo = [slice(None)] * 3
        lo[a] = slice(0, -1)
        hi = [slice(None)] * 3
        hi[a] = slice(1, None)
        faces[a][tuple(lo)][solid] = 0.0
        faces[a][tuple(hi)][solid] = 0.0
    cell = np.ravel_multi_index
    intake = np.array([cell((0, j, k), shape) for j in (5, 6) for k in (5, 6)])
    outlet = np.array([cell((2, j, k), shape) for j in (5, 6) for k in (5, 6)])
    return _voxels(solid, faces, h, [Mover("fan", intake, outlet)]), 0.04 * 2.0  # q for u_jet = 2 m/s


def test_outlet_jet_keeps_its_momentum_unlike_potential_flow():
    """Ten cells downstream of a 2 m/s outlet the air still moves along the jet at a sizeable fraction of
    its speed; the potential flow there has all but spread out."""
    vox, q = _jet_box()
    solver = MomentumSolver.from_voxels(vox, settings=MomentumSettings(buoyancy=False))
    info = solver.solve(np.array([q]))
    vel = solver.cell_velocity_m_s()
    axis = vel[12, 5:7, 5:7].mean(axis=(0, 1))
    assert axis[0] > 0.3 * 2.0, axis
    assert axis[0] > 0.95 * np.linalg.norm(axis)
    net = build_network(vox)
    potential = cell_velocity_m_s(net, AirflowSolver(net).solve(np.array([q])))
    at = net.cell_of[12, 5:7, 5:7].ravel()
    assert potential[at, 0].mean() < 0.2 * axis[0]
    assert info.iterations < 1000


def test_eddy_diffusivity_of_heat_follows_the_jet_and_falls_to_air_s_own_in_still_air():
    """α_f = ν/Pr + ν_t/Pr_t on the transport's faces: still air mixes at air's molecular diffusivity
    (ν/Pr = 2.1e-5 m²/s at 20 °C); in the jet, each face carries Chen–Xu's 0.03874 |U| L of its two cells
    (from their centre velocities and wall distances, paired by the flow network) over Pr_t 0.9, and the
    jet's core mixes orders of magnitude more than the still corner behind the fan."""
    vox, q = _jet_box()
    net = build_network(vox)
    solver = MomentumSolver.from_voxels(vox, settings=MomentumSettings(buoyancy=False))
    still = solver.face_diffusivity_m2s()
    assert still.shape == net.face_a.shape
    assert np.allclose(still, 2.11e-5, rtol=0.01)
    solver.solve(np.array([q]))
    alpha = solver.face_diffusivity_m2s()
    speed = np.linalg.norm(solver.fluid_cell_velocity_m_s(), axis=1)
    wall_m = solver.wall_distance_m.ravel()[net.fluid_flat]
    nu_t = 0.03874 * speed * wall_m
    expected = 1.5e-5 / 0.71 + 0.5 * (nu_t[net.face_a] + nu_t[net.face_b]) / 0.9
    assert np.allclose(alpha, expected, rtol=1e-12, atol=0.0)
    core = np.isin(net.face_a, net.cell_of[10:14, 5:7, 5:7].ravel()) & (net.face_axis == 0)
    corner = np.isin(net.face_a, net.cell_of[0, 0, 0:2].ravel())
    assert alpha[core].min() > 30 * alpha[corner].max(), (alpha[core].min(), alpha[corner].max())
    # Without turbulence there are no eddies: molecular diffusivity only, whatever the flow.
    laminar = MomentumSolver.from_voxels(vox, settings=MomentumSettings(buoyancy=False, turbulence=False))
    laminar.u = [u.copy() for u in solver.u]
    assert np.allclose(laminar.face_diffusivity_m2s(), 1.5e-5 / 0.71, rtol=1e-12)


def test_chen_xu_length_is_the_euclidean_distance_to_solids_and_to_floor_faces_that_are_not_wholly_open():
    """Chen–Xu's L is the distance to the nearest wall: a raised floor's closed and perforated faces count
    (not only solid cells and domain sides), wholly open faces do not, and from a cell diagonal to a wall's
    edge or a solid's corner it is the straight-line distance to that edge or corner (brute force over the
    wall surfaces), at least h/2."""
    h, shape = 0.1, (8, 6, 9)
    fluid = np.ones(shape, dtype=bool)
    fluid[7, 0, 8] = False  # a solid cell in a top corner
    openness = [np.ones((shape[0] + (a == 0), shape[1] + (a == 1), shape[2] + (a == 2))) for a in range(3)]
    openness[2][:2, :, 3] = 0.0   # floor plane z = 0.3 m: closed for x < 0.2 m,
    openness[2][2:4, :, 3] = 0.25  # perforated for 0.2-0.4 m, wholly open beyond
    slip = {side: Wall(slip=True) for side in ("x-", "x+", "y-", "y+", "z-", "z+")}
    got = wall_distance_m(fluid, openness, h, slip)
    centres = np.stack(np.meshgrid(*[(np.arange(n) + 0.5) * h for n in shape], indexing="ij"), axis=-1)
    # The floor's wall part: x in [0, 0.4], any y, z = 0.3; the solid: the box of cell (7, 0, 8).
    dx = np.maximum(centres[..., 0] - 0.4, 0.0)
    floor = np.hypot(dx, centres[..., 2] - 0.3)
    lo, hi = np.array([0.7, 0.0, 0.8]), np.array([0.8, 0.1, 0.9])
    box = np.linalg.norm(np.maximum(np.maximum(lo - centres, centres - hi), 0.0), axis=-1)
    expected = np.maximum(np.minimum(floor, box), 0.5 * h) * fluid
    assert np.allclose(got, expected, rtol=0, atol=1e-12), np.abs(got - expected).max()
    # The cell above the open part of the floor, beside the perforated edge: the edge, not the plane below.
    assert got[5, 2, 4] == pytest.approx(np.hypot(0.15, 0.15))
    # No-slip domain sides are walls too: the bottom side bounds the cells under the floor.
    walled = wall_distance_m(fluid, openness, h, {**slip, "z-": Wall()})
    assert walled[6, 3, 0] == pytest.approx(0.5 * h) and walled[6, 3, 1] == pytest.approx(1.5 * h)


def test_warm_resolve_follows_a_new_mover_flow_cheaply():
    """After a steady solve, 20 warm iterations at 90 % mover flow land near 90 % of the field (with
    ν_t ∝ |U| and ν ≪ ν_t the steady flow scales with the movers' flow), far nearer than 20 from rest;
    an unchanged flow is converged at the first iteration."""
    vox, q = _jet_box()
    settings = MomentumSettings(buoyancy=False, tol=1e-6)
    warm = MomentumSolver.from_voxels(vox, settings=settings)
    warm.solve(np.array([q]))
    full = warm.face_flows_m3s()
    assert warm.resolve(np.array([q]), iterations=5).iterations == 1
    warm.resolve(np.array([0.9 * q]), iterations=20)
    cold = MomentumSolver.from_voxels(vox, settings=settings)
    cold.resolve(np.array([0.9 * q]), iterations=20)
    error_warm = np.abs(warm.face_flows_m3s() - 0.9 * full).max()
    error_cold = np.abs(cold.face_flows_m3s() - 0.9 * full).max()
    assert error_warm < 0.03 * np.abs(full).max()
    assert error_warm < 0.3 * error_cold, (error_warm, error_cold)


def test_not_converging_is_reported_with_its_history():
    """A steady solve capped at too few iterations raises FlowNotConverged carrying the residual history."""
    vox, q = _jet_box()
    solver = MomentumSolver.from_voxels(vox, settings=MomentumSettings(buoyancy=False, max_iterations=5))
    with pytest.raises(FlowNotConverged) as err:
        solver.solve(np.array([q]))
    assert err.value.history.shape == (5, 2) and np.all(np.isfinite(err.value.history))
    flows = solver.face_flows_m3s()  # the field left behind is still usable and divergence-free
    net = build_network(vox)
    source = net.outlet @ np.array([q]) - net.intake @ np.array([q])
    assert np.abs(face_divergence(net, flows) - source).max() < 1e-9 * np.abs(flows).max()


def test_perforated_face_takes_less_air_than_an_open_one():
    """Two mirror-image windows in a partition share the return air equally when both are open; a
    perforated one (openness 0.25, ζ = 9) takes clearly less than its open twin."""
    shape = (16, 8, 8)
    cell = np.ravel_multi_index
    intake = np.array([cell((2, j, k), shape) for j in (3, 4) for k in (3, 4)])
    outlet = np.array([cell((12, j, k), shape) for j in (3, 4) for k in (3, 4)])
    split = []
    for openness in (1.0, 0.25):
        faces = closed_box_faces(shape)
        faces[0][8] = 0.0  # the partition, with two windows symmetric about the box's mid-plane y = 4
        faces[0][8, 1:3, 3:5] = 1.0
        faces[0][8, 5:7, 3:5] = openness
        vox = _voxels(np.zeros(shape, bool), faces, 0.1, [Mover("fan", intake, outlet)])
        solver = MomentumSolver.from_voxels(vox, settings=MomentumSettings(buoyancy=False, tol=1e-5))
        solver.solve(np.array([0.02]))
        through = -solver.u[0][8] * 0.01  # the return flow runs towards −x
        split.append((through[1:3, 3:5].sum(), through[5:7, 3:5].sum()))
        assert sum(split[-1]) == pytest.approx(0.02, rel=1e-9)
    assert split[0][1] == pytest.approx(split[0][0], rel=0.05)
    assert split[1][1] < 0.6 * split[1][0], split


def test_perforated_plate_turns_the_air_it_passes_normal_to_itself():
    """A plenum jet along −x rising through a floor window to an intake right above it: through an open
    window the air keeps the jet's horizontal speed above the floor; through a perforated one (openness
    0.25) it leaves normal to the plate (the holes carry no tangential momentum), so u_x there is far smaller."""
    shape = (20, 6, 10)
    cell = np.ravel_multi_index
    intake = np.array([cell((i, j, 8), shape) for i in (4, 5) for j in (2, 3)])
    outlet = np.array([cell((16, j, 1), shape) for j in (2, 3)])  # blows −x along the plenum
    along = {}
    for openness in (1.0, 0.25):
        faces = closed_box_faces(shape)
        faces[2][:, :, 3] = 0.0  # the floor between the plenum (z < 3 cells) and the room
        faces[2][3:7, :, 3] = openness
        vox = _voxels(np.zeros(shape, bool), faces, 0.1, [Mover("fan", intake, outlet)])
        solver = MomentumSolver.from_voxels(vox, settings=MomentumSettings(buoyancy=False, tol=1e-5))
        solver.solve(np.array([0.03]))
        v = solver.cell_velocity_m_s()[3:7, :, 3]  # the room cells right above the window
        assert v[..., 2].mean() > 0.0
        along[openness] = -v[..., 0].mean() / v[..., 2].mean()
    assert along[1.0] > 0.5, along  # the open window lets the jet's momentum through
    assert abs(along[0.25]) < 0.3 * along[1.0], along


def test_van_leer_face_value_is_exact_on_a_line_and_never_overshoots():
    """The limited face value is second order (exact for a linear profile, a half cell past the upwind
    value), takes the upwind value at an extremum, and lies between upwind and downwind values (TVD)."""
    from twin.thermal.momentum import _limited_face

    x = np.linspace(-1.0, 1.0, 9)
    up, far, down = 2.0 * x + 1.0, 2.0 * (x - 1.0) + 1.0, 2.0 * (x + 1.0) + 1.0  # u = 2x + 1, unit spacing
    assert np.allclose(_limited_face(up, far, down), 2.0 * (x + 0.5) + 1.0)
    assert np.allclose(_limited_face(np.array([1.0, 1.0]), np.array([0.0, 2.0]), np.array([0.0, 2.0])), 1.0)
    rng = np.random.default_rng(7)
    up, far, down = rng.normal(size=(3, 2000))
    face = _limited_face(up, far, down)
    assert np.all(face >= np.minimum(up, down) - 1e-15) and np.all(face <= np.maximum(up, down) + 1e-15)


def test_linear_upwind_is_openfoams_cell_limited_scheme_which_in_1d_is_the_mc_limiter(rng):
    """OpenFOAM's linearUpwind with a cellLimited (Barth–Jespersen, coefficient 1) central gradient, on a
    uniform line, is van Leer's monotonized-central limiter ψ(r) = max(0, min(2r, (1+r)/2, 2)): Fromm's
    scheme where smooth, clipped to twice either one-sided slope, first order at extrema."""
    from twin.thermal.momentum import _limited_half_steps

    x = np.cumsum(rng.normal(size=60)) + 3.0 * np.sin(np.arange(60) / 3.0)
    u = np.broadcast_to(x[:, None, None], (60, 3, 3)).copy()  # uniform across: only the x direction matters
    step = _limited_half_steps(u, np.pad(u, 1), np.ones(u.shape, bool))[0][1:-1, 1, 1]
    up_slope, down_slope = x[1:-1] - x[:-2], x[2:] - x[1:-1]
    r = np.divide(up_slope, down_slope, out=np.zeros_like(up_slope), where=down_slope != 0)
    psi = np.maximum(0.0, np.minimum.reduce([2 * r, 0.5 * (1 + r), np.full_like(r, 2.0)]))
    assert np.allclose(step, 0.5 * psi * down_slope, atol=1e-13)
    assert np.any(psi == 0) and np.any(psi == 2) and np.any((psi > 0) & (psi < 2))  # every branch is tried


@pytest.mark.slow
def test_tvd_convection_meets_ghia_at_re_1000_on_64_cells_where_upwind_does_not():
    """Re = 1000 at 64² is where first-order upwind's numerical diffusion shows: its centreline profiles
    are several hundredths of the lid speed off Ghia's; van Leer's scheme brings both within 0.01 RMS."""
    tvd = lid_driven_cavity(1000, 64, tol=1e-7, convection="tvd")
    assert tvd.info.converged
    assert tvd.rms_u < 0.01 and tvd.rms_w < 0.01, (tvd.rms_u, tvd.rms_w)
    upwind = lid_driven_cavity(1000, 64, tol=1e-7, convection="upwind")
    assert min(upwind.rms_u, upwind.rms_w) > 3 * max(tvd.rms_u, tvd.rms_w), (upwind.rms_u, upwind.rms_w)


def test_tvd_jet_spreads_less_than_upwind():
    """A free jet spreads by turbulence, not by the scheme: with van Leer's scheme the centreline keeps more of
    its speed twenty cells downstream than with first-order upwind, whose numerical diffusion adds to ν_t."""
    vox, q = _jet_box()
    speed = {}
    for scheme in ("upwind", "tvd", "linear-upwind"):
        solver = MomentumSolver.from_voxels(vox, settings=MomentumSettings(buoyancy=False, convection=scheme))
        solver.solve(np.array([q]))
        speed[scheme] = solver.cell_velocity_m_s()[22, 5:7, 5:7, 0].mean()
    assert speed["tvd"] > 1.1 * speed["upwind"] > 0.0, speed
    assert speed["linear-upwind"] > 1.1 * speed["upwind"], speed


def test_unknown_convection_scheme_is_refused_by_name():
    with pytest.raises(ValueError, match="convection: 'quick' is not one of upwind, tvd"):
        MomentumSolver(np.zeros((4, 4, 4), bool), closed_box_faces((4, 4, 4)), 0.1,
                       settings=MomentumSettings(convection="quick"))


def _plenum_with_tiles() -> tuple[HallVoxels, float]:
    """A raised floor: a plenum jet along −x under a floor with open and perforated (0.25) windows, a block
    standing in the room, an intake above the windows."""
    shape = (20, 6, 10)
    cell = np.ravel_multi_index
    solid = np.zeros(shape, bool)
    solid[10:12, 2:4, 5:7] = True
    faces = closed_box_faces(shape)
    for a in range(3):  # no air through the block's sides
        lo, hi = [slice(None)] * 3, [slice(None)] * 3
        lo[a], hi[a] = slice(0, -1), slice(1, None)
        faces[a][tuple(lo)][solid] = 0.0
        faces[a][tuple(hi)][solid] = 0.0
    faces[2][:, :, 3] = 0.0
    faces[2][3:5, :, 3] = 1.0
    faces[2][5:7, :, 3] = 0.25
    intake = np.array([cell((i, j, 8), shape) for i in (4, 5) for j in (2, 3)])
    outlet = np.array([cell((16, j, 1), shape) for j in (2, 3)])
    return _voxels(solid, faces, 0.1, [Mover("fan", intake, outlet)]), 0.03


def _moving_field(solver: MomentumSolver, q: np.ndarray, rng: np.random.Generator
                  ) -> tuple[np.ndarray, float, float, np.ndarray]:
    """A field already moving under a noisy temperature (8 iterations from rest), and one march iteration's
    inputs for it: the temperature grid, T_ref, the pseudo time step and ν."""
    t = 20.0 + 2.0 * rng.standard_normal(solver.shape)
    solver.resolve(q, t, iterations=8)
    tg = solver._temperature_grid(t)
    assert tg is not None
    u_ref = solver._u_ref(q, tg)
    dt = solver.settings.cfl * solver.h / u_ref
    return tg, float(tg[solver.fluid].mean()), dt, solver._update_viscosity(q, tg, dt, u_ref)


@pytest.mark.parametrize("case", ["tiles-buoyant", "tiles-k-epsilon", "lid-and-slip-walls"])
def test_compiled_momentum_step_gives_the_numpy_form_s_bits(case, rng):
    """The compiled assembly and sweeps (twin.thermal.momentum_kernels) give the same bits as the numpy form
    for every velocity component, with jets, perforated and closed faces, a solid, buoyancy, k-ε's wall
    viscosity, a moving lid and a free-slip side, on a field that is already moving."""
    if case == "lid-and-slip-walls":
        shape = (10, 8, 6)
        walls = {"z+": Wall(velocity_m_s=(1.0, 0.3, 0.0)), "x-": Wall(slip=True)}
        solver = MomentumSolver(np.zeros(shape, bool), closed_box_faces(shape), 0.1,
                                settings=MomentumSettings(walls=walls))
        q = np.zeros(0)
    else:
        vox, q0 = _plenum_with_tiles()
        shape = vox.solid.shape
        model = "k-epsilon" if case == "tiles-k-epsilon" else "chen-xu"
        solver = MomentumSolver.from_voxels(vox, settings=MomentumSettings(turbulence_model=model))
        q = np.array([q0])
    tg, t_ref, dt, nu = _moving_field(solver, q, rng)
    if case == "tiles-k-epsilon":
        assert solver._nu_wall is not None
    for c in range(3):
        fast = solver._momentum(c, nu, tg, t_ref, q, dt)
        reference = solver._momentum_reference(c, nu, tg, t_ref, q, dt)
        assert np.any(fast != solver.u[c])  # the step moves the field: the comparison is not of zeros
        np.testing.assert_array_equal(fast, reference)


@pytest.mark.parametrize("convection", ["upwind", "linear-upwind"])
def test_lagged_iteration_reuses_the_last_assembly_in_both_forms(convection, rng):
    """Inside a hold, ``reuse`` takes the coefficients the component's last call assembled, with this call's
    pseudo-time, pressure and buoyancy terms: the compiled and the numpy form give the same bits for it (with
    linear-upwind both calls are the numpy form, whose deferred correction is reused too), it differs from a
    fresh assembly of the moved field, and outside a hold ``reuse`` assembles afresh."""
    vox, q0 = _plenum_with_tiles()
    solver = MomentumSolver.from_voxels(vox, settings=MomentumSettings(convection=convection))
    q = np.array([q0])
    tg, t_ref, dt, nu = _moving_field(solver, q, rng)
    for c in range(3):
        first = solver.u[c].copy()
        with solver._holding_coefficients():
            solver._momentum(c, nu, tg, t_ref, q, dt)
            solver._momentum_reference(c, nu, tg, t_ref, q, dt)
            # The field and pressure move (as an iteration would move them); the coefficients stay.
            solver.u[c] = first + 0.05 * rng.standard_normal(first.shape) * solver.active[c]
            solver.p = solver.p + 0.01 * rng.standard_normal(solver.p.shape)
            lagged = solver._momentum(c, nu, tg, t_ref, q, dt, reuse=True)
            np.testing.assert_array_equal(lagged, solver._momentum_reference(c, nu, tg, t_ref, q, dt, reuse=True))
            fresh = solver._momentum_reference(c, nu, tg, t_ref, q, dt)
        assert not np.array_equal(lagged, fresh)
        assert solver._held_coefficients is None  # dropped with the hold
        np.testing.assert_array_equal(solver._momentum(c, nu, tg, t_ref, q, dt, reuse=True), fresh)


def test_lagged_march_converges_to_the_same_field():
    """The march lagging its coefficients (assembled every second iteration, as the steady solves do) and the
    plain one reach the same steady field, as near as two paths of the plain march do (cfl 5 and 3: a fixed
    point of either; measured 2.6e-5 and 2.7e-5 of the largest flow), and it stops on an assembled iteration.
    (Not on the jet box: its jet has two mirror-image steady states, and which one a march finds depends on
    its path, lagged or not.)"""
    vox, q = _plenum_with_tiles()
    fields, counts, histories = [], [], []
    for every in (1, 2):
        solver = MomentumSolver.from_voxels(vox, settings=MomentumSettings(buoyancy=False, tol=1e-8))
        with solver.lagging(every):
            info = solver.resolve(np.array([q]), iterations=5000)  # (solve() never lags)
        assert info.converged and solver.reassemble_every == 1 and not solver.lag_abandoned
        fields.append(solver.face_flows_m3s())
        counts.append(info.iterations)
        histories.append(info.history[:10])
    assert not np.array_equal(histories[0], histories[1])  # it did lag: a different path from the start
    assert counts[1] % 2 == 1  # iterations 0, 2, 4, … assemble: the last one is among them
    scale = np.abs(fields[0]).max()
    assert np.abs(fields[1] - fields[0]).max() < 1e-4 * scale, (np.abs(fields[1] - fields[0]).max(), scale)
    with pytest.raises(ValueError, match="every"):
        with solver.lagging(0):
            pass


def test_solve_to_a_tolerance_never_lags_and_a_fixed_count_is_not_retried():
    """Inside a lagging block solve() (to a tolerance, from rest) runs the plain march: the same history to the
    bit, converged or not; a resolve's fixed count of iterations lags, ends on an assembled iteration and is not
    retried."""
    vox, q = _plenum_with_tiles()
    settings = MomentumSettings(buoyancy=False, tol=1e-8)
    plain = MomentumSolver.from_voxels(vox, settings=settings)
    with pytest.raises(FlowNotConverged) as plain_err:
        plain.solve(np.array([q]), max_iterations=7)
    inside = MomentumSolver.from_voxels(vox, settings=settings)
    with inside.lagging(2):
        with pytest.raises(FlowNotConverged) as inside_err:
            inside.solve(np.array([q]), max_iterations=7)
        assert inside.reassemble_every == 2 and not inside.lag_abandoned
        info = inside.resolve(np.array([q]), iterations=6, tol=1e-30)
    np.testing.assert_array_equal(inside_err.value.history, plain_err.value.history)
    plain.resolve(np.array([q]), iterations=6, tol=1e-30)
    assert info.iterations == 6 and not np.array_equal(info.history, plain.last_info.history)




@pytest.mark.parametrize("shape", [(30, 12, 12), (6, 6, 6)])
def test_projection_s_amg_cg_gives_pyamg_s_answer_with_one_v_cycle_less(shape, rng):
    """The projection's own AMG-CG returns pyamg's ``solve(accel="cg")``: to the bit where one CG iteration
    meets the tolerance (the iterations' projections), within rounding where it takes more (the final
    projection's 1e-3: its first residual is updated, not recomputed), meeting the tolerance; its V-cycle is
    pyamg's one cycle (a multi-level hierarchy, and one small enough to be its coarse level only)."""
    solid = np.zeros(shape, bool)
    solid[2:4, 3:5, 1:4] = True
    solver = MomentumSolver(solid, closed_box_faces(shape), 0.1)
    assert (len(solver.multigrid.levels) > 1) == (shape[0] > 6)
    b = rng.standard_normal(solver.n_cells)
    b -= b.mean()
    for rtol in (0.1, 1e-3):
        residuals: list[float] = []
        expected = solver.multigrid.solve(b, x0=np.zeros_like(b), tol=rtol, accel="cg", maxiter=200,
                                          residuals=residuals)
        got = solver._amg_cg(b, rtol, maxiter=200)
        assert np.linalg.norm(b - solver.laplacian @ got) < rtol * np.linalg.norm(b)
        if len(residuals) == 2:  # one CG iteration (the first entry is the start's residual)
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    one = solver.multigrid.solve(b, x0=np.zeros_like(b), tol=1e-30, accel=None, maxiter=1)
    np.testing.assert_array_equal(solver._v_cycle(b), one)
    assert np.linalg.norm(solver.laplacian @ one - b) < np.linalg.norm(b)  # the cycle did reduce the residual


def test_v_cycle_falls_back_to_pyamg_s_public_solve_with_the_same_bits(rng, monkeypatch):
    """The projection's V-cycle calls pyamg's private one-cycle routine; a pyamg without it (renamed) gets
    the public ``solve`` for one cycle instead, which gives the same bits."""
    import twin.thermal.momentum as momentum

    shape = (30, 12, 12)
    solver = MomentumSolver(np.zeros(shape, bool), closed_box_faces(shape), 0.1)
    b = rng.standard_normal(solver.n_cells)
    b -= b.mean()
    private = solver._v_cycle(b)
    monkeypatch.setattr(momentum, "_pyamg_cycle", lambda ml: None)
    public = solver._v_cycle(b)
    assert np.linalg.norm(solver.laplacian @ public - b) < 0.5 * np.linalg.norm(b)  # a real cycle, not zeros
    np.testing.assert_array_equal(public, private)


def test_compiled_chen_xu_viscosity_gives_the_numpy_form_s_bits():
    """ν_t = 0.03874 |U| L from the compiled kernel equals the numpy form on a moving field (a jet), bit for bit."""
    vox, q = _jet_box()
    solver = MomentumSolver.from_voxels(vox, settings=MomentumSettings(buoyancy=False))
    solver.resolve(np.array([q]), iterations=30)
    numpy_form = 0.03874 * np.sqrt(np.sum(solver.cell_velocity_m_s() ** 2, axis=-1)) * solver.wall_distance_m
    assert numpy_form.max() > 1e-3  # the jet moves: the comparison is not of zeros
    np.testing.assert_array_equal(solver.eddy_viscosity_m2s(), numpy_form)


@pytest.mark.parametrize("turbulence_model", ["chen-xu", "k-epsilon"])
def test_compiled_momentum_step_gives_the_numpy_form_s_bits_on_random_rooms(turbulence_model, rng):
    """The same bits on rooms the fixed cases above do not have: odd sizes down to three cells along an
    axis, solids against the domain's sides and last faces, closed and perforated faces anywhere, each side
    of the box at random a no-slip, free-slip or moving wall, and a random field and pressure to step from."""
    for _ in range(4):
        shape = tuple(int(n) for n in rng.integers(3, 9, size=3))
        solid = rng.random(shape) < 0.15
        faces = closed_box_faces(shape)
        for f in faces:
            draw = rng.random(f.shape)
            f[(draw < 0.2) & (f > 0)] = 0.3  # perforated
            f[draw > 0.9] = 0.0  # closed
        walls = {}
        for i, side in enumerate(SIDES):  # (axis, low/high) order
            kind = rng.integers(0, 3)
            if kind == 1:
                walls[side] = Wall(slip=True)
            elif kind == 2:  # moving in its own plane
                speed = 0.3 * rng.standard_normal(3)
                speed[i // 2] = 0.0
                walls[side] = Wall(velocity_m_s=tuple(speed))
        fluid = np.flatnonzero(~solid.ravel())
        cells = rng.choice(fluid, 4, replace=False)
        direction = np.zeros((1, 3))
        direction[0, rng.integers(0, 3)] = 1.0
        solver = MomentumSolver(solid, faces, 0.1, MoverJets([cells[:2]], [cells[2:]], direction, ["fan"]),
                                settings=MomentumSettings(walls=walls, turbulence_model=turbulence_model))
        for a in range(3):
            solver.u[a][...] = np.where(solver.active[a], 0.2 * rng.standard_normal(solver.u[a].shape), 0.0)
        solver.p[...] = 0.01 * rng.standard_normal(shape)
        q = np.array([0.01])
        tg = solver._temperature_grid(20.0 + 2.0 * rng.standard_normal(shape))
        assert tg is not None
        u_ref = solver._u_ref(q, tg)
        dt = solver.settings.cfl * solver.h / u_ref
        nu = solver._update_viscosity(q, tg, dt, u_ref)
        for c in range(3):
            fast = solver._momentum(c, nu, tg, float(tg[solver.fluid].mean()), q, dt)
            reference = solver._momentum_reference(c, nu, tg, float(tg[solver.fluid].mean()), q, dt)
            assert np.any(fast != solver.u[c])  # the step moves the field: the comparison is not of zeros
            np.testing.assert_array_equal(fast, reference)


def test_compiled_divergence_and_face_correction_are_the_numpy_forms_bit_for_bit(rng):
    """The projection's divergence and face update (momentum_kernels) give the numpy forms' bits: random face
    velocities and potentials, faces inactive at random (they get + 0.0: a −0.0 there turns +0.0 as in numpy)."""
    from twin.thermal.momentum import _face_shape, _pair
    from twin.thermal.momentum_kernels import correct_faces, divergence_m3s

    shape = (7, 5, 6)
    h = 0.15
    u = [rng.standard_normal(_face_shape(shape, a)) for a in range(3)]
    u[1][0, 0, 0] = -0.0
    expected = h * h * (0.0 + np.diff(u[0], axis=0) + np.diff(u[1], axis=1) + np.diff(u[2], axis=2))
    np.testing.assert_array_equal(divergence_m3s(u[0], u[1], u[2], h * h), expected)
    phi = rng.standard_normal(shape)
    dt = 0.37
    for a in range(3):
        active = rng.random(_face_shape(shape, a)) < 0.7
        active[(0, 0, 0)] = False
        openness = np.where(active, rng.uniform(0.1, 1.0, active.shape), 0.0)
        pa, pb = _pair(phi, a, 0.0)
        want = u[a] + np.where(active, dt / h * openness * (pa - pb), 0.0)
        got = u[a].copy()
        correct_faces(got, phi, active, openness, dt / h, a)
        np.testing.assert_array_equal(got, want)
        assert np.signbit(want[0, 0, 0]) == np.signbit(got[0, 0, 0])


def test_lean_v_cycle_is_pyamg_s_cycle_bit_for_bit(rng):
    """The projection's own V-cycle (amg_core's sweeps and the hierarchy's operators called directly) gives the
    bits of pyamg's private one-cycle routine on a multi-level hierarchy with solids, and is the one used."""
    import twin.thermal.momentum as momentum

    shape = (30, 14, 12)
    solid = np.zeros(shape, bool)
    solid[5:9, 3:7, 0:6] = True
    solver = MomentumSolver(solid, closed_box_faces(shape), 0.1)
    ml = solver.multigrid
    assert len(ml.levels) > 2
    lean = momentum._lean_v_cycle(ml)
    assert lean is not None and momentum._pyamg_cycle(ml) is not None
    for _ in range(3):
        b = rng.standard_normal(solver.n_cells)
        b -= b.mean()
        x_lean, x_pyamg = np.zeros_like(b), np.zeros_like(b)
        lean(0, x_lean, b, "V", 1)
        ml._MultilevelSolver__solve(0, x_pyamg, b, "V", 1)
        assert np.linalg.norm(solver.laplacian @ x_lean - b) < 0.5 * np.linalg.norm(b)
        np.testing.assert_array_equal(x_lean, x_pyamg)


def test_finish_hands_out_what_a_default_resolve_would_to_the_bit():
    """A resolve with a loose last projection (the steady loop's iterates) and then finish() gives the very field
    (velocities and pressure, bit for bit) that a resolve with the default last projection gives; the loose field
    itself differs (so the check can fail), and both are divergence-consistent with the movers."""
    vox, q = _jet_box()
    flows = np.array([q])
    fields = {}
    for name, final_rtol in (("default", None), ("loose", 0.1)):
        m = MomentumSolver.from_voxels(vox, settings=MomentumSettings(buoyancy=False))
        m.resolve(flows, iterations=6, final_rtol=final_rtol)
        fields[name + "-before"] = ([x.copy() for x in m.u], m.p.copy())
        m.finish()
        fields[name] = ([x.copy() for x in m.u], m.p.copy())
        div = m._divergence_m3s(m.u) - m.sources_m3s(flows)
        assert np.max(np.abs(div[m.fluid])) < 1e-12 * q
    for a in range(3):
        assert np.array_equal(fields["default"][0][a], fields["loose"][0][a])
        assert np.array_equal(fields["default"][0][a], fields["default-before"][0][a])  # nothing to finish
    assert np.array_equal(fields["default"][1], fields["loose"][1])
    assert not all(np.array_equal(x, y) for x, y in zip(fields["loose-before"][0], fields["default"][0]))


def test_finish_refuses_a_field_replaced_since_the_resolve():
    """finish() redoes the last projection of the resolve's own iterate: not of a field put in its place since."""
    vox, q = _jet_box()
    m = MomentumSolver.from_voxels(vox, settings=MomentumSettings(buoyancy=False))
    m.resolve(np.array([q]), iterations=3, final_rtol=0.1)
    m.u = [x.copy() for x in m.u]
    with pytest.raises(RuntimeError, match="replaced"):
        m.finish()
    m.resolve(np.array([q]), iterations=3, final_rtol=0.1)
    m.reset()
    m.finish()  # a reset forgets the iterate: nothing to finish, the field stays at rest
    assert all(not np.any(x) for x in m.u)


def test_masked_sum_of_squares_is_numpy_s_masked_sum(rng):
    """The march's compiled residual sum: Σ (a − b)² and the count over the masked entries, as numpy's masked
    copies give them (within summation-order rounding), also for an empty mask."""
    from twin.thermal.momentum_kernels import masked_sum_sq

    a, b = rng.standard_normal((2, 9, 7, 5))
    mask = rng.random((9, 7, 5)) < 0.4
    total, count = masked_sum_sq(a, b, mask)
    assert count == int(mask.sum()) > 0
    np.testing.assert_allclose(total, np.sum((a - b)[mask] ** 2), rtol=1e-13)
    assert masked_sum_sq(a, b, np.zeros_like(mask)) == (0.0, 0)
