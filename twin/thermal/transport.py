"""Conservative finite-volume heat transport on the fluid cells, implicit in time.

Energy balance of fluid cell i (volume V, temperature T_i), with ρ c_p the air's volumetric heat:

    ρ c_p V dT_i/dt = − Σ_f ρ c_p F_f T_upwind(f)          advection by the face flows (first-order upwind)
                      + Σ_f k_f (T_j − T_i)                 turbulent diffusion, k_f = ρ c_p α_f · open · A/d
                      − ρ c_p q_in,i T_i                     air drawn into racks / CRAHs at intakes
                      + ρ c_p q_out,i T_mover                air blown out of racks / CRAHs at outlets
                      + P_i                                  heat released straight into the air (W)

The face diffusivity α_f is either one constant for the whole room (the hall's ``[air]
turbulent_diffusivity_m2s``; the potential flow has no turbulence of its own) or, with the momentum model,
the flow's own eddy diffusivity α_f = ν/Pr + ν_t,f/Pr_t (Reynolds analogy: heat is mixed by the same
eddies as momentum; Pr = 0.71 for air, Pr_t = 0.9 as usual for indoor air), ν_t,f the mean of the two
cells' Chen–Xu ν_t. Either way K keeps its symmetric diffusive part, so everything below holds.

Backward Euler gives A T' = b with A = ρ c_p V/dt + K. Because the flow is a potential flow, every
advective coupling points from higher to lower potential: ordering the cells by falling potential makes
the advective part of A lower triangular. With M the lower triangle of the ordered A (diagonal
included) and U the rest, the solver iterates x ← M⁻¹ (b − U x), i.e. Gauss–Seidel sweeps in flow order,
where U holds only the diffusive couplings to downstream cells; it converges in a few sweeps for any time
step. The momentum model's recirculating flows put some advective couplings into U too: A is still an
M-matrix, so the same sweeps converge, in more of them. A final flux-form update
T' = x + dt/(ρ c_p V) (b − A x) makes the step conserve energy to round-off whatever the iteration's
tolerance.

The fast form (:func:`_fused_step`, compiled with numba) runs a whole step as one pass per sweep over the
ordered matrix's couplings, six per row (padded); the reference form factors M with SuperLU and iterates
with sparse products. Both run the same iteration, so they agree to round-off (tests/thermal/test_transport.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from twin.compiled import numba_cache_wanted
from twin.thermal.network import FluidNetwork

__all__ = ["AirProperties", "TransportOperator", "flux_operator", "heat_rate_w", "linear_upwind_correction_w"]


@dataclass(frozen=True)
class AirProperties:
    density_kg_m3: float = 1.19
    cp_j_kgk: float = 1006.0
    diffusivity_m2s: float = 0.005

    @property
    def rho_cp(self) -> float:
        """Volumetric heat capacity, J/(m³·K)."""
        return self.density_kg_m3 * self.cp_j_kgk


def flux_operator(net: FluidNetwork, face_flow_m3s: np.ndarray, mover_flow_m3s: np.ndarray,
                  air: AirProperties, *, rank: np.ndarray | None = None,
                  face_diffusivity_m2s: np.ndarray | None = None) -> sp.csr_matrix:
    """K (W/K): (K T)_i is the heat leaving cell i by advection, diffusion and mover intakes.

    With ``rank`` (new position of each cell), K is assembled directly in that order. With
    ``face_diffusivity_m2s`` (one per open face, FluidNetwork order) each face mixes at its own
    diffusivity instead of ``air.diffusivity_m2s``.

    Its column sums are zero except at intake cells, where they equal ρ c_p q_in: what K moves
    between cells is conserved, and what it removes is exactly the heat drawn into the movers.
    """
    rc = air.rho_cp
    n, a, b = net.n, net.face_a, net.face_b
    f = face_flow_m3s
    up = np.where(f > 0, a, b)
    down = np.where(f > 0, b, a)
    adv = rc * np.abs(f)
    alpha = air.diffusivity_m2s if face_diffusivity_m2s is None else np.asarray(face_diffusivity_m2s, dtype=float)
    k = rc * alpha * net.face_open * net.face_area_m2 / net.dist_m
    sink = rc * (net.intake @ mover_flow_m3s)
    rows = np.concatenate([up, down, a, b, a, b, np.arange(n)])
    cols = np.concatenate([up, up, a, b, b, a, np.arange(n)])
    vals = np.concatenate([adv, -adv, k, k, -k, -k, sink])
    if rank is not None:
        rows, cols = rank[rows], rank[cols]
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))


def linear_upwind_correction_w(net: FluidNetwork, face_flow_m3s: np.ndarray, t_c: np.ndarray,
                               air: AirProperties) -> np.ndarray:
    """Heat per fluid cell (W) that turns first-order upwind advection of ``t_c`` into OpenFOAM's
    ``linearUpwind grad(T)`` with ``cellLimited Gauss linear 1``: a deferred correction (sum zero).

    Each face carries ρ c_p F (T_f − T_U) more than upwind does, where T_f = T_U + ½ h (λ ∇T)_U·n̂ is
    the upwind cell's value extrapolated to the face with its central (Gauss linear) gradient, limited by
    one factor λ ≤ 1 per cell so that no face value leaves the range of the cell and its face neighbours
    (Barth–Jespersen). Faces that are not open (walls, solids, closed panels) are adiabatic: their value
    is the cell's own, as a zero-gradient wall gives. Added to the right-hand side of the upwind system
    and iterated, the converged field is the second-order scheme's; on a uniform 1D grid it is the
    monotonized-central limiter (see twin.thermal.momentum._limited_half_steps).
    """
    n = net.n
    t = np.asarray(t_c, dtype=float)
    nb = np.repeat(t[:, None], 6, axis=1)  # neighbour value in directions x−, x+, y−, y+, z−, z+
    a, b, ax = net.face_a, net.face_b, net.face_axis.astype(np.intp)
    nb[a, 2 * ax + 1] = t[b]
    nb[b, 2 * ax] = t[a]
    halves = 0.25 * (nb[:, 1::2] - nb[:, 0::2])  # ½ h ∂T/∂x_d, n × 3
    room = np.minimum(np.maximum(nb.max(axis=1), t) - t, t - np.minimum(nb.min(axis=1), t))  # ≥ 0
    steepest = np.abs(halves).max(axis=1)
    lam = np.ones(n)
    np.divide(room, steepest, out=lam, where=steepest > room)
    halves *= lam[:, None]
    f = np.asarray(face_flow_m3s, dtype=float)
    # Step from the upwind cell to the face: + its half step for a's high face, − for b's low face.
    step = np.where(f > 0, halves[a, ax], -halves[b, ax])
    extra = air.rho_cp * np.abs(f) * step  # heat carried from upwind to downwind beyond upwind's
    up = np.where(f > 0, a, b)
    down = np.where(f > 0, b, a)
    return np.bincount(down, weights=extra, minlength=n) - np.bincount(up, weights=extra, minlength=n)


def heat_rate_w(net: FluidNetwork, face_flow_m3s: np.ndarray, mover_flow_m3s: np.ndarray,
                air: AirProperties, t_c: np.ndarray, mover_outlet_c: np.ndarray,
                mover_heat_w: np.ndarray | float = 0.0, *,
                face_diffusivity_m2s: np.ndarray | None = None) -> np.ndarray:
    """Reference (plain) form of the right-hand side: ρ c_p V dT/dt per cell, W.

    Movers blow air at ``mover_outlet_c`` and release ``mover_heat_w`` (e.g. fan heat) at their outlets.
    """
    k_op = flux_operator(net, face_flow_m3s, mover_flow_m3s, air, face_diffusivity_m2s=face_diffusivity_m2s)
    inject = net.outlet @ (air.rho_cp * mover_flow_m3s * mover_outlet_c + mover_heat_w)
    return inject - k_op @ t_c



_CACHE = numba_cache_wanted(__file__)


@numba.njit(cache=_CACHE)
def error_bound_k(change_k: float, last_change_k: float, contraction: float) -> float:  # pragma: no cover
    """Bound on the iterate's remaining error, K, from the last sweep's largest change.

    Each sweep multiplies the error by the iteration matrix M⁻¹U, whose ∞-norm is ``contraction`` (ρ < 1),
    so the error left after a sweep is at most ρ/(1 − ρ) times that sweep's change. After two sweeps the
    observed ratio of changes, when smaller, estimates the rate better than the worst case.
    """
    rate = contraction
    if last_change_k > 0.0 and change_k / last_change_k < rate:
        rate = change_k / last_change_k
    return rate / (1.0 - rate) * change_k


@numba.njit(cache=_CACHE)
def _levels(indptr, indices):  # pragma: no cover - compiled
    """Level of each row of an ordered matrix: 0 without couplings to earlier rows, else one more than
    the highest level among them."""
    n = indptr.size - 1
    level = np.zeros(n, np.int64)
    for i in range(n):
        top = -1
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if j < i and level[j] > top:
                top = level[j]
        level[i] = top + 1
    return level


#: Couplings per row of the padded (ELL) layout the fused sweep reads: a cell of a Cartesian grid has at
#: most six faces, and mover intakes and outlets sit on the diagonal and in the right-hand side.
ROW_WIDTH = 6


@numba.njit(cache=_CACHE, nogil=True)
def _fused_step(col, val, inv_diag, order, heat_per_dt, t_c, guess, extrapolate, inject_per_mover, out_cell, out_mover,
                out_share, in_cell, in_mover, in_share, dt_per_heat, tol_k, rtol, max_sweeps, contraction, b, x, u, t0,
                t_new, t_in, resp_row, resp_col, resp_val, resp_coef, ordered, guess_ord,
                t_new_ord):  # pragma: no cover - compiled; tested against the reference operator
    """One implicit step in flow order: gather, Gauss–Seidel sweeps, flux-form update, scatter.

    Row i of the ordered matrix holds its ``ROW_WIDTH`` off-diagonal couplings at ``col[i]``, ``val[i]``
    (padding: column i itself with value 0). Columns below i are upstream, above i downstream. A sweep
    visits the rows in order and overwrites x in place, so the upstream entries see this sweep's values and
    the downstream ones the last sweep's: x ← L⁻¹(b − U x), the reference operator's iteration without a
    factor object or temporaries. Every row runs the same six products and picks the downstream ones by a
    compare rather than a loop of its own length: rows of 3 to 6 couplings in no pattern made the old
    variable-length loops mispredict a branch on almost every row, which cost more than the arithmetic.
    ``u`` keeps U x of the values each row saw, so the residual of the last iterate, U (x_seen − x_new),
    needs only one more pass. With ``extrapolate`` the first iterate is 2 T − ``guess`` (``guess`` then
    holds the field of the step before: a linear extrapolation in time, made here rather than in a
    temporary array). The first iterate then gets ``resp_val[e] · resp_coef[resp_col[e]]`` added at row
    ``resp_row[e]`` for every stored entry e (empty arrays: none): the response of the field to the movers'
    boundary values (see :meth:`TransportOperator.step`). With ``ordered`` the gather is skipped: ``t0``
    already holds ``t_c`` in flow order and ``guess_ord`` the field before it (the operator kept both from
    the steps that made them). The new field is written in grid order to ``t_new`` and in flow order to
    ``t_new_ord``. Returns the number of sweeps.
    """
    n = inv_diag.size
    if ordered:  # sequential: no indirect loads
        for i in range(n):
            b[i] = heat_per_dt * t0[i]
            x[i] = 2.0 * t0[i] - guess_ord[i]
    else:
        for i in range(n):
            t0[i] = t_c[order[i]]
            b[i] = heat_per_dt * t0[i]
            x[i] = 2.0 * t0[i] - guess[order[i]] if extrapolate else guess[order[i]]
    for e in range(resp_row.size):  # rows ascending: x is read and written in memory order
        x[resp_row[e]] += resp_val[e] * resp_coef[resp_col[e]]
    for k in range(out_cell.size):
        b[out_cell[k]] += out_share[k] * inject_per_mover[out_mover[k]]
    sweep = 0
    last_change = 0.0
    while sweep < max_sweeps:
        sweep += 1
        change = 0.0
        moved = 0.0
        for i in range(n):
            coupled = 0.0
            downstream = 0.0
            for j in range(ROW_WIDTH):  # a compile-time constant: unrolled
                c = col[i, j]
                p = val[i, j] * x[c]
                coupled += p
                downstream += p if c > i else 0.0
            u[i] = downstream
            xi = (b[i] - coupled) * inv_diag[i]
            change = max(change, abs(xi - x[i]))
            moved = max(moved, abs(xi - t0[i]))  # how far the step itself moves the cell
            x[i] = xi
        # See TransportOperator.step for the test.
        if error_bound_k(change, last_change, contraction) < max(tol_k, rtol * moved):
            break
        last_change = change
    for i in range(n):
        downstream = 0.0
        for j in range(ROW_WIDTH):  # a compile-time constant: unrolled
            c = col[i, j]
            downstream += val[i, j] * x[c] if c > i else 0.0
        value = x[i] + dt_per_heat * (u[i] - downstream)
        t_new_ord[i] = value
        t_new[order[i]] = value
    t_in[:] = 0.0
    for k in range(in_cell.size):
        t_in[in_mover[k]] += in_share[k] * x[in_cell[k]]
    return sweep


@numba.njit(cache=_CACHE)
def _assemble_ordered(potential, nbr, nbr_face, face_up_is_a, adv, k, sink, heat_per_dt):  # pragma: no cover
    """The fused operator's ordered matrix straight from the network's neighbour table, in O(cells).

    What the plain assembly (:func:`_ordered_matrix`: :func:`flux_operator` in CSR, then permuted) gives,
    without its sorts and temporaries. Cell c comes before its neighbour j in potential order when
    φ_c > φ_j, or φ_c = φ_j and c < j (the stable sort's tie-break); each cell's level is one more than the
    highest among its neighbours before it (every face couples both ways, by diffusion and, downstream, by
    advection), found in topological order (Kahn's algorithm), which needs no sort of the whole potential;
    the rows are then the cells by (level, cell index). Row r holds its couplings in ascending column,
    padded with (r, 0) to ``ROW_WIDTH``: column ``rank[j]`` for neighbour j through face f has −k_f, and
    −adv_f more when the air flows from j into the cell (``face_up_is_a``: F > 0, from face_a, the
    lower-numbered cell, to face_b). The diagonal is ρ c_p V/dt + the cell's intake sink + Σ_f (k_f + adv_f
    where the cell is upstream): every column sums to ρ c_p V/dt plus the sink, as K's do.

    The couplings are worked out in cell order first (reading the faces as they lie in memory) and only
    then gathered into rows: in row order the face arrays would be read at random, five times slower.

    Returns (order, ell_col, ell_val, diag, n_couplings).
    """
    n = potential.size
    width = nbr.shape[1]
    # How many neighbours come before each cell; the cells with none start the topological order.
    waiting = np.zeros(n, np.int64)
    for c in range(n):
        for s in range(width):
            j = nbr[c, s]
            if j < 0:
                break
            if potential[j] > potential[c] or (potential[j] == potential[c] and j < c):
                waiting[c] += 1
    queue = np.empty(n, np.int64)
    tail = 0
    for c in range(n):
        if waiting[c] == 0:
            queue[tail] = c
            tail += 1
    level = np.zeros(n, np.int64)
    top_level = 0
    head = 0
    while head < tail:  # a cell leaves the queue once all cells before it have: its level is final
        c = queue[head]
        head += 1
        if level[c] > top_level:
            top_level = level[c]
        for s in range(width):
            j = nbr[c, s]
            if j < 0:
                break
            if potential[c] > potential[j] or (potential[c] == potential[j] and c < j):
                if level[c] + 1 > level[j]:
                    level[j] = level[c] + 1
                waiting[j] -= 1
                if waiting[j] == 0:
                    queue[tail] = j
                    tail += 1
    # A counting sort by level; cells in index order within a level.
    start = np.zeros(top_level + 2, np.int64)
    for c in range(n):
        start[level[c] + 1] += 1
    for lv in range(top_level + 1):
        start[lv + 1] += start[lv]
    order = np.empty(n, np.int64)
    for c in range(n):
        order[start[level[c]]] = c
        start[level[c]] += 1
    rank = np.empty(n, np.int64)
    for r in range(n):
        rank[order[r]] = r
    # Each cell's couplings and diagonal, in cell order.
    cell_val = np.zeros((n, width))
    cell_diag = np.empty(n)
    for c in range(n):
        d = sink[c]
        for s in range(width):
            j = nbr[c, s]
            if j < 0:
                break
            f = nbr_face[c, s]
            d += k[f]
            if face_up_is_a[f] == (c < j):  # the cell is the face's upstream side (face_a < face_b)
                d += adv[f]
                cell_val[c, s] = -k[f]
            else:
                cell_val[c, s] = -adv[f] - k[f]
        cell_diag[c] = d + heat_per_dt
    # Gathered into rows, each row's couplings in ascending column.
    ell_col = np.empty((n, ROW_WIDTH), np.int32)
    ell_val = np.zeros((n, ROW_WIDTH))
    diag = np.empty(n)
    n_couplings = 0
    for r in range(n):
        c = order[r]
        m = 0
        for s in range(width):
            j = nbr[c, s]
            if j < 0:
                break
            col = rank[j]
            i = m  # insertion by column: a row has at most six couplings
            while i > 0 and ell_col[r, i - 1] > col:
                ell_col[r, i] = ell_col[r, i - 1]
                ell_val[r, i] = ell_val[r, i - 1]
                i -= 1
            ell_col[r, i] = col
            ell_val[r, i] = cell_val[c, s]
            m += 1
        for i in range(m, ROW_WIDTH):
            ell_col[r, i] = r
            ell_val[r, i] = 0.0
        diag[r] = cell_diag[c]
        n_couplings += m
    return order, ell_col, ell_val, diag, n_couplings


@numba.njit(cache=_CACHE, nogil=True)
def _sweeps_many(col, val, inv_diag, b, x, tol_k, rtol, floor, contraction, max_sweeps):  # pragma: no cover - compiled
    """Gauss–Seidel sweeps in flow order on several right-hand sides at once: x[:, r] ← solution of A x = b[:, r].

    The same iteration as :func:`_fused_step` (padded couplings, in place), with the right-hand sides side
    by side in each row: a single sweep's rows form a chain of dependent loads, so independent columns
    sweep together at little more than the cost of one. Column r stops counting once its error bound
    (:func:`error_bound_k`) is below ``max(tol_k[r], rtol · max |x[:, r]|)``; the sweeps stop when every
    column is there. Returns the number of sweeps.

    The solutions wanted here are local (a mover's response fills a few thousand cells), so values below
    ``floor[r]`` are set to zero and a row whose own values, right-hand side and coupled rows are all zero
    is skipped: it would stay zero. (Without the floor the sweep would leave vanishing values in every cell
    downstream and skip nothing.)
    """
    n, m = x.shape
    change = np.zeros(m)
    last = np.zeros(m)
    top = np.zeros(m)
    acc = np.empty(m)
    live = np.zeros(n, np.bool_)  # the row holds a nonzero value or right-hand side
    source = np.zeros(n, np.bool_)
    for i in range(n):
        for r in range(m):
            if b[i, r] != 0.0:
                source[i] = True
            if x[i, r] != 0.0:
                live[i] = True
    sweep = 0
    while sweep < max_sweeps:
        sweep += 1
        change[:] = 0.0
        top[:] = 0.0
        for i in range(n):
            active = live[i] or source[i]
            if not active:
                for j in range(ROW_WIDTH):
                    if live[col[i, j]]:
                        active = True
                        break
            if not active:
                continue
            for r in range(m):
                acc[r] = b[i, r]
            for j in range(ROW_WIDTH):
                c = col[i, j]
                v = val[i, j]
                for r in range(m):
                    acc[r] -= v * x[c, r]
            any_value = False
            for r in range(m):
                xi = acc[r] * inv_diag[i]
                if abs(xi) < floor[r]:
                    xi = 0.0
                else:
                    any_value = True
                change[r] = max(change[r], abs(xi - x[i, r]))
                top[r] = max(top[r], abs(xi))
                x[i, r] = xi
            live[i] = any_value
        done = True
        for r in range(m):
            if error_bound_k(change[r], last[r], contraction) >= max(tol_k[r], rtol * top[r]):
                done = False
        if done:
            break
        last[:] = change
    return sweep


@numba.njit(cache=_CACHE)
def _entries_above(x, threshold, first_col):  # pragma: no cover - compiled
    """Rows, columns (``first_col`` + r) and values of the entries of x with |x[i, r]| ≥ threshold[r], by row."""
    n, m = x.shape
    count = 0
    for i in range(n):
        for r in range(m):
            if abs(x[i, r]) >= threshold[r]:
                count += 1
    rows = np.empty(count, np.int32)
    cols = np.empty(count, np.int32)
    vals = np.empty(count)
    e = 0
    for i in range(n):
        for r in range(m):
            if abs(x[i, r]) >= threshold[r]:
                rows[e], cols[e], vals[e] = i, first_col + r, x[i, r]
                e += 1
    return rows, cols, vals


def _single_couplings(a_ord: sp.csr_matrix) -> sp.csr_matrix:
    """The ordered matrix with its off-diagonal couplings rounded to single precision (stored as float32,
    half the bytes a sweep streams for them) and each diagonal entry moved by what rounding took from its
    column, so that every column still sums to ρ c_p V/dt plus the cell's intake sink: what the step
    conserves (the heat it moves between cells) stays exact, and the couplings change by at most 6e-8 of
    themselves, far below what the grid resolves."""
    a = a_ord.tocoo()
    off = a.row != a.col
    rounded = a.data.copy()
    rounded[off] = a.data[off].astype(np.float32)
    lost = np.zeros(a.shape[1])
    np.add.at(lost, a.col[off], a.data[off] - rounded[off])
    rounded[~off] += lost[a.col[~off]]
    out = sp.csr_matrix((rounded, (a.row, a.col)), shape=a.shape)
    out.sort_indices()
    return out


def _coupling_parts(net: FluidNetwork, face_flow_m3s: np.ndarray, mover_flow_m3s: np.ndarray, air: AirProperties,
                    face_diffusivity_m2s: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What K is made of, W/K: each face's advective (ρ c_p |F|) and diffusive conductance, each cell's intake
    sink. The same expressions as :func:`flux_operator`'s, so both assemblies see the very same numbers."""
    rc = air.rho_cp
    adv = rc * np.abs(face_flow_m3s)
    alpha = air.diffusivity_m2s if face_diffusivity_m2s is None else np.asarray(face_diffusivity_m2s, dtype=float)
    k = rc * alpha * net.face_open * net.face_area_m2 / net.dist_m
    sink = rc * (net.intake @ mover_flow_m3s)
    return adv, np.broadcast_to(k, adv.shape).astype(float), np.asarray(sink, dtype=float)


def _ordered_matrix(net: FluidNetwork, face_flow_m3s: np.ndarray, mover_flow_m3s: np.ndarray, air: AirProperties,
                    dt_s: float, by_potential: np.ndarray, face_diffusivity_m2s: np.ndarray | None
                    ) -> tuple[np.ndarray, sp.csr_matrix]:
    """Plain form of the ordered matrix A = ρ c_p V/dt + K (CSR, sorted) and its order: the reference the
    fused operator's compiled assembly (:func:`_assemble_ordered`) is tested against.

    The cells are taken by falling potential (``by_potential``), then regrouped into levels (a cell's level
    is one more than the highest of the cells it couples to upstream) and each level in grid order. Every
    coupling keeps its direction, so the lower and upper parts, and the iteration, are the same as in
    potential order; but consecutive rows now read neighbouring memory, which makes a sweep about a third
    faster on the reference hall.
    """
    rank = np.empty_like(by_potential)
    rank[by_potential] = np.arange(net.n)
    k_ord = flux_operator(net, face_flow_m3s, mover_flow_m3s, air, rank=rank, face_diffusivity_m2s=face_diffusivity_m2s)
    a_ord = (k_ord + sp.identity(net.n, format="csr") * (air.rho_cp * net.cell_volume_m3 / dt_s)).tocsr()
    a_ord.sum_duplicates()
    a_ord.sort_indices()
    regroup = np.lexsort((by_potential, _levels(a_ord.indptr, a_ord.indices)))
    a_ord = a_ord[regroup][:, regroup].tocsr()
    a_ord.sort_indices()
    return by_potential[regroup], a_ord


@numba.njit(cache=_CACHE)
def _ell_contraction(ell_col, ell_val, diag):  # pragma: no cover - compiled
    """∞-norm of M⁻¹U from the padded layout: M⁻¹ ≥ 0 and U ≤ 0 (an M-matrix), so it is the largest entry of
    M⁻¹ |U| 1, found by one forward solve."""
    n = diag.size
    y = np.empty(n)
    top = 0.0
    for r in range(n):
        rhs = 0.0
        for i in range(ROW_WIDTH):
            if ell_col[r, i] > r:
                rhs += -ell_val[r, i]
        for i in range(ROW_WIDTH):
            c = ell_col[r, i]
            if c < r:
                rhs -= ell_val[r, i] * y[c]
        y[r] = rhs / diag[r]
        if y[r] > top:
            top = y[r]
    return top


def _writeable(a: np.ndarray) -> np.ndarray:
    return a if a.flags.writeable else a.copy()


def _compile_response_kernels() -> None:
    """Compile (or load from numba's cache) the kernels that compute the responses, on a one-cell problem:
    called when an operator that will want them is built, so that it happens in set-up, not in a step."""
    col = np.zeros((1, ROW_WIDTH), np.int32)
    val = np.zeros((1, ROW_WIDTH))
    one = np.ones((1, 1))
    _sweeps_many(col, val, np.ones(1), one, np.zeros((1, 1)), np.zeros(1), 0.0, np.zeros(1), 0.5, 1)
    _entries_above(one, np.zeros(1), 0)


#: The fused kernel's response arguments when there is none: rows, columns, values, coefficients.
_NO_RESPONSE = (np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0), np.zeros(0))


class TransportOperator:
    """One implicit step of the transport for a fixed flow field and time step (set up once per field).

    Internally everything runs in flow order (``order``). Two forms of the same iteration:
    ``kernel="fused"`` (default) runs each step as one compiled pass per sweep over the ordered matrix's
    couplings, padded to six per row (:func:`_fused_step`); ``kernel="reference"`` factors the lower
    triangle with SuperLU and iterates with sparse products, the plain form the fused one is tested against.
    ``face_diffusivity_m2s`` (per open face) replaces the constant ``air.diffusivity_m2s`` (see the module docstring).
    ``couplings="float32"`` stores the off-diagonal couplings in single precision (:func:`_single_couplings`:
    energy still conserved to round-off; on the reference hall the field stays within 3e-6 K of float64 over
    600 s); the default keeps float64, which the plain-form test holds to 1e-9.
    ``respond_movers`` (mover indices) makes the first guess foresee those movers' boundary values, from
    responses computed at the first step that brings their history (:meth:`step`).
    """

    #: Responses kept per mover: the step's own and RESPONSE_STEPS − 1 steps' echo of earlier changes.
    RESPONSE_STEPS = 5
    #: A response entry below this fraction of the mover's largest one is dropped (see _build_response).
    RESPONSE_CUTOFF = 1e-2
    #: Precision of the responses, relative to each mover's largest entry.
    RESPONSE_RTOL = 1e-2
    #: While they are computed, values below this fraction of a mover's largest are set to zero (so that the
    #: sweeps can skip the cells the response never reaches): each such cut moves the response by at most a
    #: few times as much downstream, far below RESPONSE_CUTOFF.
    RESPONSE_FLOOR = 1e-6
    #: No responses above this contraction: they cost RESPONSE_STEPS solves per mover, each
    #: log(RESPONSE_RTOL)/log(ρ) sweeps (6 at ρ = 0.28, 130 at the momentum model's 0.95), to save at most one
    #: sweep per step.
    RESPONSE_MAX_CONTRACTION = 0.5

    def __init__(self, net: FluidNetwork, face_flow_m3s: np.ndarray, mover_flow_m3s: np.ndarray,
                 potential: np.ndarray, air: AirProperties, dt_s: float, *, tol_k: float = 1e-3,
                 rtol: float = 0.1, max_sweeps: int = 60, kernel: str = "fused",
                 face_diffusivity_m2s: np.ndarray | None = None, couplings: str = "float64",
                 respond_movers: np.ndarray | None = None) -> None:
        if kernel not in ("fused", "reference"):
            raise ValueError(f"kernel must be 'fused' or 'reference', got {kernel!r}")
        if couplings not in ("float32", "float64"):
            raise ValueError(f"couplings must be 'float32' or 'float64', got {couplings!r}")
        self.couplings = couplings
        #: Movers whose outlet temperatures jump from step to step (sampled loops): the first guess foresees
        #: their effect through stored responses (see step and _build_response); None: plain extrapolation.
        self.respond_movers = None if respond_movers is None else np.asarray(respond_movers, dtype=np.int64)
        self._resp: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        #: Seconds spent computing the responses (part of this operator's set-up, paid at its first use), and
        #: steps that added them to the first guess.
        self.response_s = 0.0
        self.response_steps = 0
        #: The movers' injections (inject_w) of the last step, W.
        self.last_inject_w = np.zeros(0)
        self.net = net
        self.air = air
        self.kernel = kernel
        self.dt_s = float(dt_s)
        self.tol_k = tol_k
        self.rtol = rtol
        self.max_sweeps = max_sweeps
        self.mover_flow_m3s = np.asarray(mover_flow_m3s, dtype=float).copy()
        self.cell_heat_j_per_k = air.rho_cp * net.cell_volume_m3
        self.last_sweeps = 0
        if kernel == "reference":
            # Falling potential = downstream order (stable sort keeps ties in grid order).
            by_potential = np.argsort(-potential, kind="stable")
            self.order, a_ord = _ordered_matrix(net, face_flow_m3s, self.mover_flow_m3s, air, self.dt_s,
                                                by_potential, face_diffusivity_m2s)
            self.rank = np.empty_like(self.order)
            self.rank[self.order] = np.arange(net.n)
            if couplings == "float32":
                a_ord = _single_couplings(a_ord)
            self._diag = a_ord.diagonal()
            lower = sp.tril(a_ord, format="csc")
            self.upper = sp.triu(a_ord, k=1, format="csr")
            self._lu = spla.splu(lower, permc_spec="NATURAL", diag_pivot_thresh=0.0)
            self._outlet_ord = net.outlet.tocsr()[self.order]
            self._intake_t_ord = net.intake.tocsr()[self.order].T.tocsr()
            # ∞-norm of M⁻¹U: M⁻¹ ≥ 0 and U ≤ 0 (an M-matrix), so it is the largest entry of M⁻¹ |U| 1.
            self.contraction = float(self._lu.solve(-(self.upper @ np.ones(net.n))).max(initial=0.0))
            return
        self._setup_fused(face_flow_m3s, potential, face_diffusivity_m2s)
        if self.respond_movers is not None:
            _compile_response_kernels()

    def _setup_fused(self, face_flow_m3s: np.ndarray, potential: np.ndarray,
                     face_diffusivity_m2s: np.ndarray | None) -> None:
        """The padded layout the fused sweep reads, assembled in one compiled pass over the network's neighbour
        table (:func:`_assemble_ordered`): the same order, couplings and diagonal as the plain assembly the
        reference form factors (:func:`_ordered_matrix`), without its sorts and temporaries, which cost more
        than the flow solve itself whenever the fans moved the flow (issue 13)."""
        net, air = self.net, self.air
        nbr, nbr_face = net.neighbours
        f = np.asarray(face_flow_m3s, dtype=float)
        adv, k, sink = _coupling_parts(net, f, self.mover_flow_m3s, air, face_diffusivity_m2s)
        order, ell_col, ell_val, diag, n_couplings = _assemble_ordered(
            np.asarray(potential, dtype=float), nbr, nbr_face, f > 0, adv, k, sink,
            self.cell_heat_j_per_k / self.dt_s)
        self.order = order
        self.rank = np.empty_like(order)
        self.rank[order] = np.arange(net.n)
        if self.couplings == "float32":
            # As _single_couplings: round the couplings and give each column's diagonal what rounding took.
            rounded = ell_val.astype(np.float32)
            lost = np.zeros(net.n)
            np.add.at(lost, ell_col.ravel(), (ell_val - rounded).ravel())  # padding adds 0 to its own row
            diag += lost
            ell_val = rounded
        self._diag = diag
        # A multiply instead of a divide in each row: the rows form a chain (each reads the one before), so
        # the divide's latency would set the pace of the whole sweep.
        self._inv_diag = 1.0 / diag
        self._ell_col, self._ell_val = ell_col, ell_val
        self._order = order.astype(np.int32)
        outlet = net.outlet.tocoo()
        intake = net.intake.tocoo()
        self._out = (self.rank[outlet.row].astype(np.int64), outlet.col.astype(np.int64), outlet.data.astype(float))
        self._in = (self.rank[intake.row].astype(np.int64), intake.col.astype(np.int64), intake.data.astype(float))
        self._n_movers = net.intake.shape[1]
        self._n_couplings, self._coupling_bytes = int(n_couplings), ell_val.itemsize
        self.contraction = float(_ell_contraction(ell_col, ell_val, diag))
        # Work arrays, reused every step (the kernel allocates nothing).
        self._b, self._x, self._u = (np.empty(net.n) for _ in range(3))
        # Fields in flow order, rotated between steps (see step): the last step's new field, its old field,
        # and a spare; with the grid-order arrays they were returned as / given as.
        self._ord = [np.empty(net.n) for _ in range(3)]
        self._last_out: np.ndarray | None = None
        self._last_in: np.ndarray | None = None

    def inject_w(self, mover_outlet_c: np.ndarray, mover_heat_w: np.ndarray | float = 0.0) -> np.ndarray:
        """Heat each mover blows into the air per second, W (relative to 0 °C): its flow at its outlet
        temperature plus the heat it releases there. The step's boundary values enter only through it."""
        return self.air.rho_cp * self.mover_flow_m3s * np.asarray(mover_outlet_c, dtype=float) + mover_heat_w

    def _solve_many(self, b: np.ndarray, x: np.ndarray, tol_k: np.ndarray, rtol: float, floor: np.ndarray) -> int:
        """x[:, r] ← A⁻¹ b[:, r] in flow order, by this operator's own iteration started from x (in place);
        the fused form sets values below ``floor[r]`` to zero and skips the rows that stay zero."""
        max_sweeps = 20 * self.max_sweeps
        if self.kernel == "fused":
            return int(_sweeps_many(self._ell_col, self._ell_val, self._inv_diag, b, x, tol_k, rtol, floor,
                                    self.contraction, max_sweeps))
        last = np.zeros(b.shape[1])
        for sweep in range(1, max_sweeps + 1):  # noqa: B007 - the count is kept after the loop
            x_new = self._lu.solve(b - self.upper @ x)
            change = np.abs(x_new - x).max(axis=0)
            x[:] = x_new
            bound = np.array([error_bound_k(float(c), float(lc), self.contraction) for c, lc in zip(change, last)])
            if np.all(bound < np.maximum(tol_k, rtol * np.abs(x).max(axis=0))):
                break
            last = change
        return sweep

    def _build_response(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The field's response to the responded movers' injections, as entries (row in flow order, column,
        K/W) sorted by row; column k·m + j (m movers) belongs to mover j and k steps back.

        Within one flow field and dt the step is linear, T_n = P T_(n−1) + R s_n with P = A⁻¹ ρ c_p V/dt and
        R = A⁻¹ B (B spreads each mover's injection s over its outlet cells). Its increments obey
        d_n = P d_(n−1) + R Δs_n, so the increment the extrapolation 2 T − T_prev assumes (d_(n−1)) misses
        d_n − d_(n−1) = Σ_k P^k R Δ²s_(n−k) + (P − 1) of the increments older than the history. Column k·m + j
        is P^k R e_j for k < RESPONSE_STEPS: solved once, starting P^k R from P^(k−1) R. The responses are
        local (a step carries a change a few metres) and entries below RESPONSE_CUTOFF of the mover's largest
        are dropped, so applying them costs a fraction of a sweep.
        """
        t0 = time.perf_counter()
        movers = self.respond_movers
        assert movers is not None
        n, m, steps = self.net.n, movers.size, self.RESPONSE_STEPS
        which = np.full(self.net.outlet.shape[1], -1)
        which[movers] = np.arange(m)
        outlet = self.net.outlet.tocoo()
        mine = which[outlet.col] >= 0
        b = np.zeros((n, m))
        cells, slot = self.rank[outlet.row[mine]], which[outlet.col[mine]]
        np.add.at(b, (cells, slot), outlet.data[mine])
        x = np.zeros((n, m))
        # The floor: far below what is kept (RESPONSE_CUTOFF), scaled by the outlet cells' own answer to their
        # injection (the largest entries are about that).
        scale = np.zeros(m)
        np.maximum.at(scale, slot, np.abs(b[cells, slot]) / self._diag[cells])
        self._solve_many(b, x, np.zeros(m), self.RESPONSE_RTOL, self.RESPONSE_FLOOR * scale)
        largest = np.abs(x).max(axis=0)
        rows, cols, vals = [], [], []
        heat_per_dt = self.cell_heat_j_per_k / self.dt_s
        for k in range(steps):
            if k:
                # P^k R = A⁻¹ (ρ c_p V/dt) P^(k−1) R, started from P^(k−1) R (the echo changes slowly).
                self._solve_many(heat_per_dt * x, x, self.RESPONSE_RTOL * largest, 0.0, self.RESPONSE_FLOOR * largest)
            r, c, v = _entries_above(x, self.RESPONSE_CUTOFF * largest, k * m)
            rows.append(r)
            cols.append(c)
            vals.append(v)
        row, col, val = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        keep = np.argsort(row, kind="stable")
        self.response_s = time.perf_counter() - t0
        return row[keep], col[keep], val[keep]

    def _response_coef(self, inject_w: np.ndarray, inject_history_w: np.ndarray | None) -> np.ndarray | None:
        """Second differences of the responded movers' injections, k steps back, as _build_response's columns
        want them (k·m + j); None when the operator responds to no mover or there is no history yet."""
        if (self.respond_movers is None or inject_history_w is None or len(inject_history_w) < 1
                or self.contraction > self.RESPONSE_MAX_CONTRACTION):
            return None
        movers = self.respond_movers
        h = np.vstack([np.asarray(inject_w, dtype=float)[None, :], np.asarray(inject_history_w, dtype=float)])
        h = h[:, movers]
        steps = min(self.RESPONSE_STEPS, len(h) - 2)
        if steps < 1:
            return None
        coef = np.zeros(self.RESPONSE_STEPS * movers.size)
        coef[:steps * movers.size] = (h[:steps] - 2.0 * h[1:steps + 1] + h[2:steps + 2]).ravel()
        if self._resp is None:
            self._resp = self._build_response()
        return coef

    @property
    def stored_entries(self) -> int:
        """Matrix entries a sweep streams (off-diagonal couplings and diagonal; for the reference form, the
        triangular factor and the downstream couplings)."""
        if self.kernel == "reference":
            return int(self._lu.L.nnz + self._lu.U.nnz + self.upper.nnz)
        return int(self._n_couplings + self._diag.size)

    @property
    def response_bytes(self) -> int:
        """Bytes the responses add to a step that uses them (row and column index, 4 bytes each, and value)."""
        return 0 if self._resp is None else int(sum(a.nbytes for a in self._resp))

    @property
    def bytes_per_sweep(self) -> int:
        """Bytes one sweep must stream at least: each stored entry (value, 4 or 8 bytes, + 4-byte index), the row
        pointers where the layout has them, and the vectors it reads and writes (fused: b, x read and
        written, the downstream sums, the old field; reference: right-hand side, iterate in and out, guess).
        The fused layout's padding (7 % more slots on the reference hall) is not counted: a bound counts
        what the matrix needs, not what a layout adds."""
        n = self.net.n
        if self.kernel == "reference":
            return 12 * self.stored_entries + 8 * (n + 1) + 4 * 8 * n
        return (self._coupling_bytes + 4) * self._n_couplings + 8 * self._diag.size + 5 * 8 * n

    def step(self, t_c: np.ndarray, mover_outlet_c: np.ndarray, mover_heat_w: np.ndarray | float = 0.0,
             t_guess_c: np.ndarray | None = None, *, t_prev_c: np.ndarray | None = None,
             inject_history_w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Advance the air temperature by dt.

        ``t_guess_c`` starts the sweeps; ``t_prev_c`` (the field one step before ``t_c``; not with
        ``t_guess_c``) starts them from the linear extrapolation 2 ``t_c`` − ``t_prev_c``, a good guess in
        transients. ``inject_history_w`` (with ``t_prev_c``: the movers' :meth:`inject_w` of the steps
        before, latest first, one row per step) adds to it what the ``respond_movers``' changes of injection
        do that the extrapolation cannot foresee (:meth:`_build_response`). Each changes how many sweeps are
        needed, not the answer beyond the tolerance. The new field comes back read-only: handed back as
        ``t_c`` with the field it was made from as ``t_prev_c`` (what HallTwin.step does), the operator finds
        both in flow order from the step before and skips gathering them (see :func:`_fused_step`).

        The sweeps stop once the bound on the iterate's error (:func:`error_bound_k`: the last sweep's
        largest change times ρ/(1 − ρ), ρ = ``contraction``) is below ``tol_k`` or below ``rtol`` of what
        the step itself moves any cell (a jittery controller moves the field by tenths of a kelvin each
        step; resolving that to a thousandth would cost sweeps and buy nothing). On a potential flow ρ is
        small (0.28 on the reference hall: one sweep often proves itself); recirculation raises it.

        Why embedded control takes two sweeps a step and ideal control one (issue 13, measured on the
        reference hall, dt 1 s, steps 300–450 s): the CRAH valve loops act every second on quantised, noisy
        sensors, so the coil outlet, a boundary value, jumps by ~0.17 K (second difference) each step and the
        linear extrapolation is wrong along the supply plume. The first sweep carries the jump along the flow
        exactly, but the downstream diffusive couplings (U) still read the wrong guess there, and the error
        this leaves is real, not an artefact of the test: against the step solved to round-off it is at the
        median 1.06 times the tolerance (rtol · moved), below it in only 23 % of steps. So no test, however
        sharp, can stop after one sweep much more often at this tolerance. For the record, after one sweep
        this bound is 6.8 times the true error, a residual bound (‖A⁻¹‖∞ ≤ dt/(ρ c_p V) since K is weakly
        row-diagonally dominant: error ≤ max|r|·dt/(ρ c_p V)) 5 times, and the rigorous ‖M⁻¹|r|‖∞/(1 − ρ)
        1.4 times (and it needs a chained pass that costs about as much as a sweep). Without the
        extrapolation (first guess = old field) the true error would pass in 87 % of steps but ideal
        control's smooth transients would then need two sweeps (their true error rises to 2.6 times the
        tolerance). Nor does smaller jitter help while it sets the largest move: a 30 s first-order lag on
        the coil outlet cut its second difference 50-fold and still left two sweeps a step, because the
        tolerance scales with the move (rtol · moved) down to tol_k. The levers are a guess that knows the
        boundary values' change, or jitter below what tol_k / rtol resolves, not the test.

        The guess that knows them (``inject_history_w``): the extrapolation plus the responses to the last
        RESPONSE_STEPS second differences of the CRAHs' injections (:meth:`_build_response`). On the same
        run (reference, embedded control, 600 s) the steps then take 1.07 sweeps on average instead of 2.0:
        with one response per CRAH (the step's own) 99 % of the steps would still need two, because a jump
        echoes for several steps where the air is slow to flush (each further step back: 2, 3, 4, 5 → 23 %,
        72 %, 86 %, 98 % of steps in one sweep).

        Returns:
            (t_new_c, mover_intake_c): the conservative new field, and each mover's mixed intake
            temperature at the implicit iterate, i.e. the air the movers drew in during the step.
        """
        if t_guess_c is not None and t_prev_c is not None:
            raise ValueError("give t_guess_c or t_prev_c, not both")
        inject = self.last_inject_w = self.inject_w(mover_outlet_c, mover_heat_w)
        coef = None if t_prev_c is None else self._response_coef(inject, inject_history_w)
        self.response_steps += int(coef is not None)
        if self.kernel == "reference":
            if t_prev_c is not None:
                t_guess_c = 2.0 * t_c - t_prev_c
                if coef is not None and self._resp is not None:
                    row, col, val = self._resp
                    t_guess_c[self.order] += np.bincount(row, val * coef[col], minlength=self.net.n)
            return self._step_reference(t_c, inject, t_guess_c)
        resp_row, resp_col, resp_val, resp_coef = (_NO_RESPONSE if coef is None or self._resp is None
                                                   else (*self._resp, coef))
        t_c = np.ascontiguousarray(t_c, dtype=np.float64)
        extrapolate = t_prev_c is not None
        guess = (np.ascontiguousarray(t_prev_c, dtype=np.float64) if extrapolate
                 else t_c if t_guess_c is None else np.ascontiguousarray(t_guess_c, dtype=np.float64))
        # A field this operator returned last step (read-only since, so unchanged), given with the field it was
        # made from, is already in flow order here: the kernel skips the gather, two indirect loads per cell
        # (about as long as a sweep on the reference hall).
        ordered = (t_prev_c is not None and t_c is self._last_out and t_prev_c is self._last_in
                   and not t_c.flags.writeable and not t_prev_c.flags.writeable)
        new_ord, t0_ord, prev_ord = self._ord if ordered else (self._ord[0], self._ord[2], self._ord[1])
        # numba compiles a kernel once per set of argument types, and a read-only array is a type of its own:
        # the kernel always gets writeable ones (an ordered step reads neither field; otherwise a copy, once).
        t_arg, guess_arg = (self._x, self._x) if ordered else (_writeable(t_c), _writeable(guess))
        t_new = np.empty_like(t_c)
        t_in = np.empty(self._n_movers)
        self.last_sweeps = _fused_step(
            self._ell_col, self._ell_val, self._inv_diag, self._order, self.cell_heat_j_per_k / self.dt_s,
            t_arg, guess_arg, extrapolate, np.ascontiguousarray(inject, dtype=np.float64), *self._out, *self._in,
            self.dt_s / self.cell_heat_j_per_k, float(self.tol_k), float(self.rtol), int(self.max_sweeps),
            self.contraction, self._b, self._x, self._u, t0_ord, t_new, t_in, resp_row, resp_col, resp_val, resp_coef,
            ordered, prev_ord, new_ord)
        # Next step: its old field is this new one (new_ord), the field before that this step's (t0_ord).
        self._ord = [prev_ord, new_ord, t0_ord]
        t_new.flags.writeable = False
        self._last_out = t_new
        self._last_in = t_c if not t_c.flags.writeable else None
        return t_new, t_in

    def _step_reference(self, t_c: np.ndarray, inject_w: np.ndarray,
                        t_guess_c: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The step in the plain form; ``inject_w``: the movers' injections (:meth:`inject_w`)."""
        inject_w = self._outlet_ord @ inject_w
        b = self.cell_heat_j_per_k / self.dt_s * t_c[self.order] + inject_w
        t_old = t_c[self.order]
        x = t_old if t_guess_c is None else t_guess_c[self.order]
        ux = self.upper @ x
        last_change = 0.0
        for sweep in range(1, self.max_sweeps + 1):  # noqa: B007 - the count is kept after the loop
            x_new = self._lu.solve(b - ux)
            ux_new = self.upper @ x_new
            change = np.max(np.abs(x_new - x)) if x.size else 0.0
            # Residual of A x = b at x_new is U (x_old − x_new): the flux-form update below uses it.
            residual = ux - ux_new
            x, ux = x_new, ux_new
            moved = float(np.max(np.abs(x - t_old))) if x.size else 0.0
            if error_bound_k(float(change), last_change, self.contraction) < max(self.tol_k, self.rtol * moved):
                break
            last_change = float(change)
        self.last_sweeps = sweep
        residual *= self.dt_s / self.cell_heat_j_per_k
        residual += x
        t_new = np.empty_like(t_c)
        t_new[self.order] = residual
        t_new.flags.writeable = False  # as the fused form's (step)
        return t_new, self._intake_t_ord @ x
