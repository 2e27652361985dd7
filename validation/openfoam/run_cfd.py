"""Run the OpenFOAM reference of a hall on one core and extract what the twin is compared with.

Usage: ``python validation/openfoam/run_cfd.py HALL.toml [--plenum] [--transient] [--case DIR] [--results DIR]
[--gravity-scale S] [--cell-m H] [--init-from RESULTS] [--wall-limit-s S]`` (and the raised-floor study options
of :func:`case_from_hall.add_floor_arguments`)

``--cell-m H`` (steady) runs the same hall on cells of H m: a copy of the hall file with only ``[hall] cell_m``
changed, so the hall file stays the single source (:func:`cell_variant`; a cell that does not divide the
room, the raised floor or an object is refused in one line). Results in ``validation/results/<hall>-cell<H>/``.
``--init-from RESULTS`` starts from that run's averaged T and U instead of still air (:func:`initial_fields`).
``--wall-limit-s S`` ends a run early (after at least 4 blocks for a steady run) so that it finishes within
S seconds of wall time; ``touch CASE/stop`` does the same by hand. The averages are written either way.

``--gravity-scale S`` multiplies g (default 1, S ≥ 0): S = 0 runs the same Boussinesq solver with a flow
blind to temperature (T still transported on it), the CFD side of the twin's ``[airflow] buoyancy =
false`` (validation/README.md, "Does the gap need buoyancy?").

``--plenum`` meshes a raised floor's plenum and makes the tiles porous baffles (see
:mod:`case_from_hall`); without it the tiles are a uniform velocity inlet.

``--transient`` runs ``buoyantBoussinesqPimpleFoam`` instead and averages in time (:func:`run_transient`;
results in ``validation/results/<hall>-transient/``): the reference for a hall whose steady iterates do
not settle. Cost on this machine: ≈ 0.045 s of CPU per time step of the 38,848-cell aisle-pair at
Δt ≈ 0.045 s (Courant 2), i.e. ≈ 11 min of one free core for 720 s of simulated time.

Writes the case (:mod:`case_from_hall`), then runs ``buoyantBoussinesqSimpleFoam`` (serial, no MPI) in
blocks of SIMPLE iterations. Between blocks an outer Picard loop couples the racks: it reads each rack's
mean intake temperature from the cells in front of it, sets the server airflow from the hall's airflow
law at that temperature and the exhaust to T_in + P/(ρ c_p q), and continues from the latest fields. It
stops when every rack intake and CRAH return changed by less than ``--tol-k`` over each of the last
three blocks and the solver's initial residuals are below ``--residual``, or at ``--max-iterations``.
Steady RANS of a buoyant room keeps a weakly unsteady part: its residuals level off around 1e-3
(velocity) and 1e-2 (p_rgh) while the intakes no longer move, hence the default of 1e-2.

Results (small files, for the repo) in ``validation/results/<hall>/``:

- ``racks.csv``: per rack IT load, airflow, mean intake and exhaust temperature (°C) averaged over the
  last ``--average-blocks`` blocks, how much the intake moved over them (max − min, K: the CFD's own
  steadiness), and the last iterate's intake.
- ``crahs.csv``: per CRAH flow, supply and mean return temperature (same averaging).
- ``fields.npz``: cell-centred T (°C) and velocity (same averaging) on the twin's grid (NaN in solids and,
  without ``--plenum``, in the plenum), and horizontal slices of T at z = 1.0 and 1.5 m (linear between the
  two cell layers around each height).
- ``tiles.csv`` (``--plenum``): per tile face (x, y of its centre) the flow up through it, m³/s, from the
  solver's face flux ``phi`` (same averaging), and its spread over the averaged blocks.
- ``residuals.csv``: initial residuals every 10 iterations; ``history.csv``: intakes per block.
- ``meta.json``: OpenFOAM version, solver, cells, iterations, wall time on one core, the solver's CPU time
  (``solver_cpu_s``) and the 1-minute load average sampled after each block (steady runs), final residuals.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))  # the repo root: validation.numerics_study
from case_from_hall import (  # noqa: E402
    GRAVITY_M_S2,
    CfdCase,
    MoverState,
    add_floor_arguments,
    add_gravity_argument,
    build_case,
    check_gravity_scale,
    crah_flow_m3s,
    nominal_state,
    rack_flow_m3s,
    t_ref_k,
    update_time_dir,
    write_case,
    write_control,
    write_field,
    write_transient_control,
)

__all__ = ["cell_variant", "initial_fields", "read_internal", "run", "run_transient"]

SOLVER = "buoyantBoussinesqSimpleFoam"
TRANSIENT_SOLVER = "buoyantBoussinesqPimpleFoam"
FOAM_ENV = {"WM_PROJECT_DIR": "/usr/share/openfoam", "OMP_NUM_THREADS": "1"}
_RES = re.compile(r"Solving for (\w+), Initial residual = ([0-9.eE+-]+)")
_COURANT = re.compile(r"Courant Number mean: ([0-9.eE+-]+) max: ([0-9.eE+-]+)")


def read_internal(path: Path, n: int) -> np.ndarray:
    """The internalField of an ascii OpenFOAM field file: (n,) scalars or (n, 3) vectors."""
    text = path.read_text()
    i0 = text.index("internalField")
    i1 = text.index("boundaryField")
    body = text[i0:i1]
    m = re.match(r"internalField\s+uniform\s+(\([^)]*\)|[^;]+);", body)
    if m:
        v = np.array(m.group(1).strip("()").split(), dtype=float)
        return np.tile(v, (n, 1)) if v.size == 3 else np.full(n, v[0])
    start = body.index("(", body.index(">"))  # after List<scalar|vector> and the count
    end = body.rindex(")")
    values = np.array(body[start + 1:end].replace("(", " ").replace(")", " ").split(), dtype=float)
    return values.reshape(n, 3) if values.size == 3 * n else values


def read_patch_flux(path: Path, patch: str) -> np.ndarray:
    """The face fluxes (m³/s) of one patch in an ascii ``phi`` file (outward from the patch's cells)."""
    text = path.read_text()
    i = text.index("boundaryField")
    i = text.index(f"\n    {patch}\n", i)
    body = text[i:text.index("\n    }", i)]
    m = re.search(r"value\s+nonuniform\s+List<scalar>\s*\d+\s*\(([^)]*)\)", body)
    if m:
        return np.array(m.group(1).split(), dtype=float)
    m = re.search(r"value\s+uniform\s+([^;]+);", body)
    return np.full(1, float(m.group(1)))


def tile_flows_m3s(case: CfdCase, time_dir: Path) -> np.ndarray:
    """Flow up through each tile face (``case.tile_faces`` order), m³/s, from the solver's ``phi``."""
    tf = case.tile_faces
    if tf.model == "baffle":
        return read_patch_flux(time_dir / "phi", "tiles_plenum")
    return read_internal(time_dir / "phi", len(case.neighbour))[tf.internal_faces]  # owner: plenum cell


def latest_time(root: Path) -> Path:
    times = [p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"[0-9.]+", p.name)]
    return max(times, key=lambda p: float(p.name))


def intake_means(case: CfdCase, t_c: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    """Mean temperature of the cells in front of every rack intake and every CRAH return, °C."""
    racks = {m.owner: float(t_c[m.cells].mean()) for m in case.movers.values() if m.kind == "rack_in"}
    crahs = {m.owner: float(t_c[m.cells].mean()) for m in case.movers.values() if m.kind == "crah_ret"}
    return racks, crahs


def next_state(case: CfdCase, t_in: dict[str, float], prev: MoverState, relax: float) -> MoverState:
    flows, exhaust = {}, {}
    for r in case.hall.racks:
        q = rack_flow_m3s(r, t_in[r.name])
        t_ex = t_in[r.name] + (r.it_w / (case.rho * case.cp * q) if q > 0 else 0.0)
        flows[r.name] = prev.rack_flow_m3s[r.name] + relax * (q - prev.rack_flow_m3s[r.name])
        exhaust[r.name] = prev.rack_exhaust_c[r.name] + relax * (t_ex - prev.rack_exhaust_c[r.name])
    return MoverState(flows, exhaust)


def _range_last_half(history: list[dict]) -> float:
    """Largest max − min of any rack intake or CRAH return over the second half of the blocks, K."""
    half = history[len(history) // 2:]
    keys = [k for k in half[0] if k.startswith(("in.", "ret."))]
    return round(max(max(h[k] for h in half) - min(h[k] for h in half) for k in keys), 4)


def foam_version() -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "openfoam"], capture_output=True, text=True)
        return f"OpenFOAM v1912 (Debian package openfoam {out.stdout.strip()})"
    except OSError:
        return "unknown"


def write_tables(case: CfdCase, results: Path, *, t_c: np.ndarray, u: np.ndarray, t_in: dict, t_ret: dict,
                 t_in_final: dict, t_ret_final: dict, avg: list[dict], tiles_q: np.ndarray | None,
                 residual_rows: list[dict], history: list[dict]) -> None:
    """Write fields.npz, racks.csv, crahs.csv, tiles.csv, residuals.csv and history.csv of a run.

    ``t_c``/``u``: averaged cell fields; ``t_in``/``t_ret``: intakes of the averaged field; ``avg``: the
    history rows averaged over (their spread is reported); ``tiles_q``: tile flows per sample (rows).
    """
    results.mkdir(parents=True, exist_ok=True)
    grid = case.vox.grid
    t3 = np.full(grid.shape, np.nan, dtype=np.float32)
    u3 = np.full((*grid.shape, 3), np.nan, dtype=np.float32)
    fluid = case.cell_id >= 0
    t3[fluid] = t_c[case.cell_id[fluid]]
    u3[fluid] = u[case.cell_id[fluid]]
    zc = grid.centers(2)
    slices = {}
    for z in (1.0, 1.5):
        k = int(np.searchsorted(zc, z)) - 1
        w = (z - zc[k]) / (zc[k + 1] - zc[k])
        lo, hi = t3[:, :, k], t3[:, :, k + 1]
        s = np.where(np.isnan(lo), hi, np.where(np.isnan(hi), lo, (1 - w) * lo + w * hi))
        slices[f"t_z{z:.1f}_c".replace(".", "_")] = s.astype(np.float32)
    np.savez_compressed(results / "fields.npz", t_c=t3, velocity_m_s=u3, x_m=grid.centers(0), y_m=grid.centers(1),
                        z_m=zc, cell_m=grid.cell_m, **slices)
    with open(results / "racks.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rack", "it_kw", "flow_m3s", "t_intake_c", "t_exhaust_c", "t_intake_spread_k", "t_intake_final_c"])
        for r in case.hall.racks:
            vals = [h[f"in.{r.name}"] for h in avg]
            q = rack_flow_m3s(r, t_in[r.name])
            w.writerow([r.name, r.it_w / 1e3, f"{q:.5f}", f"{t_in[r.name]:.3f}",
                        f"{t_in[r.name] + r.it_w / (case.rho * case.cp * q):.3f}", f"{max(vals) - min(vals):.3f}",
                        f"{t_in_final[r.name]:.3f}"])
    with open(results / "crahs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["crah", "flow_m3s", "t_supply_c", "t_return_c", "t_return_spread_k", "t_return_final_c"])
        for c in case.hall.crahs:
            vals = [h[f"ret.{c.name}"] for h in avg]
            q = crah_flow_m3s(c)
            w.writerow([c.name, f"{q:.5f}", c.supply_setpoint_c, f"{t_ret[c.name]:.3f}", f"{max(vals) - min(vals):.3f}",
                        f"{t_ret_final[c.name]:.3f}"])
    if tiles_q is not None:
        tf = case.tile_faces
        ti, tj, _ = np.unravel_index(tf.room_grid, grid.shape)
        with open(results / "tiles.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["x_m", "y_m", "flow_m3s", "flow_spread_m3s"])
            for a, b, q, sp in zip(grid.centers(0)[ti], grid.centers(1)[tj], tiles_q.mean(0), np.ptp(tiles_q, 0)):
                w.writerow([f"{a:.3f}", f"{b:.3f}", f"{q:.6f}", f"{sp:.6f}"])
    for name, rows in (("residuals.csv", residual_rows), ("history.csv", history)):
        keys = list(dict.fromkeys(k for r in rows for k in r))
        with open(results / name, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            for r in rows:
                w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def _children_cpu_s() -> float:
    """CPU time (user + system) of the finished child processes so far, s: the solver's own cost, which
    on a shared machine says more than its wall time."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _load_summary(samples: list[float]) -> dict[str, float]:
    """Min, mean and max of the 1-minute load averages sampled after each block (what the run shared with)."""
    return {"min": round(min(samples), 2), "mean": round(sum(samples) / len(samples), 2),
            "max": round(max(samples), 2), "samples": len(samples)} if samples else {}


def _write_rows(path: Path, rows: list[dict], *, header: bool) -> None:
    """Write (``header``) or append CSV rows with the keys of the first row as columns."""
    if not rows:
        return
    with open(path, "w" if header else "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        if header:
            w.writeheader()
        w.writerows({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows)


def cell_variant(hall: Path, cell_m: float, out_dir: Path) -> Path:
    """The hall on a grid of ``cell_m`` cells: a copy of its file with only ``[hall] cell_m`` replaced
    (:func:`validation.numerics_study.hall_variant`), written to ``out_dir`` and loaded once, so that the
    hall's own checks refuse a cell that does not divide the room, the raised floor or an object.

    Raises ValueError with one line naming the hall file, ``hall.cell_m`` and what was wrong.
    """
    from twin.model import HallError, load_hall
    from validation.numerics_study import hall_variant

    if not np.isfinite(cell_m) or cell_m <= 0.0:
        raise ValueError(f"{hall}: hall.cell_m (--cell-m): must be a positive length in m, got {cell_m!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    variant = hall_variant(hall, out_dir, cell_m=cell_m)
    try:
        load_hall(variant)
    except HallError as exc:  # the checks name the copy; the user named the original and --cell-m
        raise ValueError(str(exc).replace(str(variant), f"{hall} with --cell-m {cell_m:g}", 1)) from None
    return variant


def initial_fields(case: CfdCase, results: Path) -> tuple[str, str, MoverState]:
    """T and U of an earlier run's ``fields.npz`` (``results``, any grid whose cells are whole multiples of
    this case's) as this case's ``internalField`` entries, and the rack state at its ``racks.csv`` intakes.

    Each cell takes the value of the coarse cell it lies in (injection); cells the coarse field has no
    value for keep the uniform start. k and ε keep their uniform start: the first blocks rebuild them.
    Only the starting point changes; the iterations it saves are spin-up, never part of the average.
    """
    from validation.compare import read_racks
    from validation.tile_column_probe import read_fields

    fields = read_fields(results / "fields.npz")
    t_coarse, u_coarse, coarse_m = fields["t_c"], fields["velocity_m_s"], float(fields["cell_m"])
    grid = case.vox.grid
    ratio = coarse_m / grid.cell_m
    if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
        raise ValueError(f"{results / 'fields.npz'}: cell_m {coarse_m:g} m is not a whole multiple of this "
                         f"case's {grid.cell_m:g} m")
    fluid = np.argwhere(case.cell_id >= 0)
    ids = case.cell_id[tuple(fluid.T)]
    coarse = fluid // int(round(ratio))
    if np.any(coarse >= np.array(t_coarse.shape)):
        raise ValueError(f"{results / 'fields.npz'}: grid {t_coarse.shape} does not cover this case's room")
    t_k = np.full(case.n_cells, t_ref_k(case))
    u = np.zeros((case.n_cells, 3))
    tv = t_coarse[tuple(coarse.T)].astype(float)
    uv = u_coarse[tuple(coarse.T)].astype(float)
    ok = np.isfinite(tv) & np.isfinite(uv).all(axis=1)
    t_k[ids[ok]] = tv[ok] + 273.15
    u[ids[ok]] = uv[ok]
    t_text = f"internalField   nonuniform List<scalar>\n{case.n_cells}\n(\n" + "\n".join(f"{v:.9g}" for v in t_k) + "\n);\n"
    u_text = (f"internalField   nonuniform List<vector>\n{case.n_cells}\n(\n"
              + "\n".join(f"({a:.9g} {b:.9g} {c:.9g})" for a, b, c in u) + "\n);\n")
    return t_text, u_text, nominal_state(case, read_racks(results))


def _first_block_outflow(case_dir: Path) -> str | None:
    """The outflow condition of the case's first block, as its 0/U has it: fixed-value from still air (the start
    rule of case_from_hall.OUTFLOW_BCS), the run's own from an --init-from field; None if 0/U is gone."""
    path = case_dir / "0" / "U"
    if not path.is_file():
        return None
    return "normal-slip" if "fixedNormalSlip" in path.read_text() else "fixed-value"


def run(hall: Path, case_dir: Path, results: Path, *, block: int, max_iterations: int, tol_k: float,
        residual: float, relax: float, average_blocks: int = 20, plenum: bool = False,
        tile_model: str = "porous", tile_zeta_scale: float = 1.0, tile_lateral_scale: float = 100.0,
        tile_flows: Path | None = None, tile_turbulence: Path | None = None, gravity_scale: float = 1.0,
        wall_limit_s: float | None = None, init_from: Path | None = None, cell_m: float | None = None,
        outflow_bc: str = "normal-slip") -> dict:
    """Steady SIMPLE run with the Picard coupling of the racks (module docstring).

    ``wall_limit_s``: stop before the next block would end later than this wall time (s from the start),
    after at least four blocks (a shared machine decides how far a run gets; ``meta.json`` says where it
    stopped and why). A file named ``stop`` in ``case_dir`` ends the run the same way after the current
    block. ``init_from``: start from an earlier run's averaged T and U (:func:`initial_fields`) instead of
    still air at the hall's initial temperature. ``cell_m``: run the hall on a grid of that cell
    (:func:`cell_variant`; the copy of the hall file goes beside ``case_dir``).
    """
    source_hall = hall
    if cell_m is not None:
        hall = cell_variant(hall, cell_m, case_dir.parent / f"{case_dir.name}-hall")
    case = build_case(hall, plenum=plenum, tile_model=tile_model, tile_zeta_scale=tile_zeta_scale,
                      tile_lateral_scale=tile_lateral_scale, tile_flows_csv=tile_flows,
                      tile_turbulence_csv=tile_turbulence, outflow_bc=outflow_bc)
    if case_dir.exists():
        shutil.rmtree(case_dir)
    start = initial_fields(case, init_from) if init_from is not None else None
    state = write_case(case, case_dir, gravity_scale=gravity_scale, state=start[2] if start else None)
    if start is not None:  # a flow to start from, not still air: the run's own outflow condition from block one
        write_field(case, case_dir / "0", "T", state, internal=start[0])
        write_field(case, case_dir / "0", "U", state, internal=start[1])
    n = case.n_cells
    env = {**os.environ, **FOAM_ENV}
    log_path = case_dir / "log.solver"
    history, residual_rows = [], []
    stopped = "iteration cap"
    prev_in: dict[str, float] | None = None
    prev_ret: dict[str, float] | None = None
    it = 0
    t0 = time.perf_counter()
    cpu0_s = _children_cpu_s()
    load_1min: list[float] = []
    solver_s = 0.0
    converged = False
    last_res: dict[str, float] = {}
    recent: list[tuple] = []  # (T °C, U, tile fluxes or None) of the last `average_blocks` blocks
    while it < max_iterations:
        it_end = min(it + block, max_iterations)
        write_control(case, case_dir, end_iteration=it_end, write_interval=block)
        ts = time.perf_counter()
        with open(log_path, "a") as log:
            proc = subprocess.run([SOLVER, "-case", str(case_dir)], stdout=log, stderr=subprocess.STDOUT, env=env)
        solver_s += time.perf_counter() - ts
        load_1min.append(os.getloadavg()[0])
        if proc.returncode != 0:
            raise RuntimeError(f"{SOLVER} failed at iteration {it} (see {log_path})")
        # residuals of this block
        text = log_path.read_text()
        block_text = text[text.rfind(f"\nTime = {it + 1}\n"):] if it else text
        for chunk in block_text.split("\nTime = ")[1:]:
            step = int(chunk.split("\n", 1)[0])
            res = {}
            for name, val in _RES.findall(chunk):
                res.setdefault(name, float(val))  # first solve of the step (the initial residual)
            if res:
                last_res = res
                if step % 10 == 0:
                    residual_rows.append({"iteration": step, **res})
        it = it_end
        tdir = latest_time(case_dir)
        for old in case_dir.iterdir():  # keep 0/ and the latest fields only (restarts defeat purgeWrite)
            if old.is_dir() and old != tdir and old.name != "0" and re.fullmatch(r"[0-9.]+", old.name):
                shutil.rmtree(old)
        t_c = read_internal(tdir / "T", n) - 273.15
        tiles_q = tile_flows_m3s(case, tdir) if case.plenum else None
        recent = [*recent, (t_c, read_internal(tdir / "U", n), tiles_q)][-average_blocks:]
        recent = recent[-max((len(history) + 1) // 2, 1):]  # never average over the first half of the run
        t_in, t_ret = intake_means(case, t_c)
        change = 0.0 if prev_in is None else max(
            max(abs(t_in[k] - prev_in[k]) for k in t_in), max(abs(t_ret[k] - prev_ret[k]) for k in t_ret))
        history.append({"iteration": it, "max_change_k": change, **{f"in.{k}": v for k, v in t_in.items()},
                        **{f"ret.{k}": v for k, v in t_ret.items()}})
        print(f"[{hall.stem}] it {it:5d}  max change {change:7.4f} K  residuals "
              + " ".join(f"{k}={v:.1e}" for k, v in last_res.items())
              + f"  wall {time.perf_counter() - t0:.0f} s  cpu {_children_cpu_s() - cpu0_s:.0f} s"
              + f"  load {load_1min[-1]:.1f}", file=sys.stderr, flush=True)
        prev_in, prev_ret = t_in, t_ret
        settled = len(history) > 3 and all(h["max_change_k"] < tol_k for h in history[-3:])
        if settled and max(last_res.values()) < residual:
            converged = True
            stopped = "converged"
            break
        state = next_state(case, t_in, state, relax)
        update_time_dir(case, tdir, state)
        elapsed = time.perf_counter() - t0
        if it < max_iterations and len(history) >= 4:
            if wall_limit_s is not None and elapsed + 1.5 * elapsed / len(history) > wall_limit_s:
                stopped = f"wall limit ({wall_limit_s:g} s)"
            elif (case_dir / "stop").exists():
                stopped = "stop file"
            if stopped != "iteration cap":
                print(f"[{hall.stem}] {stopped}: stopping at iteration {it}", file=sys.stderr, flush=True)
                break
    wall_s = time.perf_counter() - t0

    # --- extract -----------------------------------------------------------------------------
    # A buoyant room keeps a weakly unsteady part (row-end recirculation flapping from one row to the
    # other), so SIMPLE iterates wander: results are averaged over the last blocks (iteration average),
    # and the spread over them is reported beside the mean.
    t_c = np.mean([r[0] for r in recent], axis=0)
    u = np.mean([r[1] for r in recent], axis=0)
    t_in_final, t_ret_final = t_in, t_ret
    t_in, t_ret = intake_means(case, t_c)
    avg = history[-len(recent):]
    tq = np.array([r[2] for r in recent]) if case.plenum else None
    write_tables(case, results, t_c=t_c, u=u, t_in=t_in, t_ret=t_ret, t_in_final=t_in_final,
                 t_ret_final=t_ret_final, avg=avg, tiles_q=tq, residual_rows=residual_rows, history=history)
    grid = case.vox.grid
    # Energy balance of the averaged state: heat the racks' exhausts carry (P by construction, unless the
    # Picard loop has not caught up) against what the CRAHs remove from the averaged returns.
    rack_heat_w = sum(case.rho * case.cp * state.rack_flow_m3s[r.name] * (state.rack_exhaust_c[r.name] - t_in_final[r.name])
                      for r in case.hall.racks)
    meta = {
        "hall": str(source_hall),
        **({"hall_variant": f"[hall] cell_m = {cell_m:g} (a copy of the hall file with only that line changed)"}
           if cell_m is not None else {}),
        "openfoam": foam_version(),
        "solver": SOLVER,
        "turbulence": "kEpsilon (standard), wall functions",
        "buoyancy": _buoyancy_text(gravity_scale),
        "gravity_scale": gravity_scale,
        "outflow_bc": outflow_bc,
        "outflow_bc_first_block": _first_block_outflow(case_dir),
        "exhaust_coupling": f"external Picard loop every {block} SIMPLE iterations (relaxation {relax})",
        "raised_floor": (f"plenum ({case.tile_faces.model} tiles)" if case.plenum else "uniform-tile inlet (plenum omitted)")
        if case.nz_plenum else "none",
        "cores": 1,
        "cells": n,
        "cell_m": grid.cell_m,
        "iterations": it,
        "picard_blocks": len(history),
        "converged": converged,
        "stopped_by": stopped,
        "initial_fields": f"{init_from} (T, U injected; k, epsilon uniform)" if init_from is not None
        else "still air at the hall's initial temperature",
        "criteria": {"max_change_k": tol_k, "initial_residuals_below": residual},
        "final_max_change_k": history[-1]["max_change_k"],
        "intake_range_last_half_k": _range_last_half(history),
        "averaged_over_last_iterations": len(recent) * block,
        "final_initial_residuals": last_res,
    }
    return _write_meta(meta, case, case_dir, results, wall_s=wall_s, solver_s=solver_s, rack_heat_w=rack_heat_w,
                       t_ret=t_ret, cpu_s=_children_cpu_s() - cpu0_s, load_1min=load_1min)


def _buoyancy_text(gravity_scale: float) -> str:
    """meta.json's buoyancy entry: the model and, when not standard, the gravity it ran with."""
    if gravity_scale == 0.0:
        return "none: g = 0 (Boussinesq solver, T transported by a flow blind to it)"
    text = "Boussinesq, beta = 1/T_ref"
    return text if gravity_scale == 1.0 else f"{text}, g = {GRAVITY_M_S2 * gravity_scale:.6g} m/s^2 ({gravity_scale:g} x standard)"


def _write_meta(meta: dict, case, case_dir: Path, results: Path, *, wall_s: float, solver_s: float,
                rack_heat_w: float, t_ret: dict[str, float], cpu_s: float | None = None,
                load_1min: list[float] | None = None) -> dict:
    """Add the times and the energy balance (the racks' heat into the air against what the CRAHs remove from
    the averaged returns) to a run's ``meta``, write it as results/meta.json and return it."""
    heat_removed_w = sum(case.rho * case.cp * crah_flow_m3s(c) * (t_ret[c.name] - c.supply_setpoint_c)
                         for c in case.hall.crahs)
    it_w = sum(r.it_w for r in case.hall.racks)
    meta.update({
        "wall_s": round(wall_s, 1),
        "solver_wall_s": round(solver_s, 1),
        **({"solver_cpu_s": round(cpu_s, 1)} if cpu_s is not None else {}),
        **({"load_average_1min": _load_summary(load_1min)} if load_1min else {}),
        "it_kw": it_w / 1e3,
        "rack_heat_into_air_kw": round(rack_heat_w / 1e3, 3),
        "crah_heat_removed_kw": round(heat_removed_w / 1e3, 3),
        "energy_balance_error": round((rack_heat_w - heat_removed_w) / it_w, 5) if it_w else None,
        "case": json.loads((case_dir / "case.json").read_text()),
    })
    (results / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def run_transient(hall: Path, case_dir: Path, results: Path, *, spin_up_s: float, average_s: float,
                  block_s: float, sample_s: float, plenum: bool = False, tile_model: str = "porous",
                  tile_zeta_scale: float = 1.0, tile_lateral_scale: float = 100.0,
                  tile_flows: Path | None = None, tile_turbulence: Path | None = None, max_courant: float = 0.9,
                  wall_limit_s: float | None = None, gravity_scale: float = 1.0,
                  outflow_bc: str = "normal-slip") -> dict:
    """Time-averaged transient reference (``buoyantBoussinesqPimpleFoam``, URANS k-ε).

    For a hall whose steady RANS iterates do not settle (aisle-pair's row-end recirculation), the right
    reference is the time average of the unsteady flow, not an average of SIMPLE iterates (which are
    not a time history). The solver marches from rest at the hall's initial temperature for
    ``spin_up_s`` of simulated time, then for ``average_s`` more; fields are written every ``sample_s``
    and the results are the mean of those samples over the averaging window (T, U, the tiles' face
    flows, the rack intakes and CRAH returns). The rack exhausts follow their intakes through the same
    Picard coupling as the steady run, updated every ``block_s`` from the mean intake over the block
    (a lag shorter than a server's thermal time constant of minutes). Spread columns: max − min of the
    block means over the averaging window.

    ``wall_limit_s``: stop before the next block would end later than this wall time (seconds from the
    start), once at least a third of ``average_s`` has been averaged; ``meta.json`` records the simulated
    time actually averaged (a shared machine's load decides how far a run gets). A file named ``stop``
    in ``case_dir`` ends the run the same way after the current block, once the spin-up is over.
    """
    case = build_case(hall, plenum=plenum, tile_model=tile_model, tile_zeta_scale=tile_zeta_scale,
                      tile_lateral_scale=tile_lateral_scale, tile_flows_csv=tile_flows,
                      tile_turbulence_csv=tile_turbulence, outflow_bc=outflow_bc)
    if case_dir.exists():
        shutil.rmtree(case_dir)
    state = write_case(case, case_dir, transient=True, gravity_scale=gravity_scale)
    n = case.n_cells
    env = {**os.environ, **FOAM_ENV}
    log_path = case_dir / "log.solver"
    history: list[dict] = []
    residual_rows: list[dict] = []
    t_now = 0.0
    end_s = spin_up_s + average_s
    t0 = time.perf_counter()
    solver_s = 0.0
    steps = 0
    sums = {"n": 0, "t": np.zeros(n), "u": np.zeros((n, 3))}
    tile_samples: list[np.ndarray] = []
    heat_rows: list[float] = []
    last_res: dict[str, float] = {}
    courant_max = 0.0
    log_offset = 0
    # Every sample's intakes and returns (spin-up included), appended to the case's samples.csv as the run
    # goes, so that the running mean and the averaging window's standard error can be judged while it runs
    # and from the results afterwards (the block means in history.csv are too few for that).
    sample_rows: list[dict] = []
    samples_live = case_dir / "samples.csv"
    samples_written = 0
    while t_now < end_s - 1e-9:
        t_end = min(t_now + block_s, end_s)
        write_transient_control(case, case_dir, end_time_s=t_end, write_interval_s=sample_s,
                                max_courant=max_courant)
        ts = time.perf_counter()
        with open(log_path, "a") as log:
            proc = subprocess.run([TRANSIENT_SOLVER, "-case", str(case_dir)], stdout=log, stderr=subprocess.STDOUT,
                                  env=env)
        solver_s += time.perf_counter() - ts
        if proc.returncode != 0:
            raise RuntimeError(f"{TRANSIENT_SOLVER} failed at t = {t_now} s (see {log_path})")
        text = log_path.read_text()
        block_text, log_offset = text[log_offset:], len(text)
        for chunk in block_text.split("\nTime = ")[1:]:
            steps += 1
            res: dict[str, float] = {}
            for name, val in _RES.findall(chunk):
                res.setdefault(name, float(val))
            if res:
                last_res = res
        cos = [float(m[1]) for m in _COURANT.findall(block_text)]
        courant_max = max([courant_max, *cos])
        times = sorted((p for p in case_dir.iterdir() if p.is_dir() and re.fullmatch(r"[0-9.e+-]+", p.name)
                        and float(p.name) > t_now + 1e-9), key=lambda p: float(p.name))
        if not times:
            raise RuntimeError(f"{TRANSIENT_SOLVER} wrote no fields between t = {t_now} and {t_end} s")
        block_in, block_ret = [], []
        for tdir in times:
            t_c = read_internal(tdir / "T", n) - 273.15
            t_in, t_ret = intake_means(case, t_c)
            block_in.append(t_in)
            block_ret.append(t_ret)
            sample_rows.append({"time_s": float(tdir.name), **{f"in.{k}": v for k, v in t_in.items()},
                                **{f"ret.{k}": v for k, v in t_ret.items()}})
            if float(tdir.name) > spin_up_s + 1e-9:
                sums["n"] += 1
                sums["t"] += t_c
                sums["u"] += read_internal(tdir / "U", n)
                if case.plenum:
                    tile_samples.append(tile_flows_m3s(case, tdir))
        _write_rows(samples_live, sample_rows[samples_written:], header=samples_written == 0)
        samples_written = len(sample_rows)
        latest = times[-1]
        for old in case_dir.iterdir():  # keep 0/ and the latest fields only
            if old.is_dir() and old != latest and old.name != "0" and re.fullmatch(r"[0-9.e+-]+", old.name):
                shutil.rmtree(old)
        t_in = {k: float(np.mean([b[k] for b in block_in])) for k in block_in[0]}
        t_ret = {k: float(np.mean([b[k] for b in block_ret])) for k in block_ret[0]}
        heat_w = sum(case.rho * case.cp * state.rack_flow_m3s[r.name] * (state.rack_exhaust_c[r.name] - t_in[r.name])
                     for r in case.hall.racks)
        t_now = float(latest.name)
        history.append({"time_s": round(t_now, 6), "averaging": t_now > spin_up_s + 1e-9,
                        **{f"in.{k}": v for k, v in t_in.items()}, **{f"ret.{k}": v for k, v in t_ret.items()}})
        residual_rows.append({"time_s": round(t_now, 6), "time_steps": steps, "courant_max": max(cos, default=0.0),
                              **last_res})
        if t_now > spin_up_s + 1e-9:
            heat_rows.append(heat_w)
        print(f"[{hall.stem} transient] t {t_now:7.1f} s  steps {steps}  Co max {max(cos, default=0.0):.2f}  "
              f"A04 {t_in.get('A04', float('nan')):.2f}  wall {time.perf_counter() - t0:.0f} s", file=sys.stderr,
              flush=True)
        state = next_state(case, t_in, state, 1.0)
        update_time_dir(case, latest, state)
        elapsed = time.perf_counter() - t0
        block_wall = elapsed / len(history)
        if (wall_limit_s is not None and t_now - spin_up_s >= average_s / 3 and t_now < end_s - 1e-9
                and elapsed + 1.5 * block_wall > wall_limit_s):
            print(f"[{hall.stem} transient] wall limit: stopping at t {t_now:.1f} s", file=sys.stderr, flush=True)
            break
        if (case_dir / "stop").exists() and t_now > spin_up_s + 1e-9:
            # An operator's early end (`touch CASE/stop`) on a machine slower than planned: the samples
            # averaged so far are written as results instead of being lost with the process.
            print(f"[{hall.stem} transient] stop file: stopping at t {t_now:.1f} s", file=sys.stderr, flush=True)
            break
    wall_s = time.perf_counter() - t0
    if sums["n"] == 0:
        raise RuntimeError("no samples in the averaging window (average_s shorter than sample_s?)")
    t_c = sums["t"] / sums["n"]
    u = sums["u"] / sums["n"]
    t_in, t_ret = intake_means(case, t_c)
    avg = [h for h in history if h["averaging"]]
    t_in_final = {k[3:]: v for k, v in history[-1].items() if k.startswith("in.")}
    t_ret_final = {k[4:]: v for k, v in history[-1].items() if k.startswith("ret.")}
    write_tables(case, results, t_c=t_c, u=u, t_in=t_in, t_ret=t_ret, t_in_final=t_in_final,
                 t_ret_final=t_ret_final, avg=avg, tiles_q=np.array(tile_samples) if tile_samples else None,
                 residual_rows=residual_rows, history=history)
    _write_rows(results / "samples.csv", sample_rows, header=True)
    rack_heat_w = float(np.mean(heat_rows))
    spread = {k: round(max(h[k] for h in avg) - min(h[k] for h in avg), 4) for k in avg[0] if k.startswith("in.")}
    meta = {
        "hall": str(hall),
        "openfoam": foam_version(),
        "solver": TRANSIENT_SOLVER,
        "turbulence": "kEpsilon (standard), wall functions (URANS)",
        "buoyancy": _buoyancy_text(gravity_scale),
        "gravity_scale": gravity_scale,
        "outflow_bc": outflow_bc,
        "outflow_bc_first_block": _first_block_outflow(case_dir),
        "time_scheme": f"Euler implicit, PISO (2 pressure correctors), adjustable time step at Courant <= {max_courant}",
        "exhaust_coupling": f"external Picard loop every {block_s:g} s of simulated time (block-mean intake)",
        "raised_floor": (f"plenum ({case.tile_faces.model} tiles)" if case.plenum else "uniform-tile inlet (plenum omitted)")
        if case.nz_plenum else "none",
        "cores": 1,
        "cells": n,
        "cell_m": case.vox.grid.cell_m,
        "simulated_s": round(t_now, 3),
        "spin_up_s": spin_up_s,
        "averaged_over_s": round(t_now - spin_up_s, 3),
        "planned_average_s": average_s,
        "samples_averaged": sums["n"],
        "sample_interval_s": sample_s,
        "time_steps": steps,
        "courant_max": round(courant_max, 3),
        "intake_block_mean_range_k": spread,
        "final_initial_residuals": last_res,
    }
    return _write_meta(meta, case, case_dir, results, wall_s=wall_s, solver_s=solver_s, rack_heat_w=rack_heat_w,
                       t_ret=t_ret)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run the OpenFOAM reference of a hall (one core).")
    p.add_argument("hall", type=Path)
    p.add_argument("--case", type=Path, default=None, help="case folder (default /tmp/cfd-validation/<hall>)")
    p.add_argument("--results", type=Path, default=None, help="results folder (default validation/results/<hall>)")
    p.add_argument("--block", type=int, default=100, help="SIMPLE iterations between Picard updates")
    p.add_argument("--max-iterations", type=int, default=6000)
    p.add_argument("--tol-k", type=float, default=0.02, help="largest intake/return change over a block, K")
    p.add_argument("--residual", type=float, default=1e-2, help="largest initial residual at the end")
    p.add_argument("--relax", type=float, default=1.0, help="relaxation of the Picard update")
    add_floor_arguments(p)
    add_gravity_argument(p)
    p.add_argument("--average-blocks", type=int, default=20,
                   help="blocks the results are averaged over (at most the second half of the run)")
    p.add_argument("--transient", action="store_true",
                   help=f"time-averaged {TRANSIENT_SOLVER} run instead of steady SIMPLE (results in "
                        "validation/results/<hall>-transient/ unless --results)")
    p.add_argument("--spin-up-s", type=float, default=300.0, help="--transient: simulated time before averaging")
    p.add_argument("--average-s", type=float, default=600.0, help="--transient: simulated time averaged over")
    p.add_argument("--block-s", type=float, default=10.0, help="--transient: simulated time between Picard updates")
    p.add_argument("--sample-s", type=float, default=1.0, help="--transient: interval of the averaged samples")
    p.add_argument("--max-courant", type=float, default=0.9, help="--transient: Courant number of the time step")
    p.add_argument("--wall-limit-s", type=float, default=None,
                   help="stop early so as to end within this wall time (s): steady runs after at least 4 blocks, "
                        "--transient once a third of --average-s is averaged")
    p.add_argument("--cell-m", type=float, default=None,
                   help="steady: run the hall on cells of this size (m; a copy of the hall file with only [hall] "
                        "cell_m changed; results in validation/results/<hall>-cell<m>/ unless --results)")
    p.add_argument("--init-from", type=Path, default=None,
                   help="steady: start from T and U of an earlier run's results folder (fields.npz on a grid "
                        "whose cells are whole multiples of this one's) instead of still air")
    a = p.parse_args(argv)
    check_gravity_scale(p, a.gravity_scale)  # before any case is built or solver run
    if a.transient and (a.cell_m is not None or a.init_from is not None):
        p.exit(2, f"{p.prog}: error: --cell-m and --init-from are for steady runs (not with --transient)\n")
    stem = a.hall.stem if a.cell_m is None else f"{a.hall.stem}-cell{a.cell_m:g}"
    hall = a.hall
    try:  # the raised-floor study options' files, checked before any solver runs: one line naming the file
        with tempfile.TemporaryDirectory(prefix="run_cfd-") as tmp:
            if a.cell_m is not None:
                hall = cell_variant(a.hall, a.cell_m, Path(tmp))
            check_case = build_case(hall, plenum=a.plenum, tile_model=a.tile_model,
                                    tile_zeta_scale=a.tile_zeta_scale, tile_lateral_scale=a.tile_lateral_scale,
                                    tile_flows_csv=a.tile_flows, tile_turbulence_csv=a.tile_turbulence,
                                    outflow_bc=a.outflow_bc)
            if a.init_from is not None:
                initial_fields(check_case, a.init_from)
    except (ValueError, KeyError, OSError) as exc:
        p.exit(2, f"{p.prog}: error: {exc}\n")
    solver = TRANSIENT_SOLVER if a.transient else SOLVER
    if shutil.which(solver) is None:  # before a case is written: one line, not the subprocess's traceback
        p.exit(2, f"{p.prog}: error: {solver} is not on PATH: install OpenFOAM with validation/openfoam/install.sh "
                  f"(Debian's openfoam package) and source validation/openfoam/env.sh\n")
    here = Path(__file__).resolve().parents[1]
    if a.transient:
        meta = run_transient(a.hall, a.case or Path("/tmp/cfd-validation") / f"{stem}-transient",
                             a.results or here / "results" / f"{stem}-transient", spin_up_s=a.spin_up_s,
                             average_s=a.average_s, block_s=a.block_s, sample_s=a.sample_s, plenum=a.plenum,
                             tile_model=a.tile_model, tile_zeta_scale=a.tile_zeta_scale,
                             tile_lateral_scale=a.tile_lateral_scale, tile_flows=a.tile_flows,
                             tile_turbulence=a.tile_turbulence, max_courant=a.max_courant,
                             wall_limit_s=a.wall_limit_s, gravity_scale=a.gravity_scale, outflow_bc=a.outflow_bc)
        print(json.dumps({k: meta[k] for k in ("cells", "simulated_s", "averaged_over_s", "time_steps", "courant_max",
                                               "wall_s", "energy_balance_error")}))
        return 0
    meta = run(a.hall, a.case or Path("/tmp/cfd-validation") / stem, a.results or here / "results" / stem,
               block=a.block, max_iterations=a.max_iterations, tol_k=a.tol_k, residual=a.residual, relax=a.relax,
               average_blocks=a.average_blocks, plenum=a.plenum,
               tile_model=a.tile_model, tile_zeta_scale=a.tile_zeta_scale, tile_lateral_scale=a.tile_lateral_scale,
               tile_flows=a.tile_flows, tile_turbulence=a.tile_turbulence, gravity_scale=a.gravity_scale,
               wall_limit_s=a.wall_limit_s, init_from=a.init_from, cell_m=a.cell_m, outflow_bc=a.outflow_bc)
    print(json.dumps({k: meta[k] for k in ("cells", "iterations", "converged", "stopped_by", "wall_s", "final_initial_residuals",
                                           "energy_balance_error")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
