"""Momentum airflow: steady incompressible Navier–Stokes with Boussinesq buoyancy on the voxel grid.

Governing equations (kinematic pressure p = P/ρ, m²/s²; velocity u, m/s; per unit volume of air):

    ∇·u = s                                                   s: air-mover volume sources, 1/s
    (u·∇)u = −∇p + ∇·(ν_eff ∇u) + g β (T − T_ref) ẑ            (g acts along −ẑ: warm air rises)
             − ζ u|u| / (2 h) on partially open faces           (porous loss of tiles, leaky panels)
             + s_out (u_jet − u) at air-mover outlets            (a mover's air enters as a jet)
    ν_eff = ν + ν_t,   ν_t = 0.03874 |U| L                       (Chen & Xu 1998, zero-equation)

with g = 9.81 m/s², β = 1/(T_ref + 273.15), L the distance to the nearest wall or solid, |U| the local
speed. The non-conservative form is used because mass sources are present: a source cell's air enters
with the mover's velocity (the outlet jet, u_jet = q / outlet area along the mover's facing), an intake
removes air with the momentum it has, which in this form needs no term.

Discretization (why):

* Staggered (MAC) grid, velocities on cell faces, pressure at cell centres, on the same uniform voxel
  grid as the potential flow and the transport: the face flows F_f = h² u_f are what the transport
  consumes, and the MAC grid has no pressure checkerboard. Solid cells, closed faces (openness 0) and
  the domain boundary are walls: the normal velocity is zero; tangential velocities see a no-slip wall
  half a cell away (coefficient 2ν/h), a free-slip wall (no shear), or a moving wall (a lid).
* Partially open faces (0 < openness o < 1) carry the Borda–Carnot loss of air squeezed through a free
  area o: Δp = ζ ρ u|u|/2 with ζ = (1/o − 1)², linearized (Picard) into the face's diagonal. Note that
  HallVoxels stores σ² for a tile of open fraction σ (its potential-flow conductance); the caller
  chooses what openness it hands in.
* Convection: first-order upwind in the matrix (diagonally dominant, robust for jets at cell Péclet
  numbers of 10³), with an optional deferred correction on the right-hand side: towards central
  differences (``central_blend`` 0–1), or towards van Leer's TVD scheme (``convection = "tvd"``,
  weighted by ``tvd_blend``). At convergence the scheme is the corrected one while the matrix stays the
  upwind M-matrix the Gauss–Seidel sweeps need. Van Leer's limiter (u_f = u_U + ½ψ(r)(u_D − u_U),
  ψ = (r+|r|)/(1+|r|)) is second order where the field is smooth and falls back to upwind at extrema,
  so unlike central differences it adds no wiggles at the high cell Péclet numbers of a hall's jets;
  it is smooth in r, so the correction does not chatter between iterations as minmod's or superbee's
  switches do. Measured (validation/, same runs, shared machine): Ghia's cavity at Re 1000 on 64² goes
  from 0.061 / 0.075 (upwind) and 0.011 / 0.011 (central) to 0.009 / 0.007 u/v RMS, within the 0.01
  target; 32² stays above it (0.033 / 0.036: the grid, not the scheme). In the halls the full
  correction (blend 1) does not settle with buoyancy: the row-end plumes keep swinging (intakes ±1 K,
  residuals stalled at 1.5e-3) where the upwind scheme's diffusion damps them; with blend 0.5 it
  converges there, and moves the aisle-pair intakes by under 0.4 K (RMS against the CFD 1.79 K against
  upwind's 1.81 K) at about twice the cost, while the open-row hall's isothermal start-up solve still
  stalls at 1e-3 (2000 iterations). The halls' error at the row ends is therefore not upwind numerical
  diffusion of momentum (the raised floor's tile flows differ from the CFD's more: 15 % more air out of
  the tiles next to the CRAHs, 6 % less at the far end). Halls default to upwind (``[airflow]
  convection``); "tvd" is the choice for laminar benchmarks and for studies of jets in rooms where it
  converges, whose spread it leaves to the turbulence model.
  ``convection = "linear-upwind"`` is the scheme the OpenFOAM references use for U (``bounded Gauss
  linearUpwind grad(U)`` with ``cellLimited Gauss linear 1``), as the same deferred correction weighted by
  ``tvd_blend``: the upwind CV's value plus its central gradient times the half cell, the gradient scaled
  per CV (Barth–Jespersen) so that no face value leaves the range of the CV and its six neighbours (on a
  line: the MC limiter). It exists to answer issue 10's question with the CFD's own scheme
  (validation/numerics_study.py; validation/README.md, "Is it the discretisation?"): on the aisle-pair
  hall, blend 1 does not settle with buoyancy either (residuals stalled at 1.9e-3 after 300 outer
  iterations) and blend 0.5 gives 1.75 K RMS against upwind's 1.81 K, the row ends still 2.2–2.8 K cool.
  Halving the cell (0.075 m, upwind) leaves the row ends within 0.4 K of the 0.15 m solve (its plumes
  then swing and the steady loop no longer settles): the remaining error is not numerical diffusion.
  (Measured before Chen–Xu's L became the wall-surface distance, upwind 1.81 → 1.70 K since, and before
  the steady loop mixed the whole state: the study's differences between schemes, not its RMS, carry over.
  All of these RMS figures are against the fixed-value CFD references replaced on 2026-12-01, whose rack
  intakes pushed the air up the rack fronts; against the current references the upwind default is 0.85 K on
  aisle-pair, validation/README.md, "The references' outflow condition".)
* Solution: SIMPLEC-type pseudo-transient pressure correction. Each iteration solves the linearized
  momentum equations with a pseudo time step Δt = cfl · h / U_ref (a few red–black Gauss–Seidel sweeps,
  vectorized over the grid), then projects the face flows onto div F = s with a pressure correction φ:

      L φ = (s − D F*) / (Δt h),  F = F* + Δt h w (φ_a − φ_b),  p ← p + φ

  where L is the openness-weighted graph Laplacian (weights w = o). In the non-conservative form the
  momentum diagonal minus its neighbours is V/Δt in the interior, so this L is SIMPLEC's pressure
  matrix there, and it depends on the geometry only: its multigrid hierarchy is built once and every
  projection is a multigrid-preconditioned CG solve from zero (``pressure_solver``: the structured
  multigrid of :mod:`twin.thermal.pressure_mg` by default, pyamg's Ruge–Stüben AMG as "amg"; see "Cost of
  a steady solve" for why). At a fixed point φ = 0 and u* = u, so the
  converged field satisfies the steady equations whatever Δt and w are.
* Converged when the continuity residual (rms of D F* − s before the projection) and the momentum
  residual (rms change of u per step, i.e. the steady equations' imbalance) both fall below ``tol``.
  Both are rates per convective time h/U_ref in units of U_ref (divided by cfl), so they do not depend
  on the pseudo time step. U_ref is the fastest outlet jet, the lid, or the buoyant velocity √(gβΔT H).
  The returned flows come from a final projection (AMG-CG to 1e-3) whose small remainder is then routed
  along a breadth-first spanning tree of the cells (each cell's deficit sent to its parent, deepest
  first: exact, O(cells), moves no face by more than about 3e-5 m/s), so they are divergence-free (net
  outflow = mover source) to round-off whatever the convergence, at under half the cost of solving the
  projection itself to round-off.
* Perforated faces (tiles, leaky panels) are walls to the tangential velocity: the air they pass arrives
  with no tangential momentum (the holes turn it normal to the plate), and shear across them is that of
  a no-slip wall. A plenum's horizontal jet does not blow through the tiles into the room.
* Defaults (cfl 5, 2 sweeps, AMG-CG to rtol 0.1 per pressure correction) were chosen by measurement on
  a 130k-cell room. One plain V-cycle instead (``pressure_rtol`` None) takes 0.75× the time of an
  isothermal flow solve (aisle-pair: 76 against 75 iterations) and of the contained hall's steady solve,
  but the aisle-pair hall's buoyant steady solve then needed 134 outer iterations instead of 23 (the
  row-end plumes settle more slowly on the rougher correction), so it is not the default. Larger cfl stalls
  the continuity residual (the constant-coefficient correction stops matching the momentum diagonal
  near walls, jets and tiles), more sweeps or tighter pressure solves cost more than the
  iterations they save. ``tol`` 1e-4 leaves the face flows about 10 % (L2) from the converged field, 1e-5
  a few %. Two remedies that steady CFD codes use did not pay here (measured on the open-row validation
  hall's isothermal solve, 170 iterations to 1e-4): local pseudo time steps (Δt_f = cfl h / the fastest
  speed around the face, up to 4–30× the global step in slow air, with the pressure matrix weighted to
  match) took 159–161, so slow recirculation is not what limits it; SIMPLEC weights that carry each
  face's own momentum diagonal (walls, jets, tiles) into the pressure matrix took 166 at cfl 5 and still
  stalled at cfl 20 (continuity 4e-4), so the stall at large steps is not that mismatch either. Nor
  does a better first guess: starting the isothermal solve from the potential flow (divergence-correct,
  with the jets' paths roughly right) instead of rest took 171 / 75 / 65 iterations on the open-row /
  aisle-pair / contained halls against 170 / 75 / 65 from rest, at the same time (shared machine): what
  the iterations spend is the recirculation's momentum balance, which the potential flow does not have.
* Floating-point overflow or NaN stops the solve with FlowNotConverged and restores the last field.
* Cost of a steady solve (issue 10's speed target: open-row-fine, 120k cells, ``HallTwin.steady``; CPU time by
  getrusage, same-run ratios against main d69693f alternated on a shared 2-core machine, load 4–7). On main:
  76 s, 39 outer iterations; by cProfile the AMG-CG projections 33 %, the momentum assembly and sweeps 26 %
  (numpy: 13 ms assembly and 11 ms sweeps per iteration for the three components), the temperature solves
  29 % (BiCGSTAB 19 %, of which SuperLU's triangular solves 10 %), the rest set-up and mixing; by phase the
  start-up solve (isothermal from rest, 407 iterations) 29 %, the outer iterations' 38 × 10 momentum
  iterations 35 %. Kept, each giving main's answers (intakes within 0.03 K on open-row-fine, 5e-4 K on
  open-row, 1e-4 K on aisle-pair and contained):

  - the compiled momentum assembly and sweeps (:mod:`twin.thermal.momentum_kernels`): the numpy form's bits
    in about a third of its time; Chen–Xu's ν_t there too (the same bits, a tenth of the time);
  - the projection's own AMG-CG (:meth:`_amg_cg`): pyamg's CG step for step, the same bits, without the
    V-cycle pyamg spends after the last iteration and the two residual norms of each cycle: half the time
    of a projection to rtol 0.1;
  - a compiled triangular preconditioner in the temperature solve (:mod:`twin.thermal.steady`; rounding
    differs from SuperLU's, which moves where the outer loop's stopping rule stops on open-row-fine by
    0.03 K) and BiCGSTAB for the final temperature solve (twin.sim.twin);

  together 0.58× main's CPU time on open-row-fine (45 s against 78 s; 37 against 39 outer iterations), 0.56×
  open-row, 0.58× aisle-pair, 0.57× contained (one alternated pair each, load 4–6; two earlier pairs
  without the ν_t kernel 0.59–0.63×). With the projection's CG the profile split the temperature solves
  38 % (preconditioner 15 %, their set-up 10 %), the projections 30 %, the momentum kernel 19 %. Measured,
  not kept:

  - A looser start-up solve for buoyant steady solves (the outer iterations converge the flow to ``tol``
    anyway): to 1e-3 (80 of its 407 iterations) 0.52× main's time on open-row-fine, to 3e-4 (175) 0.57× (both
    with the compiled momentum step and preconditioner, which alone gave 0.77×), but
    the intakes move by up to 0.07 K (1e-3) and 0.052 K (3e-4) there and by 0.17 K and 0.13 K on aisle-pair
    (its row ends A04/B04), whose default stop is otherwise within 0.05 K of its converged answer: a different
    start-up makes the outer loop stop elsewhere in the drift its stopping rule allows (README: open-row
    stops 0.47 K from its converged answer). It would pay only against a stopping rule that bounds the
    error to the converged answer, not the change per outer iteration.
  - Other AMG set-ups for the projection (open-row-fine's pressure matrix, rtol 0.1, ten right-hand sides
    from the iterations): Ruge–Stüben's operator complexity is 2.78 (its second level holds 48 % of the
    nonzeros) and one CG iteration reaches 0.1; PMIS coarsening (complexity 2.1) and a forward/backward
    instead of symmetric Gauss–Seidel both need two and took 1.5× and 1.3× the time, smoothed aggregation
    (1.53) 1.9 and 2.3× (timed with BLAS's default threads on the loaded machine: ratios only); PMISc's
    coarsest level is singular.
  - The triangular preconditioner reading the unpermuted matrix in flow order (no permuted copy per solve):
    14 ms per application against SuperLU's 1 ms, its reads scattered over the matrix.

  Grid sequencing (nested iteration; twin.thermal.gridseq, HallTwin.steady), kept, default
  on (``[airflow] grid_sequencing``). Profile of open-row-fine before it (cProfile, 49.6 s CPU, 37 outer
  iterations; shares of the profiled time): the start-up solve from rest 32 % (one solve, ~400 iterations),
  the outer iterations' momentum iterations 24 %, the temperature solves 34 % (BiCGSTAB; the compiled
  preconditioner 9 %); within the flow solves the AMG-CG projections 26 % and the momentum kernel 16 %.
  The hall is solved first on cells twice as large (8× fewer; open-row-fine at 0.2 m: 8 outer iterations,
  about 1.1 s), its face velocities prolonged divergence-consistently and projected onto the fine grid's own
  faces and movers, pressure and temperatures interpolated, fan law and coil regimes taken over; the fine
  loop then starts with its ordinary 10 momentum iterations. CPU time by getrusage, same-run ratios against
  main a550945, alternated on the shared 2-core machine (load 4–7):

      hall            main                    sequenced                   ratio   off the converged answer*
      open-row-fine   43.0 / 43.2 / 44.3 s    16.4 / 15.4 / 13.8 s        0.35×   0.12 K (main 0.07 K), see below
                      (37 outer iterations)   (8 coarse + 17 fine)
      open-row        6.50 / 6.48 s (21)      4.12 / 4.35 s (14 + 16)     0.65×   0.36 K (main 0.47 K)
      reference       15.8 / 14.1 s (16)      11.1 / 9.6 s (21 + 9)       0.69×   0.18 K (main 0.89 K)

  `twin run open-row-fine.toml --steady --airflow momentum` (the whole command's CPU, load ~1.5, four alternated
  pairs, two before and two after the coarse solve stopped polishing its answer): 40.5 / 39.6 / 42.1 / 40.3 s
  against 15.5 / 15.4 / 16.4 / 15.5 s, 0.39×: on the quiet machine's 37.3 s about 14.4 s, 90× OpenFOAM's
  1,301 s (target 100×). With the temperature solves' compiled BiCGSTAB and symmetric Gauss–Seidel
  preconditioner (twin.thermal.steady) on top, the same command on the quiet machine (nothing else running,
  seven runs, three of them inside ``make validation``): 11.8–13.6 s of CPU, median 13.3 s, i.e. 96–111× and a
  median of 98×: at the target, not clearly over it. Where that time goes (cProfile of the command, 13.8 s):
  the flow solves 6.9 s (AMG-CG projections 3.8 s, the momentum sweeps 2.1 s), the temperature solves' BiCGSTAB
  2.7 s, the coarse grid's solve 1.5 s, imports 1.6 s (trimesh and scipy.spatial 0.7 s of it).

  Then the overheads around those solves (branch speed135), each step giving main's answer to the bit except
  the one marked *:

  - trimesh (with scipy.spatial and networkx) imported only for a hall with GLB meshes; boxes voxelize by
    twin.geometry.voxel.box_cells, mesh_cells' answer cell for cell (~0.4 s of imports);
  - glibc's malloc thresholds set at start-up (twin.allocator), so that the solvers' temporaries reuse freed
    memory instead of mapping fresh pages: 105k instead of 210-260k page faults, 0.3 instead of 0.6-0.8 s of
    system time;
  - the steady temperature solve's set-up 11 against 32 ms per solve: the flow order and its triangles'
    structure kept while the order still holds (every solve after a grid's first here), the operator's
    structure built once per network; its preconditioner's forward sweep without a scatter (BiCGSTAB 0.94-0.97×)
    and one multiply-subtract less per row;
  - the projections: (*) the AMG-CG's first residual updated instead of recomputed (one product with the finest
    matrix less per projection; a projection that stops after one CG iteration returns pyamg's iterate to the
    bit, so open-row-fine's intakes and return move by 1.5e-8 K), the V-cycle calling amg_core's sweeps
    directly (9.1 against 9.4 ms per cycle), the divergence and the face update compiled (0.06 against 0.24 and
    0.58 against 1.07 ms per iteration);
  - Anderson mixing: differences kept instead of recomputed, the least squares through LAPACK's QR directly
    (6.5 against 15 ms per call on the 650k mixed values); the momentum kernel without zero fills (0.97×).

  The same command alternated with main e418415, CPU by getrusage (the shared 2-core machine at load 2-3, five
  pairs): main 13.60 / 11.91 / 12.10 / 12.31 / 12.51 s, branch 10.67 / 11.37 / 10.81 / 10.76 / 10.17 s, the
  ratios 0.79-0.95, median 0.87; five pairs at load 5-7 before the V-cycle change: 0.87-0.91, median 0.90.
  Three pairs on the nearly idle machine (load 0.8-1.3): main 11.55 / 11.79 / 11.80 s, branch 10.50 / 10.71 /
  10.62 s, 0.90-0.91×: the branch's median 10.6 s is 122× OpenFOAM's 1,301 s (main's then 110×). By the ratio
  alone, on main's earlier quiet median of 13.3 s, it would be 11.6-12.0 s (108-112×). reference.toml's steady
  solve: 0.84-0.93× (five pairs, load 5-7), 0.89 / 0.92× (two, load 1.6-2.1). Measured and not kept:
  BiCGSTAB's inner products summed in the passes that make their vectors (no gain: 0.98-1.04×), the momentum
  coefficients stored face by face instead of direction by direction (1.05×), a compiled symmetric
  Gauss–Seidel in place of amg_core's (slower), the triangles sorted per row in a local buffer (no gain).
  (These runs compile twin's modules from source every time: PYTHONDONTWRITEBYTECODE is set where they ran,
  ~0.13 s that an installed twin, with its bytecode cached, does not spend; main and branch alike.)
  Merged (with the allocator limited to commands that end), on the quiet machine (nothing else running,
  2026-12-01): seven runs 10.68-11.27 s of CPU, median 11.03 s, i.e. 115-122×, median 118×; five warm
  alternated pairs against e418415 0.86-0.93× (e418415 then 12.3-13.1 s); ``make validation`` 10.7 s, 122×.
  All these ratios are against the fixed-value reference, which never settled and stopped at its 6,000-iteration
  cap. Its corrected case (outflows that let the air leave with its own momentum, validation/README.md, "The
  references' outflow condition") converges in 1,700 iterations, 369 s of CPU: the same 10.7-11.3 s are 33-35×.

  The projection's preconditioner (branch gmg): a structured additive-correction multigrid
  (:mod:`twin.thermal.pressure_mg`: 2×2×2 blocks, whose Galerkin coarse operators are again grid Laplacians
  stored as arrays, so the set-up is a few array sums, ~6 ms against pyamg's ~0.3 s on open-row-fine;
  lexicographic Gauss–Seidel, two forward sweeps before and two backward after; the coarse correction
  over-corrected ×1.8 and a W-cycle below the finest level; the blocks aligned per axis so that weak faces,
  a raised floor's tile layer, fall between blocks) in place of pyamg's Ruge–Stüben AMG (operator complexity
  2.78). On right-hand sides captured from the steady solves (best of five, shared machine): open-row-fine
  3.1-3.4 against 9.3-9.7 ms per projection to rtol 0.1 (one CG iteration each, as AMG), 9-10 against 45-65
  ms to the final projections' 1e-3 (3 iterations); aisle-pair 2.7 against 3.0 ms (1.4 iterations) and 5.9
  against 15 ms (5.5); contained 1.5 against 3.4 ms and 7.4 against 11 ms (7.0). Without the alignment the
  raised-floor halls' blocks straddle the tile layer and the 1e-3 projections took 19-23 iterations (1.6-2.1×
  AMG's time). ``twin run HALL --steady --airflow momentum``, CPU by getrusage, three alternated pairs each
  against main 2f26eb4 (shared 2-core machine, load 1.1-1.9): open-row-fine 10.44-11.52 against 8.50-9.89 s,
  0.74-0.89×, median 0.81×; four more pairs on the final code, load 0.9-1.1: 10.22-10.36 against 8.03-8.60 s,
  0.78-0.83×, median 0.79× (cProfile of the command: 8.5 s, the 394 projections 1.3 s, against issue 10's 11.4 and
  3.5 s on main); open-row 0.81× (17 coarse + 14 fine outer iterations against main's 14 + 17), aisle-pair 0.85×,
  contained 0.95× (6 outer iterations against 5). Answers: rack intakes and CRAH returns within 0.004 K
  of main's on open-row-fine (same 15 coarse + 17 fine outer iterations), 0.006 K aisle-pair, 0.009 K
  open-row, 0.021 K contained, all well inside the stopping rule's own 0.05 K per outer iteration; off the
  converged answers (validation/steady_speed.py's) by 0.189 / 0.072 / 0.354 / 0.022 K against main's 0.193 /
  0.066 / 0.362 / 0.023 K. Measured, not kept: a plain V-cycle (one sweep each way, no over-correction: 2-2.25
  CG iterations per projection to 0.1 and 9.6 to 1e-3); red–black instead of lexicographic sweeps (the same
  iterations on open-row-fine, more on its coarse grid; numba's prange over the colours was not measured);
  a coarsest level of ~2,000 cells (its dense solve dominates the cycle). Grids of at most 500 fluid cells are
  solved directly (one dense Cholesky factor, as pyamg's one-level hierarchy did): a two-level cycle on the
  tile-layer study's 240-cell box (tests/validation) met rtol 0.1 sometimes in one CG iteration, sometimes in
  two, and near convergence that switching kept its march from converging (continuity 3e-3 after 3,000
  iterations, where rtol 0.05 or 0.2, one count throughout, converged in 196-199). pyamg's AMG shows the same
  on other boxes (the study's porous layer on that box, tiles in two columns, a 0.05 m³/s fan: continuity 6e-3
  after 3,000), so a hall whose projections sit near the tolerance may stall with either; none of the four
  validation halls does.

  Merged on 2026-12-01 with three other measured steps: the buoyant loop's in-loop temperature solves as
  Gauss–Seidel sweeps (twin.sim.twin._STEADY_INNER_SWEEPS), its in-loop final projections to 0.1 with
  :meth:`MomentumSolver.finish` for the state handed out (_STEADY_LOOP_FINAL_RTOL), the three components on
  two kernel threads (twin.thermal.threads), and the potential flow on this multigrid under the momentum model
  (twin.thermal.airflow). The steady solve with its HallTwin (CPU, two alternated runs against feebbfa, the
  quiet machine): open-row-fine 6.2-6.3 against 10.3-10.4 s (0.60×), open-row 1.4 against 2.3 s (0.61×),
  aisle-pair 2.2 against 3.1-3.2 s (0.70×), contained 1.1 against 1.3 s (0.85×); outer iterations 17 / 15 /
  19 / 6 against 17 / 17 / 19 / 5, off the converged answers 0.192 / 0.354 / 0.057 / 0.022 K against 0.193 /
  0.362 / 0.066 / 0.023 K. The whole command on open-row-fine: 6.56-6.65 against 10.22-10.56 s (three pairs,
  0.63-0.64×; 5.9 s of wall), 56× the CFD's 369 s of CPU (62× by wall time). Where it goes (cProfile of the
  command, 6.9 s): the momentum kernels 1.7 s (the wall time of their threads), the projections 1.3 s, the
  temperature sweeps 0.8 s and the final temperature solve 0.26 s, Anderson mixing 0.38 s, the coarse grid's
  solve 0.9 s, imports and set-up the rest: 100× (3.7 s) would need the fine loop's ~170 flow iterations at
  half their cost or half as many.

  Half as many, on 2026-12-02: the buoyant loop's stopping rule (twin.sim.twin._STEADY_SETTLED_RUN). The
  intakes of open-row-fine settled (< 0.05 K per outer iteration) at the 7th-8th fine outer iteration, 0.12 K
  from the converged answer, and the loop went on to the 17th only for the flow's residuals to reach 1e-4,
  while the intakes drifted back to 0.196 K off. Stopping after two calm outer iterations in a row with the
  residuals below 3e-4: 8 fine outer iterations, 0.146 K off. The whole command, CPU by getrusage, four
  alternated pairs against 8e85ea1 on a day the machine ran 1.2-1.7x slower than the day before: 5.6-6.4
  against 8.6-10.2 s, 0.62-0.73x, 58-66x the CFD's 369 s (an estimated 4.1-4.9 s, 75-90x, on the quiet
  machine by the ratio). What is left of the 3.7 s that 100x allows is spent before the fine loop: imports
  ~1 s, the fine grid's set-up (its compiled kernels loaded from numba's cache, wall distances, the
  multigrid) ~0.5 s, the coarse grid's solve ~1.2 s (16 outer iterations, stopped by its intakes, not its
  flow: a looser flow tolerance there changed nothing), then the fine loop ~1.5 s and the final solves and
  outputs ~0.7 s (the final temperature solve to 1e-8 K alone 0.5 s: 71 BiCGSTAB iterations from the loop's
  sweeps, against 58 when the loop ran to 17). Measured with the new rule, not kept: 7 or 15 momentum
  iterations per outer iteration instead of 10 (open-row-fine 12 and 10 outer iterations, 1.2x and 1.4x the
  time), Anderson's relaxation 0.7 instead of 0.5 (10 outer iterations), the coarse grid sequenced from one
  twice as coarse again (open-row 0.6 m from 1.2 m: 0.416 against 0.326 K off; open-row-fine's and
  reference's answers and iterations came out unchanged: their coarse grids sequenced no further).

  Later on 2026-12-02, the same iterations for less (the four validation halls' intakes equal to 1e-3 K): the
  momentum kernel's computed indices unsigned (twin.thermal.momentum_kernels._U, 0.9x a call), the march's
  residuals by a compiled masked sum with one divergence per iteration instead of two (20 fine iterations 0.45
  against 0.52 s with the kernel's change), Anderson mixing by the normal equations on two column rings
  (twin.sim.fixed_point, 8-10 against 26-40 ms a call on open-row-fine's 650k values), pyarrow and pyamg
  imported where used, and the Makefile compiling the repo's bytecode (PYTHONDONTWRITEBYTECODE, set on this
  machine, made every command compile twin/ again: 0.2-0.3 s). The whole command, five alternated pairs
  against da09594 with bytecode for both: open-row-fine 5.49-5.69 against 6.12-6.44 s of CPU (0.85-0.91x),
  65-67x the CFD's 369 s; open-row 0.93-0.95x, aisle-pair 0.91-0.93x, contained 0.91-0.96x (two pairs each).
  Where the 5.5 s go now: Python, imports and numba's first call ~1.1 s (numba's own start 0.13 s and 0.37 s
  however small the kernel), the fine grid's set-up 0.3 s, the coarse grid 1.0 s (0.2 s its solve from rest,
  51 iterations), the fine loop 2.6 s (8 outer iterations of 10 momentum iterations at 22.5 ms, 25 sweeps at 65
  ms), the final solves and outputs 0.45 s. Measured, not kept: one smoothing sweep per side in the pressure
  multigrid (1.1x the steady solve, more CG iterations) or one momentum sweep (10 fine outer iterations instead
  of 8, 1.1x); the coarse grid stopped at 0.1 or 0.2 K (9 fine outer iterations, no gain); 30 or 60 momentum
  iterations in the first fine outer iteration (9 outer iterations, 1.25-1.35x); the kernel's direction passes
  compiled per component and direction (0.97x a call) or branch-free (1.15x: LLVM did not vectorize it); the
  face-mean viscosity computed once per call (no change); the final temperature solve by sweeps (400 sweeps to
  4e-8 K, 0.7 against 0.32 s by BiCGSTAB); glibc's heap on huge pages (half the page faults, the same system
  time). What is left for 100x is the algorithm's: the fine loop's 80 momentum iterations and the coarse grid's
  210 are as many as before; each costs what its kernels cost, and those are near what scalar code does here.

  Cheaper iterations after all, later on 2026-12-02: lagged coefficients (:meth:`MomentumSolver.lagging`,
  twin.sim.twin._STEADY_REASSEMBLE_EVERY). The six direction passes that assemble a component's a_nb, a_P and b
  are two thirds of its kernel (open-row-fine, x: 2.55 of 3.83 ms with two sweeps). The steady loop's resolves
  assemble them every second iteration and reuse them in between, with each iteration's own pseudo-time,
  pressure, loss, buoyancy and jet terms (momentum_kernels.momentum_sweeps_with). A steady field is a fixed point
  either way; a march stops on an assembled iteration only (stopped on a lagged one, a fresh iteration found the
  jet box 12 % above the tolerance), and a capped march's last iteration assembles, so that the loop tests the
  field's own residuals. Iterations hardly change (plenum with tiles to 1e-8: 571 against 563); the halls'
  intakes move by up to 0.025 K, inside the stopping rule's own 0.05 K. Time runs never lag, so checkpoints
  resume to the bit as before; nor do solves to a tolerance from rest (MomentumSolver.solve): lagging narrows
  the pseudo-time step's margin of stability, and from rest the tile-layer study's 240-cell box (which at cfl 5
  already converges more slowly than at 3, 198 against 126 iterations, and fails at 8) ran away lagged (its
  residual from 1.8e-3 up to 2e-2), and the tiny hall's loop, started from a lagged solve, took 146 outer
  iterations instead of 77 (46 with the start plain and the loop lagged). The plenum and jet boxes converge
  lagged up to cfl 12, in 2-10 % more iterations. A lagged march whose residual climbs to 4x the lowest it
  reached, or that diverges, marches again from its start plainly (going on plainly from where it was left that
  box in a cycle at 4e-3), and the solver lags no more within that block. Every third iteration: open-row-fine's
  fine loop took 10 outer iterations (slower). Then the command's exit: a process that had imported the solver
  and called one compiled kernel spent 0.2-0.27 s of CPU in the interpreter's teardown (numba's and LLVM's code,
  scipy and the rest unloaded), about 4 % of the command; ``twin run`` now ends with os._exit once its output is
  flushed (twin.cli.entry). Both together, the whole command on open-row-fine against 4450cd5, alternated pairs
  (the shared 2-core machine): 5.05-5.26 against 5.26-6.10 s of CPU (0.86-0.96x, four pairs), 16 coarse and 8
  fine outer iterations as before (with the loop lagged from rest too, before the review: 0.87-0.91x over five).
  HallTwin.steady alone, one run each, one kernel thread: open-row 1.12 against 1.26 s (13 + 8 against 17 + 8
  outer iterations), aisle-pair 2.84 against 3.07 s (20 both), contained 1.25 against 1.29 s (5 both), tiny
  0.49 against 0.68 s (46 against 77). Measured and not kept: scipy.sparse.linalg and scipy.linalg imported
  lazily (scipy's csgraph, which the spanning tree needs, imports both anyway); one kernel thread instead of two
  (0.25 s less CPU, 0.15 s more wall: the three components on two threads of this machine gain little over one).

  (*max over the rack intakes and CRAH returns against the solve from rest continued until the intakes move < 1e-4
  K per outer iteration: open-row 304 outer iterations, flow to 1e-6; reference < 1e-3 K, 58; open-row-fine < 1e-4
  K, 89: its flow's residuals stall near 7e-5, so 1e-6 is out of reach there.) aisle-pair and contained (0.45 m
  plenum at 0.3 m) have no coarser grid and give main's bits (their plenum deepened: below). On open-row-fine the
  converged answer is not unique: continued from the sequenced start to the same 1e-4 K it lands 0.33 K away (A03
  +0.25 K, A04 +0.32 K) after 129 outer iterations; against that one the sequenced default is 0.27 K off and
  main's 0.39 K. Its row-end plumes settle wherever the pseudo-time path leaves them, within about 0.3 K, and both
  defaults lie inside that. Open-row's and reference's converged answers from the two starts agree within 0.004 K
  and 0.07 K.
  Measured, not kept:

  - The coarse flow solved to the hall's own tolerance instead of 10× it: the open-row hall's 0.3 m grid took 96
    outer iterations (its residuals stall near 1e-4) and the whole solve 1.05× main's time (one pair); its answer was
    0.08 K off the converged one. (open-row-fine: 24 coarse outer iterations, no faster than at 10×.)
  - Only the isothermal start-up on the coarse grid, the coupled loop on the fine grid from the prolonged flow:
    open-row 0.85× main's time (20 outer iterations; one run, not alternated) and 0.46 K off the converged
    answer, as main's.
  - 20 momentum iterations per fine outer iteration after the coarse start instead of 10 (fewer temperature
    solves per momentum iteration): open-row-fine 0.91× the time (10 outer iterations, 0.12 K off main's
    converged answer, as with 10), open-row 0.94× (0.25 K instead of 0.36 K), but reference 1.25× (8 outer
    iterations of 20 against 9 of 10; 0.05 K instead of 0.18 K); one run each, load ~2.
  - A coarse ratio of 3 or 4 for the halls that 2 does not fit: aisle-pair's and contained's 0.45 m plenum and
    6 m width fit neither 0.45 m nor 0.6 m cells, so they are solved from rest as before.
  - Their plenum deepened on the 0.3 m grid to the next whole coarse cell (0.45 → 0.6 m, the room's planes
    kept; gridseq's transfers with the vertical offset of one fine cell, branch gridseq2). CPU by getrusage
    of ``steady()``, alternated against main with grid_sequencing=False, three pairs each (shared 2-core
    machine, load 0.6–0.9); off the converged answer (max over rack intakes and CRAH returns; intakes settled
    to 1e-4 K per outer iteration, flow to 1e-4: the flow's residuals stall near 6e-5 on contained; the
    converged answers from rest and from the sequenced start agree within 0.002 K and 0.011 K):

        hall          main (plain)            sequenced                   ratio   off converged     RMS vs CFD
        aisle-pair    3.57 / 3.68 / 3.62 s    2.45 / 2.51 / 2.59 s        0.69×   0.166 K (0.068)   1.78 K (1.76)
                      (19 outer iterations)   (7 coarse + 14 fine)
        contained     1.41 / 1.40 / 1.38 s    1.57 / 1.50 / 1.53 s        1.10×   0.014 K (0.023)   0.28 K (0.29)
                      (5)                     (5 + 8)

    Rack intakes against the plain solve's: within 0.098 K (aisle-pair A04, B04) and 0.024 K. Not kept: on
    aisle-pair the fine loop stops 2.4× as far from its converged answer as the plain solve (its intakes drift
    0.02–0.03 K per outer iteration from 0.29 K off, under the 0.05 K rule, down to 0.17 K), and contained,
    which settles in 5 outer iterations from rest, gets slower. With the coarse flow solved to the fine grid's
    tolerance instead of 10× it (_COARSE_FLOW_TOL_FACTOR 1, two pairs): aisle-pair 0.61× and 0.060 K off
    converged (11 fine outer iterations after 13 coarse) but 0.105 K from the plain solve's intakes (which is
    itself 0.068 K off); contained unchanged (1.08×). That factor is shared with the halls sequenced now, where
    1 was measured slower (open-row 1.05× main's, above), so it was not changed for these two. On tiny at
    0.25 m with a 0.75 m plenum (3 fine cells; 1 m on the 0.5 m grid) the sequenced solve took 41 fine outer
    iterations against 34 from rest, its intakes within 0.05 K of that one's.
  - Two-grid FAS cycles (nonlinear multigrid: the coarse grid corrects the fine field's smooth error, forced by
    the restricted fine residuals; validation/fas_study.py, open-row-fine). As a flow solver they pay:
    isothermal to 1e-4 in 3.1 against 6.7 s, to 1e-5 in 5.7 s where the plain march has not converged after
    3000 iterations (64 s); with the temperatures held, 2.2 against 4.0 s (1e-4) and 7.7 against 16.2 s (1e-5).
    Inside the steady loop they lose: 26 outer iterations instead of 17 (17.1 against 8.7 s, stopping 0.32 K
    from the converged answer against the default's 0.19 K), no steady state with the mixing unrelaxed, and
    with the flow converged by FAS in every outer iteration 148 outer iterations (237 with the temperatures
    alone mixed). The loop's pace is set by the flow and temperatures together.

Chen–Xu's length scale L is the straight-line distance to the nearest wall (:func:`wall_distance_m`):
solid cells, the no-slip domain sides, and the faces between two fluid cells that are not wholly open (a
raised floor's closed panels and perforated tiles, containment panels), which the momentum equations treat
as walls to the tangential velocity too. Until issue 10's tile-column study L ignored such faces, so over a
raised floor it was measured to the plenum's bottom (0.53 m instead of 0.075 m in the room's first cell),
and to the centres of solid cells less h/2, which overstates it diagonally off edges and corners. Measured
(validation/compare.py --airflow momentum, rack-intake RMS against the CFD, same-run ratios on a shared
2-core machine): aisle-pair 1.81 → 1.70 K, open-row 0.85 → 0.74 K, contained 0.27 → 0.29 K.

Turbulence closures (``turbulence_model``; a hall's ``[airflow] turbulence``):

* "chen-xu" (default): ν_t = 0.03874 |U| L, algebraic, free. Made for rooms, but it knows only the
  local speed and the wall distance, so a slow recirculation zone far from walls gets a large ν_t from
  its L whatever the turbulence that actually reaches it, and a plume's ν_t forgets the jet it came from.
* "k-epsilon": the standard k-ε model (Launder & Spalding 1974), what the OpenFOAM references in
  validation/ use, so the twin and the CFD differ in numerics only:

      Dk/Dt = ∇·((ν + ν_t/σ_k) ∇k) + P_k + G_b − ε,       P_k = ν_t S², S² = 2 S_ij S_ij
      Dε/Dt = ∇·((ν + ν_t/σ_ε) ∇ε) + C₁ ε/k (P_k + max(G_b, 0)) − C₂ ε²/k
      ν_t = C_μ k²/ε (capped at 1e4 ν),  C_μ 0.09, C₁ 1.44, C₂ 1.92, σ_k 1.0, σ_ε 1.3

  with the optional buoyant production G_b = −g β ν_t/Pr_t ∂T/∂z (``keps_buoyancy``; off by default:
  OpenFOAM's kEpsilon, which the references run, has none). Why this form: k and ε live on cell
  centres (the strain rate's normal parts come exactly from each cell's two faces), are convected first
  order upwind by the same face flows and diffused across open faces in proportion to their free area,
  which with the sinks linearized onto the diagonal (ε/k, C₂ ε/k) and the sources kept on the right
  makes both matrices M-matrices: k and ε stay positive with no clipping beyond round-off floors.
  One implicit pseudo-time step (the momentum's Δt, three red–black Gauss–Seidel sweeps) per outer
  iteration, ε first then k, before the momentum step: the turbulence is converged with the flow by
  the same pseudo-time march, and costs a fraction of a momentum step. Wall functions (OpenFOAM's
  nutkWallFunction / epsilonWallFunction / kqRWallFunction): in fluid cells next to a solid, a sealed
  panel or a no-slip side, ε = C_μ^¾ k^1.5/(κ y) and P_k = ν_w |U_P|/y · C_μ^¼ √k/(κ y) at y = h/2, k has
  no wall flux, and the momentum's wall shear uses ν_w = ν y⁺ κ / ln(E y⁺) (log law, κ 0.41, E 9.8;
  ν below y⁺ 11.53). Perforated faces are not walls to the turbulence (the references model tiles as
  porous layers). Air blown by a mover carries 10 % intensity and a 0.1 m mixing length, as at the
  references' inlets. k and ε start from these inlet values at the velocity scale U_ref, and are part
  of the flow state a checkpoint keeps. The cap on ν_t only acts in the first iterations from rest.

  Measured (validation/compare.py --airflow momentum [--turbulence k-epsilon], rack-intake RMS against
  the OpenFOAM k-ε references, CPU time of `twin run --steady` on a shared 2-core machine):

      hall         Chen–Xu   k-ε      CPU time k-ε / Chen–Xu (outer iterations)
      aisle-pair   1.81 K    1.46 K   1.37× (22 / 22)
      contained    0.27 K    0.30 K   1.33× (6 / 5)
      open-row     0.85 K    0.96 K   2.1×  (78 / 37)

  (Measured before Chen–Xu's L became the wall-surface distance, after which Chen–Xu gives 1.70 / 0.29 /
  0.74 K, and before the steady loop's whole-state mixing, which changes the outer iteration counts.)
  These references had fixed-value rack intakes and CRAH returns, whose zero tangential velocity pushed the
  air up the rack fronts (validation/README.md, "The references' outflow condition"). Against the
  references re-run with the air leaving with its own momentum (2026-12-01): Chen–Xu 0.85 / 0.27 / 0.52 K
  (open-row-fine 0.60 K), k-ε 0.56 / 0.28 / 0.48 K (0.52 K), at 1.5–2.7× Chen–Xu's CPU (2.7× on
  open-row-fine), so Chen–Xu, within 1 K on every hall, stays the default.

  Against those fixed-value references: k-ε warms the aisle-pair's row-end racks by 0.1–1 K towards the CFD
  (A04 −3.04 → −2.43 K, B04 −2.97 →
  −2.01 K), but they stay 1.7–2.4 K too cool, and it is not better on the other two halls, so Chen–Xu
  stays the default. Variants on the aisle-pair hall: buoyant production on (``keps_buoyancy``, which
  the references do not have) 1.44 K; with van Leer's correction (``[airflow] convection = "tvd"``, blend
  0.5) no steady state in 300 outer iterations (residuals stalled at 2e-4 / 3.5e-4). Why the closure
  moves so little here: in the aisle-pair's steady field k-ε's ν_t
  (median 1.9e-3 m²/s, at most 1.1e-2) is about a tenth of first-order upwind's numerical viscosity
  |u| h/2 at h = 0.15 m (median 2.4e-2 m²/s), so at this grid the momentum scheme, not the turbulence
  model, sets most of the mixing. Benchmarks where the closure does decide: a turbulent channel (Re_m
  20,000, 10 cells across) gives Dean's centreline ratio U_c/U_b within 1 % and 0.86 of his friction
  factor (Chen–Xu: 5× it: its ν_t at the wall cell is no wall function); the Annex 20 room's ceiling jet
  at x = H keeps 0.51 u_in at H/36 against Chen–Xu's 0.39 (the plane wall jet's 0.83 is an upper bound).

The same ν_t mixes the heat: :meth:`MomentumSolver.face_diffusivity_m2s` gives the temperature transport
ν/Pr + ν_t/Pr_t on its faces (Reynolds analogy), so the air mixes where this flow is turbulent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import scipy.ndimage as ndi
import scipy.sparse as sp

from twin.thermal.airflow import AirPathError
from twin.thermal.momentum_kernels import (
    chen_xu_nu_t,
    correct_faces,
    divergence_m3s,
    masked_sum_sq,
    momentum_sweeps,
    momentum_sweeps_with,
)
from twin.thermal.pressure_mg import PressureMultigrid
from twin.thermal.threads import limited_blas, map_components

if TYPE_CHECKING:
    import pyamg

    from twin.geometry.voxel import HallVoxels

__all__ = [
    "AIR_PRANDTL",
    "CHEN_XU_CONSTANT",
    "CONVECTION_SCHEMES",
    "KEPS_C1",
    "KEPS_C2",
    "KEPS_C_MU",
    "KEPS_SIGMA_EPS",
    "KEPS_SIGMA_K",
    "FlowNotConverged",
    "MomentumSettings",
    "MomentumSolver",
    "MoverJets",
    "PRESSURE_SOLVERS",
    "SIDES",
    "SolveInfo",
    "TimeStepInfo",
    "TURBULENCE_MODELS",
    "TURBULENT_PRANDTL",
    "Wall",
    "borda_carnot_loss",
    "wall_distance_m",
]

#: ν_t = 0.03874 |U| L (Chen & Xu 1998).
CHEN_XU_CONSTANT = 0.03874

#: Prandtl number of air (ν/α at room temperature) and the turbulent Prandtl number ν_t/α_t usual for
#: indoor air (0.85–0.9 in RANS codes; the OpenFOAM references in validation/ use 0.85): they turn the
#: flow's viscosities into the transport's eddy diffusivity of heat.
AIR_PRANDTL = 0.71
TURBULENT_PRANDTL = 0.9

#: Standard k-ε (Launder & Spalding 1974): ν_t = C_μ k²/ε, the production and destruction constants of ε,
#: and the turbulent Prandtl numbers of k and ε. The log law's von Kármán constant κ and roughness E.
KEPS_C_MU = 0.09
KEPS_C1 = 1.44
KEPS_C2 = 1.92
KEPS_SIGMA_K = 1.0
KEPS_SIGMA_EPS = 1.3
KARMAN = 0.41
LOG_LAW_E = 9.8
#: Turbulence of the air a mover blows: 10 % intensity, 0.1 m mixing length (k = 1.5 (I U)²,
#: ε = C_μ^¾ k^1.5 / l): what the OpenFOAM references in validation/ prescribe at their inlets.
_KEPS_INLET_INTENSITY = 0.10
_KEPS_INLET_LENGTH_M = 0.1
#: Floors that keep k and ε positive (the implicit upwind matrices keep them so; these catch round-off).
_K_MIN_M2S2 = 1e-8
_EPS_MIN_M2S3 = 1e-12
#: Cap of the k-ε eddy viscosity in units of ν: 1e4 ν = 0.15 m²/s is an order of magnitude above what a
#: room's jets and plumes reach (1e-3 … 1e-2 m²/s); it only acts while k and ε are far from each other
#: in the first iterations from rest, where k²/ε can blow up before ε has caught up.
_NU_T_MAX_RATIO = 1e4
#: Red–black Gauss–Seidel sweeps of the k and ε equations per outer iteration.
_KEPS_SWEEPS = 3


def _y_plus_laminar() -> float:
    """Where the log law u+ = ln(E y+)/κ meets the viscous sublayer u+ = y+ (≈ 11.53)."""
    y = 11.0
    for _ in range(50):
        y = np.log(LOG_LAW_E * y) / KARMAN
    return float(y)


_Y_PLUS_LAM = _y_plus_laminar()

#: Relative tolerance of the last projection of a solve; the spanning-tree closure takes the rest to round-off.
_FINAL_PRESSURE_RTOL = 1e-3

#: Stands in for an array argument the compiled kernel does not read (numba wants an array of one type).
_NO_ARRAY = np.zeros((1, 1, 1))
#: A lagged march (MomentumSolver.lagging) whose residual on an assembled iteration climbs to this many times the
#: lowest it reached is taken to be unstable: it marches again from its start, assembling every iteration. (The
#: tile-layer box at cfl 5 climbs from 1.8e-3 to 2e-2 lagged; a stable march's residuals fall, with ripples of
#: tens of per cent.)
_LAG_RUNAWAY = 4.0

log = logging.getLogger(__name__)

#: Names of the six sides of the domain, in (axis, low/high) order.
SIDES = ("x-", "x+", "y-", "y+", "z-", "z+")


def borda_carnot_loss(openness: np.ndarray) -> np.ndarray:
    """Loss coefficient ζ = (1/o − 1)² of a face with free-area ratio o (0 < o ≤ 1)."""
    return (1.0 / openness - 1.0) ** 2


@dataclass(frozen=True)
class Wall:
    """A side of the domain: no-slip (optionally moving, e.g. a lid) or free-slip."""

    slip: bool = False
    velocity_m_s: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class MomentumSettings:
    """Physical and numerical settings of the momentum model.

    Attributes:
        viscosity_m2s: molecular kinematic viscosity ν (air ≈ 1.5e-5).
        turbulence: add an eddy viscosity ν_t (False: laminar).
        turbulence_model: "chen-xu" (zero-equation, ν_t = 0.03874 |U| L) or "k-epsilon" (standard k-ε with
            wall functions); see the module docstring.
        keps_buoyancy: k-ε only: buoyant production G_b = −g β ν_t/Pr_t ∂T/∂z in k (and, where positive, in ε).
        buoyancy: Boussinesq buoyancy from the temperature field.
        t_ref_c: reference temperature of β = 1/(T_ref + 273.15); the buoyancy uses T − T_ref with
            T_ref the mean air temperature (a constant offset is hydrostatic and only slows convergence).
        gravity_m_s2: magnitude of g (acts along −z).
        convection: "upwind" (first order), "tvd" (van Leer-limited, second order where the field is
            smooth, by deferred correction on the upwind matrix) or "linear-upwind" (OpenFOAM's linearUpwind
            with a cellLimited gradient, the same way); see the module docstring.
        tvd_blend: weight (0–1) of the "tvd" or "linear-upwind" deferred correction.
        central_blend: deferred correction from upwind (0) towards central (1) convection; used when
            ``convection`` is "upwind" (laminar benchmarks at modest cell Péclet numbers).
        cfl: pseudo time step in units of h / U_ref.
        tol: convergence tolerance of the scaled continuity and momentum residuals.
        max_iterations: iterations of a steady solve before FlowNotConverged.
        sweeps: red–black Gauss–Seidel sweeps of the momentum equations per iteration.
        pressure_rtol: relative tolerance of the preconditioned CG pressure correction inside the iterations;
            None: one plain multigrid cycle instead (cheaper per iteration; see the module docstring).
        pressure_solver: the pressure correction's multigrid preconditioner: "gmg" (the structured
            additive-correction multigrid of :mod:`twin.thermal.pressure_mg`) or "amg" (pyamg's Ruge–Stüben
            hierarchy, the default until the measurements in the module docstring, "Cost of a steady solve").
        walls: side name ("x-", … "z+") → Wall; sides not given are fixed no-slip walls.
    """

    viscosity_m2s: float = 1.5e-5
    turbulence: bool = True
    turbulence_model: str = "chen-xu"
    keps_buoyancy: bool = False
    buoyancy: bool = True
    t_ref_c: float = 20.0
    gravity_m_s2: float = 9.81
    convection: str = "upwind"
    tvd_blend: float = 1.0
    central_blend: float = 0.0
    cfl: float = 5.0
    tol: float = 1e-4
    max_iterations: int = 2000
    sweeps: int = 2
    pressure_rtol: float | None = 0.1
    pressure_solver: str = "gmg"
    walls: Mapping[str, Wall] = field(default_factory=dict)


class _LagRunaway(Exception):
    """A lagged march's residual ran away (MomentumSolver._iterate marches again from the start, plainly)."""


class FlowNotConverged(RuntimeError):
    """A momentum solve that did not reach its tolerance (or diverged); ``history`` holds its residuals."""

    def __init__(self, message: str, history: np.ndarray) -> None:
        super().__init__(message)
        self.history = history


@dataclass
class SolveInfo:
    """Outcome of a solve: whether it converged, its iterations, and its residual history.

    ``history`` has one row per iteration: (continuity residual, momentum residual), both scaled.
    """

    converged: bool
    iterations: int
    history: np.ndarray
    u_ref_m_s: float


@dataclass
class TimeStepInfo:
    """One physical time step of :meth:`MomentumSolver.advance`.

    Attributes:
        dt_s: the step, s.
        courant_max: largest |u| dt / h of the new field (the upwind-implicit step is stable beyond 1; its
            time error grows with it).
        continuity_m_s: rms of (D F* − s)/h² before the projection, m/s: how far the momentum step alone
            was from mass conservation (the projection removes it; the flows handed out conserve to round-off).
        change_m_s: rms change of the face velocities over the step, m/s.
    """

    dt_s: float
    courant_max: float
    continuity_m_s: float
    change_m_s: float


@dataclass
class MoverJets:
    """Air movers as arrays: cells each takes air from and blows into, and the direction it blows.

    Attributes:
        intake, outlet: per mover, flat grid indices of its intake / outlet cells (equal shares).
        direction: (m, 3) unit vector each mover's outlet jet points along (zero: no jet, e.g. a PDU).
        names: per mover.
    """

    intake: list[np.ndarray]
    outlet: list[np.ndarray]
    direction: np.ndarray
    names: list[str]

    @classmethod
    def from_voxels(cls, vox: HallVoxels) -> MoverJets:
        """Racks, CRAHs and PDUs of a :class:`~twin.geometry.voxel.HallVoxels`, in FluidNetwork order.

        The jet direction is the axis along which the outlet cells' centroid lies from the intake
        cells' (a rack blows out of its back; a CRAH supplying the floor blows down).
        """
        movers = [*vox.racks, *vox.crahs, *vox.pdus]
        shape = vox.grid.shape
        direction = np.zeros((len(movers), 3))
        for j, m in enumerate(movers):
            d = (np.mean(np.unravel_index(m.outlet, shape), axis=1)
                 - np.mean(np.unravel_index(m.intake, shape), axis=1))
            if np.any(d):
                axis = int(np.argmax(np.abs(d)))
                direction[j, axis] = np.sign(d[axis])
        return cls([np.asarray(m.intake) for m in movers], [np.asarray(m.outlet) for m in movers],
                   direction, [m.name for m in movers])

    @classmethod
    def none(cls) -> MoverJets:
        return cls([], [], np.zeros((0, 3)), [])

    @property
    def count(self) -> int:
        return len(self.names)


# ----------------------------------------------------------------------------------------- grid helpers

def _sl(axis: int, s: slice) -> tuple[slice, ...]:
    out = [slice(None)] * 3
    out[axis] = s
    return tuple(out)


def _pair(cell: np.ndarray, axis: int, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell values on the low (a) and high (b) side of every face normal to ``axis`` (outside: fill)."""
    pad = [(0, 0)] * 3
    pad[axis] = (1, 1)
    p = np.pad(cell, pad, constant_values=fill)
    return p[_sl(axis, slice(0, -1))], p[_sl(axis, slice(1, None))]


def _side(face: np.ndarray, axis: int, side: int) -> np.ndarray:
    """For every cell: the value on its face at ``side`` (+1 high, −1 low) along ``axis``."""
    return face[_sl(axis, slice(1, None) if side > 0 else slice(0, -1))]


def _nbr(padded: np.ndarray, axis: int, side: int) -> np.ndarray:
    """Neighbour values (shifted by ``side`` along ``axis``) from an array padded by one on every side."""
    idx = [slice(1, -1)] * 3
    idx[axis] = slice(1 + side, padded.shape[axis] - 1 + side)
    return padded[tuple(idx)]


def _nbr2(padded: np.ndarray, axis: int, shift: int) -> np.ndarray:
    """Values shifted by ``shift`` (−2 … 2) along ``axis`` from an array padded by two on every side."""
    idx = [slice(2, -2)] * 3
    idx[axis] = slice(2 + shift, padded.shape[axis] - 2 + shift)
    return padded[tuple(idx)]


def _limited_face(u_up: np.ndarray, u_far: np.ndarray, u_down: np.ndarray) -> np.ndarray:
    """Van Leer's TVD face value from the upwind, far-upwind and downwind values.

    u_f = u_U + ½ ψ(r) (u_D − u_U) with r = (u_U − u_UU) / (u_D − u_U) and ψ(r) = (r + |r|) / (1 + |r|),
    which is u_U + a b / (a + b) for a = u_U − u_UU, b = u_D − u_U of one sign, else u_U (an extremum:
    first order there, so no new over- or undershoot). Written without r, no division by zero.
    """
    a = u_up - u_far
    b = u_down - u_up
    ab = a * b
    same = ab > 0.0
    return u_up + np.where(same, ab / np.where(same, a + b, 1.0), 0.0)


def _limited_half_steps(u: np.ndarray, padded: np.ndarray, active: np.ndarray) -> list[np.ndarray]:
    """OpenFOAM's ``linearUpwind grad(U)`` with ``cellLimited Gauss linear 1``: per CV and axis, the change
    from the CV's centre to its face, ½ h ∂u/∂x_d, of the central gradient limited cell by cell.

    The central gradient g = (u₊ − u₋) / 2h is scaled by one factor λ ≤ 1 per CV (Barth–Jespersen with
    coefficient 1) so that the value extrapolated to each of its six faces, u ± ½ h g_d, stays within the
    range of the CV and its six face neighbours (walls and solids count as 0, the padding). On a uniform
    1D grid this is the monotonized-central limiter ψ(r) = max(0, min(2r, (1+r)/2, 2)) (van Leer 1977):
    second order where smooth (Fromm's scheme), first order at extrema. ``padded`` is ``u`` zero-padded
    by one; inactive CVs get 0 (their face value is then the upwind one).
    """
    halves = [0.25 * (_nbr(padded, d, 1) - _nbr(padded, d, -1)) for d in range(3)]
    hi = u.copy()
    lo = u.copy()
    for d, s in _DIRS:
        n = _nbr(padded, d, s)
        np.maximum(hi, n, out=hi)
        np.minimum(lo, n, out=lo)
    steepest = np.maximum(np.maximum(np.abs(halves[0]), np.abs(halves[1])), np.abs(halves[2]))
    room = np.minimum(hi - u, u - lo)  # ≥ 0: how far a face value may move from u either way
    lam = np.ones_like(u)
    np.divide(room, steepest, out=lam, where=steepest > room)  # λ = min(1, room / steepest)
    lam = np.where(active, lam, 0.0)
    return [lam * g for g in halves]


def _gradient(f: np.ndarray, h: float, axis: int) -> np.ndarray:
    """Central differences of a cell field along ``axis`` (one-sided at the ends; 0 on a one-cell slab)."""
    if f.shape[axis] < 2:
        return np.zeros_like(f)
    return np.gradient(f, h, axis=axis)


def wall_distance_m(fluid: np.ndarray, openness: Sequence[np.ndarray], cell_m: float,
                    walls: Mapping[str, Wall]) -> np.ndarray:
    """Distance from every fluid cell's centre to the nearest wall, m (0 in solids; at least h/2).

    Walls are solid cells, the no-slip sides of the domain, and the faces between two fluid cells that are
    not wholly open (openness < 1): a raised floor's closed panels and its perforated tiles, containment
    panels. The distance is measured on a grid of half-cell spacing whose points are the cell centres, face
    centres, edges and corners: a solid cell blocks its centre and the 26 points around it, a wall face its
    centre and the 8 points of its edges, so the distance to a plane wall is exact from every cell centre.
    """
    h = float(cell_m)
    shape = fluid.shape
    fine_shape = tuple(2 * n + 1 for n in shape)
    blocked = np.zeros(fine_shape, dtype=bool)
    blocked[1::2, 1::2, 1::2] = ~fluid
    blocked = ndi.binary_dilation(blocked, structure=np.ones((3, 3, 3), dtype=bool))
    for a in range(3):
        fa, fb = _pair(fluid, a, False)
        wall_face = fa & fb & (np.asarray(openness[a]) < 1.0)
        marks = np.zeros(fine_shape, dtype=bool)
        idx = [slice(1, None, 2)] * 3
        idx[a] = slice(0, None, 2)
        marks[tuple(idx)] = wall_face
        plate = np.ones((3, 3, 3), dtype=bool)
        plate[_sl(a, slice(0, 1))] = False
        plate[_sl(a, slice(2, 3))] = False
        blocked |= ndi.binary_dilation(marks, structure=plate)
        for k, side in enumerate((f"{'xyz'[a]}-", f"{'xyz'[a]}+")):
            if not walls.get(side, Wall()).slip:
                blocked[_sl(a, slice(0, 1) if k == 0 else slice(-1, None))] = True
    if not blocked.any():  # slip sides only, nothing solid: the domain's extent bounds the eddies
        for a in range(3):
            blocked[_sl(a, slice(0, 1))] = blocked[_sl(a, slice(-1, None))] = True
    dist = ndi.distance_transform_edt(~blocked, sampling=0.5 * h)[1::2, 1::2, 1::2]
    return np.maximum(dist, 0.5 * h) * fluid


CONVECTION_SCHEMES = ("upwind", "tvd", "linear-upwind")
TURBULENCE_MODELS = ("chen-xu", "k-epsilon")
PRESSURE_SOLVERS = ("gmg", "amg")


def _pyamg_cycle(ml: pyamg.multilevel.MultilevelSolver) -> Callable[..., None] | None:
    """The one-cycle routine that ``solve`` runs once per iteration: :func:`_lean_v_cycle` where it applies,
    else pyamg's own, which is private (no public call runs one cycle without two residual norms around it),
    so a pyamg that renames it gets None and the caller falls back to the public ``solve``."""
    return _lean_v_cycle(ml) or getattr(ml, "_MultilevelSolver__solve", None)


def _lean_v_cycle(ml: pyamg.multilevel.MultilevelSolver) -> Callable[..., None] | None:
    """pyamg's V-cycle (``MultilevelSolver.__solve`` with cycle "V", called as it is: ``(0, x, b, "V", 1)``,
    x updated in place) for a hierarchy with pyamg's default smoothing, one symmetric Gauss–Seidel sweep
    before and after (``ruge_stuben_solver``'s, which :meth:`MomentumSolver._build_poisson` builds): the same
    kernels in the same order (amg_core's forward and backward sweeps, scipy's CSR products, the coarse
    solver), so the same bits, without pyamg's wrappers around each sweep (its system checks, two calls per
    symmetric sweep): 0.4-0.5 of ~10 ms per cycle on open-row-fine. None where a level is not CSR or pyamg
    has no amg_core.gauss_seidel."""
    import pyamg  # (the hierarchy is pyamg's: imported already where this runs)

    gauss_seidel = getattr(getattr(pyamg, "amg_core", None), "gauss_seidel", None)
    levels = ml.levels
    if gauss_seidel is None or len(levels) < 2 or not all(
            getattr(m, "format", None) == "csr" for lv in levels[:-1] for m in (lv.A, lv.R, lv.P)):
        return None

    def sweep(a: sp.csr_matrix, x: np.ndarray, b: np.ndarray) -> None:  # symmetric: forward, then backward
        n = a.shape[0]
        gauss_seidel(a.indptr, a.indices, a.data, x, b, 0, n, 1)
        gauss_seidel(a.indptr, a.indices, a.data, x, b, n - 1, -1, -1)

    def cycle(lvl: int, x: np.ndarray, b: np.ndarray, kind: str = "V", cycles_per_level: int = 1) -> None:
        if lvl != 0 or kind != "V":
            raise ValueError("the lean cycle runs a V-cycle from the finest level only")
        down: list[tuple[np.ndarray, np.ndarray]] = []
        for level in levels[:-1]:
            sweep(level.A, x, b)
            residual = b - level.A @ x
            down.append((x, b))
            b = level.R @ residual
            x = np.zeros_like(b)
        x[:] = ml.coarse_solver(levels[-1].A, b)
        for level in reversed(levels[:-1]):
            fine_x, fine_b = down.pop()
            fine_x += level.P @ x
            sweep(level.A, fine_x, fine_b)
            x = fine_x

    return cycle


def _face_shape(shape: tuple[int, int, int], axis: int) -> tuple[int, int, int]:
    nx, ny, nz = shape
    return (nx + (axis == 0), ny + (axis == 1), nz + (axis == 2))


_DIRS = [(d, s) for d in range(3) for s in (-1, 1)]  # neighbour directions, in SIDES order


# ----------------------------------------------------------------------------------------------- solver

class MomentumSolver:
    """Steady (pseudo-transient) Navier–Stokes–Boussinesq solver on a voxel grid; keeps its last field.

    Build once per geometry (walls, multigrid hierarchy, wall distance, mover maps), then call
    :meth:`solve` for a converged steady field, or :meth:`resolve` for a few warm-started iterations
    (the live twin's quasi-steady refresh), or :meth:`advance` for one physical time step (time-accurate:
    validation/transient_twin.py). Results: :meth:`face_flows_m3s` (FluidNetwork order),
    :meth:`cell_velocity_m_s`.
    """

    def __init__(self, solid: np.ndarray, open_faces: Sequence[np.ndarray], cell_m: float,
                 movers: MoverJets | None = None, *, settings: MomentumSettings | None = None) -> None:
        self.settings = settings or MomentumSettings()
        self.movers = movers or MoverJets.none()
        self.h = float(cell_m)
        nx, ny, nz = (int(n) for n in solid.shape)
        self.shape = (nx, ny, nz)
        if self.settings.convection not in CONVECTION_SCHEMES:
            raise ValueError(f"convection: {self.settings.convection!r} is not one of {', '.join(CONVECTION_SCHEMES)}")
        if self.settings.turbulence_model not in TURBULENCE_MODELS:
            raise ValueError(f"turbulence_model: {self.settings.turbulence_model!r} is not one of "
                             f"{', '.join(TURBULENCE_MODELS)}")
        if self.settings.pressure_solver not in PRESSURE_SOLVERS:
            raise ValueError(f"pressure_solver: {self.settings.pressure_solver!r} is not one of "
                             f"{', '.join(PRESSURE_SOLVERS)}")
        for side in self.settings.walls:
            if side not in SIDES:
                raise ValueError(f"walls: unknown side {side!r}; allowed: {', '.join(SIDES)}")
        self.fluid = ~np.asarray(solid, dtype=bool)
        h, shape = self.h, self.shape

        # Passable faces: open, fluid on both sides, not on the domain boundary. These are the velocity
        # unknowns and exactly the FluidNetwork's faces (same order when flattened per axis).
        self.openness = []
        self.active = []
        for a in range(3):
            o = np.asarray(open_faces[a], dtype=float)
            if o.shape != _face_shape(shape, a):
                raise ValueError(f"open_faces[{a}] has shape {o.shape}, expected {_face_shape(shape, a)}")
            fa, fb = _pair(self.fluid, a, False)
            act = (o > 0) & fa & fb
            self.active.append(act)
            self.openness.append(np.where(act, o, 0.0))
        self.n_faces = sum(int(act[_sl(a, slice(1, -1))].sum()) for a, act in enumerate(self.active))

        # Fluid-cell numbering (flat grid order, as FluidNetwork) and the pressure-correction Laplacian.
        self.fluid_flat = np.flatnonzero(self.fluid.ravel())
        self.n_cells = self.fluid_flat.size
        self.cell_of = np.full(shape, -1, dtype=np.int64)
        self.cell_of.ravel()[self.fluid_flat] = np.arange(self.n_cells)
        self._build_poisson()

        # Wall distance (Chen–Xu length scale): solids, no-slip domain sides, and the faces between two
        # fluid cells that are not wholly open (a raised floor's closed and perforated faces, panels).
        self.wall_distance_m = wall_distance_m(self.fluid, self.openness, h, self.settings.walls)

        self._build_walls()
        self._build_movers()
        self.u = [np.zeros(_face_shape(shape, a)) for a in range(3)]
        self.p = np.zeros(shape)
        self.nu_t = np.zeros(shape)
        # k-ε: turbulent kinetic energy k (m²/s²) and its dissipation ε (m²/s³) per grid cell (None until
        # the first iteration sets them from the problem's velocity scale), and the wall-function viscosity.
        self.keps = self.settings.turbulence and self.settings.turbulence_model == "k-epsilon"
        self.k: np.ndarray | None = None
        self.eps: np.ndarray | None = None
        self._nu_wall: np.ndarray | None = None
        if self.keps:
            self._build_keps()
        self._phi = np.zeros(self.n_cells)
        self._tables: dict[int, tuple[np.ndarray, ...]] = {}  # the compiled form's wall tables, per component
        self._jet_cache: dict[int, tuple[object, np.ndarray, np.ndarray, np.ndarray]] = {}  # see _jet_terms
        # Coefficients held for lagged iterations, by ("compiled" | "reference", component): see _momentum.
        self._held_coefficients: dict[tuple[str, int], tuple] | None = None
        #: The march assembles the momentum coefficients every this many iterations (see :meth:`lagging`).
        self.reassemble_every = 1
        #: Set when a lagged march was given up and marched again plainly; until the next :meth:`lagging` block
        #: this solver no longer lags.
        self.lag_abandoned = False
        self.last_info: SolveInfo | None = None
        # The last resolve's iterate before a loose last projection, and the field it became (finish()).
        self._unfinished: tuple[list[np.ndarray], np.ndarray, np.ndarray, float] | None = None
        self._unfinished_field: list[np.ndarray] | None = None

    @classmethod
    def from_voxels(cls, vox: HallVoxels, *, settings: MomentumSettings | None = None) -> MomentumSolver:
        """A solver for a :class:`~twin.geometry.voxel.HallVoxels` (movers in FluidNetwork order)."""
        return cls(vox.solid, vox.open_faces, vox.grid.cell_m, MoverJets.from_voxels(vox), settings=settings)

    # ------------------------------------------------------------------------------------- set-up

    def _build_poisson(self) -> None:
        a_list, b_list, w_list = [], [], []
        for a in range(3):
            inner = _sl(a, slice(1, -1))
            act = self.active[a][inner]
            ca = self.cell_of[_sl(a, slice(0, -1))]
            cb = self.cell_of[_sl(a, slice(1, None))]
            a_list.append(ca[act])
            b_list.append(cb[act])
            w_list.append(self.openness[a][inner][act])
        fa, fb, w = np.concatenate(a_list), np.concatenate(b_list), np.concatenate(w_list)
        n = self.n_cells
        lap = sp.coo_matrix((np.concatenate([w, w, -w, -w]),
                             (np.concatenate([fa, fb, fa, fb]), np.concatenate([fa, fb, fb, fa]))),
                            shape=(n, n)).tocsr()
        adjacency = sp.coo_matrix((np.ones(fa.size), (fa, fb)), shape=(n, n)).tocsr()
        self.n_components, self.component = sp.csgraph.connected_components(adjacency, directed=False)
        # L is singular (φ up to a constant per connected region): tie one cell of each region to φ = 0.
        # With consistent right-hand sides (each region's sources sum to zero) no flow runs through it.
        first = np.full(self.n_components, -1, dtype=np.int64)
        order = np.arange(n)[::-1]
        first[self.component[order]] = order
        ground = np.zeros(n)
        ground[first] = 1.0
        self.laplacian = (lap + sp.diags(ground)).tocsr()
        self.pressure_mg: PressureMultigrid | None = None
        if self.settings.pressure_solver == "gmg":
            ground_grid = np.zeros(self.shape)
            ground_grid.ravel()[self.fluid_flat[first]] = 1.0
            self.pressure_mg = PressureMultigrid(self.fluid, self.openness, ground_grid)
        else:
            self.multigrid  # noqa: B018 - the hierarchy is part of the set-up: build it now
        self._build_tree(adjacency, first)

    @cached_property
    def multigrid(self) -> pyamg.multilevel.MultilevelSolver:
        """pyamg's Ruge–Stüben hierarchy of the pressure matrix (``pressure_solver`` "amg"; built on first use
        otherwise)."""
        import pyamg  # (only for pressure_solver "amg": the default structured multigrid needs none of it)

        return pyamg.ruge_stuben_solver(self.laplacian, max_coarse=500, coarse_solver="splu")

    def _build_tree(self, adjacency: sp.csr_matrix, roots: np.ndarray) -> None:
        """A breadth-first spanning tree of each connected region, for :meth:`_close_divergence`.

        Per tree edge (cell → its parent): the child and parent cells, the face between them (axis, flat
        index in that axis' face array, +1 when the parent is on the high side), grouped by the child's
        depth, deepest first.
        """
        n = self.n_cells
        parent = np.full(n, -1, dtype=np.int64)
        depth = np.zeros(n, dtype=np.int64)
        for root in roots:
            order, pred = sp.csgraph.breadth_first_order(adjacency, int(root), directed=False,
                                                         return_predecessors=True)
            kids = order[1:]
            parent[kids] = pred[kids]
            d_list, p_list = depth.tolist(), parent.tolist()
            for v in kids.tolist():  # BFS order: a parent's depth is known before its children's
                d_list[v] = d_list[p_list[v]] + 1
            depth = np.asarray(d_list, dtype=np.int64)
        child = np.flatnonzero(parent >= 0)
        g_child, g_parent = self.fluid_flat[child], self.fluid_flat[parent[child]]
        strides = np.array([self.shape[1] * self.shape[2], self.shape[2], 1])
        step = g_parent - g_child
        axis = np.argmax(np.abs(step)[:, None] == strides[None, :], axis=1)
        low = np.unravel_index(np.minimum(g_child, g_parent), self.shape)
        face = np.empty(child.size, dtype=np.int64)
        for a in range(3):
            sel = axis == a
            idx = [low[k][sel] + (1 if k == a else 0) for k in range(3)]
            face[sel] = np.ravel_multi_index(tuple(idx), _face_shape(self.shape, a))
        by_depth = np.argsort(-depth[child], kind="stable")
        cuts = np.flatnonzero(np.diff(depth[child][by_depth])) + 1
        self._tree = {"child": child, "parent": parent[child], "axis": axis, "face": face,
                      "sign": np.sign(step).astype(float), "levels": np.split(by_depth, cuts)}

    def _build_walls(self) -> None:
        """Per velocity component and neighbour direction: open fraction θ, wall factor and wall speed."""
        shape = self.shape
        walls = self.settings.walls
        # By component c, then by direction index k of _DIRS, for the directions across c (d != c) only.
        self._theta: list[dict[int, np.ndarray]] = []
        self._wall_factor: list[dict[int, np.ndarray]] = []  # twice the wall's share: times ν h, no-slip shear
        self._wall_speed: list[dict[int, np.ndarray | None]] = []  # None: no moving wall there
        self._open_half: list[dict[int, tuple[np.ndarray, np.ndarray] | None]] = []  # wholly open halves a, b
        for c in range(3):
            th_c: dict[int, np.ndarray] = {}
            wf_c: dict[int, np.ndarray] = {}
            ws_c: dict[int, np.ndarray | None] = {}
            half_c: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}
            for k, (d, s) in enumerate(_DIRS):
                if d == c:
                    continue
                # The CV face of a c-face towards ±d is made of halves of the d-faces of its two cells.
                # Only wholly open halves pass tangential momentum (shear and the velocity the air carries);
                # a perforated half (tile, leaky panel) is a wall to the tangential velocity, and the air
                # its holes pass arrives with none of it: the holes turn it normal to the plate.
                full = self.active[d] & (self.openness[d] >= 1.0)
                pa, pb = _pair(_side(full, d, s), c, False)
                theta = 0.5 * (pa.astype(float) + pb.astype(float))
                wf = 1.0 - theta
                speed = np.zeros(_face_shape(shape, c))
                wall = walls.get(SIDES[2 * d + (s > 0)], Wall())
                edge = _sl(d, slice(0, 1) if s < 0 else slice(-1, None))
                if wall.slip:
                    wf[edge] = 0.0
                else:
                    speed[edge] = wall.velocity_m_s[c]
                th_c[k] = theta
                perforated = _pair(_side(self.active[d] & ~full, d, s), c, False)
                half_c[k] = (pa, pb) if perforated[0].any() or perforated[1].any() else None
                wf_c[k] = 2.0 * wf  # the wall lies half a cell away: shear 2ν/h per unit area
                ws_c[k] = speed if np.any(speed) else None
            self._theta.append(th_c)
            self._open_half.append(half_c)
            self._wall_factor.append(wf_c)
            self._wall_speed.append(ws_c)
        # Red–black colouring of the faces (each neighbour in the stencil has the other colour).
        self._colour = []
        for c in range(3):
            fs = _face_shape(shape, c)
            parity = np.add.outer(np.add.outer(np.arange(fs[0]), np.arange(fs[1])), np.arange(fs[2])) % 2
            self._colour.append([self.active[c] & (parity == k) for k in (0, 1)])
        self._loss = [np.where(self.active[c] & (self.openness[c] < 1.0),
                               borda_carnot_loss(np.where(self.active[c], self.openness[c], 1.0)), 0.0)
                      for c in range(3)]
        self.lid_speed_m_s = max((float(np.max(np.abs(w.velocity_m_s))) for w in walls.values()), default=0.0)

    def _build_movers(self) -> None:
        """Sparse maps from mover flows to cell sources and to the outlet jets' face momentum."""
        m, h = self.movers.count, self.h
        n_grid = int(np.prod(self.shape))
        rows_in: list[np.ndarray] = []
        rows_out: list[np.ndarray] = []
        cols_in: list[np.ndarray] = []
        cols_out: list[np.ndarray] = []
        v_in: list[np.ndarray] = []
        v_out: list[np.ndarray] = []
        for j in range(m):
            cin, cout = np.asarray(self.movers.intake[j]), np.asarray(self.movers.outlet[j])
            if not (self.fluid.ravel()[cin].all() and self.fluid.ravel()[cout].all()):
                raise ValueError(f"{self.movers.names[j]}: intake and outlet cells must be fluid")
            rows_in.append(cin)
            cols_in.append(np.full(cin.size, j))
            v_in.append(np.full(cin.size, 1 / cin.size))
            rows_out.append(cout)
            cols_out.append(np.full(cout.size, j))
            v_out.append(np.full(cout.size, 1 / cout.size))
        def cat(xs: list, dt: type = float) -> np.ndarray:
            return np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)

        self.intake = sp.csc_matrix((cat(v_in), (cat(rows_in, np.int64), cat(cols_in, np.int64))), shape=(n_grid, m))
        self.outlet = sp.csc_matrix((cat(v_out), (cat(rows_out, np.int64), cat(cols_out, np.int64))),
                                    shape=(n_grid, m))
        self._check_air_paths()
        # Outlet jets: the face on the jet's side of each outlet cell receives the injected momentum,
        # q_cell (u_jet − u_f) per component, u_jet = q / (outlet cells · h²).
        self.outlet_area_m2 = np.array([np.asarray(o).size * h * h for o in self.movers.outlet])
        self._jet = []
        for c in range(3):
            fs = _face_shape(self.shape, c)
            rows, cols, vals = [], [], []
            for j in range(m):
                dc = self.movers.direction[j, c]
                if dc == 0.0:
                    continue
                idx = np.array(np.unravel_index(np.asarray(self.movers.outlet[j]), self.shape))
                if dc > 0:
                    idx[c] += 1
                flat = np.ravel_multi_index(tuple(idx), fs)
                ok = self.active[c].ravel()[flat]
                rows.append(flat[ok])
                cols.append(np.full(int(ok.sum()), j))
                vals.append(np.full(int(ok.sum()), abs(dc) / idx.shape[1]))
            self._jet.append(sp.csr_matrix((cat(vals), (cat(rows, np.int64), cat(cols, np.int64))),
                                           shape=(int(np.prod(fs)), m)))

    def _check_air_paths(self) -> None:
        comp = np.full(int(np.prod(self.shape)), -1)
        comp[self.fluid_flat] = self.component
        for j, name in enumerate(self.movers.names):
            cin = np.unique(comp[np.asarray(self.movers.intake[j])])
            cout = np.unique(comp[np.asarray(self.movers.outlet[j])])
            if not (cin.size == 1 and cout.size == 1 and cin[0] == cout[0]):
                raise AirPathError(f"{name}: air blown out cannot return to its intake (walls, objects or "
                                   f"sealed panels separate them); open a path")

    # ------------------------------------------------------------------------------------- physics

    def sources_m3s(self, mover_flow_m3s: np.ndarray) -> np.ndarray:
        """Volume source of every grid cell (grid-shaped): + at outlets, − at intakes, m³/s."""
        q = np.asarray(mover_flow_m3s, dtype=float)
        return ((self.outlet @ q) - (self.intake @ q)).reshape(self.shape)

    def _temperature_grid(self, t_c: np.ndarray | None) -> np.ndarray | None:
        if t_c is None:
            return None
        t = np.asarray(t_c, dtype=float)
        if t.shape == self.shape:
            return np.where(self.fluid, t, 0.0)
        if t.shape == (self.n_cells,):
            out = np.zeros(self.shape)
            out.ravel()[self.fluid_flat] = t
            return out
        raise ValueError(f"temperature has shape {t.shape}; expected {self.shape} or ({self.n_cells},)")

    def _divergence_m3s(self, u: list[np.ndarray]) -> np.ndarray:
        """Net outflow of every grid cell, m³/s."""
        # Compiled: h2 * (0.0 + np.diff(u[0], axis=0) + np.diff(u[1], axis=1) + np.diff(u[2], axis=2)), bit for bit.
        return divergence_m3s(u[0], u[1], u[2], self.h * self.h)

    def cell_velocity_m_s(self) -> np.ndarray:
        """Cell-centred velocity (nx, ny, nz, 3), m/s: the mean of each cell's two faces per axis."""
        return np.stack([0.5 * (self.u[a][_sl(a, slice(0, -1))] + self.u[a][_sl(a, slice(1, None))])
                         for a in range(3)], axis=-1)

    def fluid_cell_velocity_m_s(self) -> np.ndarray:
        """Cell-centred velocity (n_fluid, 3) in FluidNetwork cell order, m/s."""
        return self.cell_velocity_m_s().reshape(-1, 3)[self.fluid_flat]

    def face_flows_m3s(self) -> np.ndarray:
        """Face flows F_f = h² u_f (m³/s) on the open faces in FluidNetwork order (face_a → face_b > 0)."""
        h2 = self.h * self.h
        return np.concatenate([h2 * self.u[a][_sl(a, slice(1, -1))][self.active[a][_sl(a, slice(1, -1))]]
                               for a in range(3)])

    def _u_ref(self, q: np.ndarray, tg: np.ndarray | None) -> float:
        """The velocity scale of the problem: fastest jet, lid, or buoyant velocity √(gβΔT H)."""
        jets = float(np.max(q / self.outlet_area_m2)) if q.size and np.any(q > 0) else 0.0
        ref = max(jets, self.lid_speed_m_s)
        st = self.settings
        if st.buoyancy and tg is not None:
            tf = tg[self.fluid]
            beta = 1.0 / (st.t_ref_c + 273.15)
            height = self.shape[2] * self.h
            ref = max(ref, float(np.sqrt(st.gravity_m_s2 * beta * (tf.max() - tf.min()) * height)))
        return ref

    # ------------------------------------------------------------------------------------- k-ε

    def _build_keps(self) -> None:
        """Wall cells, face weights and the cell colouring of the k and ε equations (geometry only).

        A wall cell is a fluid cell with a face on a solid, a closed face (a sealed panel) or a no-slip
        domain side: there the wall functions fix ε and k's production. Perforated faces (tiles, leaky
        panels) pass air and are not walls to the turbulence.
        """
        shape, walls = self.shape, self.settings.walls
        wall_cell = np.zeros(shape, dtype=bool)
        for k, (d, s) in enumerate(_DIRS):
            blocked = ~_side(self.active[d], d, s)
            if walls.get(SIDES[k], Wall()).slip:
                blocked[_sl(d, slice(-1, None) if s > 0 else slice(0, 1))] = False
            wall_cell |= blocked
        self._keps_wall = wall_cell & self.fluid
        # Diffusion of k and ε passes open faces in proportion to their free area (as the pressure correction).
        self._keps_open = [[_side(self.openness[d], d, s) for s in (-1, 1)] for d in range(3)]
        parity = np.add.outer(np.add.outer(np.arange(shape[0]), np.arange(shape[1])), np.arange(shape[2])) % 2
        self._keps_colour = [self.fluid & (parity == k) for k in (0, 1)]

    @staticmethod
    def _inlet_turbulence(speed_m_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """k (m²/s²) and ε (m²/s³) of air blown at ``speed_m_s``: 10 % intensity, 0.1 m mixing length."""
        k = np.maximum(1.5 * (_KEPS_INLET_INTENSITY * speed_m_s) ** 2, 1e-6)
        return k, KEPS_C_MU ** 0.75 * k ** 1.5 / _KEPS_INLET_LENGTH_M

    def _keps_init(self, u_ref: float) -> None:
        """k and ε of still air stirred at 10 % of the velocity scale, with the inlets' length scale."""
        k0, e0 = self._inlet_turbulence(np.array(u_ref))
        self.k = np.where(self.fluid, float(k0), _K_MIN_M2S2)
        self.eps = np.where(self.fluid, float(e0), _EPS_MIN_M2S3)

    def _keps_nu_t(self) -> np.ndarray:
        assert self.k is not None and self.eps is not None
        nu_t = KEPS_C_MU * self.k ** 2 / self.eps
        return np.minimum(nu_t, _NU_T_MAX_RATIO * self.settings.viscosity_m2s) * self.fluid

    def strain_rate_squared(self) -> np.ndarray:
        """S² = 2 S_ij S_ij of the current field per grid cell, 1/s² (P_k = ν_t S²).

        The normal strains come straight from each cell's two faces; the shear strains from central
        differences of the cell-centred velocity (solids count as still air: the wall's no-slip).
        """
        h, u = self.h, self.u
        uc = self.cell_velocity_m_s()
        s2 = np.zeros(self.shape)
        for i in range(3):
            s2 += 2.0 * (np.diff(u[i], axis=i) / h) ** 2
        for i in range(3):
            for j in range(i + 1, 3):
                s2 += (_gradient(uc[..., i], h, j) + _gradient(uc[..., j], h, i)) ** 2
        return s2 * self.fluid

    def _wall_function(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Log-law wall functions from k at y = h/2: effective wall viscosity ν_w (m²/s), the wall cells'
        ε (m²/s³) and the production in them per unit |U_P| (1/s · m²/s²), as OpenFOAM's
        nutkWallFunction / epsilonWallFunction (v1912) define them."""
        nu, y = self.settings.viscosity_m2s, 0.5 * self.h
        u_tau = KEPS_C_MU ** 0.25 * np.sqrt(k)
        y_plus = u_tau * y / nu
        log = y_plus > _Y_PLUS_LAM
        nu_w = np.where(log, nu * y_plus * KARMAN / np.log(LOG_LAW_E * np.maximum(y_plus, 1.0)), nu)
        eps_w = np.where(log, KEPS_C_MU ** 0.75 * k ** 1.5 / (KARMAN * y), 2.0 * k * nu / (y * y))
        production_per_speed = np.where(log, nu_w / y * u_tau / (KARMAN * y), 0.0)
        return nu_w, eps_w, production_per_speed

    def _keps_solve(self, x: np.ndarray, gamma: np.ndarray, a_p: np.ndarray, b: np.ndarray,
                    fixed: np.ndarray | None, fixed_value: np.ndarray | None) -> np.ndarray:
        """Red–black Gauss–Seidel on a_P x = Σ a_nb x_nb + b (upwind convection, diffusion γ, floors)."""
        h, h2 = self.h, self.h * self.h
        gamma_pad = np.pad(gamma, 1, mode="edge")
        a_nb = []
        for d, s in _DIRS:
            flux_out = s * h2 * _side(self.u[d], d, s)
            diff = self._keps_open[d][s > 0] * 0.5 * (gamma + _nbr(gamma_pad, d, s)) * h
            coef = diff + np.maximum(-flux_out, 0.0)
            a_nb.append(coef)
            a_p = a_p + coef
        if fixed is not None and fixed_value is not None:
            a_nb = [np.where(fixed, 0.0, c) for c in a_nb]
            a_p = np.where(fixed, 1.0, a_p)
            b = np.where(fixed, fixed_value, b)
        a_p = np.where(self.fluid, a_p, 1.0)
        inv = 1.0 / a_p
        for _ in range(_KEPS_SWEEPS):
            for colour in self._keps_colour:
                xp = np.pad(x, 1)
                rhs = b.copy()
                for k, (d, s) in enumerate(_DIRS):
                    rhs += a_nb[k] * _nbr(xp, d, s)
                x = np.where(colour, rhs * inv, x)
        return x

    def turbulence_step(self, mover_flow_m3s: np.ndarray, t_c: np.ndarray | None, dt_s: float) -> None:
        """One implicit step of k and ε (k-ε only) over ``dt_s`` on the current velocity field; k and ε
        start from the inlet turbulence at the problem's velocity scale if they have no values yet."""
        if not self.keps:
            raise ValueError("turbulence_step: the solver's turbulence model is not k-epsilon")
        q = np.asarray(mover_flow_m3s, dtype=float)
        tg = self._temperature_grid(t_c)
        if self.k is None:
            self._keps_init(self._u_ref(q, tg))
        self._keps_step(q, tg, dt_s)
        self.nu_t = self.eddy_viscosity_m2s()

    def _keps_step(self, q: np.ndarray, tg: np.ndarray | None, dt: float) -> None:
        """One implicit pseudo-time step of ε, then k, on the current velocity field (in place).

            Dk/Dt = ∇·((ν + ν_t/σ_k) ∇k) + P_k + G_b − ε
            Dε/Dt = ∇·((ν + ν_t/σ_ε) ∇ε) + C₁ ε/k (P_k + max(G_b, 0)) − C₂ ε²/k

        P_k = ν_t S², G_b = −g β ν_t/Pr_t ∂T/∂z. Sinks are linearized onto the diagonal (ε/k and C₂ ε/k
        times the old values), sources kept positive on the right, so with upwind convection both
        matrices are M-matrices and k, ε stay positive. Mover outlets inject the inlet turbulence; wall
        cells take the log-law ε and production.
        """
        assert self.k is not None and self.eps is not None
        st, vol = self.settings, self.h ** 3
        k, eps = self.k, self.eps
        nu_t = self._keps_nu_t()
        production = nu_t * self.strain_rate_squared()
        speed = np.sqrt(np.sum(self.cell_velocity_m_s() ** 2, axis=-1))
        _, eps_w, g_w = self._wall_function(k)
        production = np.where(self._keps_wall, g_w * speed, production)
        g_b = np.zeros(self.shape)
        if st.keps_buoyancy and tg is not None:
            # ∂T/∂z from the open z-faces only (a solid's 0 in the temperature grid is no temperature).
            ta, tb = _pair(tg, 2, 0.0)
            grad_f = np.where(self.active[2], (tb - ta) / self.h, 0.0)
            grad = 0.5 * (grad_f[:, :, :-1] + grad_f[:, :, 1:])
            beta = 1.0 / (st.t_ref_c + 273.15)
            g_b = -st.gravity_m_s2 * beta * nu_t / TURBULENT_PRANDTL * grad * self.fluid
        g_pos, g_neg = np.maximum(g_b, 0.0), np.maximum(-g_b, 0.0)
        # Air blown in by the movers brings the inlet turbulence (non-conservative form: s (φ_in − φ)).
        inflow = np.zeros(self.shape)
        k_in_flux = np.zeros(self.shape)
        eps_in_flux = np.zeros(self.shape)
        if q.size and np.any(q > 0):
            k_in, e_in = self._inlet_turbulence(q / self.outlet_area_m2)
            inflow = (self.outlet @ q).reshape(self.shape)
            k_in_flux = (self.outlet @ (q * k_in)).reshape(self.shape)
            eps_in_flux = (self.outlet @ (q * e_in)).reshape(self.shape)
        ratio = eps / k
        nu = st.viscosity_m2s
        eps_new = self._keps_solve(
            eps.copy(), nu + nu_t / KEPS_SIGMA_EPS,
            vol / dt + vol * KEPS_C2 * ratio + inflow,
            vol / dt * eps + vol * KEPS_C1 * ratio * (production + g_pos) + eps_in_flux,
            self._keps_wall, eps_w)
        eps_new = np.maximum(eps_new, _EPS_MIN_M2S3)
        k_new = self._keps_solve(
            k.copy(), nu + nu_t / KEPS_SIGMA_K,
            vol / dt + vol * (eps_new + g_neg) / k + inflow,
            vol / dt * k + vol * (production + g_pos) + k_in_flux,
            None, None)
        self.k = np.where(self.fluid, np.maximum(k_new, _K_MIN_M2S2), _K_MIN_M2S2)
        self.eps = np.where(self.fluid, eps_new, _EPS_MIN_M2S3)

    def eddy_viscosity_m2s(self) -> np.ndarray:
        """The eddy viscosity ν_t of the current field, per grid cell (0 in solids), m²/s: Chen–Xu's
        0.03874 |U| L, or k-ε's C_μ k²/ε (capped) of the current k and ε."""
        if not self.settings.turbulence:
            return np.zeros(self.shape)
        if self.keps:
            return self._keps_nu_t() if self.k is not None else np.zeros(self.shape)
        u = [np.ascontiguousarray(x, dtype=np.float64) for x in self.u]
        return chen_xu_nu_t(u[0], u[1], u[2], self.wall_distance_m, CHEN_XU_CONSTANT)  # the bits of:
        # CHEN_XU_CONSTANT * np.sqrt(np.sum(self.cell_velocity_m_s() ** 2, axis=-1)) * self.wall_distance_m

    def face_diffusivity_m2s(self, *, prandtl: float = AIR_PRANDTL,
                             turbulent_prandtl: float = TURBULENT_PRANDTL) -> np.ndarray:
        """Eddy diffusivity of heat α_f = ν/Pr + ν_t,f/Pr_t on the open faces, FluidNetwork order, m²/s.

        The Reynolds analogy: the eddies that carry momentum carry heat too, so the transport mixes where
        this flow is turbulent (jets, shear layers, row ends) and little in still corners. ν_t,f is the
        mean of the two cells' ν_t of the current field, the face value the momentum equations use.
        """
        nu_t = self.eddy_viscosity_m2s()
        st = self.settings
        out = []
        for a in range(3):
            inner = _sl(a, slice(1, -1))
            lo, hi = nu_t[_sl(a, slice(0, -1))], nu_t[_sl(a, slice(1, None))]
            out.append((0.5 * (lo + hi))[self.active[a][inner]])
        return st.viscosity_m2s / prandtl + np.concatenate(out) / turbulent_prandtl

    def _update_viscosity(self, q: np.ndarray, tg: np.ndarray | None, dt: float, u_ref: float) -> np.ndarray:
        """ν + ν_t for the next momentum step; k-ε: one step of k and ε on the current field first, and
        the wall-function viscosity the momentum walls use."""
        st = self.settings
        nu = np.full(self.shape, st.viscosity_m2s)
        if st.turbulence:
            if self.keps:
                if self.k is None:
                    self._keps_init(u_ref)
                else:
                    self._keps_step(q, tg, dt)
                assert self.k is not None
                self._nu_wall = self._wall_function(self.k)[0] * self.fluid
            self.nu_t = self.eddy_viscosity_m2s()
            nu = nu + self.nu_t
        return nu

    def _momentum(self, c: int, nu: np.ndarray, tg: np.ndarray | None, t_ref: float, q: np.ndarray,
                  dt: float, sweeps: int | None = None, *, reuse: bool = False) -> np.ndarray:
        """u*_c: the compiled form for the upwind scheme (the halls'), else :meth:`_momentum_reference`.

        Both give the same bits (twin.thermal.momentum_kernels; tests/thermal/test_momentum.py checks it).
        ``sweeps``: Gauss–Seidel sweeps (None: the settings' few of the steady march). ``reuse``: within
        :meth:`_holding_coefficients`, take the neighbour coefficients (and the directions' sums on the diagonal
        and in b) that this component's last call assembled instead of assembling them from the current field
        and ``nu`` (the pseudo-time, pressure, loss, buoyancy and jet terms are this call's); the first call of a
        hold, and every call outside one, assembles.
        """
        st = self.settings
        sweeps = st.sweeps if sweeps is None else sweeps
        if st.convection != "upwind" or st.central_blend:
            return self._momentum_reference(c, nu, tg, t_ref, q, dt, sweeps, reuse=reuse)
        h = self.h
        theta, wall_factor, wall_speed, has_wall_speed, open_a, open_b, has_half = self._kernel_tables(c)
        buoyant = c == 2 and tg is not None and st.buoyancy
        beta = 1.0 / (st.t_ref_c + 273.15)
        vol = h ** 3
        if q.size:
            jet_q, jet_b = self._jet_terms(c, q)
        else:
            jet_q = jet_b = _NO_ARRAY
        u = [np.ascontiguousarray(x, dtype=np.float64) for x in self.u]
        nu_wall = self._nu_wall
        args = (c, h, vol / dt, u[c], u[0], u[1], u[2], np.ascontiguousarray(nu, dtype=np.float64),
                _NO_ARRAY if nu_wall is None else np.ascontiguousarray(nu_wall, dtype=np.float64), nu_wall is not None,
                np.ascontiguousarray(self.p, dtype=np.float64),
                np.ascontiguousarray(tg, dtype=np.float64) if buoyant and tg is not None else _NO_ARRAY, buoyant,
                vol * st.gravity_m_s2 * beta, float(t_ref), self.active[c], self._loss[c], theta, wall_factor,
                wall_speed, has_wall_speed, open_a, open_b, has_half, jet_q, jet_b, bool(q.size), int(sweeps))
        held = self._held_coefficients
        if held is None:
            return momentum_sweeps(*args)
        key = ("compiled", c)
        arrays = held.get(key)
        assemble = not reuse or arrays is None
        if arrays is None:
            shape = u[c].shape
            arrays = held[key] = (np.empty((6, *shape)), np.empty(shape), np.empty(shape))
        lagged: tuple = (*args, *arrays, assemble)  # (a plain tuple: mypy counts a literal's items against numba's)
        return momentum_sweeps_with(*lagged)

    def _jet_terms(self, c: int, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Component c's jet diagonal and momentum per face for the mover flows ``q`` (the compiled form's jet_q
        and jet_b). They change only with q, which a solve holds fixed: kept per component for the last q (two
        sparse products per component and iteration otherwise, 2 % of a steady solve on open-row-fine)."""
        jet = self._jet[c]
        cached = self._jet_cache.get(c)
        # (The operator by identity too: a study may swap in its own for a call, validation/rack_patch_study.py.)
        if cached is not None and cached[0] is jet and np.array_equal(cached[1], q):
            return cached[2], cached[3]
        jet_q = (jet @ q).reshape(self.u[c].shape)
        u_jet = q / self.outlet_area_m2 * np.sign(self.movers.direction[:, c])
        jet_b = (jet @ (q * u_jet)).reshape(self.u[c].shape)
        self._jet_cache[c] = (jet, np.array(q, dtype=float), jet_q, jet_b)
        return jet_q, jet_b

    def _momentum_step(self, nu: np.ndarray, tg: np.ndarray | None, t_ref: float, q: np.ndarray,
                       dt: float, sweeps: int | None = None, *, reuse: bool = False) -> list[np.ndarray]:
        """u* of the three components. They are independent (each reads the last iterate only), so this
        solver's own compiled form runs them on kernel threads (twin.thermal.threads.map_components: the same
        bits); a subclass's or a patched ``_momentum`` (the validation studies': some swap fields for the
        duration of a call) runs them one after the other, as it was written for. ``reuse``: :meth:`_momentum`'s
        (an override takes it and passes it on: what the studies swap either holds for a whole march, or enters
        with the current field, as the rack-patch study's exhaust terms, which then lag against the reused
        inflow on the diagonal: the path differs, the fixed point does not)."""
        def step(c: int) -> np.ndarray:
            return self._momentum(c, nu, tg, t_ref, q, dt, sweeps, reuse=reuse)
        if getattr(self._momentum, "__func__", None) is MomentumSolver._momentum:
            return map_components(step)
        return [step(c) for c in range(3)]

    @contextmanager
    def lagging(self, every: int = 2) -> Iterator[None]:
        """Within the block, :meth:`resolve`'s pseudo-time march assembles the momentum equations' neighbour
        coefficients (convection, diffusion, walls: the six direction passes, two thirds of a component's kernel)
        every ``every`` iterations and reuses them in between, with each iteration's own pseudo-time, pressure,
        buoyancy and jet terms. A steady field is a fixed point either way (at it the field the coefficients
        came from is the field); the march stops on an assembled iteration only. For the steady loop's few
        iterations per outer iteration (HallTwin.steady), not time steps: a time run, and so a checkpoint's
        resume, never lags. Nor does :meth:`solve`, to a tolerance from rest: lagged from rest, the tile-layer
        box below ran away and the tiny hall's steady loop set off on a path of 146 outer iterations instead
        of 77 (46 with the start plain and the loop lagged).

        Lagging narrows the pseudo-time step's margin of stability: the tile-layer study's 240-cell box, whose
        march at cfl 5 already converges more slowly than at 3 and fails at 8, does not converge lagged at 5.
        So a lagged march is given up and run again from its start, assembling every iteration (the plain
        march's path and answer; going on plainly from where it was instead left that box in a cycle at 4e-3),
        when its residual on its assembled iterations climbs to :data:`_LAG_RUNAWAY` times the lowest it reached
        or when it diverges (a floating-point error, non-finite residuals); the solver then lags no more within
        the block (``lag_abandoned``; each block starts lagging afresh, so that one solve's runaway does not
        change the next's path). An instability that builds up over many short marches (the steady loop's 10
        iterations each) is not caught here: the steady loop's own rules see it.

        The last iteration of a march that runs to its iteration limit is an assembled one too, so that its
        residuals (what the steady loop tests) are the field's own.
        """
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"lagging: every must be a whole number ≥ 1, got {every!r}")
        self.lag_abandoned = False
        previous, self.reassemble_every = self.reassemble_every, every
        try:
            yield
        finally:
            self.reassemble_every = previous

    @contextmanager
    def _holding_coefficients(self) -> Iterator[None]:
        """Within the block, :meth:`_momentum` keeps each component's assembled coefficients for the next call
        with ``reuse`` (a steady march's lagged iterations); afterwards they are dropped, so that no call outside
        the block (a time step, a checkpoint's resume) can ever meet coefficients from another state."""
        self._held_coefficients = {}
        try:
            yield
        finally:
            self._held_coefficients = None

    def _kernel_tables(self, c: int) -> tuple[np.ndarray, ...]:
        """Component c's wall tables for the compiled form, stacked over the four directions across c (built
        once: about 40 bytes per face and direction)."""
        if c not in self._tables:
            fs = self.u[c].shape
            across = [k for k, (d, _) in enumerate(_DIRS) if d != c]
            none_f, none_b = np.zeros(fs), np.zeros(fs, dtype=bool)
            halves = [self._open_half[c][k] for k in across]
            speeds = [self._wall_speed[c][k] for k in across]
            self._tables[c] = (
                np.stack([self._theta[c][k] for k in across]),
                np.stack([self._wall_factor[c][k] for k in across]),
                np.stack([none_f if v is None else v for v in speeds]),
                np.array([v is not None for v in speeds]),
                np.stack([none_b if v is None else v[0] for v in halves]),
                np.stack([none_b if v is None else v[1] for v in halves]),
                np.array([v is not None for v in halves]))
        return self._tables[c]

    def _reference_coefficients(self, c: int, nu: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """Component c's a_nb (six directions), and the six directions' sums on the diagonal and in b (with the
        deferred corrections), from the current field and ``nu``: the part that a lagged iteration reuses."""
        st, h = self.settings, self.h
        h2 = h * h
        u = self.u
        uc = u[c]
        act = self.active[c]
        nu_a, nu_b = _pair(nu, c, 0.0)
        nu_f = 0.5 * (nu_a + nu_b)
        nu_pad = np.pad(nu_f, 1, mode="edge")
        nu_wall_f = None
        if self._nu_wall is not None:
            w_a, w_b = _pair(self._nu_wall, c, 0.0)
            nu_wall_f = 0.5 * (w_a + w_b)
        u_pad = np.pad(uc, 1)
        tvd = st.convection == "tvd"
        if tvd:
            u_pad2 = np.pad(uc, 2)
        lin = st.convection == "linear-upwind"
        if lin:
            half_steps = _limited_half_steps(uc, u_pad, act)
            half_pads = [np.pad(g, 1) for g in half_steps]
        a_nb = []
        a_p = np.zeros_like(uc)
        b = np.zeros_like(uc)
        correction = np.zeros_like(uc)
        for k, (d, s) in enumerate(_DIRS):
            u_n = _nbr(u_pad, d, s)
            if d == c:
                # CV face at a cell centre: the mean of the two face velocities carries the flux.
                flux = s * h2 * 0.5 * (uc + u_n)
                diff = (nu_b if s > 0 else nu_a) * h
                coef = diff + np.maximum(-flux, 0.0)
            else:
                va, vb = _pair(_side(u[d], d, s), c, 0.0)
                halves = self._open_half[c][k]
                if halves is None:  # no perforated face here: inactive halves carry no velocity anyway
                    flux = (s * h2 * 0.5) * (va + vb)
                else:
                    open_a, open_b = halves
                    flux = (s * h2 * 0.5) * (np.where(open_a, va, 0.0) + np.where(open_b, vb, 0.0))
                    # Inflow through perforated halves brings no tangential velocity: it stays on the diagonal.
                    perforated = (s * h2 * 0.5) * (np.where(open_a, 0.0, va) + np.where(open_b, 0.0, vb))
                    a_p += np.maximum(-perforated, 0.0)
                diff = 0.5 * (nu_f + _nbr(nu_pad, d, s)) * h
                coef = self._theta[c][k] * diff
                coef += np.maximum(-flux, 0.0)
                # k-ε: the log law's shear at walls (ν_w of the face's two cells), not the cells' ν + ν_t.
                wall = self._wall_factor[c][k] * (diff if nu_wall_f is None else nu_wall_f * h)
                a_p += wall
                wall_speed = self._wall_speed[c][k]
                if wall_speed is not None:
                    b += wall * wall_speed
            a_nb.append(coef)
            a_p += coef
            if tvd:
                # Upwind P (outflow, flux > 0): far-upwind is P's neighbour on the other side; upwind N:
                # N's neighbour beyond it. Outside the grid and in solids the velocity is that of a wall (0).
                out = flux > 0
                far = np.where(out, _nbr2(u_pad2, d, -s), _nbr2(u_pad2, d, 2 * s))
                upwind = np.where(out, uc, u_n)
                high = _limited_face(upwind, far, np.where(out, u_n, uc))
                correction += flux * (high - upwind)
            elif lin:
                # Face value = upwind CV's value + its limited half-cell step towards this face.
                step = np.where(flux > 0, s * half_steps[d], -s * _nbr(half_pads[d], d, s))
                correction += flux * step
            elif st.central_blend:
                upwind = np.where(flux > 0, uc, u_n)
                correction += flux * (0.5 * (uc + u_n) - upwind)
        if tvd or lin:
            b -= st.tvd_blend * correction
        elif st.central_blend:
            b -= st.central_blend * correction
        return a_nb, a_p, b

    def _momentum_reference(self, c: int, nu: np.ndarray, tg: np.ndarray | None, t_ref: float, q: np.ndarray,
                            dt: float, sweeps: int | None = None, *, reuse: bool = False) -> np.ndarray:
        """Assemble and approximately solve the linearized momentum equation of component c: u*_c (numpy; the
        readable form, and the only one for the deferred corrections). ``reuse``: as :meth:`_momentum`'s."""
        st, h = self.settings, self.h
        h2, vol = h * h, h ** 3
        uc = self.u[c]
        act = self.active[c]
        held, key = self._held_coefficients, ("reference", c)
        if reuse and held is not None and key in held:
            a_nb, a_p, b = held[key]
            a_p, b = a_p.copy(), b.copy()  # (the terms below are added to them in place)
        else:
            a_nb, a_p, b = self._reference_coefficients(c, nu)
            if held is not None:
                held[key] = (a_nb, a_p.copy(), b.copy())
        a_p += vol / dt
        b += vol / dt * uc
        # Pressure gradient across the face, porous loss, buoyancy, jets.
        pa, pb = _pair(self.p, c, 0.0)
        b -= h2 * (pb - pa)
        a_p += h2 * 0.5 * self._loss[c] * np.abs(uc)
        if c == 2 and tg is not None and st.buoyancy:
            ta, tb = _pair(tg, 2, t_ref)
            beta = 1.0 / (st.t_ref_c + 273.15)
            b += vol * st.gravity_m_s2 * beta * (0.5 * (ta + tb) - t_ref)
        if q.size:
            jet_q = (self._jet[c] @ q).reshape(uc.shape)
            u_jet = q / self.outlet_area_m2 * np.sign(self.movers.direction[:, c])
            a_p += jet_q
            b += (self._jet[c] @ (q * u_jet)).reshape(uc.shape)
        # Red–black Gauss–Seidel on a_P u = Σ a_nb u_nb + b (inactive faces stay zero).
        a_p = np.where(act, a_p, 1.0)
        inv = 1.0 / a_p
        # The iterate lives inside a zero-padded buffer, updated in place: its neighbours are views of it, so
        # no sweep pads a copy (np.pad's overhead was a tenth of a flow iteration).
        xp = np.zeros(tuple(n + 2 for n in uc.shape))
        x = xp[1:-1, 1:-1, 1:-1]
        x[...] = np.where(act, uc, 0.0)
        rhs = np.empty_like(b)
        term = np.empty_like(b)
        for _ in range(st.sweeps if sweeps is None else sweeps):
            for colour in self._colour[c]:
                rhs[...] = b
                for k, (d, s) in enumerate(_DIRS):
                    np.multiply(a_nb[k], _nbr(xp, d, s), out=term)
                    rhs += term
                rhs *= inv
                np.copyto(x, rhs, where=colour)
        return x.copy()

    def _close_divergence(self, u: list[np.ndarray], s_grid: np.ndarray) -> None:
        """Make div F = s exact to round-off by routing what is left along the spanning tree (in place).

        Deepest cells first, each cell sends its remaining outflow deficit to its parent over the tree
        edge between them; a region's root is left with its sources' sum, zero. After an AMG projection
        the deficits are at its tolerance, so the flows move by as little: this replaces a projection
        solved to 1e-13, several times dearer, as the step that makes the transport conserve energy.
        """
        tree, h2 = self._tree, self.h * self.h
        deficit = (s_grid - self._divergence_m3s(u)).ravel()[self.fluid_flat]
        sent = np.zeros(tree["child"].size)
        for level in tree["levels"]:
            amount = deficit[tree["child"][level]]
            np.add.at(deficit, tree["parent"][level], amount)
            sent[level] = amount
        for a in range(3):
            sel = tree["axis"] == a
            delta = np.bincount(tree["face"][sel], weights=tree["sign"][sel] * sent[sel] / h2,
                                minlength=u[a].size)
            u[a] += delta.reshape(u[a].shape)

    def _project(self, u: list[np.ndarray], s_grid: np.ndarray, dt: float, rtol: float | None, *,
                 deficit_m3s: np.ndarray | None = None) -> np.ndarray:
        """Make div F = s by the pressure correction; returns φ per fluid cell (m²/s²). ``deficit_m3s``:
        s − div F of ``u`` per cell where the caller has it already."""
        h = self.h
        if deficit_m3s is None:
            deficit_m3s = s_grid - self._divergence_m3s(u)
        rhs_grid = np.where(self.fluid, deficit_m3s / (dt * h), 0.0)
        if not np.any(rhs_grid):  # (not np.linalg.norm: a BLAS call outside limited_blas, see twin.thermal.threads)
            return np.zeros(self.shape)
        mg = self.pressure_mg
        with limited_blas():  # see twin.thermal.threads
            if mg is not None:
                b = np.pad(rhs_grid, 1)
                # One cycle: cheaper per iteration, slower for buoyant halls (see the module docstring).
                x = mg.precondition(b) if rtol is None else mg.solve(b, rtol, maxiter=200)
                phi_grid = np.ascontiguousarray(x[1:-1, 1:-1, 1:-1])
            else:
                rhs = rhs_grid.ravel()[self.fluid_flat]
                phi = self._v_cycle(rhs) if rtol is None else self._amg_cg(rhs, rtol, maxiter=200)
                phi_grid = np.zeros(self.shape)
                phi_grid.ravel()[self.fluid_flat] = phi
        for a in range(3):
            # Compiled: pa, pb = _pair(phi_grid, a, 0.0); u[a] += np.where(active, dt / h * openness * (pa - pb), 0.0)
            correct_faces(u[a], phi_grid, self.active[a], self.openness[a], dt / h, a)
        return phi_grid

    def _v_cycle(self, r: np.ndarray) -> np.ndarray:
        """One V-cycle of the pressure hierarchy from zero: what ``multigrid.solve(r, maxiter=1)`` and pyamg's
        preconditioner return, without the two residual norms that ``solve`` computes around the cycle (two
        products with the finest matrix, as much as a third of the cycle, and unused here)."""
        ml = self.multigrid
        if len(ml.levels) == 1:
            return np.asarray(ml.coarse_solver(ml.levels[0].A, r))
        cycle = _pyamg_cycle(ml)
        if cycle is None:
            # A pyamg that renamed it: its public one-cycle solve, the same cycle plus the two norms.
            return np.asarray(ml.solve(r, x0=np.zeros_like(r), maxiter=1, cycle="V", tol=1e-300))
        x = np.zeros_like(r)
        cycle(0, x, r, "V", 1)
        return x

    def _amg_cg(self, b: np.ndarray, rtol: float, *, maxiter: int) -> np.ndarray:
        """AMG-preconditioned CG from zero to ‖r‖ < rtol ‖b‖: pyamg's ``krylov.cg`` step for step (the same
        operations in the same order), except in two places:

        * it tests convergence before it preconditions the new residual, not after: pyamg's spends one V-cycle
          that the returned iterate never uses at the end of every solve, about 40 % of the cycles of a
          projection to rtol 0.1 (on open-row-fine 2.3 cycles per projection, one CG iteration);
        * the first iteration updates the residual (r − α A p, as every later one but each 8th does) where
          pyamg's computes it afresh (b − A x): one product with the finest matrix less per projection, about
          a seventh of a projection to rtol 0.1 (1.5 of ~10 ms on open-row-fine, shared machine). The two
          residuals differ in rounding only. A projection that stops after that first iteration (the
          iterations' rtol 0.1 nearly always does) returns the very iterate pyamg's returns, x = α p, to the
          bit; one that goes on differs from it in rounding."""
        a = self.multigrid.levels[0].A
        x = np.zeros_like(b)
        r = b.copy()  # pyamg's b − A x: A·0 is +0.0 in every row, and b − (+0.0) is b, bit for bit
        z = self._v_cycle(r)
        p = z.copy()
        rz = np.inner(r, z)
        normr = np.linalg.norm(r)
        normb = float(np.sqrt(np.inner(b, b)))  # pyamg.util.linalg.norm's form
        tol = rtol * (normb if normb != 0.0 else 1.0)
        if normr < tol:
            return x
        it = 0
        while True:
            ap = a @ p
            rz_old = rz
            curvature = np.inner(ap, p)
            if curvature < 0.0:  # (pyamg's stop on an indefinite matrix; the Laplacian is not)
                return x
            alpha = rz / curvature
            x += alpha * p
            if it % 8 or it == 0:  # pyamg recomputes the residual every 8th iteration (and at the first)
                r -= alpha * ap
            else:
                r = b - a @ x
            it += 1
            normr = np.linalg.norm(r)
            if normr < tol or it == maxiter:
                return x
            z = self._v_cycle(r)
            rz = np.inner(r, z)
            if rz < 0.0:  # (pyamg's stop on an indefinite preconditioner)
                return x
            p *= rz / rz_old
            p += z

    # ------------------------------------------------------------------------------------- solving

    def _drive(self, mover_flow_m3s: np.ndarray, t_c: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray | None, float, np.ndarray, float]:
        """What drives a solve or a time step: the movers' flows (checked), the temperature grid (None
        without buoyancy), the buoyancy's reference temperature, the cells' mass sources and U_ref."""
        q = np.asarray(mover_flow_m3s, dtype=float)
        if q.shape != (self.movers.count,):
            raise ValueError(f"mover flows: expected {self.movers.count} values, got shape {q.shape}")
        tg = self._temperature_grid(t_c) if self.settings.buoyancy else None
        t_ref = float(tg[self.fluid].mean()) if tg is not None else self.settings.t_ref_c
        return q, tg, t_ref, self.sources_m3s(q), self._u_ref(q, tg)

    def _iterate(self, q: np.ndarray, t_c: np.ndarray | None, max_iterations: int, tol: float,
                 final_rtol: float = _FINAL_PRESSURE_RTOL) -> SolveInfo:
        st, h = self.settings, self.h
        self._unfinished = self._unfinished_field = None
        q, tg, t_ref, s_grid, u_ref = self._drive(q, t_c)
        if u_ref == 0.0:
            # Nothing drives the flow: no movers, no moving wall, no temperature differences.
            for a in range(3):
                self.u[a][:] = 0.0
            self.p[:] = 0.0
            self.last_info = SolveInfo(True, 0, np.zeros((0, 2)), 0.0)
            return self.last_info
        dt = st.cfl * h / u_ref
        history: list[tuple[float, float]] = []
        backup = ([x.copy() for x in self.u], self.p.copy(), self.k, self.eps)
        while True:
            try:
                with np.errstate(over="raise", invalid="raise", divide="raise"):
                    converged = self._march(q, tg, t_ref, s_grid, u_ref, dt, max_iterations, tol, history)
                break
            except (_LagRunaway, FloatingPointError, FlowNotConverged) as err:
                lagged = self.reassemble_every > 1 and not self.lag_abandoned
                # The field this solve started from (copies: a march again from it works on them in place).
                self.u, self.p, self.k, self.eps = [x.copy() for x in backup[0]], backup[1].copy(), *backup[2:]
                if not lagged:
                    raise FlowNotConverged(f"momentum solve diverged ({err})",
                                           np.array(history).reshape(-1, 2)) from err
                # A lagged march that ran away or diverged (see lagging()): again from the start, plainly.
                log.info("momentum march with lagged coefficients %s; marching again from its start, assembling "
                         "every iteration", err if isinstance(err, _LagRunaway) else f"diverged ({err})")
                self.lag_abandoned = True
                history.clear()
        # A final projection and the tree closure: the face flows handed out are divergence-free to round-off.
        # A looser last projection (an iterate's) keeps what the default one would start from, for finish().
        self._unfinished = (None if final_rtol == _FINAL_PRESSURE_RTOL
                            else ([x.copy() for x in self.u], self.p.copy(), s_grid, dt))
        self.p += self._project(self.u, s_grid, dt, final_rtol)
        self._close_divergence(self.u, s_grid)
        if self._unfinished is not None:
            self._unfinished_field = self.u
        self.last_info = SolveInfo(converged, len(history), np.array(history).reshape(-1, 2), u_ref)
        return self.last_info

    def _march(self, q: np.ndarray, tg: np.ndarray | None, t_ref: float, s_grid: np.ndarray, u_ref: float,
               dt: float, max_iterations: int, tol: float, history: list[tuple[float, float]]) -> bool:
        """Pseudo-time iterations until both residuals are below tol; appends to history. Lagged (see lagging()),
        it raises _LagRunaway where its residual runs away; _iterate then marches again from the start."""
        every = 1 if self.lag_abandoned else self.reassemble_every
        with self._holding_coefficients() if every > 1 else nullcontext():
            return self._march_loop(q, tg, t_ref, s_grid, u_ref, dt, max_iterations, tol, history, every)

    def _march_loop(self, q: np.ndarray, tg: np.ndarray | None, t_ref: float, s_grid: np.ndarray, u_ref: float,
                    dt: float, max_iterations: int, tol: float, history: list[tuple[float, float]],
                    every: int) -> bool:
        st, h = self.settings, self.h
        lowest = np.inf  # the lowest residual of an assembled iteration of this march (with every > 1)
        for it in range(max_iterations):
            nu = self._update_viscosity(q, tg, dt, u_ref)
            # Lagged coefficients (lagging()): the last assembly's, with this iteration's own terms; the last
            # iteration assembles (its residuals are what a caller tests).
            reuse = it % every != 0 and it != max_iterations - 1
            u_star = self._momentum_step(nu, tg, t_ref, q, dt, reuse=reuse)
            # The continuity residual is what the projection removes: its right-hand side, computed once.
            div = self._divergence_m3s(u_star)
            cont_sq, n_fluid = masked_sum_sq(s_grid, div, self.fluid)
            deficit = s_grid - div
            r_cont = float(np.sqrt(cont_sq / n_fluid)) / (st.cfl * u_ref * h * h) if n_fluid else 0.0
            # The momentum residual before the projection moves u* (compiled: the masked rms of u* − u).
            change = [masked_sum_sq(u_star[a], self.u[a], self.active[a]) for a in range(3)]
            n_active = sum(n for _, n in change)
            r_mom = (float(np.sqrt(sum(t for t, _ in change) / n_active)) if n_active else 0.0) / (st.cfl * u_ref)
            phi = self._project(u_star, s_grid, dt, st.pressure_rtol, deficit_m3s=deficit)
            self.u = u_star
            self.p += phi
            history.append((r_cont, r_mom))
            if not (np.isfinite(r_cont) and np.isfinite(r_mom)):
                raise FlowNotConverged("non-finite residuals", np.array(history))
            # Converged by an assembled iteration only: a lagged one's change measures its own equations, and
            # stopped there a fresh iteration found the jet box 12 % above the tolerance.
            if r_cont < tol and r_mom < tol and not reuse:
                return True
            if every > 1 and not reuse:
                residual = max(r_cont, r_mom)
                lowest = min(lowest, residual)
                if residual > _LAG_RUNAWAY * lowest:
                    raise _LagRunaway(f"ran away: residual {residual:.2e}, {residual / lowest:.0f}x its lowest "
                                      f"({lowest:.2e}), after {it + 1} iterations")
        return False

    def solve(self, mover_flow_m3s: np.ndarray, t_c: np.ndarray | None = None, *,
              max_iterations: int | None = None, tol: float | None = None) -> SolveInfo:
        """March to the steady field from the current one (zero at first); FlowNotConverged if not reached.

        Args:
            mover_flow_m3s: flow of each mover, m³/s (MoverJets order).
            t_c: air temperature, grid-shaped or per fluid cell (flat order), °C; needed for buoyancy.
        """
        st = self.settings
        # Never lagged (see lagging()): a solve to a tolerance starts from rest or far from it.
        lag, self.reassemble_every = self.reassemble_every, 1
        try:
            info = self._iterate(mover_flow_m3s, t_c, max_iterations or st.max_iterations, tol or st.tol)
        finally:
            self.reassemble_every = lag
        if not info.converged:
            last = info.history[-1] if len(info.history) else (np.nan, np.nan)
            raise FlowNotConverged(
                f"momentum solve not converged after {info.iterations} iterations "
                f"(continuity {last[0]:.2e}, momentum {last[1]:.2e}, tol {tol or st.tol:.1e})", info.history)
        return info

    def resolve(self, mover_flow_m3s: np.ndarray, t_c: np.ndarray | None = None, *,
                iterations: int = 10, tol: float | None = None, final_rtol: float | None = None) -> SolveInfo:
        """A few warm-started iterations towards the steady field for new flows / temperatures.

        Never raises for lack of convergence (the live twin refreshes again later; see the returned
        SolveInfo), only when the iterations diverge (FlowNotConverged, last field kept). The flows are
        divergence-free whatever ``iterations`` is.

        ``final_rtol``: the last projection's tolerance (default 1e-3, what every handed-out field gets). Looser
        is for iterates only: the spanning-tree closure then carries more, and moves faces by more (at 0.1, up to
        3.8 m/s on open-row-fine's first outer iteration from the coarse grid's field, against 0.01 m/s at 1e-3);
        :meth:`finish` gives such a field the default's last projection.
        """
        return self._iterate(mover_flow_m3s, t_c, iterations, tol or self.settings.tol,
                             _FINAL_PRESSURE_RTOL if final_rtol is None else final_rtol)

    def finish(self) -> None:
        """The field the last :meth:`resolve` would have handed out with the default last projection: that
        projection (to 1e-3) and the closure redone from the march's last iterate, which a looser ``final_rtol``
        kept (a projection of the closed field would find nothing to do: the closure leaves no divergence, and
        the faces it moved stay moved). The same field, to the bit, as a resolve without ``final_rtol``.
        Nothing to do after a resolve with the default.

        Raises:
            RuntimeError: the field was replaced since that resolve (its iterate no longer belongs to it).
        """
        if self._unfinished is None:
            return
        if self.u is not self._unfinished_field:
            raise RuntimeError("finish(): the field was replaced after the resolve whose iterate it would finish")
        u, p, s_grid, dt = self._unfinished
        self._unfinished = self._unfinished_field = None
        self.u, self.p = u, p
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            self.p += self._project(self.u, s_grid, dt, _FINAL_PRESSURE_RTOL)
        self._close_divergence(self.u, s_grid)

    def project_field(self, mover_flow_m3s: np.ndarray) -> None:
        """Make the current field's face flows those of these mover flows (in place): zero on the faces that
        are not open here, then projected onto div F = s (AMG-CG to 1e-3) and closed to round-off by the
        spanning tree. The pressure is left as it is: this corrects a field carried over from another grid
        (twin.thermal.gridseq), whose pressure is the momentum balance's, not this correction's.
        """
        q = np.asarray(mover_flow_m3s, dtype=float)
        if q.shape != (self.movers.count,):
            raise ValueError(f"mover flows: expected {self.movers.count} values, got shape {q.shape}")
        s_grid = self.sources_m3s(q)
        self.u = [np.where(self.active[a], self.u[a], 0.0) for a in range(3)]
        # The correction Δu = Δt/h o ∇φ with L φ = (s − D F)/(Δt h) does not depend on Δt: 1 s will do.
        self._project(self.u, s_grid, 1.0, _FINAL_PRESSURE_RTOL)
        self._close_divergence(self.u, s_grid)

    def reset(self) -> None:
        """Forget the last field (the next solve starts from rest)."""
        for a in range(3):
            self.u[a][:] = 0.0
        self.p[:] = 0.0
        self.k = self.eps = None
        self._nu_wall = None
        self._unfinished = self._unfinished_field = None

    # ------------------------------------------------------------------------- time-accurate stepping

    def advance(self, mover_flow_m3s: np.ndarray, t_c: np.ndarray | None = None, *, dt_s: float,
                sweeps: int = 20, pressure_rtol: float = 1e-8) -> TimeStepInfo:
        """Advance the field by one physical time step dt_s (time-accurate, unlike :meth:`solve`'s march).

        An incremental pressure-correction (projection) step, backward Euler in time (first order):

            (V/Δt + A(uⁿ)) u* = V/Δt uⁿ − h² ∇pⁿ + buoyancy(Tⁿ) + jets        momentum, convection linearized on uⁿ
            L φ = (s − D F*)/(Δt h),   u = u* − Δt ∇φ,   p = pⁿ + φ             projection

        the same assembly as the steady march (:meth:`_momentum`, :meth:`_project`), but with Δt the
        physical step instead of the pseudo step cfl·h/U_ref, the momentum equations solved to convergence
        (``sweeps`` red–black Gauss–Seidel sweeps instead of the march's 2: at Δt = 0.25 s on the
        aisle-pair validation hall 10 sweeps leave u* within 5e-7 m/s of 40 sweeps' answer and 20 within
        1e-9), and the projection solved to ``pressure_rtol`` then closed to round-off by the spanning
        tree. The steady march (few sweeps from uⁿ, projection to 0.1) is a pseudo-time relaxation: each
        step's unconverged linear solve is an O(1) share of the step's change, so its path in time is not
        the flow's; this one converges to the backward-Euler step (shown on a decaying Taylor–Green vortex
        in tests/thermal/test_momentum_unsteady.py, first order in Δt). The eddy viscosity (Chen–Xu) and
        the buoyancy use the field at the start of the step (explicit coupling, also first order); k-ε's
        own equations take :meth:`_update_viscosity`'s three sweeps over Δt, not converged, so only the
        Chen–Xu and laminar closures are claimed time-accurate here.

        Args:
            mover_flow_m3s: flow of each mover, m³/s (MoverJets order).
            t_c: air temperature at the start of the step (grid-shaped or per fluid cell), °C; buoyancy.
            dt_s: the physical time step, s.
            sweeps: Gauss–Seidel sweeps of each momentum component's linear system.
            pressure_rtol: relative tolerance of the projection's AMG-CG solve.

        Raises:
            FlowNotConverged: floating-point overflow or NaN (the field before the step is restored).
        """
        if dt_s <= 0.0:
            raise ValueError(f"dt_s must be positive, got {dt_s}")
        if sweeps < 1:
            raise ValueError(f"sweeps must be at least 1, got {sweeps}")
        if not 0.0 < pressure_rtol < 1.0:
            # ≤ 0 would run the projection's CG to its iteration cap every step; ≥ 1 would not project.
            raise ValueError(f"pressure_rtol must be between 0 and 1, got {pressure_rtol}")
        h = self.h
        q, tg, t_ref, s_grid, u_ref = self._drive(mover_flow_m3s, t_c)
        backup = ([x.copy() for x in self.u], self.p.copy(), self.k, self.eps)
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                nu = self._update_viscosity(q, tg, dt_s, u_ref if u_ref > 0.0 else 1.0)
                # Its own sweep count: the settings' few are the steady march's relaxation, not a solve.
                u_star = self._momentum_step(nu, tg, t_ref, q, dt_s, sweeps)
                cont = (self._divergence_m3s(u_star) - s_grid) / (h * h)
                continuity = float(np.sqrt(np.mean(cont[self.fluid] ** 2))) if self.n_cells else 0.0
                phi = self._project(u_star, s_grid, dt_s, pressure_rtol)
                self._close_divergence(u_star, s_grid)
                change = np.concatenate([(u_star[a] - self.u[a])[self.active[a]] for a in range(3)])
                if not np.all(np.isfinite(change)):
                    raise FloatingPointError("non-finite velocities")
        except FloatingPointError as err:
            self.u, self.p, self.k, self.eps = backup
            raise FlowNotConverged(f"momentum time step diverged ({err})", np.zeros((0, 2))) from err
        self.u = u_star
        self.p += phi
        courant = max((float(np.max(np.abs(x))) for x in self.u), default=0.0) * dt_s / h
        return TimeStepInfo(float(dt_s), courant, continuity,
                            float(np.sqrt(np.mean(change ** 2))) if change.size else 0.0)
