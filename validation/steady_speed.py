"""Steady momentum solve against the CFD, each stopped when its answer is as good (issue 10's speed target).

Usage::

    python validation/steady_speed.py                      # the three validation halls
    python validation/steady_speed.py open-row --repeat 2  # one hall, timed twice
    python validation/steady_speed.py --json out.json
    python validation/steady_speed.py --cached             # the converged answers saved by an earlier run

The converged answers take long (open-row: about 300 outer iterations, 13 min on the shared machine), so each is
saved as validation/results/HALL/twin_converged.json (intakes, a SHA-256 of the hall file and the solver code, outer iterations,
wall time) and ``--cached`` reuses it while neither the hall file nor the solver code (``SOLVER_SOURCES``: the
physics, the steady loop and its mixer, voxelization, the hall's reading, the coils' control) has changed.

A solver's default stopping rule says little about how good its answer is when it stops: OpenFOAM's runs in
validation/results/ stop after a fixed number of SIMPLE iterations (their meta.json "criteria": initial
residuals below 1e-2 and intakes changing < 0.02 K per 100-iteration Picard block), the twin when its scaled
residuals are below 3e-4 and its intakes moved < 0.05 K in two outer iterations in a row (until 2026-12-02:
below 1e-4 and in one). So for each hall this measures,
for both, when the rack intakes and CRAH returns first came (and stayed) within 0.05 K and 0.1 K of the
solver's own final answer:

* the twin: the wall time of ``HallTwin.steady`` at each outer iteration, against the twin's fully converged
  answer (a second solve with the intakes settled to 1e-4 K per outer iteration and the flow residuals to
  1e-6, or to the solver's default 1e-4 where they stall above 1e-6, as on contained: the saved answer's
  ``flow_tol`` says which); the wall time its default rule takes is reported beside it, with how far that answer is from the
  converged one;
* the CFD: the first Picard block (history.csv, every 100 iterations) from which on its intakes stay within
  the same of its last block, as a share of its solver wall time (meta.json), at a constant cost per
  iteration. A run whose intakes never settle (the aisle-pair CFD swings 3.4 K to the end; its answer is an
  average over the last 2000 iterations) reports its whole time, marked "not settled".

The twin's times are wall-clock on whatever machine runs this; the CFD's are the committed runs' (one core,
meta.json), so the printed ratios mean something only on a quiet machine like theirs. On a shared machine
compare the twin's times with another build's from the same run, alternating.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from twin.model.load import load_hall  # noqa: E402
from twin.sim.twin import AirflowNotConverged, HallTwin  # noqa: E402

__all__ = ["SOLVER_SOURCES", "CfdSettling", "TwinTrace", "answer_sources", "cfd_settling", "main", "time_within",
           "twin_trace"]

HALLS = ("open-row", "aisle-pair", "contained")
TOLERANCES_K = (0.1, 0.05)
RESULTS = ROOT / "validation" / "results"
#: The converged reference: intakes settled to this per outer iteration, flow residuals to this.
CONVERGED_INTAKE_K = 1e-4
CONVERGED_FLOW_TOL = 1e-6
#: Where the flow's residuals stall above CONVERGED_FLOW_TOL (contained: near 6e-5 and 3e-5, twin.thermal.momentum's
#: "Grid sequencing" note), the converged answer settles the intakes to CONVERGED_INTAKE_K at the solver's default
#: flow tolerance instead; the saved answer says which.
FALLBACK_FLOW_TOL = 1e-4


@dataclass
class TwinTrace:
    """A steady solve's intakes (racks then CRAH returns, °C) after each outer iteration, with the wall time."""

    time_s: np.ndarray
    intakes_c: np.ndarray
    wall_s: float
    outer_iterations: int


@dataclass
class CfdSettling:
    """When a CFD run's intakes settled within ``tol_k`` of its last Picard block."""

    tol_k: float
    iteration: int
    iterations: int
    solver_wall_s: float
    settled: bool

    @property
    def time_s(self) -> float:
        return self.solver_wall_s * self.iteration / self.iterations


def twin_trace(hall_path: Path, *, converged: bool = False, flow_tol: float = CONVERGED_FLOW_TOL) -> TwinTrace:
    """Solve the hall's steady state with the momentum model, recording the intakes per outer iteration
    (``converged``: intakes settled to CONVERGED_INTAKE_K per outer iteration, flow residuals to ``flow_tol``)."""
    twin = HallTwin(load_hall(hall_path), airflow="momentum")
    assert twin.momentum is not None
    if converged:
        twin.momentum.settings = replace(twin.momentum.settings, tol=flow_tol)
    times: list[float] = []
    intakes: list[np.ndarray] = []
    intake_c = twin.intake_c
    t0 = time.perf_counter()

    def recorded(t_air_c: np.ndarray) -> np.ndarray:
        # intake_c runs once per outer iteration (and once on the state handed out): the iterates as they come.
        out = intake_c(t_air_c)
        times.append(time.perf_counter() - t0)
        intakes.append(out.copy())
        return out

    twin.intake_c = recorded  # type: ignore[method-assign]
    # The converged answer holds the flow to its own tolerance, not the default loop's multiple of it.
    kw = {"intake_tol_k": CONVERGED_INTAKE_K, "max_outer": 2000, "flow_tol_factor": 1.0} if converged else {}
    state = twin.steady(**kw)  # type: ignore[arg-type]
    wall_s = time.perf_counter() - t0
    return TwinTrace(np.array(times), np.array(intakes), wall_s, int(state.extra["steady"]["outer_iterations"]))


def time_within(trace: TwinTrace, answer_c: np.ndarray, tol_k: float) -> float:
    """Wall time from which on the trace's intakes stay within ``tol_k`` of ``answer_c`` (nan: never)."""
    off = np.max(np.abs(trace.intakes_c - answer_c), axis=1) > tol_k
    if off[-1]:
        return float("nan")
    last_off = np.flatnonzero(off)
    return float(trace.time_s[last_off[-1] + 1] if last_off.size else trace.time_s[0])


def cfd_settling(hall: str, tol_k: float, results: Path = RESULTS) -> CfdSettling:
    """The CFD run's settling in ``results``/HALL (history.csv, meta.json; by default the current reference)."""
    meta = json.loads((results / hall / "meta.json").read_text())
    with (results / hall / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    columns = [c for c in rows[0] if c.startswith(("in.", "ret."))]
    iteration = np.array([int(r["iteration"]) for r in rows])
    intakes = np.array([[float(r[c]) for c in columns] for r in rows])
    off = np.max(np.abs(intakes - intakes[-1]), axis=1) > tol_k
    last_off = np.flatnonzero(off[:-1])
    # Settled only if it held for at least one block before the last (the last block equals itself).
    first = int(iteration[last_off[-1] + 1]) if last_off.size else int(iteration[0])
    settled = first < int(iteration[-1])
    return CfdSettling(tol_k, first if settled else int(meta["iterations"]), int(meta["iterations"]),
                       float(meta["solver_wall_s"]), settled)


#: The code a converged answer depends on besides the hall file: the airflow and transport physics, the
#: steady loop and every twin module it imports (its mixer, the hall's controls, power and state), the voxels
#: the hall becomes, the hall file's reading and the coils' control.
SOLVER_SOURCES = ("twin/thermal/*.py", "twin/sim/twin.py", "twin/sim/fixed_point.py", "twin/sim/controls.py",
                  "twin/sim/power.py", "twin/sim/state.py", "twin/geometry/voxel.py", "twin/model/*.py",
                  "twin/control/*.py")


def answer_sources(hall_path: Path) -> list[Path]:
    """The files whose change makes a saved converged answer stale: the hall file and the solver's code."""
    return [hall_path, *(f for pattern in SOLVER_SOURCES for f in sorted(ROOT.glob(pattern)))]


def converged_answer(hall: str, *, cached: bool) -> tuple[np.ndarray, dict[str, object]]:
    """The twin's fully converged intakes for a validation hall (solved, or read back with ``cached``)."""
    path = ROOT / "validation" / "halls" / f"{hall}.toml"
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in answer_sources(path))).hexdigest()
    saved = RESULTS / hall / "twin_converged.json"
    if cached and saved.exists():
        data = json.loads(saved.read_text())
        if data.get("source_sha256") == digest:
            return np.array(data["intakes_c"]), data
    flow_tol, note = CONVERGED_FLOW_TOL, None
    try:
        trace = twin_trace(path, converged=True, flow_tol=flow_tol)
    except AirflowNotConverged as exc:
        # The flow's residuals stall above 1e-6 on this hall: settle the intakes at the default flow tolerance.
        note = f"flow residuals stall above {flow_tol:g}: {str(exc).splitlines()[0][:200]}"
        print(f"{hall}: {note}; converged answer at flow tolerance {FALLBACK_FLOW_TOL:g}", file=sys.stderr)
        flow_tol = FALLBACK_FLOW_TOL
        trace = twin_trace(path, converged=True, flow_tol=flow_tol)
    data = {"source_sha256": digest, "intakes_c": [round(float(v), 4) for v in trace.intakes_c[-1]],
            "outer_iterations": trace.outer_iterations, "wall_s": round(trace.wall_s, 1),
            "intake_tol_k": CONVERGED_INTAKE_K, "flow_tol": flow_tol}
    if note:
        data["flow_tol_note"] = note
    saved.write_text(json.dumps(data, indent=1) + "\n")
    return trace.intakes_c[-1], data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("halls", nargs="*", default=list(HALLS), help="validation halls (default: all three)")
    parser.add_argument("--repeat", type=int, default=1, help="time the default solve this many times")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--cached", action="store_true",
                        help="reuse validation/results/HALL/twin_converged.json when neither the hall file nor the solver code has changed")
    args = parser.parse_args(argv)
    report = []
    for hall in args.halls:
        path = ROOT / "validation" / "halls" / f"{hall}.toml"
        answer, converged = converged_answer(hall, cached=args.cached)
        for _ in range(args.repeat):
            trace = twin_trace(path)
            row: dict[str, object] = {
                "hall": hall, "twin_default_s": round(trace.wall_s, 2), "outer_iterations": trace.outer_iterations,
                "default_off_converged_k": round(float(np.max(np.abs(trace.intakes_c[-1] - answer))), 3),
                "converged_s": converged["wall_s"], "converged_outer": converged["outer_iterations"],
            }
            for tol in TOLERANCES_K:
                cfd = cfd_settling(hall, tol)
                twin_s = time_within(trace, answer, tol)
                # None (JSON null), not NaN, where the twin's default run never came within tol: NaN is no JSON.
                row[f"twin_within_{tol:g}k_s"] = round(twin_s, 2) if np.isfinite(twin_s) else None
                row[f"cfd_within_{tol:g}k_s"] = round(cfd.time_s, 1)
                row[f"cfd_within_{tol:g}k_iteration"] = cfd.iteration
                row[f"cfd_within_{tol:g}k_settled"] = cfd.settled
                row[f"ratio_{tol:g}k"] = round(cfd.time_s / twin_s, 1) if np.isfinite(twin_s) else None
            report.append(row)
            print(json.dumps(row, allow_nan=False), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
