"""Two-grid FAS (full approximation scheme) cycles for the momentum march: measured, not kept (issue 10's
speed target; twin.thermal.momentum, "Cost of a steady solve").

Usage::

    python validation/fas_study.py                       # open-row-fine: flow studies, default and FAS steady solves
    python validation/fas_study.py --variants --slow --json out.json     # and the steady loop's variants (~20 min)

The steady momentum march converges slowly on fine grids: from the coarse grid's answer, open-row-fine's
isothermal flow takes 314 pseudo-time iterations to 1e-4, and its buoyant one with the temperatures held
186, each decade of residual costing more iterations than the last. Nonlinear multigrid is the textbook
remedy: the coarse grid (the grid-sequencing hall at cells twice as large) corrects the fine field's smooth
error, with the fine residual restricted as its forcing, so that the fine iterations only smooth. Here, per
cycle: ``pre`` fine iterations; the fine momentum residual N_f (force per face control volume, from one
compiled sweep at Δt → 0: N = (V/Δt)(u* − u)) and continuity residual; the fine field restricted (face
velocities: the mean of the four fine faces on each coarse face, flux-conserving; pressure: the mean of each
coarse cell's fluid children); the coarse equations N_c(y) = N_c(R x) − R N_f(x) (force: summed over the
coarse control volume) and D_c y = D_c(R x) + R(s_f − D_f x), marched ``coarse`` iterations; the coarse change
prolonged (twin.thermal.gridseq: divergence-consistent faces, trilinear cells) times a damping ``weight``,
projected onto the fine continuity; ``post`` fine iterations. At a converged fine field the forcing makes
the coarse change vanish (checked here: ``consistency``). Without damping the cycles stall in a limit cycle
near 5e-5; weight 0.75 converges.

Measurements on open-row-fine (Chen–Xu, upwind; CPU time of this process):

* isothermal flow from the coarse grid's answer, plain march against FAS cycles, to 1e-4 and 1e-5;
* the buoyant flow with the temperatures held at the default steady state's, the same;
* the coupled steady solve (``HallTwin.steady``: flow iterations, temperature solves and Anderson mixing of
  the whole state), its march replaced by FAS cycles: outer iterations and CPU time against the default;
* ``--variants``: the plain loop with 5 and 20 momentum iterations per outer iteration instead of 10; FAS with
  the state mixing unrelaxed (1.0 instead of 0.5); FAS with each outer iteration's flow converged to 1e-5 (at
  most 60 fine iterations); ``--slow``: that last with the temperatures alone mixed.

Results (2026-12-01, cycles of 3 + 15 + 3, weight 0.75, ``--variants --slow``, one process; the machine's other
core partly busy; off = the largest intake difference from the twin's converged answer, intakes settled to
1e-4 K per outer iteration and flows to 1e-6, steady_speed.py: the default stops 0.19 K off):

=============================  ==============================  ===========================================
 open-row-fine                  plain march                     FAS cycles
=============================  ==============================  ===========================================
 isothermal, to 1e-4            314 iterations, 6.7 s           93 fine + 225 coarse, 3.1 s (2.2x)
 isothermal, to 1e-5            not in 3000 iterations, 64 s    170 fine + 420 coarse, 5.7 s
 temperatures held, to 1e-4     186 iterations, 4.0 s           68 fine + 165 coarse, 2.2 s (1.8x)
 temperatures held, to 1e-5     752 iterations, 16.2 s          237 fine + 585 coarse, 7.7 s (2.1x)
 coupled steady solve           17 outer iterations, 8.7 s      26 outer iterations, 17.1 s (0.5x), 0.32 K off
=============================  ==============================  ===========================================

The steady loop's variants: plain with 5 flow iterations per outer iteration 34 outer iterations (10.7 s), with
20 13 (10.8 s), i.e. 170, 170 and 260 flow iterations for 5, 10 and 20; FAS with the mixing unrelaxed: no steady
state in 300 outer iterations (180 s); FAS-converged flows: 148 outer iterations, 345 s, 0.67 K off; the same
with the temperatures alone mixed: 237, 535 s, 0.47 K off. (By hand, not in the script: splitting an outer
iteration into 5 + 15 + 5 took 25 outer iterations, 6 flow iterations per outer 29-40.)

The coarse change at a converged fine field falls with the fine residual (0.0028 m/s at 1e-4, 0.00037 at
1e-5, isothermal): the forcing is consistent. So as a flow solver FAS pays (2x, and it converges where the
plain march stalls), but inside the coupled steady loop it loses every way tried, in time and in how far from
the converged answer it stops. Why is open: with the temperatures held at the default answer's field the same
cycles settle the flow from the coarse start in 68 fine iterations, yet after each of the loop's temperature
updates 60 do not. The plain loop spends 170 flow iterations with 5 or 10 per outer iteration, close to the
held-temperature flow's 186, so its pace is the flow's settling; FAS's gain there is lost in the coupling. Not
tried: coupled multigrid (the energy equation in the coarse correction too) and FAS for the time runs' start-up
solve.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import twin.sim.twin as twin_module  # noqa: E402
from twin.model.load import coarse_hall, load_hall  # noqa: E402
from twin.model.spec import HallModel  # noqa: E402
from twin.sim.twin import COARSE_RATIO, HallTwin  # noqa: E402
from twin.thermal import gridseq  # noqa: E402
from twin.thermal import momentum as momentum_module  # noqa: E402
from twin.thermal.momentum import _NO_ARRAY, MomentumSolver  # noqa: E402
from twin.thermal.momentum_kernels import momentum_sweeps  # noqa: E402

HALL = HERE / "halls" / "open-row-fine.toml"
#: The plain march, captured before :func:`fas_in_steady_loop` replaces it.
_PLAIN_MARCH = MomentumSolver._march


def restrict_face_velocity(u_fine: np.ndarray, axis: int) -> np.ndarray:
    """Face velocities normal to ``axis`` on the grid twice as coarse: each coarse face the mean of the four
    fine faces on its plane (so the coarse face carries their flow; offset 0, as the steady solve's grids)."""
    u = np.take(u_fine, np.arange(0, u_fine.shape[axis], 2), axis=axis)
    for a in range(3):
        if a != axis:
            n = u.shape[a] // 2
            u = 0.5 * (np.take(u, np.arange(0, 2 * n, 2), axis=a) + np.take(u, np.arange(1, 2 * n, 2), axis=a))
    return u


def restrict_face_force(f_fine: np.ndarray, axis: int) -> np.ndarray:
    """Forces on the fine faces' control volumes summed over each coarse face's control volume: the four fine
    faces on its plane whole, the eight half a fine cell to either side half each (shared with the next)."""
    n = f_fine.shape[axis]
    n_coarse = (n - 1) // 2 + 1
    out = np.take(f_fine, np.arange(0, n, 2), axis=axis).copy()
    odd = np.take(f_fine, np.arange(1, n, 2), axis=axis)
    lo, hi = [slice(None)] * 3, [slice(None)] * 3
    lo[axis], hi[axis] = slice(0, n_coarse - 1), slice(1, n_coarse)
    out[tuple(lo)] += 0.5 * odd
    out[tuple(hi)] += 0.5 * odd
    for a in range(3):
        if a != axis:
            m = out.shape[a] // 2
            out = np.take(out, np.arange(0, 2 * m, 2), axis=a) + np.take(out, np.arange(1, 2 * m, 2), axis=a)
    return out


def restrict_cell_sum(f_fine: np.ndarray, coarse_shape: tuple[int, int, int]) -> np.ndarray:
    """A cell field summed over each coarse cell's eight children."""
    nx, ny, nz = coarse_shape
    return f_fine.reshape(nx, 2, ny, 2, nz, 2).sum(axis=(1, 3, 5))


class Level:
    """One grid of the cycle: its solver, what drives it (MomentumSolver._drive) and an optional forcing."""

    def __init__(self, solver: MomentumSolver, q: np.ndarray, t_c: np.ndarray | None,
                 t_ref_c: float | None = None) -> None:
        if solver.keps or solver.settings.convection != "upwind" or solver.settings.central_blend:
            raise ValueError("the study covers the halls' default: Chen–Xu, upwind")
        self.s = solver
        self.q, self.tg, self.t_ref, self.s_grid, self.u_ref = solver._drive(q, t_c)
        if t_ref_c is not None:
            self.t_ref = t_ref_c  # the coarse grid takes the fine grid's buoyancy reference
        self.dt = solver.settings.cfl * solver.h / self.u_ref
        self.force: list[np.ndarray] | None = None  # per component, subtracted from the momentum equations
        self.iterations = 0  # march iterations run on this level

    @classmethod
    def of_march(cls, solver: MomentumSolver, q: np.ndarray, tg: np.ndarray | None, t_ref: float,
                 s_grid: np.ndarray, u_ref: float, dt: float) -> Level:
        """The level a march of ``solver`` runs on, from MomentumSolver._march's arguments."""
        level = cls.__new__(cls)
        level.s, level.q, level.tg, level.t_ref, level.s_grid, level.u_ref, level.dt = (
            solver, q, tg, t_ref, s_grid, u_ref, dt)
        level.force, level.iterations = None, 0
        return level

    def momentum(self, c: int, nu: np.ndarray, dt: float, sweeps: int) -> np.ndarray:
        """u*_c as MomentumSolver._momentum's compiled form, less the forcing (entered with the jets' terms)."""
        s, st, h = self.s, self.s.settings, self.s.h
        jet_q = (s._jet[c] @ self.q).reshape(s.u[c].shape)
        u_jet = self.q / s.outlet_area_m2 * np.sign(s.movers.direction[:, c])
        jet_b = (s._jet[c] @ (self.q * u_jet)).reshape(s.u[c].shape)
        if self.force is not None:
            jet_b = jet_b - self.force[c]
        theta, wall_factor, wall_speed, has_wall_speed, open_a, open_b, has_half = s._kernel_tables(c)
        buoyant = c == 2 and self.tg is not None and st.buoyancy
        vol = h ** 3
        return momentum_sweeps(
            c, h, vol / dt, s.u[c], s.u[0], s.u[1], s.u[2], np.ascontiguousarray(nu), _NO_ARRAY, False,
            np.ascontiguousarray(s.p), self.tg if buoyant else _NO_ARRAY, buoyant,
            vol * st.gravity_m_s2 / (st.t_ref_c + 273.15), float(self.t_ref), s.active[c], s._loss[c], theta,
            wall_factor, wall_speed, has_wall_speed, open_a, open_b, has_half, np.ascontiguousarray(jet_q),
            np.ascontiguousarray(jet_b), True, int(sweeps))

    def residual(self) -> list[np.ndarray]:
        """The momentum equations' imbalance per face control volume (m⁴/s²): one sweep at Δt → 0."""
        s = self.s
        nu = s._update_viscosity(self.q, self.tg, self.dt, self.u_ref)
        dt = self.dt * 1e-7
        return [np.where(s.active[c], (s.h ** 3 / dt) * (self.momentum(c, nu, dt, 1) - s.u[c]), 0.0)
                for c in range(3)]

    def march(self, n: int, history: list[tuple[float, float]], tol: float = 0.0) -> bool:
        """``n`` of MomentumSolver._march's iterations with the forcing (its own loop, the momentum step this
        level's: an instance attribute shadows the method meanwhile); True once both residuals are below tol."""
        s = self.s
        s._momentum = self._step  # type: ignore[method-assign]
        before = len(history)
        try:
            return _PLAIN_MARCH(s, self.q, self.tg, self.t_ref, self.s_grid, self.u_ref, self.dt, n, tol, history)
        finally:
            del s._momentum
            self.iterations += len(history) - before

    def _step(self, c: int, nu: np.ndarray, tg: np.ndarray | None, t_ref: float, q: np.ndarray, dt: float,
              sweeps: int | None = None, *, reuse: bool = False) -> np.ndarray:
        """MomentumSolver._momentum's signature, for the march (tg, t_ref and q are this level's). It assembles
        every iteration, as when this study was made (``reuse`` is ignored; steady_loop_patched runs the loop
        unlagged anyway)."""
        return self.momentum(c, nu, dt, self.s.settings.sweeps if sweeps is None else sweeps)


def coarse_correction(fine: Level, coarse: Level, iterations: int, weight: float) -> float:
    """One FAS coarse-grid correction of ``fine``'s field (in place); returns the coarse change's RMS (m/s)."""
    f, c = fine.s, coarse.s
    n_fine = fine.residual()
    cont_fine = fine.s_grid - f._divergence_m3s(f.u)
    y0 = [restrict_face_velocity(f.u[a], a) * c.active[a] for a in range(3)]
    p0 = gridseq.restrict_cells(f.p, f.fluid, 2, c.fluid)
    c.u, c.p = [x.copy() for x in y0], p0.copy()
    coarse.force = None
    n_coarse = coarse.residual()
    coarse.force = [np.where(c.active[a], n_coarse[a] - restrict_face_force(n_fine[a], a), 0.0) for a in range(3)]
    coarse.s_grid = c._divergence_m3s(c.u) + restrict_cell_sum(cont_fine, c.shape) * c.fluid
    coarse.march(iterations, [])
    change = [c.u[a] - y0[a] for a in range(3)]
    for a in range(3):
        f.u[a] = f.u[a] + weight * gridseq.prolong_faces(change[a], a, 2) * f.active[a]
    f.p = f.p + weight * gridseq.prolong_cells((c.p - p0) * c.fluid, c.fluid, 2) * f.fluid
    f._project(f.u, fine.s_grid, fine.dt, 0.1)
    return float(np.sqrt(np.mean(np.concatenate([x[c.active[a]] for a, x in enumerate(change)]) ** 2)))


def fas_march(fine: Level, coarse: Level, history: list[tuple[float, float]], *, max_iterations: int, tol: float,
              pre: int, coarse_iterations: int, post: int, weight: float) -> bool:
    """FAS cycles until both fine residuals are below tol or ``max_iterations`` fine iterations are spent."""
    start = len(history)
    while len(history) - start < max_iterations:
        if fine.march(min(pre, max_iterations - (len(history) - start)), history, tol):
            return True
        if len(history) - start >= max_iterations:
            return False
        coarse_correction(fine, coarse, coarse_iterations, weight)
        if fine.march(min(post, max_iterations - (len(history) - start)), history, tol):
            return True
    return False


def _levels(hall_path: Path | HallModel, *, buoyancy: bool, held_t_c: np.ndarray | None
            ) -> tuple[Level, Level, MomentumSolver, MomentumSolver]:
    """Fine and coarse levels of the hall, the fine field started from the coarse grid's answer."""
    hall = hall_path if isinstance(hall_path, HallModel) else load_hall(hall_path)
    fine_twin = HallTwin(hall, airflow="momentum", grid_sequencing=False)
    coarse_twin = HallTwin(coarse_hall(hall, COARSE_RATIO), airflow="momentum", grid_sequencing=False)
    f, c = fine_twin.momentum, coarse_twin.momentum
    assert f is not None and c is not None
    if not buoyancy:
        f.settings = replace(f.settings, buoyancy=False)
        c.settings = replace(c.settings, buoyancy=False)
    q = fine_twin.mover_flow_m3s(fine_twin.initial_state())
    held_coarse = gridseq.restrict_temperature(held_t_c, f, c, COARSE_RATIO) if held_t_c is not None else None
    c.solve(q, held_coarse, tol=1e-3)
    gridseq.prolong_momentum({"ux": c.u[0], "uy": c.u[1], "uz": c.u[2], "p": c.p}, c, f, COARSE_RATIO, q)
    fine = Level(f, q, held_t_c)
    coarse = Level(c, q, gridseq.restrict_cells(fine.tg, f.fluid, 2, c.fluid) if fine.tg is not None else None,
                   fine.t_ref)
    return fine, coarse, f, c


def flow_study(hall_path: Path | HallModel, *, buoyancy: bool, held_t_c: np.ndarray | None, tol: float, cycle: tuple[int, int, int],
               weight: float) -> dict[str, object]:
    """Plain march against FAS cycles from the same start to ``tol``: fine and coarse iterations, CPU s."""
    out: dict[str, object] = {"tol": tol}
    for method in ("plain", "fas"):
        fine, coarse, _, _ = _levels(hall_path, buoyancy=buoyancy, held_t_c=held_t_c)
        history: list[tuple[float, float]] = []
        cpu0 = time.process_time()
        if method == "plain":
            done = fine.march(3000, history, tol)
        else:
            done = fas_march(fine, coarse, history, max_iterations=3000, tol=tol, pre=cycle[0],
                             coarse_iterations=cycle[1], post=cycle[2], weight=weight)
        out[method] = {"converged": done, "fine_iterations": len(history), "coarse_iterations": coarse.iterations,
                       "cpu_s": round(time.process_time() - cpu0, 2)}
        if method == "fas":
            # The forcing's promise: at the converged fine field the coarse correction changes nothing.
            out["consistency_m_s"] = coarse_correction(fine, coarse, cycle[1], weight) if done else None
    return out


@contextmanager
def fas_in_steady_loop(cycle: tuple[int, int, int], weight: float, *, converge_to: float | None = None,
                       cap: int = 60) -> Iterator[None]:
    """HallTwin.steady with its fine grid's momentum march replaced by FAS cycles (the coarse grid's own solve
    stays plain); restored afterwards. ``converge_to``: each outer iteration's flow is taken to that residual
    (at most ``cap`` fine iterations) instead of the loop's 10 iterations."""
    plain_march = _PLAIN_MARCH
    plain_start = HallTwin._sequenced_start

    def march(self: MomentumSolver, q, tg, t_ref, s_grid, u_ref, dt, max_iterations, tol, history):  # type: ignore[no-untyped-def]
        coarse_solver = getattr(self, "_fas_coarse", None)
        if coarse_solver is None:
            return plain_march(self, q, tg, t_ref, s_grid, u_ref, dt, max_iterations, tol, history)
        fine = Level.of_march(self, q, tg, t_ref, s_grid, u_ref, dt)
        tgc = gridseq.restrict_cells(tg, self.fluid, 2, coarse_solver.fluid) if tg is not None else None
        if converge_to is not None:
            max_iterations, tol = cap, max(tol, converge_to)
        return fas_march(fine, Level(coarse_solver, q, tgc, t_ref), history, max_iterations=max_iterations, tol=tol,
                         pre=cycle[0], coarse_iterations=cycle[1], post=cycle[2], weight=weight)

    def start(self: HallTwin, *args, **kwargs):  # type: ignore[no-untyped-def]
        out = plain_start(self, *args, **kwargs)
        coarse = self._coarse_twin()
        if not isinstance(coarse, str):
            self.momentum._fas_coarse = coarse.momentum  # type: ignore[union-attr]
        return out

    momentum_module.MomentumSolver._march = march  # type: ignore[method-assign]
    HallTwin._sequenced_start = start  # type: ignore[method-assign]
    try:
        yield
    finally:
        momentum_module.MomentumSolver._march = plain_march  # type: ignore[method-assign]
        HallTwin._sequenced_start = plain_start  # type: ignore[method-assign]


@contextmanager
def steady_loop_patched(*, flow_iterations: int | None = None, relax: float | None = None,
                        temperatures_only: bool = False) -> Iterator[None]:
    """HallTwin.steady's loop with one of its constants changed (restored afterwards): the momentum iterations per
    outer iteration (twin.sim.twin._STEADY_FLOW_ITERATIONS), the relaxation of its whole-state Anderson mixing
    (0.5), or the mixing acting on the temperatures alone (the flow state handed on as solved). Always: the loop's
    marches assemble their coefficients every iteration (_STEADY_REASSEMBLE_EVERY 1), as when this study was
    made; the lagged loop changed where the FAS loop's slow drift ends (0.04 K from the plain loop's intakes, then
    0.20 K, then no settling in 300 outer iterations), which is the FAS loop's sensitivity, not FAS's result."""
    saved = {name: getattr(twin_module, name)
             for name in ("_STEADY_FLOW_ITERATIONS", "AndersonMixer", "_pack_state", "_unpack_state",
                          "_STEADY_REASSEMBLE_EVERY")}
    patch: dict[str, object] = {"_STEADY_REASSEMBLE_EVERY": 1}
    if flow_iterations is not None:
        patch["_STEADY_FLOW_ITERATIONS"] = flow_iterations
    if relax is not None:
        state_relax, plain_mixer = relax, saved["AndersonMixer"]

        def mixer(*, memory: int = 5, relax: float = 0.7) -> object:
            # The loop's state mixer is the one built with memory 4 and relax 0.5; the fan law's keeps its own.
            return plain_mixer(memory=memory, relax=state_relax if (memory, relax) == (4, 0.5) else relax)
        patch["AndersonMixer"] = mixer
    if temperatures_only:
        patch["_pack_state"] = lambda momentum, t_air_c, u_scale: np.asarray(t_air_c, dtype=float).ravel().copy()
        patch["_unpack_state"] = lambda x, like, u_scale: (dict(like), x.copy())
    for name, value in patch.items():
        setattr(twin_module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(twin_module, name, value)


def _steady_run(hall_path: Path | HallModel, fas: tuple[tuple[int, int, int], float] | None = None, *,
                converge_to: float | None = None, **loop: object) -> tuple[dict[str, object], np.ndarray]:
    """One steady solve (plain, or with FAS cycles; ``loop``: :func:`steady_loop_patched`'s changes): outer
    iterations, CPU s, intakes, and its air temperatures (empty if it failed)."""
    twin = HallTwin(hall_path if isinstance(hall_path, HallModel) else load_hall(hall_path), airflow="momentum")
    cpu0 = time.process_time()
    try:
        with steady_loop_patched(**loop):  # type: ignore[arg-type]
            if fas is None:
                state = twin.steady()
            else:
                with fas_in_steady_loop(*fas, converge_to=converge_to):
                    state = twin.steady()
    except Exception as exc:  # noqa: BLE001 - a study reports what failed
        return {"failed": str(exc)[:300], "cpu_s": round(time.process_time() - cpu0, 2)}, np.zeros(0)
    return ({"outer_iterations": state.extra["steady"]["outer_iterations"],
             "cpu_s": round(time.process_time() - cpu0, 2),
             "intakes_c": [round(float(v), 3) for v in state.t_intake_c]}, state.t_air_c)


def steady_study(hall_path: Path, cycle: tuple[int, int, int], weight: float, *, variants: bool = False,
                 slow: bool = False) -> tuple[dict[str, object], np.ndarray]:
    """The default steady solve and the one with FAS cycles: outer iterations, CPU s, intakes; and the default's
    air temperatures (the held field of the buoyant flow study). ``variants``: also the plain loop with 5 and 20
    momentum iterations per outer iteration, FAS with the mixing unrelaxed, and FAS with each outer iteration's
    flow converged to 1e-5 (at most 60 fine iterations); ``slow``: that last with the temperatures alone mixed
    (about 10 minutes)."""
    runs: dict[str, dict] = {"plain": {}, "fas": {"fas": (cycle, weight)}}
    if variants:
        runs.update({
            "plain, 5 flow iterations per outer": {"flow_iterations": 5},
            "plain, 20 flow iterations per outer": {"flow_iterations": 20},
            "fas, mixing relax 1.0": {"fas": (cycle, weight), "relax": 1.0},
            "fas, flows converged to 1e-5 per outer": {"fas": (cycle, weight), "converge_to": 1e-5}})
    if slow:
        runs["fas, flows converged to 1e-5 per outer, temperatures alone mixed"] = {
            "fas": (cycle, weight), "converge_to": 1e-5, "temperatures_only": True}
    out: dict[str, object] = {}
    t_air = np.zeros(0)
    for name, kw in runs.items():
        out[name], t = _steady_run(hall_path, **kw)
        if name == "plain":
            t_air = t
    return out, t_air


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hall", type=Path, default=HALL)
    parser.add_argument("--cycle", type=int, nargs=3, default=(3, 15, 3), metavar=("PRE", "COARSE", "POST"))
    parser.add_argument("--weight", type=float, default=0.75, help="damping of the coarse correction")
    parser.add_argument("--variants", action="store_true",
                        help="also the steady loop's variants (other splits, relaxation, converged flows)")
    parser.add_argument("--slow", action="store_true", help="also FAS with the temperatures alone mixed (~10 min)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    cycle = tuple(args.cycle)
    steady, t_air = steady_study(args.hall, cycle, args.weight, variants=args.variants, slow=args.slow)
    results = {
        "hall": str(args.hall), "cycle": cycle, "weight": args.weight, "steady": steady,
        "isothermal": [flow_study(args.hall, buoyancy=False, held_t_c=None, tol=t, cycle=cycle, weight=args.weight)
                       for t in (1e-4, 1e-5)],
        "held_temperatures": [flow_study(args.hall, buoyancy=True, held_t_c=t_air, tol=t, cycle=cycle,
                                         weight=args.weight) for t in (1e-4, 1e-5)],
    }
    for name in ("isothermal", "held_temperatures"):
        for r in results[name]:
            p, f = r["plain"], r["fas"]
            print(f"{name}, to {r['tol']:g}: plain {p['fine_iterations']} iterations {p['cpu_s']} s; FAS "
                  f"{f['fine_iterations']} fine + {f['coarse_iterations']} coarse {f['cpu_s']} s "
                  f"({p['cpu_s'] / f['cpu_s']:.2f}x); coarse change at convergence {r['consistency_m_s']}")
    for method, r in steady.items():
        print(f"steady solve, {method}: {r}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
