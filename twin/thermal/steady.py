"""Steady temperature field for a given flow field, solved directly (no time marching).

Unknowns: the air temperature x of every fluid cell and the outlet temperature y_j of every air mover.
Each mover's outlet is affine in its mixed intake temperature, y_j = α_j · (Iᵀx)_j + β_j:

    rack:                    α = 1, β = P / (ṁ c_p)            (steady state of the lumped rack)
    CRAH at its setpoint:    α = 0, β = T_set
    CRAH at full capacity:   α = 1, β = −Q_max / (ṁ c_p)
    CRAH not cooling:        α = 1, β = 0

and the air obeys the steady transport equation K x = O (ρ c_p q ∘ y + P_movers) (see transport.py).
The coupled sparse system is solved by GMRES, preconditioned by the flow-ordered lower triangle of K
(exact for pure advection; the movers' loops and downstream diffusion are left to the Krylov method).

``krylov="bicgstab"`` tries BiCGSTAB first, with the same preconditioner, and hands what it reached to
GMRES only if it stops short (a breakdown). The momentum model's recirculation leaves much for the Krylov
method to do: 100–200 GMRES iterations per solve on the open-row validation hall, where GMRES's growing
basis (restart 200) makes orthogonalization, not the matrix products, most of the cost (k² n). BiCGSTAB's
work per iteration stays constant. Measured on a system of that hall's steady loop (35.6k cells, tol
1e-5, one core of a shared machine): GMRES 149 iterations 0.52 s, BiCGSTAB 97 iterations 0.18 s, both
within 1.5e-3 K of the exact field. GMRES stays the default: it cannot break down. The momentum model's
steady loop uses BiCGSTAB for its loosely solved iterates (without buoyancy; with it, ``sweeps``: a fixed number
of the preconditioner's stationary sweeps, :func:`_gs_sweeps`) and for the state it hands out (to 1e-8 K: 121
iterations against GMRES's 200 on open-row-fine), with GMRES behind it.

BiCGSTAB runs as one compiled loop (:func:`_bicgstab`, scipy's algorithm step for step) preconditioned by
symmetric Gauss–Seidel in flow order: a forward substitution with the ordered lower triangle L, then a
backward one with the upper triangle U, z = U⁻¹ D L⁻¹ r. The forward sweep alone is exact for advection
along the flow; in a recirculating flow the air comes back upstream, and the backward sweep carries that
coupling in the same application. Cost per iteration about 1.3x, iterations a third: on four systems of
open-row-fine's steady loop (120k cells) 37/14/15/52 against 95/53/41/117, 0.64x the time (alternated, shared
machine); over its whole steady loop 555 Krylov iterations at the loop's 1e-5 K against 991 with the forward
sweep at the former 1e-4 K (twin.sim.twin's _STEADY_INNER_TOL_K says why the tolerance went back to 1e-5).
The set-up is compiled too: K scaled by its diagonal in one pass (:func:`_scaled_operator`, 7 against
52 ms through flux_operator's COO and scipy's sort; the solves now build its structure once per network and
write only the values, :func:`_scaled_operator_values`, the same bits), both its triangles in flow order in
one pass (:func:`_ordered_triangles`; the lower one alone 11 against 20 ms; the solves keep its structure
while the order holds, :func:`_flow_ordering`, and gather the values) and the coupled system's CSR
(:func:`_block_system`, 6.5 against 11 ms); the loop's products and triangular sweeps index with unsigned
integers, which spares numba a negative-index test per entry (0.35 against 0.65 ms per product of 120k
rows, scipy's own 0.36 ms). GMRES (the potential flow's solves
and the fall-back) keeps the forward sweep: along a potential flow it is nearly exact already.

Measured and not kept (open-row-fine, shared machine): Eisenstat–Walker-style forcing in the steady loop,
each in-loop solve's tolerance tied to how far the intakes moved in the outer iteration before (clipped to
[1e-4, 1e-2] K, with the forward sweep): at 0.01x that move 568 instead of 984 Krylov iterations, but the loop
stopped one outer iteration earlier and the intakes moved by 0.093 K; at 0.001x 919 iterations, within
0.004 K, and its final solve took 125 instead of 116: no gain worth its rule. Not tried: pyamg's AIR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from twin.compiled import numba_cache_wanted
from twin.thermal.network import FluidNetwork
from twin.thermal.threads import limited_blas
from twin.thermal.transport import AirProperties

__all__ = ["SteadyNotConverged", "SteadyResult", "solve_steady_field"]

# A time scale far beyond any flushing time ties cells that neither flow nor diffusion reach (sealed
# pockets) to their previous temperature instead of leaving the system singular.
_ANCHOR_S = 1.0e9
# BiCGSTAB iterations before GMRES takes over (a converging solve needs 30–150 on the validation halls).
_BICGSTAB_MAXITER = 500


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _ordered_lower_solve(indptr, indices, data, order, r):  # pragma: no cover - compiled
    """x with L y = r[order], x[order] = y: forward substitution with L, the CSR lower triangle (sorted
    indices, diagonal last in each row) of a matrix permuted into ``order``.

    The preconditioner of the steady solve, in place of a SuperLU factorization of the same triangle (natural
    order, no pivoting: no fill, so its factors are the triangle itself) and its solves with a gather before
    and a scatter after each. Here the gather and scatter happen inside the one pass. It differs from SuperLU's
    result in rounding only.
    """
    x = np.empty(order.size)
    _ordered_lower_solve_into(indptr, indices, data, order, r, np.empty(order.size), x)
    return x


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _ordered_forward_sweep(indptr, indices, data, order, r, y):  # pragma: no cover - compiled
    """y with L y = r[order], in flow order (L: the ordered lower triangle, each row's diagonal its last
    entry). With unsigned index arrays (np.uint32) numba drops its negative-index check from the inner loop:
    0.35 against 0.65 ms per 120k-row pass.

    The sum skips the row's diagonal. This loop once summed it too, against a y of +0.0, which subtracts +0.0
    (the diagonal is positive): exactly nothing, so skipping it gives the same bits. It sat on the sweep's
    critical path, though: each row waits for the row before it (its neighbour upstream), and that wait was a
    chain of multiply-subtracts, one more for the diagonal, then the division; without it a sweep over
    open-row-fine's 120k cells takes 0.6 against 0.75 ms."""
    for row in range(order.size):
        acc = r[order[row]]
        last = indptr[row + 1] - 1
        for q in range(indptr[row], last):
            acc -= data[q] * y[indices[q]]
        y[row] = acc / data[last]


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _ordered_lower_solve_into(indptr, indices, data, order, r, y, x):  # pragma: no cover - compiled
    """:func:`_ordered_lower_solve` into ``x`` (``y`` is scratch): the forward sweep, then y scattered back into
    the cells' order (the symmetric preconditioner skips the scatter: its backward sweep reads y in flow
    order and overwrites every cell of the result)."""
    _ordered_forward_sweep(indptr, indices, data, order, r, y)
    for row in range(order.size):
        x[order[row]] = y[row]


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _insert_sorted(idx, val, start, nnz, col, value):  # pragma: no cover - compiled
    """Put (col, value) into the sorted run idx[start:nnz] (insertion: a row holds at most seven entries)."""
    pos = nnz
    while pos > start and idx[pos - 1] > col:
        idx[pos] = idx[pos - 1]
        val[pos] = val[pos - 1]
        pos -= 1
    idx[pos] = col
    val[pos] = value


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _ordered_triangle_sources(indptr, indices, order):  # pragma: no cover - compiled
    """Where the entries of the lower and the upper triangle (diagonal in both) of a CSR matrix permuted into
    ``order`` come from: each triangle as CSR structure (np.uint32, sorted indices) and, per entry, its
    position in the unpermuted matrix's data. The values are then ``data[src]``: a gather. The structure
    depends on the matrix's pattern and the order only, which the steady loop's solves share
    (:func:`_flow_ordering`); one pass instead of scipy's two fancy indexings, a COO round trip and a sort
    each."""
    n = order.size
    rank = np.empty(n, np.int64)
    for row in range(n):
        rank[order[row]] = row
    lo_ptr = np.zeros(n + 1, np.uint32)
    up_ptr = np.zeros(n + 1, np.uint32)
    lo_idx = np.empty(indices.size, np.uint32)
    up_idx = np.empty(indices.size, np.uint32)
    lo_src = np.empty(indices.size, np.int64)
    up_src = np.empty(indices.size, np.int64)
    lo_nnz = 0
    up_nnz = 0
    for row in range(n):
        old = order[row]
        lo_start = lo_nnz
        up_start = up_nnz
        for q in range(indptr[old], indptr[old + 1]):
            col = rank[indices[q]]
            if col <= row:  # the diagonal goes into both triangles
                _insert_sorted(lo_idx, lo_src, lo_start, lo_nnz, col, q)
                lo_nnz += 1
            if col >= row:
                _insert_sorted(up_idx, up_src, up_start, up_nnz, col, q)
                up_nnz += 1
        lo_ptr[row + 1] = lo_nnz
        up_ptr[row + 1] = up_nnz
    return lo_ptr, lo_idx[:lo_nnz], lo_src[:lo_nnz], up_ptr, up_idx[:up_nnz], up_src[:up_nnz]


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _dilu_diagonals(lo_ptr, lo_idx, lo_val, lo_src, up_ptr, up_val, transpose, k_val):  # pragma: no cover - compiled
    """The flow-ordered triangles' diagonals replaced, in place, by DILU's: d̃_i = a_ii − Σ_{j<i} a_ij a_ji / d̃_j
    over row i's entries before it in flow order (a_ji is row j's entry in column i: ``k_val`` at the
    ``transpose`` of the entry's unpermuted position ``lo_src``). Returns d̃ (flow order).

    With them the symmetric preconditioner (d̃ + L) d̃⁻¹ (d̃ + U) equals the operator on its diagonal and its
    whole pattern, where symmetric Gauss–Seidel's (D + L) D⁻¹ (D + U) adds L D⁻¹ U to the diagonal wherever
    two cells couple both ways (diffusion, recirculation): diagonal-based incomplete LU, OpenFOAM's DILU, at
    the same cost per application and one pass over the lower triangle to set up. The steady state handed out
    is solved with it (``preconditioner="dilu"``, twin.sim.twin): open-row-fine's final solve 56 instead of 71
    BiCGSTAB iterations (0.25 against 0.32 s), open-row 33 against 35, contained 18 against 23. Nothing that
    feeds an iteration takes it. In the buoyant loop's sweeps it improved the rate per sweep only a little
    (open-row-fine's final system, 100 sweeps: 5e-6 against 2.5e-5 K) and moved where the loop's rule stops
    both ways (open-row-fine 7 instead of 8 outer iterations, open-row 11 instead of 8, aisle-pair and
    contained within one); in the first solve of a start from rest and the loop without buoyancy (BiCGSTAB to
    1e-8 and 1e-5 K) it changed the tiny test hall's slow loops (a start from a CFD field then took 95 outer
    iterations instead of fewer than a cold start's 77)."""
    n = lo_ptr.size - 1
    diag = np.empty(n)
    for row in range(n):
        last = lo_ptr[row + 1] - 1
        d = lo_val[last]
        for q in range(lo_ptr[row], last):
            d -= lo_val[q] * k_val[transpose[lo_src[q]]] / diag[lo_idx[q]]
        diag[row] = d
        lo_val[last] = d
        up_val[up_ptr[row]] = d
    return diag


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _ordered_triangles(indptr, indices, data, order):  # pragma: no cover - compiled
    """The lower and the upper triangle, diagonal included in both, of a CSR matrix permuted into ``order``,
    each as CSR (np.uint32 indices, sorted): ``sp.tril(a[order][:, order])`` and ``sp.triu(...)`` entry for
    entry (the same values, copied, none summed): :func:`_ordered_triangle_sources` and the gathers."""
    lo_ptr, lo_idx, lo_src, up_ptr, up_idx, up_src = _ordered_triangle_sources(indptr, indices, order)
    return lo_ptr, lo_idx, data[lo_src], up_ptr, up_idx, data[up_src]


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _row_pointers(n, face_a, face_b):  # pragma: no cover - compiled
    """CSR row pointers of a network's operator: each row holds its diagonal and one entry per face it is on."""
    count = np.ones(n, np.int64)
    for f in range(face_a.size):
        count[face_a[f]] += 1
        count[face_b[f]] += 1
    ptr = np.zeros(n + 1, np.int64)
    for i in range(n):
        ptr[i + 1] = ptr[i] + count[i]
    return ptr


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _scaled_operator(n, face_a, face_b, flow, adv, cond, diag_extra):  # pragma: no cover - compiled
    """K + diag(``diag_extra``) with each row divided by its diagonal, as CSR with sorted indices, and the
    diagonal: :func:`~twin.thermal.transport.flux_operator`'s entries (adv = ρ c_p |F| to the upwind column,
    cond = the face's conductance to both), assembled in one pass instead of through COO and scipy's sort
    (7 against 52 ms through flux_operator on open-row-fine's 120k cells). Off-diagonal entries hold the same
    bits (one or two terms); the diagonal sums its terms in another order, so it differs from scipy's in
    rounding."""
    ptr = _row_pointers(n, face_a, face_b)
    idx = np.empty(ptr[n], np.int64)
    val = np.empty(ptr[n])
    fill = ptr[:-1].copy()
    diag = diag_extra.copy()
    for i in range(n):
        idx[fill[i]] = i
        fill[i] += 1
    for f in range(face_a.size):
        a, b = face_a[f], face_b[f]
        up_a = flow[f] > 0  # a is upwind: b's row takes a's temperature in
        idx[fill[a]] = b
        val[fill[a]] = -cond[f] if up_a else -adv[f] - cond[f]
        fill[a] += 1
        idx[fill[b]] = a
        val[fill[b]] = -adv[f] - cond[f] if up_a else -cond[f]
        fill[b] += 1
        diag[a] += cond[f] + (adv[f] if up_a else 0.0)
        diag[b] += cond[f] + (0.0 if up_a else adv[f])
    for i in range(n):
        start, stop = ptr[i], ptr[i + 1]
        val[start] = diag[i]
        inv = 1.0 / diag[i]
        for q in range(start, stop):
            val[q] *= inv
        for q in range(start + 1, stop):  # insertion sort of the row by column (at most seven entries)
            _insert_sorted(idx, val, start, q, idx[q], val[q])
    return ptr, idx, val, diag


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _scaled_operator_positions(n, face_a, face_b):  # pragma: no cover - compiled
    """Where :func:`_scaled_operator` puts each entry: its CSR structure (sorted) and, per face, the positions
    of its entry in row a (column b) and in row b (column a), and each row's diagonal position. It builds the
    structure as that kernel does (diagonal first, the faces in order, each row insertion-sorted), carrying
    the entries' origins instead of values: the structure is the network's, whatever the flow."""
    ptr = _row_pointers(n, face_a, face_b)
    idx = np.empty(ptr[n], np.int64)
    origin = np.empty(ptr[n], np.int64)  # -1 - row for a diagonal, 2 f for face f in row a, 2 f + 1 in row b
    fill = ptr[:-1].copy()
    for i in range(n):
        idx[fill[i]] = i
        origin[fill[i]] = -1 - i
        fill[i] += 1
    for f in range(face_a.size):
        a, b = face_a[f], face_b[f]
        idx[fill[a]] = b
        origin[fill[a]] = 2 * f
        fill[a] += 1
        idx[fill[b]] = a
        origin[fill[b]] = 2 * f + 1
        fill[b] += 1
    for i in range(n):
        for q in range(ptr[i] + 1, ptr[i + 1]):
            _insert_sorted(idx, origin, ptr[i], q, idx[q], origin[q])
    pos_a = np.empty(face_a.size, np.int64)
    pos_b = np.empty(face_a.size, np.int64)
    pos_diag = np.empty(n, np.int64)
    for q in range(ptr[n]):
        o = origin[q]
        if o < 0:
            pos_diag[-1 - o] = q
        elif o % 2 == 0:
            pos_a[o // 2] = q
        else:
            pos_b[o // 2] = q
    return ptr, idx, pos_a, pos_b, pos_diag


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _scaled_operator_values(n, face_a, face_b, flow, adv, cond, diag_extra, pos_a, pos_b,
                            pos_diag):  # pragma: no cover - compiled
    """:func:`_scaled_operator`'s values and diagonal into the structure of :func:`_scaled_operator_positions`:
    the same operations in the same order (the diagonal summed face by face, each entry times its row's
    1 / diagonal), so the same bits, without building and sorting the structure again (a steady loop's
    solves share it: :func:`_operator_structure`)."""
    diag = diag_extra.copy()
    for f in range(face_a.size):
        a = face_a[f]
        b = face_b[f]
        up_a = flow[f] > 0
        diag[a] += cond[f] + (adv[f] if up_a else 0.0)
        diag[b] += cond[f] + (0.0 if up_a else adv[f])
    val = np.empty(pos_diag.size + 2 * face_a.size)
    for i in range(n):
        val[pos_diag[i]] = diag[i] * (1.0 / diag[i])
    for f in range(face_a.size):
        a = face_a[f]
        b = face_b[f]
        up_a = flow[f] > 0
        val[pos_a[f]] = (-cond[f] if up_a else -adv[f] - cond[f]) * (1.0 / diag[a])
        val[pos_b[f]] = (-adv[f] - cond[f] if up_a else -cond[f]) * (1.0 / diag[b])
    return val, diag


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _block_system(k_ptr, k_idx, k_val, j_ptr, j_idx, j_val, c_ptr, c_idx, c_val):  # pragma: no cover - compiled
    """CSR of the coupled system [[K, J], [C, I]] (n cells, m movers; each block CSR, K's and C's rows with
    sorted indices, J's column indices are movers'): what ``sp.vstack([sp.hstack([K, J]), sp.hstack([C,
    I])]).tocsr()`` gives, the same entries in the same order, in one pass (scipy goes through COO and sorts)."""
    n = k_ptr.size - 1
    m = c_ptr.size - 1
    size = k_idx.size + j_idx.size + c_idx.size + m
    ptr = np.zeros(n + m + 1, np.int64)
    idx = np.empty(size, np.int64)
    val = np.empty(size)
    nnz = 0
    for row in range(n):
        for q in range(k_ptr[row], k_ptr[row + 1]):
            idx[nnz] = k_idx[q]
            val[nnz] = k_val[q]
            nnz += 1
        # A cell is the outlet of one mover at most (else sort these too).
        for q in range(j_ptr[row], j_ptr[row + 1]):
            idx[nnz] = n + j_idx[q]
            val[nnz] = j_val[q]
            nnz += 1
        ptr[row + 1] = nnz
    for row in range(m):
        for q in range(c_ptr[row], c_ptr[row + 1]):
            idx[nnz] = c_idx[q]
            val[nnz] = c_val[q]
            nnz += 1
        idx[nnz] = n + row
        val[nnz] = 1.0
        nnz += 1
        ptr[n + row + 1] = nnz
    return ptr, idx, val


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _dot(a, b):  # pragma: no cover - compiled
    # A loop: numba's np.dot goes through scipy's BLAS at ~0.4 ms for 120k values against 0.06 ms here.
    acc = 0.0
    for i in range(a.size):
        acc += a[i] * b[i]
    return acc


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _csr_matvec(ptr, idx, val, x, out):  # pragma: no cover - compiled
    for row in range(ptr.size - 1):
        acc = 0.0
        for q in range(ptr[row], ptr[row + 1]):
            acc += val[q] * x[idx[q]]
        out[row] = acc


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _precondition(tri_ptr, tri_idx, tri_val, up_ptr, up_idx, up_val, order, in_ptr, in_idx, in_val, alpha, r,
                  out, scratch):  # pragma: no cover - compiled
    """Block symmetric Gauss–Seidel on the coupled system: cells by the ordered forward substitution with
    the lower triangle L (diagonal D included), then the backward one with the upper triangle U (D
    included): z = U⁻¹ D L⁻¹ r; then each mover from its intake (``in_*``: intakeᵀ as CSR,
    movers × cells). Into ``out``; ``scratch`` has a cell's length."""
    n = order.size
    _ordered_forward_sweep(tri_ptr, tri_idx, tri_val, order, r, scratch)
    # scratch holds y = L⁻¹ r in flow order; overwritten from the last row up by z (a row needs only the z of
    # the rows after it, and its own y before it is overwritten).
    for back in range(n):
        row = n - 1 - back
        diag = up_val[up_ptr[row]]
        acc = diag * scratch[row]
        for q in range(up_ptr[row] + 1, up_ptr[row + 1]):  # the diagonal (first) skipped: as in the forward sweep
            acc -= up_val[q] * scratch[up_idx[q]]
        scratch[row] = acc / diag
        out[order[row]] = scratch[row]
    for j in range(in_ptr.size - 1):
        acc = 0.0
        for q in range(in_ptr[j], in_ptr[j + 1]):
            acc += in_val[q] * out[in_idx[q]]
        out[n + j] = r[n + j] + alpha[j] * acc


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _bicgstab(ptr, idx, val, tri_ptr, tri_idx, tri_val, up_ptr, up_idx, up_val, order, in_ptr, in_idx, in_val,
              alpha, b, x0, atol, maxiter):  # pragma: no cover - compiled
    """Right-preconditioned BiCGSTAB, step for step scipy's ``bicgstab`` (its stopping tests and breakdown
    codes: 0 converged, -10 ρ breakdown, -11 ω breakdown, maxiter when exhausted) with the system as CSR and
    the preconditioner above, in one compiled loop: scipy's spends ~0.8 ms of each iteration on open-row-fine
    (120k cells) between the products and preconditioner solves (Python, temporaries, a concatenation).
    Returns x, info and the iterations counted as scipy's callback counts them."""
    size = b.size
    x = x0.copy()
    r = np.empty(size)
    _csr_matvec(ptr, idx, val, x, r)
    for i in range(size):
        r[i] = b[i] - r[i]
    rtilde = r.copy()
    p = np.empty(size)
    v = np.zeros(size)
    s = np.empty(size)
    t = np.empty(size)
    phat = np.empty(size)
    shat = np.empty(size)
    scratch = np.empty(order.size)
    rhotol = np.finfo(np.float64).eps ** 2
    rho_prev, omega, alpha_k = 1.0, 1.0, 1.0
    for iteration in range(maxiter):
        if np.sqrt(_dot(r, r)) < atol:
            return x, 0, iteration
        rho = _dot(rtilde, r)
        if np.abs(rho) < rhotol:
            return x, -10, iteration
        if iteration > 0:
            if np.abs(omega) < rhotol:
                return x, -11, iteration
            beta = (rho / rho_prev) * (alpha_k / omega)
            for i in range(size):
                p[i] = (p[i] - omega * v[i]) * beta + r[i]
        else:
            p[:] = r
        _precondition(tri_ptr, tri_idx, tri_val, up_ptr, up_idx, up_val, order, in_ptr, in_idx, in_val, alpha, p,
                      phat, scratch)
        _csr_matvec(ptr, idx, val, phat, v)
        rv = _dot(rtilde, v)
        if rv == 0.0:
            return x, -11, iteration
        alpha_k = rho / rv
        for i in range(size):
            r[i] -= alpha_k * v[i]
            s[i] = r[i]
        if np.sqrt(_dot(s, s)) < atol:
            for i in range(size):
                x[i] += alpha_k * phat[i]
            return x, 0, iteration
        _precondition(tri_ptr, tri_idx, tri_val, up_ptr, up_idx, up_val, order, in_ptr, in_idx, in_val, alpha, s,
                      shat, scratch)
        _csr_matvec(ptr, idx, val, shat, t)
        omega = _dot(t, s) / _dot(t, t)
        for i in range(size):
            x[i] += alpha_k * phat[i]
            x[i] += omega * shat[i]
            r[i] -= omega * t[i]
        rho_prev = rho
    return x, maxiter, maxiter


@numba.njit(cache=numba_cache_wanted(__file__), nogil=True)
def _gs_sweeps(ptr, idx, val, tri_ptr, tri_idx, tri_val, up_ptr, up_idx, up_val, order, in_ptr, in_idx, in_val,
               alpha, b, x0, atol, sweeps):  # pragma: no cover - compiled
    """At most ``sweeps`` steps of the stationary iteration x += M⁻¹ (b − A x) from ``x0``, M the block symmetric
    Gauss–Seidel preconditioner (:func:`_precondition`), stopped early once ‖b − A x‖ < ``atol`` (BiCGSTAB's
    test: an easy system costs no more sweeps than it needs). Returns x, the sweeps taken and the rms residual."""
    size = b.size
    x = x0.copy()
    r = np.empty(size)
    z = np.empty(size)
    scratch = np.empty(order.size)
    done = 0
    while True:
        _csr_matvec(ptr, idx, val, x, r)
        for i in range(size):
            r[i] = b[i] - r[i]
        norm = np.sqrt(_dot(r, r))
        if done == sweeps or norm < atol:
            return x, done, norm / np.sqrt(size)
        _precondition(tri_ptr, tri_idx, tri_val, up_ptr, up_idx, up_val, order, in_ptr, in_idx, in_val, alpha, r,
                      z, scratch)
        for i in range(size):
            x[i] += z[i]
        done += 1


@dataclass
class _OperatorStructure:
    """The scaled operator's CSR structure on a network and where each face's entries go in it
    (:func:`_scaled_operator_positions`), with the faces' cells as int64."""

    face_a: np.ndarray
    face_b: np.ndarray
    ptr: np.ndarray
    idx: np.ndarray
    pos_a: np.ndarray
    pos_b: np.ndarray
    pos_diag: np.ndarray
    transpose: np.ndarray  # per entry, the position of its transpose (a face's two entries swap, diagonals stay)


def _operator_structure(net: FluidNetwork) -> _OperatorStructure:
    """The network's operator structure, built on its first solve and kept in its ``solver_cache`` (3 of the 6 ms
    of assembling the scaled operator on open-row-fine go into building and sorting it; the steady loop's
    solves share it)."""
    cached = net.solver_cache.get("steady_structure")
    if isinstance(cached, _OperatorStructure):
        return cached
    face_a, face_b = net.face_a.astype(np.int64), net.face_b.astype(np.int64)
    ptr, idx, pos_a, pos_b, pos_diag = _scaled_operator_positions(net.n, face_a, face_b)
    # In the index type scipy would choose for the matrix, so that each solve's csr_matrix takes these very
    # arrays instead of converting copies (and the flow ordering knows the pattern by identity).
    index = sp.csr_matrix((np.zeros(idx.size), idx, ptr), shape=(net.n, net.n))
    transpose = np.arange(idx.size, dtype=np.int64)
    transpose[pos_a], transpose[pos_b] = pos_b, pos_a
    entry = _OperatorStructure(face_a, face_b, index.indptr, index.indices, pos_a, pos_b, pos_diag, transpose)
    net.solver_cache["steady_structure"] = entry
    return entry


@dataclass
class _FlowOrdering:
    """A network's cells in flow order and the structure of its operator's triangles in that order
    (:func:`_ordered_triangle_sources`), for the operator pattern they were built for."""

    order: np.ndarray  # int64: cells by falling potential (a stable sort)
    order_u32: np.ndarray
    pattern_ptr: np.ndarray  # the scaled operator's CSR structure the triangles index into
    pattern_idx: np.ndarray
    lo_ptr: np.ndarray
    lo_idx: np.ndarray
    lo_src: np.ndarray
    up_ptr: np.ndarray
    up_idx: np.ndarray
    up_src: np.ndarray


def _stable_order_holds(order: np.ndarray, key: np.ndarray) -> bool:
    """Whether ``order`` is ``np.argsort(key, kind="stable")``: keys non-decreasing along it, equal keys in
    rising index (a stable sort's permutation is the only one with both; a NaN key fails the test)."""
    ko = key[order]
    return bool(np.all((ko[1:] > ko[:-1]) | ((ko[1:] == ko[:-1]) & (order[1:] > order[:-1]))))


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays hold the same values: at once when they view the same memory alike (scipy's matrices
    view the operator structure's arrays), else compared."""
    if a.dtype == b.dtype and a.shape == b.shape and a.strides == b.strides and a.ctypes.data == b.ctypes.data:
        return True
    return bool(np.array_equal(a, b))


def _flow_ordering(net: FluidNetwork, potential: np.ndarray, k_ptr: np.ndarray, k_idx: np.ndarray
                   ) -> _FlowOrdering:
    """The cells by falling potential and the triangles' structure for the operator pattern (k_ptr, k_idx):
    the network's last ones (its ``solver_cache``) where the order still holds and the pattern is the same,
    else built anew and kept in their place.

    A steady loop solves the same network 15-20 times, and its potential moves so little between them (the
    servers' fan law) that the stable sort by falling potential gives the same order every time on
    open-row-fine (31 of 31 solves): checking that the order still holds is one vectorized pass, where the sort
    and the triangles' structure cost 5-7 and 7-13 ms a solve (about a third of the solve's set-up); the values
    are then a gather."""
    key = -np.asarray(potential, dtype=float)
    cached = net.solver_cache.get("steady_ordering")
    if (isinstance(cached, _FlowOrdering) and cached.order.size == key.size
            and _same_values(cached.pattern_ptr, k_ptr) and _same_values(cached.pattern_idx, k_idx)
            and _stable_order_holds(cached.order, key)):
        return cached
    order = np.argsort(key, kind="stable").astype(np.int64)
    lo_ptr, lo_idx, lo_src, up_ptr, up_idx, up_src = _ordered_triangle_sources(k_ptr, k_idx, order)
    # The pattern arrays are kept as they are (the operator structure's, not written to by anyone).
    entry = _FlowOrdering(order, order.astype(np.uint32), k_ptr, k_idx, lo_ptr, lo_idx, lo_src, up_ptr, up_idx,
                          up_src)
    net.solver_cache["steady_ordering"] = entry
    return entry


class SteadyNotConverged(RuntimeError):
    """The Krylov solve of the steady system did not reach its tolerance."""


@dataclass
class SteadyResult:
    t_air_c: np.ndarray  # per fluid cell, °C
    outlet_c: np.ndarray  # per mover, °C
    iterations: int  # Krylov iterations: BiCGSTAB's (krylov="bicgstab"), then GMRES's if it stopped short
    residual_k: float  # rms residual of the (kelvin-scaled) system, K


def solve_steady_field(net: FluidNetwork, face_flow_m3s: np.ndarray, mover_flow_m3s: np.ndarray,
                       potential: np.ndarray, air: AirProperties, alpha: np.ndarray, beta_c: np.ndarray,
                       *, mover_heat_w: np.ndarray | float = 0.0, t_guess_c: np.ndarray,
                       tol_k: float = 1e-8, max_restarts: int = 25,
                       face_diffusivity_m2s: np.ndarray | None = None, krylov: str = "gmres",
                       source_w: np.ndarray | None = None, sweeps: int | None = None,
                       preconditioner: str = "sgs") -> SteadyResult:
    """Solve the coupled steady system; see the module docstring for α and β, and for ``krylov``
    ("gmres" or "bicgstab").

    ``preconditioner``: BiCGSTAB's, the flow-ordered symmetric Gauss–Seidel ("sgs") or the same with DILU's
    diagonals ("dilu", :func:`_dilu_diagonals`); GMRES and the sweeps always take symmetric Gauss–Seidel.

    ``sweeps`` (an inexact solve): instead of a Krylov solve, at most this many steps of the stationary iteration
    with the block symmetric Gauss–Seidel preconditioner from ``t_guess_c``, fewer where they reach ``tol_k``
    (:func:`_gs_sweeps`; the result's ``iterations`` are the sweeps, its ``residual_k`` what they left; nothing
    raised).

    ``source_w`` (per fluid cell, W) is added to the cells' heat: a deferred correction of the advection
    scheme (:func:`~twin.thermal.transport.linear_upwind_correction_w`) enters here, its sum zero.

    ``face_diffusivity_m2s`` (per open face) replaces ``air.diffusivity_m2s``, as in
    :func:`~twin.thermal.transport.flux_operator`.

    BLAS runs on :data:`twin.thermal.threads.SOLVER_BLAS_THREADS` threads (see that module: on a loaded
    machine more threads make GMRES slower).
    """
    if krylov not in ("gmres", "bicgstab"):
        raise ValueError(f"krylov must be 'gmres' or 'bicgstab', got {krylov!r}")
    if preconditioner not in ("sgs", "dilu"):
        raise ValueError(f"preconditioner must be 'sgs' or 'dilu', got {preconditioner!r}")
    with limited_blas():
        return _solve_steady_field(net, face_flow_m3s, mover_flow_m3s, potential, air, alpha, beta_c,
                                   mover_heat_w=mover_heat_w, t_guess_c=t_guess_c, tol_k=tol_k,
                                   max_restarts=max_restarts, face_diffusivity_m2s=face_diffusivity_m2s,
                                   krylov=krylov, source_w=source_w, sweeps=sweeps, preconditioner=preconditioner)


def _solve_steady_field(net: FluidNetwork, face_flow_m3s: np.ndarray, mover_flow_m3s: np.ndarray,
                        potential: np.ndarray, air: AirProperties, alpha: np.ndarray, beta_c: np.ndarray,
                        *, mover_heat_w: np.ndarray | float, t_guess_c: np.ndarray, tol_k: float,
                        max_restarts: int, face_diffusivity_m2s: np.ndarray | None, krylov: str,
                        source_w: np.ndarray | None = None, sweeps: int | None = None,
                        preconditioner: str = "sgs") -> SteadyResult:
    n, m = net.n, len(mover_flow_m3s)
    rc = air.rho_cp
    anchor = rc * net.cell_volume_m3 / _ANCHOR_S
    inject = (net.outlet @ sp.diags(rc * np.asarray(mover_flow_m3s, float))).tocsr()  # cells × movers
    # K (flux_operator's) with every cell row scaled by its diagonal, so that every row of the system is in kelvin.
    f = np.asarray(face_flow_m3s, dtype=float)
    diffusivity = (air.diffusivity_m2s if face_diffusivity_m2s is None
                   else np.asarray(face_diffusivity_m2s, dtype=float))
    cond = rc * diffusivity * net.face_open * net.face_area_m2 / net.dist_m
    sink = rc * (net.intake @ np.asarray(mover_flow_m3s, float)) + anchor
    structure = _operator_structure(net)
    k_ptr, k_idx = structure.ptr, structure.idx
    k_val, d = _scaled_operator_values(n, structure.face_a, structure.face_b, f, rc * np.abs(f),
                                       np.broadcast_to(cond, f.shape).astype(float), sink, structure.pos_a,
                                       structure.pos_b, structure.pos_diag)
    k_scaled = sp.csr_matrix((k_val, k_idx, k_ptr), shape=(n, n))
    scale = sp.diags(1.0 / d)
    inject_scaled = (-(scale @ inject)).tocsr()
    coupling = (-(sp.diags(alpha) @ net.intake.T)).tocsr()
    coupling.sort_indices()
    system = sp.csr_matrix(_block_system(k_scaled.indptr, k_scaled.indices, k_scaled.data, inject_scaled.indptr,
                                         inject_scaled.indices, inject_scaled.data, coupling.indptr,
                                         coupling.indices, coupling.data)[::-1], shape=(n + m, n + m))
    direct_w = net.outlet @ np.broadcast_to(mover_heat_w, (m,))
    if source_w is not None:
        direct_w = direct_w + source_w
    rhs = np.concatenate([(direct_w + anchor * t_guess_c) / d, beta_c])

    # The cells by falling potential, and K's triangles in that order (sorted indices: each row's diagonal is its
    # last entry): the structure from the network's last solve when the order still holds, then the values.
    ordering = _flow_ordering(net, potential, k_scaled.indptr, k_scaled.indices)
    order = ordering.order
    tri_ptr, tri_idx, up_ptr, up_idx = ordering.lo_ptr, ordering.lo_idx, ordering.up_ptr, ordering.up_idx
    tri_val, up_val = k_scaled.data[ordering.lo_src], k_scaled.data[ordering.up_src]
    tri = (tri_ptr, tri_idx, tri_val, order)
    intake_t = net.intake.T.tocsr()

    def precondition(r: np.ndarray) -> np.ndarray:
        # Block Gauss–Seidel: cells by the ordered triangular solve, then movers from their intakes.
        x = _ordered_lower_solve(*tri, np.ascontiguousarray(r[:n]))
        return np.concatenate([x, r[n:] + alpha * (intake_t @ x)])

    pre = spla.LinearOperator(system.shape, precondition, dtype=float)  # (given: no probing product)
    z0 = np.concatenate([t_guess_c, alpha * (intake_t @ t_guess_c) + beta_c])
    count = [0]

    def callback(_):
        count[0] += 1

    # Every row is in kelvin (cells scaled by their diagonal): an absolute tolerance of tol_k per row
    # means the same whatever the heat load, also with none at all.
    atol = tol_k * np.sqrt(rhs.size)
    info = 1
    if sweeps is not None or krylov == "bicgstab":
        # Unsigned indices: numba then checks no negative index in the inner loops (see _ordered_forward_sweep).
        intake_c = intake_t.astype(float)
        u32 = [a.astype(np.uint32, copy=False) for a in (system.indptr, system.indices, tri_ptr, tri_idx, up_ptr,
                                                         up_idx, ordering.order_u32, intake_c.indptr, intake_c.indices)]
        if sweeps is None and preconditioner == "dilu":
            # DILU's diagonals instead of the operator's (see _dilu_diagonals for when and why), in copies: the
            # GMRES fallback's preconditioner (``tri``) keeps the operator's.
            tri_val, up_val = tri_val.copy(), up_val.copy()
            _dilu_diagonals(tri_ptr, tri_idx, tri_val, ordering.lo_src, up_ptr, up_val, structure.transpose, k_val)
        compiled = (u32[0], u32[1], system.data, u32[2], u32[3], tri_val, u32[4], u32[5], up_val, u32[6], u32[7],
                    u32[8], intake_c.data, np.asarray(alpha, dtype=float), rhs, z0)
        if sweeps is not None:
            z, swept, swept_k = _gs_sweeps(*compiled, atol, sweeps)
            return SteadyResult(z[:n], z[n:], swept, float(swept_k))
        z, info, done = _bicgstab(*compiled, atol, _BICGSTAB_MAXITER)
        count[0] += done
        if info != 0 and np.all(np.isfinite(z)):
            z0 = z  # stopped short or broke down: GMRES carries on from there
    if info != 0:
        z, info = spla.gmres(system, rhs, x0=z0, M=pre, rtol=0.0, atol=atol, restart=200, maxiter=max_restarts,
                             callback=callback, callback_type="pr_norm")
    residual_k = float(np.linalg.norm(system @ z - rhs) / np.sqrt(rhs.size))
    if info != 0 and residual_k > 100 * tol_k:
        raise SteadyNotConverged(f"steady solve did not converge: rms residual {residual_k:.2e} K after "
                                 f"{count[0]} Krylov iterations")
    return SteadyResult(z[:n], z[n:], count[0], residual_k)
