"""Does the momentum model's jet entrain like a turbulent plane jet? A free-jet benchmark (issue 10).

Why: on aisle-pair the twin's row-end intakes answer every lever of the cold tile column at a third or less
of the CFD's response, and its cold aisle draws cooler air in through the row ends: the suspicion is that
its jets entrain too little room air. This runs the twin's own MomentumSolver (as validation/benchmarks.py
does, without a hall) on a plane turbulent jet and compares its spread, centreline decay and entrainment
with the published self-similar plane jet.

Set-up (quasi-2D: a slab one cell thick in y, free-slip y sides, as in benchmarks.py; isothermal):

* A slot of width b = 0.15 m in the no-slip wall x = 0, centred on the domain's height, blowing +x at
  U0 = 2 m/s (Re = U0 b/ν = 20,000). It is a mover whose outlet cells are the slot's cells of the first
  column; that column's z faces are closed (a nozzle), so the air leaves through the +x faces at U0.
* The ambient: a room of 80 b along x and 100 b across (z), far larger than the jet (y_half ≈ 4 b at
  x = 40 b). A closed room makes the entrained air recirculate against the jet (and a stream weaker than
  the jet's entrainment does too: 2.4 Q0 was measured to starve it beyond 30 b); instead a second mover
  blows a slow uniform stream through the rest of the wall x = 0 (``coflow_ratio`` times the slot's flow
  in all, 4 Q0 by default, 0.08 m/s: about what a plane jet has entrained by x ≈ 40 b). The stream bends
  round the jet and the air beside it is nearly still (reported: at most a few % of U0). Both movers take
  their air out through the last column (x = 80 b, a free-slip side). The sides z± are free-slip.
* The solve goes to 1e-6: at the default 1e-4 the starting jet's head is still travelling downstream and
  the far jet looks as if it died.
* Chen–Xu's length scale L is the distance to the nearest no-slip wall: here the slot's wall, L = x (free-slip
  sides are not walls to it). That is the tile column's situation too: a jet rising from a wall (the raised
  floor) whose L is its height until a rack or a side comes closer.

Measured on every x-face plane from x = 10 b to 40 b (the self-similar region), with the ambient speed
U_a(x) taken off, the air's just beside the jet (2.5–3.5 half-widths from its axis; the far stream bends
round the jet, the air beside it is nearly still):

* half-width y_half: half the distance between the two points where u − U_a = (U_c − U_a)/2;
  spreading rate S = dy_half/dx by a straight-line fit;
* centreline decay: (U0/U_c,e)² against x/b (U_c,e = U_c − U_a), its slope K (a straight line for a plane jet);
* entrainment: Q(x)/Q0 with Q = ∫ (u − U_a) dz over ±3 half-widths and Q0 = U0 b, fitted as A √(x/b) + c (slope A);
  and the momentum flux ∫ u (u − U_a) dz / (U0² b), which a free jet conserves (a check of the set-up).

Published (plane jet, self-similar region): S = 0.10–0.11 (Gutmark & Wygnanski 1976: 0.10; Pope,
"Turbulent Flows" 2000, table 5.2: 0.10; standard k-ε gives about 0.11); U_c/U0 ≈ 2.4–2.5 (x/b)^−½, i.e.
(U0/U_c)² ≈ 0.16–0.20 x/b (Rajaratnam 1976; the issue's ≈ 0.2); Q/Q0 ≈ 0.62 √(x/b) (Albertson et al. 1950).
Self-similarity ties them together: a Gaussian profile u = U_c exp(−ln2 (z/y_half)²) carrying the slot's
momentum U0² b has (U0/U_c)² = √(π/(2 ln2)) S x/b ≈ 1.51 S x/b and Q/Q0 = √(π/ln2) / (π/(2 ln2))^¼ √(S x/b)
≈ 1.74 √(S x/b), so a jet's decay and entrainment follow from its spread (S = 0.10: 0.15 and 0.55).

Run ``python -m validation.free_jet`` (two grids, both closures: a few minutes on a shared 2-core machine);
``--cells 0.075`` for one grid. validation/README.md, "Do the momentum model's jets entrain as turbulent jets
do?", has the numbers.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from twin.thermal.momentum import MomentumSettings, MomentumSolver, MoverJets, SolveInfo, Wall
from validation.benchmarks import closed_box_faces

__all__ = ["JetResult", "PUBLISHED", "free_jet", "jet_profile_stats", "q_at"]

#: Published plane-jet values in the self-similar region: spreading rate, decay slope of (U0/Uc)² against
#: x/b, and entrainment slope A of Q/Q0 = A √(x/b); the ranges quoted in the module docstring.
PUBLISHED = {"spread": (0.10, 0.11), "decay": (0.16, 0.20), "entrainment": (0.55, 0.62)}

SLOT_M = 0.15
U0_M_S = 2.0
LENGTH_SLOTS = 80.0
HEIGHT_SLOTS = 100.0
X_FIT_SLOTS = (10.0, 40.0)


@dataclass
class JetResult:
    """The jet's self-similar figures on one grid with one closure (x in slot widths b)."""

    turbulence: str
    cell_m: float
    slot_cells: int
    shape: tuple[int, int, int]
    info: SolveInfo
    seconds: float
    spread: float  # dy_half/dx over x/b in X_FIT_SLOTS
    decay: float  # slope of (U0/U_c,e)² against x/b
    entrainment: float  # A in Q/Q0 = A √(x/b) + c
    entrainment_exponent: float  # n in Q/Q0 ∝ (x/b)^n (0.5 for a plane jet)
    momentum_ratio: tuple[float, float]  # min, max of the momentum flux over U0² b in the fit range
    ambient_ratio: float  # largest |U_a|/U0 in the fit range
    nu_t_ratio: float  # ν_t on the centreline over U_c y_half, mean over the fit range (plane jet: ≈ 0.03)
    x_over_b: np.ndarray = field(repr=False)
    y_half_m: np.ndarray = field(repr=False)
    u_centre_excess_m_s: np.ndarray = field(repr=False)
    q_over_q0: np.ndarray = field(repr=False)


def _centre_and_half_width(excess: np.ndarray, z_m: np.ndarray) -> tuple[float, float, float]:
    """(peak, centre, half-width) of an excess-velocity profile: the outermost crossings of half the peak
    around it, linear between samples; the centre is their midpoint."""
    k = int(np.argmax(excess))
    uc = float(excess[k])
    half = 0.5 * uc
    above = excess >= half
    lo, hi = k, k
    while lo > 0 and above[lo - 1]:
        lo -= 1
    while hi < excess.size - 1 and above[hi + 1]:
        hi += 1
    if lo == 0 or hi == excess.size - 1:
        raise ValueError("the jet fills the domain: its half-width is not inside it")
    z_lo = z_m[lo - 1] + (z_m[lo] - z_m[lo - 1]) * (half - excess[lo - 1]) / (excess[lo] - excess[lo - 1])
    z_hi = z_m[hi] + (z_m[hi + 1] - z_m[hi]) * (excess[hi] - half) / (excess[hi] - excess[hi + 1])
    return uc, 0.5 * float(z_lo + z_hi), 0.5 * float(z_hi - z_lo)


def jet_profile_stats(u_plane: np.ndarray, z_m: np.ndarray, *, band: tuple[float, float] = (2.5, 3.5),
                      extent: float = 3.0, passes: int = 4) -> tuple[float, float, float, float, float]:
    """(U_c − U_a, y_half, Q, momentum flux, U_a) of one profile u(z) across a jet, per unit depth.

    The ambient speed U_a is the air's just outside the jet (the mean u at ``band`` half-widths from its
    centre, both sides), found by a few passes from the profile's median: the slow stream far away bends
    round the jet and the air beside it is nearly still, so neither the far stream nor zero is the jet's
    ambient. y_half is half the distance between the outermost crossings of (U_c − U_a)/2 by u − U_a (linear
    between samples); Q = ∫ (u − U_a) dz and the momentum flux ∫ u (u − U_a) dz over ``extent`` half-widths
    either side of the centre (midpoint rule; a Gaussian jet has 99.96 % of its flow there).
    """
    u = np.asarray(u_plane, dtype=float)
    u_a = float(np.median(u))
    for _ in range(passes):
        uc, zc, y_half = _centre_and_half_width(u - u_a, z_m)
        eta = np.abs(z_m - zc) / y_half
        ring = (eta >= band[0]) & (eta <= band[1])
        if not ring.any():
            raise ValueError("the jet fills the domain: no ambient beside it")
        u_a = float(u[ring].mean())
    uc, zc, y_half = _centre_and_half_width(u - u_a, z_m)
    inside = np.abs(z_m - zc) <= extent * y_half
    dz = float(z_m[1] - z_m[0])
    q = float(np.sum(u[inside] - u_a) * dz)
    momentum = float(np.sum(u[inside] * (u[inside] - u_a)) * dz)
    return uc, y_half, q, momentum, u_a


def free_jet(cell_m: float, turbulence: str = "chen-xu", *, coflow_ratio: float = 4.0, max_length_m: float | None = None,
             require_converged: bool = True, tol: float = 1e-6,
             max_iterations: int = 20000, convection: str = "upwind") -> JetResult:
    """Solve the plane free jet on cells of ``cell_m`` with ``turbulence`` ("chen-xu" or "k-epsilon")."""
    h = float(cell_m)
    n_slot = int(round(SLOT_M / h))
    if abs(n_slot * h - SLOT_M) > 1e-9:
        raise ValueError(f"cell_m {cell_m} does not divide the slot width {SLOT_M} m")
    nx = int(round(LENGTH_SLOTS * SLOT_M / h))
    nz = int(round(HEIGHT_SLOTS * SLOT_M / h))
    nz += (nz - n_slot) % 2  # the slot sits exactly in the middle
    shape = (nx, 1, nz)
    k0 = (nz - n_slot) // 2
    flat = lambda i, k: int(np.ravel_multi_index((i, 0, k), shape))  # noqa: E731
    slot = np.array([flat(0, k) for k in range(k0, k0 + n_slot)])
    ambient_in = np.array([flat(0, k) for k in range(nz) if not k0 <= k < k0 + n_slot])
    sink = np.array([flat(nx - 1, k) for k in range(nz)])
    movers = MoverJets([sink, sink], [slot, ambient_in], np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
                       ["slot", "ambient"])
    walls = {"y-": Wall(slip=True), "y+": Wall(slip=True), "z-": Wall(slip=True), "z+": Wall(slip=True),
             "x+": Wall(slip=True)}
    settings = MomentumSettings(turbulence=True, turbulence_model=turbulence, buoyancy=False, tol=tol,
                                max_iterations=max_iterations, convection=convection, walls=walls)
    faces = closed_box_faces(shape)
    # The first column is the nozzle: its cells' z faces are closed, so each slot cell's air leaves through
    # its +x face at exactly U0 (open, part of it would spill sideways into the ambient stream's cells and
    # the jet would leave slower and wider than its slot).
    faces[2][0, 0, :] = 0.0
    solver = MomentumSolver(np.zeros(shape, bool), faces, h, movers, settings=settings)
    if max_length_m is not None:
        # A study of Chen–Xu's length scale only (the product's L is untouched): L capped as an aisle's
        # rack fronts cap it for a tile column (0.6 m from the middle of a 1.2 m aisle).
        solver.wall_distance_m = np.minimum(solver.wall_distance_m, max_length_m)
    q0 = U0_M_S * n_slot * h * h  # the slab is one cell (h) deep
    start = time.perf_counter()
    q = np.array([q0, coflow_ratio * q0])
    # Unconverged (a jet that keeps swinging): the last iterate of max_iterations, flagged in info.
    info = solver.solve(q) if require_converged else solver.resolve(q, iterations=max_iterations)
    seconds = time.perf_counter() - start

    z = (np.arange(nz) + 0.5) * h
    b = n_slot * h
    x_b, uc, yh, qq, mom, amb, nut = [], [], [], [], [], [], []
    nu_t = solver.eddy_viscosity_m2s()
    for i in range(1, nx):
        xb = i * h / b
        if not X_FIT_SLOTS[0] <= xb <= X_FIT_SLOTS[1]:
            continue
        u_plane = solver.u[0][i, 0, :]
        c, y, q, m, u_a = jet_profile_stats(u_plane, z)
        x_b.append(xb)
        uc.append(c)
        yh.append(y)
        qq.append(q / (U0_M_S * b))
        mom.append(m / (U0_M_S ** 2 * b))
        amb.append(abs(u_a) / U0_M_S)
        kc = int(np.argmax(u_plane))
        nut.append(0.5 * (nu_t[i - 1, 0, kc] + nu_t[i, 0, kc]) / (c * y))
    xa, ua, ya, qa = (np.array(v) for v in (x_b, uc, yh, qq))
    spread = float(np.polyfit(xa * b, ya, 1)[0])
    decay = float(np.polyfit(xa, (U0_M_S / ua) ** 2, 1)[0])
    entrain = float(np.polyfit(np.sqrt(xa), qa, 1)[0])
    exponent = float(np.polyfit(np.log(xa), np.log(qa), 1)[0])
    return JetResult(turbulence, h, n_slot, shape, info, seconds, spread, decay, entrain, exponent,
                     (float(min(mom)), float(max(mom))), float(max(amb)), float(np.mean(nut)), xa, ya, ua, qa)


def q_at(r: JetResult, x_over_b: float) -> float:
    """Q/Q0 at x/b (linear between the face planes)."""
    return float(np.interp(x_over_b, r.x_over_b, r.q_over_q0))


def _row(r: JetResult) -> str:
    return (f"| {r.turbulence} | {r.cell_m:.3f} m ({r.slot_cells} cells/slot) | {r.spread:.3f} | {r.decay:.3f} | "
            f"{q_at(r, 20):.2f} / {q_at(r, 40):.2f} | {r.entrainment:.2f} (n = {r.entrainment_exponent:.2f}) | {r.momentum_ratio[0]:.2f}–{r.momentum_ratio[1]:.2f} | "
            f"{r.ambient_ratio:.3f} | {r.nu_t_ratio:.3f} | {r.info.iterations} it, {r.seconds:.0f} s"
            f"{'' if r.info.converged else ', not converged'} |")


def main(argv: Sequence[str] | None = None) -> int:
    """Plane free jet in the momentum model: spread, decay and entrainment per closure and grid."""
    parser = argparse.ArgumentParser(prog="python -m validation.free_jet", description=main.__doc__)
    parser.add_argument("--cells", type=float, nargs="+", default=[0.075, 0.05], help="cell sizes, m")
    parser.add_argument("--turbulence", nargs="+", default=["chen-xu", "k-epsilon"], choices=["chen-xu", "k-epsilon"])
    parser.add_argument("--coflow", type=float, default=4.0, help="ambient stream's flow over the slot's")
    parser.add_argument("--convection", default="upwind", choices=["upwind", "tvd", "linear-upwind"])
    parser.add_argument("--max-length-m", type=float, default=None,
                        help="Chen–Xu only: cap its length scale L (a study; the product's L is the wall distance)")
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--max-iterations", type=int, default=20000)
    parser.add_argument("--last-iterate", action="store_true",
                        help="report the last iterate if the solve does not converge (marked 'not converged')")
    args = parser.parse_args(argv)
    lo, hi = PUBLISHED["spread"]
    print(f"plane jet, slot {SLOT_M} m at {U0_M_S} m/s, fit x/b {X_FIT_SLOTS[0]:.0f}–{X_FIT_SLOTS[1]:.0f}, "
          f"ambient stream {args.coflow} Q0, {args.convection}")
    print("| closure | cells | dy_half/dx | d(U0/Uc)²/d(x/b) | Q/Q0 at x/b 20 / 40 | Q/Q0 slope on √(x/b) | momentum / M0 | max |U_a|/U0 "
          "| ν_t/(Uc y_half) | solve |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| published | | {lo}–{hi} | 0.16–0.20 (1.51 S) | 2.8 / 3.9 | 0.62 (1.74 √S) | 1 | 0 | ≈ 0.03 (Pope: R_T ≈ 31) | |")
    for model in args.turbulence:
        for h in args.cells:
            r = free_jet(h, model, coflow_ratio=args.coflow, tol=args.tol, convection=args.convection,
                         max_iterations=args.max_iterations, require_converged=not args.last_iterate,
                         max_length_m=args.max_length_m if model == "chen-xu" else None)
            print(_row(r), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
