"""The twin marched in time like the transient CFD, its rack intakes averaged like the CFD's (issue 10).

Usage::

    python validation/transient_twin.py aisle-pair --dt 0.25 --spin-up-s 120 --window-s 600
    python validation/transient_twin.py aisle-pair --dt 0.125 --out /tmp/tt-0125     # is the mean dt-independent?
    python validation/transient_twin.py --report validation/results/aisle-pair-transient-twin   # tables again
    python validation/transient_twin.py aisle-pair ... --json                                    # one JSON object

Why (against the fixed-value CFD references of before 2026-12-01, validation/README.md, "The references' outflow
condition"; against the current ones the steady solve is 0.85 K): on the aisle-pair hall the twin's *steady*
momentum solve was 1.76 K RMS off the transient CFD's time mean, all four row-end racks 2.2–2.8 K too cool. The row-end flow is buoyant and unsteady in the CFD (the steady CFD
does not settle), so the steady answer is one steady state of a flow that has none. This script marches the
twin's momentum model time-accurately instead (:meth:`twin.thermal.momentum.MomentumSolver.advance`: a
backward-Euler projection step with converged inner solves, tested on a decaying Taylor–Green vortex) and
compares time mean with time mean.

Each step of dt, in this order (the CFD's ``buoyantBoussinesqPimpleFoam`` does the same per step, PISO):

1. the flow: one time step of the momentum equations with the buoyancy of the temperatures at the step's
   start, the movers' flows as volume sources and outlet jets;
2. the heat: one implicit step of the conservative transport (:class:`twin.thermal.transport.TransportOperator`)
   on the new face flows with the new field's eddy diffusivity (ν/Pr + ν_t/Pr_t, as the live twin mixes);
3. the compact models: each rack blows its intake of the step before plus P/(ρ c_p q) (no thermal mass: the
   CFD's racks have none; ``--couple-s S`` uses the mean intake of the last S seconds instead, as the CFD's
   exhaust Picard loop does with S = 10), each CRAH its supply setpoint (its coil's duty is far below its
   rating in these halls; the fan's heat is added and taken out by the coil as in the twin).

The server airflows stay at the steady solve's fixed point of the fan law (the CFD held its own at the
law's value of its block-mean intakes; the script reports the law's flow at the time-mean intakes so that a
difference is seen). The march starts from the twin's steady answer (``--start steady``, default) or from
still air at the hall's initial temperature (``--start rest``), runs ``--spin-up-s`` unaveraged, then averages
every step's intakes over ``--window-s``. Samples at ``--sample-s`` (instantaneous, as the CFD's samples.csv)
give the time series, their standard deviation and spectrum; the means are over every step.

Written to ``--out`` (default ``validation/results/<hall>-transient-twin``): ``samples.csv`` (time_s and one
column per rack intake ``in.NAME`` and CRAH return ``ret.NAME``, the CFD's columns), ``summary.json`` (the
settings, means over every step of the window, the samples' statistics, CPU seconds, the comparison). The
comparison printed: per rack the CFD's time mean (``results/<hall>-transient``) and its samples' sd, the
twin's steady intake, its time mean and sd, time mean − CFD; RMS and max over the racks and over the row
ends; the intakes' spectra (dominant period, share of variance at periods under 60 s) beside the CFD's.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from twin.geometry.voxel import voxelize_hall
from twin.model import HallError, load_hall
from twin.sim.twin import HallTwin
from twin.thermal.compact import server_airflow_m3s
from twin.thermal.momentum import FlowNotConverged, TimeStepInfo
from twin.thermal.transport import TransportOperator
from validation.cfd_start import CfdStart, parse_start, save_fields, start_state
from validation.cfd_start import repo_relative as _rel
from validation.compare import HALLS, RESULTS
from validation.tile_column_probe import END_STRIP_X_M

__all__ = ["MarchResult", "SeriesSpectrum", "compare", "march", "row_ends", "spectrum"]

HERE = Path(__file__).resolve().parent
#: Periods shorter than this count as the "fast" part of an intake's variance (the row-end flapping the CFD
#: shows has periods of tens of seconds; the room's air-change time is about 2 min).
FAST_PERIOD_S = 60.0


@dataclass
class MarchResult:
    """A time-accurate run of the twin: samples, window means over every step, and what it cost."""

    hall: str
    dt_s: float
    spin_up_s: float
    window_s: float
    sample_s: float
    start: str
    couple_s: float
    sweeps: int
    names: list[str]                       # "in.<rack>" then "ret.<crah>", the CFD's samples.csv columns
    times_s: list[float]
    samples_c: list[list[float]]           # one row per sample time
    mean_c: dict[str, float]               # over every step of the window
    steady_c: dict[str, float]             # the intakes the march started from: the steady answer's (or rest's)
    courant_max: float
    steps: int
    cpu_s: dict[str, float] = field(default_factory=dict)
    energy_balance_error: float = 0.0
    law_flow_at_mean_m3s: dict[str, float] = field(default_factory=dict)
    applied_flow_m3s: dict[str, float] = field(default_factory=dict)
    cell_m: float = 0.0
    turbulence: str = ""
    convection: str = ""
    stopped_early: bool = False
    hold: str = ""
    conversion: dict = field(default_factory=dict)   # a CFD start: what the field-to-state conversion did
    probe_start: dict = field(default_factory=dict)  # aisle-pair's cold aisle at the start and the end (probe())
    probe_end: dict = field(default_factory=dict)
    probes: list[dict] = field(default_factory=list)  # probe() every probe_s of simulated time, with "t_s"


def reference_intake_matrix(fine_net, hall_ref_path: Path, factor: int) -> sp.csr_matrix:
    """(racks × fine fluid cells) weights that give each rack's intake as the CFD has it on the hall's own
    grid: the mean over the reference grid's intake cells of each cell's fine fluid cells (equal weight per
    reference cell, as validation/numerics_study.py's coarsen_to and nanmean do). factor 1: the twin's own."""
    ref = voxelize_hall(load_hall(hall_ref_path))
    shape = fine_net.vox.grid.shape
    rows, cols, vals = [], [], []
    for j, rack in enumerate(ref.racks):
        ci, cj, ck = np.unravel_index(np.asarray(rack.intake), ref.grid.shape)
        per_cell = []
        for a, b, c in zip(ci, cj, ck, strict=True):
            fi, fj, fk = np.meshgrid(np.arange(a * factor, (a + 1) * factor), np.arange(b * factor, (b + 1) * factor),
                                     np.arange(c * factor, (c + 1) * factor), indexing="ij")
            idx = fine_net.cell_of.ravel()[np.ravel_multi_index((fi.ravel(), fj.ravel(), fk.ravel()), shape)]
            idx = idx[idx >= 0]
            if idx.size:
                per_cell.append(idx)
        for idx in per_cell:
            rows.append(np.full(idx.size, j))
            cols.append(idx)
            vals.append(np.full(idx.size, 1.0 / (idx.size * len(per_cell))))
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(len(ref.racks), fine_net.n))


def march(hall_path: Path, *, dt_s: float, spin_up_s: float, window_s: float, sample_s: float = 1.0,
          start: str = "steady", couple_s: float = 0.0, sweeps: int = 20, progress: bool = False,
          cell_m: float | None = None, turbulence: str | None = None, convection: str | None = None,
          blend: float | None = None, stop_file: Path | None = None, hold: str | None = None,
          from_cells: bool = False, save_to: Path | None = None, probe_s: float = 10.0,
          momentum_factory: Callable[[HallTwin], object] | None = None) -> MarchResult:
    """March the hall's twin (momentum model) in time and average its intakes (see the module docstring).

    ``cell_m`` / ``turbulence``: a copy of the hall with ``[hall] cell_m`` / ``[airflow] turbulence`` replaced
    (validation/numerics_study.py's hall_variant); the intakes reported are then those of the hall's own grid
    (:func:`reference_intake_matrix`), the racks' exhausts still follow their own grid's intakes. ``stop_file``:
    once it exists (checked every 10 s of simulated time after the spin-up) the window ends there.
    ``convection`` / ``blend``: the momentum scheme of the march (``MomentumSettings.convection`` and its
    deferred correction's weight, as validation/numerics_study.py), switched on after the steady start, which
    is solved with the hall's own scheme (a scheme whose steady loop does not settle has no steady answer).
    ``start``: "steady", "rest", or "cfd" / "cfd:PATH" (a CFD's fields.npz on the hall's grid, default
    results/<hall>-transient/fields.npz: validation/cfd_start.py). ``hold``: "flow" keeps the start's face
    flows and eddy diffusivity for good and marches the heat only; "temperature" keeps the start's T (and its
    buoyancy) and marches the flow only (the intakes then stay the start's; the cold aisle's air budget at the
    end, ``probe_end``, says where the flow went). Together with a CFD start they split the twin's gap into
    the part its flow makes and the part its heat transport makes. ``save_to``: the final field written as a
    fields.npz (validation/cfd_start.py's save_fields), to start another run from; ``from_cells``: a CFD start
    from such a file takes the cell-centre average as for a CFD's, not its face velocities. ``probe_s``: the
    interval of ``probes`` (the cold aisle's air budget and T, :func:`probe`; aisle-pair and contained only).
    ``momentum_factory``: called with the new twin before anything is solved, to swap its momentum solver for a
    study's (validation/rack_patch_study.py).
    """
    from validation.numerics_study import load_hall_variant, with_convection

    probe_every = max(round(probe_s / dt_s), 1)

    hall = load_hall_variant(hall_path, cell_m=cell_m, turbulence=turbulence, what="(with --cell-m/--turbulence)")
    cpu0 = time.process_time()
    tw = HallTwin(hall, airflow="momentum", dt_s=dt_s)
    h_ref = voxelize_hall(load_hall(hall_path)).grid.cell_m
    factor = round(h_ref / tw.voxels.grid.cell_m)
    if abs(factor * tw.voxels.grid.cell_m - h_ref) > 1e-9 * h_ref:
        raise ValueError(f"cell {tw.voxels.grid.cell_m} m does not divide {hall_path}'s cell {h_ref} m")
    ref_intake = reference_intake_matrix(tw.net, hall_path, factor)
    if momentum_factory is not None:
        momentum_factory(tw)
    m = tw.momentum
    assert m is not None
    nr, cr = tw.n_racks, tw._crah
    cfd_fields = parse_start(start, hall_path.stem)
    conversion: CfdStart | None = None
    if start == "steady":
        state = tw.steady()
        assert state.momentum is not None
        # The steady loop mixes its iterates: the state it hands out holds the field its last flow solve made.
        m.u = [state.momentum[k].copy() for k in ("ux", "uy", "uz")]
        m.p = state.momentum["p"].copy()
    elif start == "rest":
        # Still air at the hall's initial temperature, as the transient CFD starts.
        state = tw.initial_state()
        m.reset()
    elif cfd_fields is not None:
        if factor != 1:
            raise ValueError("a CFD start needs the hall's own grid (no --cell-m)")
        # The CFD's field on the twin's grid: face velocities projected onto the movers' flows, its T.
        state, conversion = start_state(tw, cfd_fields, from_cells=from_cells)
    else:
        raise ValueError(f"start must be 'steady', 'rest' or 'cfd[:PATH]', got {start!r}")
    if hold not in (None, "flow", "temperature"):
        raise ValueError(f"hold must be 'flow' or 'temperature', got {hold!r}")
    start_probe = probe(tw, np.asarray(state.t_air_c, dtype=float), hall_path.stem)
    q = tw.mover_flow_m3s(state)
    # The transport orders its sweeps by the potential flow's potential (any order converges; a good one fast).
    if state.flow_phi is None:
        tw.airflow.solve(q)
        phi = tw.airflow.phi.copy()
    else:
        phi = state.flow_phi
    if convection is not None or blend is not None:
        m.settings = with_convection(m.settings, convection, blend)
    cpu_setup = time.process_time() - cpu0
    rc = tw.air.rho_cp
    rise_k = np.where(q[:nr] > 0, state.rack_heat_w / np.maximum(rc * q[:nr], 1e-300), 0.0)
    coil_c = tw.coil_target_c(state)
    mover_heat_w = tw.mover_heat_w(state)
    t_air = np.array(state.t_air_c, dtype=float)
    t_in = tw.intake_c(t_air)
    steady_in = np.concatenate([ref_intake @ t_air, t_in[cr]])
    names = [f"in.{n}" for n in tw.racks.names] + [f"ret.{n}" for n in tw.crahs.names]
    exhaust_base = t_in[:nr].copy()  # intake the racks' exhaust is built on (coupled every step or per block)
    block_sum, block_n = np.zeros(nr), 0

    n_spin = round(spin_up_s / dt_s)
    n_window = round(window_s / dt_s)
    every = max(round(sample_s / dt_s), 1)
    couple_every = max(round(couple_s / dt_s), 1) if couple_s > 0 else 0
    times, samples = [], []
    total = np.zeros(len(names))
    stored0 = rc * float(tw.net.cell_volume_m3 * t_air.sum())
    heat_in_j = heat_out_j = 0.0
    courant_max = 0.0
    cpu_flow = cpu_heat = 0.0
    averaged = 0
    check_every = max(round(10.0 / dt_s), 1)
    stopped = False
    probes: list[dict] = []
    t_held = t_air.copy()  # hold="temperature": the buoyancy of the start, for good
    op: TransportOperator | None = None
    t_mover = tw.intake_c(t_air)
    if hold == "flow":
        if m.keps and m.k is None and tw.heat_mixing == "eddy":
            # Its eddy diffusivity would be zero: the heat would see the molecular one only.
            raise ValueError("k-ε with the flow held needs the start's k and ε: a CFD's fields.npz has none (a "
                             "--save-fields file of a k-ε run has them)")
        # The start's field carries the heat for good: one operator, no flow steps.
        face = m.face_flows_m3s()
        diffusivity = m.face_diffusivity_m2s() if tw.heat_mixing == "eddy" else None
        info = TimeStepInfo(dt_s, max(float(np.max(np.abs(x))) for x in m.u) * dt_s / tw.voxels.grid.cell_m, 0.0, 0.0)
        courant_max = info.courant_max
    for n in range(1, n_spin + n_window + 1):
        c0 = time.process_time()
        if hold != "flow":
            try:
                info = m.advance(q, t_held if hold == "temperature" else t_air, dt_s=dt_s, sweeps=sweeps)
            except FlowNotConverged as exc:
                raise RuntimeError(f"{hall_path}: the flow diverged at t = {n * dt_s:g} s ({exc}); try a smaller --dt") from None
            courant_max = max(courant_max, info.courant_max)
            face = m.face_flows_m3s()
            diffusivity = m.face_diffusivity_m2s() if tw.heat_mixing == "eddy" else None
        c1 = time.process_time()
        outlet_c = np.concatenate([exhaust_base + rise_k, coil_c, np.zeros(tw.n_pdus)])
        if hold != "temperature":
            if op is None or hold != "flow":
                op = TransportOperator(tw.net, face, q, phi, tw.air, dt_s, face_diffusivity_m2s=diffusivity, tol_k=1e-4)
            t_air, t_mover = op.step(t_air, outlet_c, mover_heat_w)
        c2 = time.process_time()
        cpu_flow += c1 - c0
        cpu_heat += c2 - c1
        if hold != "temperature":  # (held temperature: no heat moves, there is no balance to keep)
            # Energy: racks put in P (their air carries it), fans their power; the coils take out what the air
            # lost between the return and the coil outlet.
            heat_in_j += dt_s * float(rc * q[:nr] @ (outlet_c[:nr] - t_mover[:nr]) + mover_heat_w.sum())
            heat_out_j += dt_s * float(rc * q[cr] @ (t_mover[cr] - coil_c))
        if couple_every:
            block_sum += t_mover[:nr]
            block_n += 1
            if block_n == couple_every:
                exhaust_base, block_sum, block_n = block_sum / block_n, np.zeros(nr), 0
        else:
            exhaust_base = t_mover[:nr].copy()
        now = np.concatenate([t_mover[:nr] if factor == 1 else ref_intake @ t_air, t_mover[cr]])
        if n > n_spin:
            total += now
            averaged += 1
        if start_probe and n % probe_every == 0:
            probes.append({"t_s": round(n * dt_s, 6), **probe(tw, t_air, hall_path.stem)})
        if n % every == 0:
            times.append(round(n * dt_s, 9))
            samples.append([round(float(v), 4) for v in now])
        if progress and n % max(round(60.0 / dt_s), 1) == 0:
            print(f"  t = {n * dt_s:5.0f} s  Courant {info.courant_max:.2f}  intakes "
                  + " ".join(f"{v:.2f}" for v in now[:nr]) + f"  CPU {time.process_time() - cpu0:.0f} s",
                  file=sys.stderr, flush=True)
        if (stop_file is not None and n > n_spin and n % check_every == 0 and n < n_spin + n_window
                and stop_file.exists()):
            stopped = True
            break
    probe_end = probe(tw, t_air, hall_path.stem)
    if save_to is not None:
        save_fields(save_to, m, t_air)
    stored1 = rc * float(tw.net.cell_volume_m3 * t_air.sum())
    mean = total / max(averaged, 1)
    law = server_airflow_m3s(tw.racks, mean[:nr], state.rack_it_w * state.rack_powered)
    return MarchResult(
        hall=_rel(hall_path), dt_s=dt_s, spin_up_s=spin_up_s, window_s=round(averaged * dt_s, 6), sample_s=sample_s, start=start,
        couple_s=couple_s, sweeps=sweeps, names=names, times_s=times, samples_c=samples,
        mean_c={k: round(float(v), 4) for k, v in zip(names, mean, strict=True)},
        steady_c={k: round(float(v), 4) for k, v in zip(names, steady_in, strict=True)},
        courant_max=round(courant_max, 3), steps=n,
        cpu_s={"setup": round(cpu_setup, 1), "flow": round(cpu_flow, 1), "heat": round(cpu_heat, 1),
               "total": round(time.process_time() - cpu0, 1)},
        energy_balance_error=(heat_in_j - heat_out_j - (stored1 - stored0)) / heat_in_j if heat_in_j else 0.0,
        law_flow_at_mean_m3s={n: round(float(v), 5) for n, v in zip(tw.racks.names, law, strict=True)},
        applied_flow_m3s={n: round(float(v), 5) for n, v in zip(tw.racks.names, q[:nr], strict=True)},
        cell_m=tw.voxels.grid.cell_m, turbulence=m.settings.turbulence_model, stopped_early=stopped,
        convection=m.settings.convection + ("" if m.settings.convection == "upwind" else f" {m.settings.tvd_blend:g}"),
        hold=hold or "", conversion=asdict(conversion) if conversion is not None else {},
        probe_start=start_probe, probe_end=probe_end, probes=probes)


#: The heights at which probe() reads T up the cold aisle's centre line at the row ends' tile strips
#: (tile_column_probe.END_STRIP_X_M; aisle-pair and contained).
PROBE_Z_M = (0.375, 0.975, 1.875, 2.475)


def probe(tw: HallTwin, t_air_c: np.ndarray, stem: str) -> dict:
    """Aisle-pair's cold aisle in the twin's current field, read as validation/tile_column_probe.py reads the
    CFD's: the air budget (m³/s into the aisle through the tiles, each end plane below the racks' top, and its
    top, with each inflow's mean T) and T up the aisle's centre line at both row ends. Empty for halls of
    another layout (only aisle-pair and contained have this aisle)."""
    from validation.tile_column_probe import budget, grid_fields

    if tw.momentum is None or stem not in ("aisle-pair", "contained"):
        return {}
    f = grid_fields(tw, t_air_c)
    t, x, y, z = f["t_c"], f["x_m"], f["y_m"], f["z_m"]
    out: dict = {"budget": {k: [round(v[0], 4), round(v[1], 3)] for k, v in budget(f).items()}}
    j = np.flatnonzero(np.abs(y - 3.0) < tw.voxels.grid.cell_m)  # the two cells either side of the aisle's centre
    for end, xm in END_STRIP_X_M.items():
        i = int(np.argmin(np.abs(x - xm)))
        out[f"t_{end}_c"] = {f"{zm:g}": round(float(np.nanmean(t[i, j, int(np.argmin(np.abs(z - zm)))])), 2)
                             for zm in PROBE_Z_M}
    return out


# ------------------------------------------------------------------------------------------- statistics

@dataclass(frozen=True)
class SeriesSpectrum:
    """One intake series over the window: its samples' sd, dominant period and share of fast variance."""

    sd_k: float
    dominant_period_s: float
    fast_share: float  # share of the variance at periods under FAST_PERIOD_S


def spectrum(values: np.ndarray, sample_s: float) -> SeriesSpectrum:
    """Periodogram of a series (mean removed, Hann window): sd, the period of its largest peak, and the
    share of its variance at periods shorter than FAST_PERIOD_S."""
    v = np.asarray(values, dtype=float)
    sd = float(v.std(ddof=1)) if v.size > 1 else 0.0
    if v.size < 8 or sd == 0.0:
        return SeriesSpectrum(sd, float("nan"), float("nan"))
    x = (v - v.mean()) * np.hanning(v.size)
    power = np.abs(np.fft.rfft(x)) ** 2
    freq = np.fft.rfftfreq(v.size, d=sample_s)
    power, freq = power[1:], freq[1:]  # no mean
    peak = int(np.argmax(power))
    fast = freq > 1.0 / FAST_PERIOD_S
    return SeriesSpectrum(sd, float(1.0 / freq[peak]), float(power[fast].sum() / power.sum()))


def row_ends(hall_path: Path) -> list[str]:
    """The racks at either end of each row (in the hall file's order)."""
    by_row: dict[str, list[str]] = {}
    for rack in load_hall(hall_path).racks:
        by_row.setdefault(rack.row, []).append(rack.name)
    return [n for members in by_row.values() for n in dict.fromkeys((members[0], members[-1]))]


def _read_cfd(folder: Path) -> tuple[dict[str, float], np.ndarray, dict[str, np.ndarray], dict]:
    """The transient CFD's time means (intakes as compare.py reads them, returns from crahs.csv), samples
    and meta."""
    from validation.compare import read_means
    from validation.transient_stats import read_samples

    means = read_means(folder)
    meta = json.loads((folder / "meta.json").read_text())
    times, cols = read_samples(folder)
    return means, times, cols, meta


def compare(result: MarchResult, cfd_folder: Path) -> dict:
    """Per rack and over the racks: the twin's steady and time-mean intakes against the CFD's time mean, and
    both sides' sample statistics over their windows."""
    cfd_mean, cfd_t, cfd_cols, meta = _read_cfd(cfd_folder)
    cfd_spin = float(meta.get("spin_up_s", 120.0))
    win = cfd_t > cfd_spin + 1e-9
    cfd_dt = float(np.median(np.diff(cfd_t))) if cfd_t.size > 1 else 1.0
    tw_t = np.asarray(result.times_s)
    tw_s = np.asarray(result.samples_c)
    tw_win = tw_t > result.spin_up_s + 1e-9
    ends = set(row_ends(_abs(result.hall)))
    racks = []
    for j, name in enumerate(result.names):
        if not name.startswith("in."):
            continue
        rack = name[3:]
        twin_spec = spectrum(tw_s[tw_win, j], result.sample_s) if tw_s.size else SeriesSpectrum(*[float("nan")] * 3)
        cfd_spec = spectrum(cfd_cols[name][win], cfd_dt) if name in cfd_cols else SeriesSpectrum(*[float("nan")] * 3)
        racks.append({"rack": rack, "row_end": rack in ends, "cfd_c": cfd_mean[name],
                      "steady_c": result.steady_c[name], "mean_c": result.mean_c[name],
                      "steady_error_k": result.steady_c[name] - cfd_mean[name],
                      "mean_error_k": result.mean_c[name] - cfd_mean[name],
                      "cfd_spectrum": asdict(cfd_spec), "twin_spectrum": asdict(twin_spec)})

    def stats(key: str, rows: list[dict]) -> dict:
        e = np.array([r[key] for r in rows])
        return {"rms_k": float(np.sqrt(np.mean(e**2))), "max_abs_k": float(np.max(np.abs(e))),
                "mean_k": float(e.mean())} if e.size else {}

    ends_rows = [r for r in racks if r["row_end"]]
    middle = [r for r in racks if not r["row_end"]]
    return {"cfd": _rel(cfd_folder), "racks": racks,
            "steady": {"all": stats("steady_error_k", racks), "row_ends": stats("steady_error_k", ends_rows),
                       "middle": stats("steady_error_k", middle)},
            "time_mean": {"all": stats("mean_error_k", racks), "row_ends": stats("mean_error_k", ends_rows),
                          "middle": stats("mean_error_k", middle)}}


def print_report(result: MarchResult, comparison: dict | None) -> None:
    print(f"{result.hall}: time-accurate momentum march ({result.cell_m:g} m cells, {result.turbulence}, "
          f"{result.convection or 'upwind'} convection), "
          f"dt {result.dt_s:g} s (Courant max {result.courant_max:.2f}), "
          f"{result.spin_up_s:g} s spin-up from {result.start}, {result.window_s:g} s averaged "
          f"({result.steps} steps), exhausts coupled "
          + (f"per {result.couple_s:g} s block" if result.couple_s else "every step")
          + (" (stopped early by the stop file)" if result.stopped_early else ""))
    cpu = result.cpu_s
    print(f"  CPU {cpu['total']:.0f} s (set-up and steady start {cpu['setup']:.0f} s, flow steps {cpu['flow']:.0f} s, "
          f"heat steps {cpu['heat']:.0f} s); energy balance {result.energy_balance_error:+.1e}"
          + (f"; held: the start's {result.hold}" if result.hold else ""))
    c = result.conversion
    if c:
        print(f"  CFD start {c['fields']}: the projection moved the faces by {c['projection_change_rms_m_s']:.3f} m/s rms "
              f"(largest {c['largest_change_m_s']:.2f}; the faces' rms {c['face_velocity_rms_m_s']:.3f}), divergence "
              f"{c['divergence_before_m3s']:.1e} → {c['divergence_after_m3s']:.0e} m³/s rms; the 1 ms pressure step "
              f"moved the field by ≤ {c['pressure_step_change_m_s']:.3f} m/s (put back)")
    print_early(result)
    if result.probes:
        print("| t s | into the aisle: near end m³/s (°C) | far end m³/s (°C) | out of its top m³/s | T at the far end's "
              "tile strip, z " + "/".join(result.probes[0]["t_far_c"]) + " m, °C |")
        print("|---|---|---|---|---|")
        for pr in [{"t_s": 0.0, **result.probe_start}, *result.probes]:
            if pr["t_s"] > 120.0 + 1e-9 and pr is not result.probes[-1]:
                continue
            b = list(pr["budget"].values())
            print(f"| {pr['t_s']:g} | {b[1][0]:+.2f} ({b[1][1]:.1f}) | {b[2][0]:+.2f} ({b[2][1]:.1f}) | {b[3][0]:+.2f} | "
                  + "/".join(f"{v:.1f}" for v in pr["t_far_c"].values()) + " |")
    for label, pr in (("start", result.probe_start), ("end", result.probe_end)):
        if pr:
            b = pr["budget"]
            print(f"  cold aisle at the {label}: " + ", ".join(f"{k} {v[0]:+.2f} m³/s ({v[1]:.1f} °C)" for k, v in b.items())
                  + "; T up the centre at z " + "/".join(pr["t_far_c"]) + " m: near end "
                  + "/".join(f"{v:.1f}" for v in pr["t_near_c"].values()) + ", far end "
                  + "/".join(f"{v:.1f}" for v in pr["t_far_c"].values()) + " °C")
    if comparison is None:
        for k, v in result.mean_c.items():
            print(f"  {k:14s} steady {result.steady_c[k]:6.2f}  time mean {v:6.2f} °C")
        return
    print(f"  against {comparison['cfd']} (its time mean and samples' sd)")
    start = "steady" if result.start == "steady" else f"start ({result.start.split(':')[0]})"
    print(f"| rack | CFD mean | CFD sd | twin {start} | twin mean | twin sd | {start} − CFD | mean − CFD |"
          " CFD / twin dominant period s | CFD / twin share < 60 s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in comparison["racks"]:
        c, t = r["cfd_spectrum"], r["twin_spectrum"]
        end = " (end)" if r["row_end"] else ""
        print(f"| {r['rack']}{end} | {r['cfd_c']:.2f} | {c['sd_k']:.2f} | {r['steady_c']:.2f} | {r['mean_c']:.2f} | "
              f"{t['sd_k']:.2f} | {r['steady_error_k']:+.2f} | {r['mean_error_k']:+.2f} | "
              f"{c['dominant_period_s']:.0f} / {t['dominant_period_s']:.0f} | {c['fast_share']:.2f} / {t['fast_share']:.2f} |")
    for what in ("all", "row_ends", "middle"):
        s, m = comparison["steady"][what], comparison["time_mean"][what]
        if s:
            print(f"| **RMS {what.replace('_', ' ')}** | | | {s['rms_k']:.2f} K (max {s['max_abs_k']:.2f}) | "
                  f"{m['rms_k']:.2f} K (max {m['max_abs_k']:.2f}) | | mean {s['mean_k']:+.2f} | mean {m['mean_k']:+.2f} | | |")
    flows = [f"{n} {result.applied_flow_m3s[n]:.4f}→{result.law_flow_at_mean_m3s[n]:.4f}"
             for n in result.applied_flow_m3s if abs(result.applied_flow_m3s[n] - result.law_flow_at_mean_m3s[n]) > 1e-4]
    held_at = {"steady": "the steady fixed point", "rest": "the fan law at the start"}.get(result.start, "the fan law at the start's intakes")
    print(f"  server flows held at {held_at}; the fan law at the time-mean intakes "
          + ("gives the same flows" if not flows else "differs: " + ", ".join(flows)))


def print_early(result: MarchResult, *, every_s: float = 10.0, until_s: float = 120.0) -> None:
    """The racks' intakes at the start and every ``every_s`` up to ``until_s`` (where a start goes first)."""
    if not result.samples_c:
        return
    t = np.asarray(result.times_s)
    racks = [k for k in result.names if k.startswith("in.")]
    print("| t s | " + " | ".join(k[3:] for k in racks) + " |")
    print("|---" * (len(racks) + 1) + "|")
    print("| 0 | " + " | ".join(f"{result.steady_c[k]:.2f}" for k in racks) + " |")
    for when in np.arange(every_s, until_s + 1e-9, every_s):
        i = int(np.argmin(np.abs(t - when)))
        if abs(t[i] - when) <= 0.5 * result.sample_s:
            print(f"| {when:g} | " + " | ".join(f"{result.samples_c[i][j]:.2f}" for j in range(len(racks))) + " |")


def write(result: MarchResult, comparison: dict | None, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "samples.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time_s", *result.names])
        for t, row in zip(result.times_s, result.samples_c, strict=True):
            w.writerow([f"{t:g}", *row])
    summary = {k: v for k, v in asdict(result).items() if k not in ("times_s", "samples_c")}
    summary["comparison"] = comparison
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")


def read(out: Path) -> MarchResult:
    """A result written by :func:`write` (summary.json and samples.csv)."""
    summary = json.loads((out / "summary.json").read_text())
    summary.pop("comparison", None)
    with open(out / "samples.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    return MarchResult(**summary, times_s=[float(r[0]) for r in rows],
                       samples_c=[[float(v) for v in r[1:]] for r in rows])


def _abs(path: str) -> Path:
    """A path read from the results: relative ones are the repository's."""
    p = Path(path)
    return p if p.is_absolute() else HERE.parent / p


def _hall_path(name: str) -> Path:
    p = Path(name)
    return p if p.suffix == ".toml" else HALLS / f"{name}.toml"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("hall", nargs="?", help="a hall name in validation/halls/ or a .toml path")
    p.add_argument("--dt", type=float, default=0.25, help="physical time step, s (Courant ≈ 4 at 0.25 s in aisle-pair)")
    p.add_argument("--spin-up-s", type=float, default=120.0, help="unaveraged start, s")
    p.add_argument("--window-s", type=float, default=600.0, help="averaging window after the spin-up, s")
    p.add_argument("--sample-s", type=float, default=1.0, help="interval of the written samples, s")
    p.add_argument("--start", default="steady",
                   help="steady (the twin's steady answer), rest (still air) or cfd[:PATH] (the CFD's field: "
                        "results/<hall>-transient/fields.npz, or PATH, a fields.npz or its folder)")
    p.add_argument("--hold", choices=("flow", "temperature"), default=None,
                   help="keep the start's flow (march the heat only) or its temperatures (march the flow only)")
    p.add_argument("--from-cells", action="store_true",
                   help="a --start cfd:PATH file with face velocities (--save-fields) read through its cell centres")
    p.add_argument("--save-fields", type=Path, default=None,
                   help="write the final field as a fields.npz (T, cell velocity, the twin's face velocities)")
    p.add_argument("--probe-s", type=float, default=10.0, help="interval of the cold-aisle probes, s")
    p.add_argument("--couple-s", type=float, default=0.0,
                   help="rack exhausts from the mean intake of the last S s (0: every step; the CFD used 10)")
    p.add_argument("--sweeps", type=int, default=20, help="Gauss–Seidel sweeps of each momentum step")
    p.add_argument("--cell-m", type=float, default=None, help="the hall on another grid (a divisor of its cell)")
    p.add_argument("--turbulence", choices=("chen-xu", "k-epsilon"), default=None, help="[airflow] turbulence")
    p.add_argument("--convection", choices=("upwind", "tvd", "linear-upwind"), default=None,
                   help="momentum convection scheme of the march (after the steady start)")
    p.add_argument("--blend", type=float, default=None, help="weight of the tvd / linear-upwind correction, 0-1")
    p.add_argument("--cfd", type=Path, default=None, help="transient CFD folder (default results/<hall>-transient)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default results/<hall>-transient-twin)")
    p.add_argument("--report", type=Path, default=None, help="print the comparison of a written run and exit")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    a = p.parse_args(argv)
    if a.report is None and a.hall is None:
        p.error("give a hall, or --report DIR")
    for flag, value in (("--dt", a.dt), ("--sample-s", a.sample_s), ("--probe-s", a.probe_s)):
        if not value > 0:
            print(f"transient_twin: error: {flag} must be positive, got {value:g}", file=sys.stderr)
            return 2
    for flag, value in (("--spin-up-s", a.spin_up_s), ("--window-s", a.window_s), ("--couple-s", a.couple_s)):
        if value < 0:
            print(f"transient_twin: error: {flag} must be ≥ 0, got {value:g}", file=sys.stderr)
            return 2
    if a.start not in ("steady", "rest") and parse_start(a.start, "") is None:
        print(f"transient_twin: error: --start must be steady, rest, cfd or cfd:PATH, got {a.start!r}", file=sys.stderr)
        return 2
    if a.blend is not None and not 0.0 <= a.blend <= 1.0:
        print(f"transient_twin: error: --blend must be 0 (upwind) to 1 (the full scheme), got {a.blend:g}", file=sys.stderr)
        return 2
    try:
        if a.report is not None:
            result = read(a.report)
        else:
            hall_path = _hall_path(a.hall)
            if not hall_path.is_file():
                raise OSError(f"{hall_path}: no such hall file")
            (a.out or RESULTS / f"{hall_path.stem}-transient-twin").mkdir(parents=True, exist_ok=True)
            result = march(hall_path, dt_s=a.dt, spin_up_s=a.spin_up_s, window_s=a.window_s, sample_s=a.sample_s,
                           start=a.start, couple_s=a.couple_s, sweeps=a.sweeps, progress=not (a.quiet or a.json),
                           cell_m=a.cell_m, turbulence=a.turbulence, convection=a.convection, blend=a.blend,
                           hold=a.hold, from_cells=a.from_cells, save_to=a.save_fields, probe_s=a.probe_s, stop_file=(a.out or RESULTS / f"{hall_path.stem}-transient-twin") / "stop")
        stem = _abs(result.hall).stem
        cfd = a.cfd or RESULTS / f"{stem}-transient"
        comparison = compare(result, cfd) if (cfd / "racks.csv").is_file() and result.window_s > 0 else None
        if a.report is None:
            write(result, comparison, a.out or RESULTS / f"{stem}-transient-twin")
    except (HallError, OSError, RuntimeError, ValueError) as exc:
        print(f"transient_twin: error: {exc}", file=sys.stderr)
        return 1
    if a.json:
        summary = {k: v for k, v in asdict(result).items() if k not in ("times_s", "samples_c")}
        print(json.dumps({**summary, "comparison": comparison}, indent=1))
    else:
        print_report(result, comparison)
    return 0


if __name__ == "__main__":
    sys.exit(main())
