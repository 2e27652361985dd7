"""Compiled form of the momentum model's per-iteration work (numba): assembly and red–black sweeps.

:meth:`twin.thermal.momentum.MomentumSolver._momentum_reference` is the readable form: it assembles the
linearized momentum equation of one velocity component over the whole grid with numpy (one pass per term
and neighbour direction) and sweeps it with vectorized red–black Gauss–Seidel. :func:`momentum_sweeps`
does the same face by face in one pass for the assembly and one per colour and sweep, for the upwind
scheme (no deferred correction), which is what the halls run. It performs the same floating-point
operations in the same order for every face as the numpy form does element by element (numba compiles
without fast-math, so no reassociation and no fused multiply–add), so the two give the same bits; the tests
check that on halls with tiles, panels, jets, buoyancy, moving and free-slip walls and k-ε's wall viscosity.

Why it pays: on the 130k-cell open-row-fine hall the numpy form is about 24 ms per iteration for the three
components (13 ms assembly, 11 ms sweeps), about 30 % of a steady solve; each of its ~60 whole-grid
temporaries per component is a trip through memory that this form keeps in registers.
"""

from __future__ import annotations

import numba
import numpy as np

from twin.compiled import numba_cache_wanted

__all__ = ["chen_xu_nu_t", "masked_sum_sq", "momentum_sweeps", "momentum_sweeps_with"]

_CACHE = numba_cache_wanted(__file__)
#: Index type of the hot loops' computed indices (i − lo, i + s, …). numba wraps a negative signed index
#: around (x[-1] is the last element), so every signed index it cannot prove non-negative costs a compare and
#: a select; the offsets here are runtime values (the component, the direction), so it proves none of them.
#: These indices are never negative where they are used (the branches before them see to it), and as
#: unsigned ones they compile to plain loads: the same floating-point operations, so the same bits, in about
#: 0.9x the time of the call (open-row-fine, two sweeps: 4.4-4.5 against 4.8-5.1 ms per component, alternated
#: in one process, shared 2-core machine).
_U = np.uint64


@numba.njit(cache=_CACHE, nogil=True)
def _neg_part(flux: float) -> float:  # pragma: no cover - compiled
    """np.maximum(-flux, 0.0), with numpy's choice between equal operands (−0.0 against 0.0 keeps −0.0)."""
    m = -flux
    return m if m >= 0.0 else 0.0


@numba.njit(cache=_CACHE, nogil=True)
def _direction(k, d, s, c, h, uc, ux, uy, uz, nu, nu_wall, has_nu_wall, act, theta, wall_factor, wall_speed,
               has_wall_speed, open_a, open_b, has_half, a_nb, ap, bb):  # pragma: no cover - compiled
    """One neighbour direction k = (d, s) of every active face's control volume: a_nb[k], and its terms of
    a_P and b added to ``ap`` and ``bb`` in the numpy form's order (perforated half, wall, moving wall, a_nb).

    One pass per direction: the branches on d, s and c are then the same for the whole pass (LLVM moves them
    out of the loops), which measured twice as fast as one pass over the faces with the six directions inside.
    """
    f0, f1, f2 = uc.shape
    h2 = h * h
    lo0 = 1 if c == 0 else 0  # a face's low cell is one below it along c
    lo1 = 1 if c == 1 else 0
    lo2 = 1 if c == 2 else 0
    di = s if d == 0 else 0  # the neighbouring face, along d
    dj = s if d == 1 else 0
    dk = s if d == 2 else 0
    sh = 1 if s > 0 else 0  # a cell's d-face on side s: index +1 along d on the high side
    si = sh if d == 0 else 0
    sj = sh if d == 1 else 0
    sk = sh if d == 2 else 0
    across = k if d < c else k - 2  # index into the tables of the four directions across c
    along = d == c
    half = False if along else has_half[across]
    moving_wall = False if along else has_wall_speed[across]
    ud = ux if d == 0 else (uy if d == 1 else uz)
    sf = s * h2 * 0.5
    for i in range(f0):
        for j in range(f1):
            for k3 in range(f2):
                if not act[i, j, k3]:
                    continue
                # The face's two cells: a below it along c, b above (both inside: an active face is interior).
                ia, ja, ka = i - lo0, j - lo1, k3 - lo2
                ni, nj, nk = i + di, j + dj, k3 + dk
                inside = 0 <= ni < f0 and 0 <= nj < f1 and 0 <= nk < f2
                iau, jau, kau = _U(ia), _U(ja), _U(ka)
                iu, ju, ku = _U(i), _U(j), _U(k3)
                nu_a = nu[iau, jau, kau]
                nu_b = nu[iu, ju, ku]
                if along:
                    # CV face at a cell centre: the mean of the two face velocities carries the flux.
                    u_n = uc[_U(ni), _U(nj), _U(nk)] if inside else 0.0
                    flux = s * h2 * 0.5 * (uc[iu, ju, ku] + u_n)
                    diff = (nu_b if s > 0 else nu_a) * h
                    coef = diff + _neg_part(flux)
                else:
                    va = ud[_U(ia + si), _U(ja + sj), _U(ka + sk)]
                    vb = ud[_U(i + si), _U(j + sj), _U(k3 + sk)]
                    if not half:
                        flux = sf * (va + vb)
                    else:
                        oa = open_a[across, i, j, k3]
                        ob = open_b[across, i, j, k3]
                        flux = sf * ((va if oa else 0.0) + (vb if ob else 0.0))
                        # Inflow through perforated halves brings no tangential velocity: on the diagonal.
                        ap[i, j, k3] += _neg_part(sf * ((0.0 if oa else va) + (0.0 if ob else vb)))
                    nu_f = 0.5 * (nu_a + nu_b)
                    # The neighbouring face's ν, edge-padded (at the grid's side, this face's own); across c
                    # both of its cells are inside whenever the face is.
                    nu_n = (0.5 * (nu[_U(ni - lo0), _U(nj - lo1), _U(nk - lo2)] + nu[_U(ni), _U(nj), _U(nk)]) if inside
                            else nu_f)
                    diff = 0.5 * (nu_f + nu_n) * h
                    coef = theta[across, i, j, k3] * diff
                    coef += _neg_part(flux)
                    if has_nu_wall:
                        wall = wall_factor[across, i, j, k3] * (0.5 * (nu_wall[iau, jau, kau] + nu_wall[iu, ju, ku])
                                                                 * h)
                    else:
                        wall = wall_factor[across, i, j, k3] * diff
                    ap[i, j, k3] += wall
                    if moving_wall:
                        bb[i, j, k3] += wall * wall_speed[across, i, j, k3]
                a_nb[k, i, j, k3] = coef
                ap[i, j, k3] += coef


@numba.njit(cache=_CACHE, nogil=True)
def momentum_sweeps(c, h, vdt, uc, ux, uy, uz, nu, nu_wall, has_nu_wall, p, tg, has_buoyancy, buoyancy_coef, t_ref,
                    act, loss, theta, wall_factor, wall_speed, has_wall_speed, open_a, open_b, has_half,
                    jet_q, jet_b, has_jets, sweeps):  # pragma: no cover - compiled
    """Assemble a_P u = Σ a_nb u_nb + b for velocity component ``c`` and sweep it; returns u*.

    Args:
        c: the component (0, 1, 2); ``uc`` is its face field, ``ux, uy, uz`` all three.
        h: cell size, m; vdt: V/Δt, m³/s.
        nu, nu_wall: ν + ν_t and (``has_nu_wall``: k-ε) the wall-function viscosity per cell, m²/s.
        p, tg: kinematic pressure and (``has_buoyancy``) temperature per cell; buoyancy_coef: V g β; t_ref, °C.
        act, loss: the component's active faces and Borda–Carnot loss per face.
        theta, wall_factor, wall_speed, open_a, open_b: per direction across c (``_DIRS`` order without the
            two along c), the open share of the CV side, its wall factor, moving-wall speed (used where
            ``has_wall_speed``) and the wholly open halves (used where ``has_half``: perforated faces).
        jet_q, jet_b: the movers' jet diagonal and momentum per face (used when ``has_jets``).
        sweeps: red–black Gauss–Seidel sweeps.
    """
    f0, f1, f2 = uc.shape
    # a_nb is written and read at active faces only: no zero fill (7 MB per component, 3 % of the call).
    return momentum_sweeps_with(c, h, vdt, uc, ux, uy, uz, nu, nu_wall, has_nu_wall, p, tg, has_buoyancy,
                                buoyancy_coef, t_ref, act, loss, theta, wall_factor, wall_speed, has_wall_speed,
                                open_a, open_b, has_half, jet_q, jet_b, has_jets, sweeps,
                                np.empty((6, f0, f1, f2)), np.empty((f0, f1, f2)), np.empty((f0, f1, f2)), True)


@numba.njit(cache=_CACHE, nogil=True)
def momentum_sweeps_with(c, h, vdt, uc, ux, uy, uz, nu, nu_wall, has_nu_wall, p, tg, has_buoyancy, buoyancy_coef,
                         t_ref, act, loss, theta, wall_factor, wall_speed, has_wall_speed, open_a, open_b, has_half,
                         jet_q, jet_b, has_jets, sweeps, a_nb, ap, b, assemble):  # pragma: no cover - compiled
    """:func:`momentum_sweeps` with the assembled coefficients in the caller's arrays, and reused from them.

    ``a_nb`` (6, *uc.shape), ``ap`` and ``b`` (uc.shape) hold the convection, diffusion and wall terms of the
    six neighbour directions: a_nb, and their sums on the diagonal and in b (before the pseudo-time, pressure,
    loss, buoyancy and jet terms). ``assemble``: compute them from the arguments into these arrays first (what
    momentum_sweeps does); else use them as they are, from an earlier call on the same grid and component (the
    lagged coefficients of MomentumSolver's march, see its ``reassemble_every``). The terms of each call's own
    state (u at the pseudo-time level, p, T, the jets) are always the arguments'.
    """
    f0, f1, f2 = uc.shape
    h2 = h * h
    if assemble:
        ap[...] = 0.0
        b[...] = 0.0
        for k in range(6):  # _DIRS order
            _direction(k, k // 2, -1 if k % 2 == 0 else 1, c, h, uc, ux, uy, uz, nu, nu_wall, has_nu_wall, act,
                       theta, wall_factor, wall_speed, has_wall_speed, open_a, open_b, has_half, a_nb, ap, b)
    lo0 = 1 if c == 0 else 0
    lo1 = 1 if c == 1 else 0
    lo2 = 1 if c == 2 else 0
    # inv and rhs are written and read at active faces only.
    inv = np.empty((f0, f1, f2))
    rhs = np.empty((f0, f1, f2))
    x = np.zeros((f0, f1, f2))
    for i in range(f0):
        for j in range(f1):
            for k3 in range(f2):
                if not act[i, j, k3]:
                    continue
                ia, ja, ka = i - lo0, j - lo1, k3 - lo2
                u0 = uc[i, j, k3]
                ap_f = ap[i, j, k3] + vdt
                bb = b[i, j, k3] + vdt * u0
                # Pressure gradient across the face, porous loss, buoyancy, jets.
                bb -= h2 * (p[i, j, k3] - p[_U(ia), _U(ja), _U(ka)])
                ap_f += h2 * 0.5 * loss[i, j, k3] * abs(u0)
                if has_buoyancy:
                    bb += buoyancy_coef * (0.5 * (tg[_U(ia), _U(ja), _U(ka)] + tg[i, j, k3]) - t_ref)
                if has_jets:
                    ap_f += jet_q[i, j, k3]
                    bb += jet_b[i, j, k3]
                inv[i, j, k3] = 1.0 / ap_f
                rhs[i, j, k3] = bb
                x[i, j, k3] = u0
    # Red–black Gauss–Seidel: a face's six neighbours all have the other colour, so the order within a colour
    # does not matter and this equals the vectorized sweep.
    for _ in range(sweeps):
        for colour in range(2):
            for i in range(f0):
                for j in range(f1):
                    start = (colour + i + j) % 2
                    for k3 in range(start, f2, 2):
                        if not act[i, j, k3]:
                            continue
                        r = rhs[i, j, k3]
                        r += a_nb[0, i, j, k3] * (x[_U(i - 1), j, k3] if i > 0 else 0.0)
                        r += a_nb[1, i, j, k3] * (x[i + 1, j, k3] if i + 1 < f0 else 0.0)
                        r += a_nb[2, i, j, k3] * (x[i, _U(j - 1), k3] if j > 0 else 0.0)
                        r += a_nb[3, i, j, k3] * (x[i, j + 1, k3] if j + 1 < f1 else 0.0)
                        r += a_nb[4, i, j, k3] * (x[i, j, _U(k3 - 1)] if k3 > 0 else 0.0)
                        r += a_nb[5, i, j, k3] * (x[i, j, k3 + 1] if k3 + 1 < f2 else 0.0)
                        r *= inv[i, j, k3]
                        x[i, j, k3] = r
    return x


@numba.njit(cache=_CACHE, nogil=True)
def chen_xu_nu_t(ux, uy, uz, wall_distance_m, constant):  # pragma: no cover - compiled
    """Chen–Xu's ν_t = constant · |U| · L per cell, |U| from the means of each cell's two faces per axis: the
    numpy form's operations in its order (the squares summed x, y, then z, as ``np.sum(…, axis=-1)`` does on
    the stacked velocities), so the same bits, without its five whole-grid temporaries."""
    nx, ny, nz = wall_distance_m.shape
    out = np.empty((nx, ny, nz))
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                vx = 0.5 * (ux[i, j, k] + ux[i + 1, j, k])
                vy = 0.5 * (uy[i, j, k] + uy[i, j + 1, k])
                vz = 0.5 * (uz[i, j, k] + uz[i, j, k + 1])
                speed = np.sqrt((vx * vx + vy * vy) + vz * vz)
                out[i, j, k] = constant * speed * wall_distance_m[i, j, k]
    return out


@numba.njit(cache=_CACHE, nogil=True)
def divergence_m3s(ux, uy, uz, h2):  # pragma: no cover - compiled
    """Net outflow h² (Δu_x + Δu_y + Δu_z) of every grid cell: the numpy form's operations in its order
    (``h2 * (0.0 + np.diff(ux, axis=0) + np.diff(uy, axis=1) + np.diff(uz, axis=2))``), so the same bits,
    without its seven whole-grid temporaries (it runs twice per momentum iteration)."""
    nx, ny, nz = uy.shape[0], ux.shape[1], ux.shape[2]
    out = np.empty((nx, ny, nz))
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                acc = 0.0 + (ux[i + 1, j, k] - ux[i, j, k])
                acc = acc + (uy[i, j + 1, k] - uy[i, j, k])
                acc = acc + (uz[i, j, k + 1] - uz[i, j, k])
                out[i, j, k] = h2 * acc
    return out


@numba.njit(cache=_CACHE, nogil=True)
def correct_faces(u, phi, active, openness, coef, axis):  # pragma: no cover - compiled
    """The projection's face update on the faces normal to ``axis``, in place: u += where(active, coef ·
    openness · (φ_a − φ_b), 0.0), φ_a and φ_b the cells below and above the face (0 outside the grid). The
    numpy form's operations in its order (inactive faces too get + 0.0), so the same bits."""
    f0, f1, f2 = u.shape
    di = 1 if axis == 0 else 0
    dj = 1 if axis == 1 else 0
    dk = 1 if axis == 2 else 0
    n_axis = phi.shape[axis]
    for i in range(f0):
        for j in range(f1):
            for k in range(f2):
                if active[i, j, k]:
                    along = i if axis == 0 else (j if axis == 1 else k)
                    pa = phi[i - di, j - dj, k - dk] if along > 0 else 0.0
                    pb = phi[i, j, k] if along < n_axis else 0.0
                    u[i, j, k] = u[i, j, k] + (coef * openness[i, j, k]) * (pa - pb)
                else:
                    u[i, j, k] = u[i, j, k] + 0.0


@numba.njit(cache=_CACHE, nogil=True)
def masked_sum_sq(a, b, mask):  # pragma: no cover - compiled
    """(Σ (a − b)², count) over the entries where ``mask`` is set (same-shaped 3D arrays): the momentum march's
    residuals without the masked copies and the concatenation they took in numpy (about a millisecond per
    iteration on open-row-fine). Summed in order, not pairwise as np.mean does: the residuals differ from
    numpy's in the last bits only, and they only decide when a solve stops."""
    n0, n1, n2 = a.shape
    total = 0.0
    count = 0
    for i in range(n0):
        for j in range(n1):
            for k in range(n2):
                if mask[i, j, k]:
                    d = a[i, j, k] - b[i, j, k]
                    total += d * d
                    count += 1
    return total, count
