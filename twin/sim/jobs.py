"""Headless jobs: a timed run with outputs, a steady solve, a benchmark. The CLI only wires these up."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from twin.model.load import HallModel
from twin.model.scenario import ScenarioModel
from twin.sim.files import write_json
from twin.sim.observe import observe
from twin.sim.runner import RunInfo, Runner, Tracker
from twin.sim.scenario import ScenarioPlayer
from twin.sim.trackers import FieldRecorder, ProgressTracker, TimeSeriesRecorder, write_fields
from twin.sim.twin import HallTwin, TwinState

__all__ = ["run_job", "steady_job", "bench_job", "summary"]


def summary(twin: HallTwin, state: TwinState, info: RunInfo, *, outputs: list[Path] | None = None,
            mode: str = "transient") -> dict:
    """The run's summary. Keys documented in README ("Summary keys") are a contract for scripts."""
    obs = observe(twin, state)
    inlet = obs["rack.t_inlet_c"]
    hottest = int(np.argmax(inlet)) if inlet.size else None
    grid = twin.voxels.grid
    out: dict[str, Any] = {
        "hall": twin.hall.name,
        "hall_file": str(twin.hall.path) if twin.hall.path else None,
        "mode": mode,
        # A hall without racks has no inlet: null, not NaN (summary.json is strict JSON).
        "max_inlet_c": round(obs["hall.max_inlet_c"], 4) if inlet.size else None,
        "max_inlet_rack": twin.racks.names[hottest] if hottest is not None else None,
        "mean_inlet_c": round(obs["hall.mean_inlet_c"], 4) if inlet.size else None,
        "racks": twin.n_racks,
        "racks_outside_recommended": obs["hall.racks_outside_recommended"],
        "racks_outside_allowable": obs["hall.racks_outside_allowable"],
        "ashrae_class": twin.hall.spec.hall.ashrae_class,
        "crahs": len(twin.crahs.names),
        "it_load_kw": round(obs["hall.it_load_w"] / 1e3, 3),
        "rack_input_kw": (round(obs["power.rack_input_w"] / 1e3, 3) if "power.rack_input_w" in obs else None),
        "crah_fan_power_kw": round(obs["hall.fan_power_w"] / 1e3, 3),
        "heat_released_kw": round(obs["hall.heat_released_w"] / 1e3, 3),
        "heat_removed_kw": round(obs["hall.heat_removed_w"] / 1e3, 3),
        "energy_balance_error": obs["hall.energy_balance_error"],
        "heat_in_kwh": state.heat_in_j / 3.6e6,
        "heat_removed_kwh": state.heat_removed_j / 3.6e6,
        "cells": grid.n_cells,
        "fluid_cells": twin.net.n,
        "grid": list(grid.shape),
        "cell_m": grid.cell_m,
        "dt_s": twin.dt_s,
        "steps": info.steps,
        "sim_s": info.sim_s,
        "wall_s": round(info.wall_s, 4),
        "rtf": round(info.rtf, 2) if info.rtf else None,
        "solver_s": round(info.solver_s, 4),
        "tracker_s": round(info.tracker_s, 4),
        "flow_solves": twin.flow_solves,
        "interrupted": info.interrupted,
        "outputs": [str(p) for p in (outputs or [])],
    }
    parts = twin.power.pue_parts(state) if twin.power is not None else None
    e = state.energy_j
    out.update({
        "pue": sum(parts.values()) if parts else None,
        "pue_parts": parts,
        "facility_energy_kwh": e["facility"] / 3.6e6 if "facility" in e else None,
        "rack_input_energy_kwh": e["it"] / 3.6e6 if "it" in e else None,
        "cooling_energy_kwh": e["cooling"] / 3.6e6 if "cooling" in e else None,
        "min_battery_soc": state.metrics["min_battery_soc"],
        "t_inlet_27c_s": state.metrics["t_inlet_27c_s"],
        "t_inlet_32c_s": state.metrics["t_inlet_32c_s"],
        **_peaks(twin, state, steady=mode == "steady"),
        "control": twin.control_mode,
        "airflow_model": twin.airflow_model,
        "heat_mixing": twin.heat_mixing,
        "alarms": state.alarms.summary(),
    })
    if mode == "steady":
        # A steady state stores nothing: the balance is between heat released and heat removed.
        heat_in_w = obs["hall.heat_released_w"]
        out["energy_balance_error"] = (heat_in_w - obs["hall.heat_removed_w"]) / heat_in_w if heat_in_w else 0.0
        out["steady"] = state.extra.get("steady")
    return out


def _peaks(twin: HallTwin, state: TwinState, *, steady: bool) -> dict:
    """Peaks over the run: the hottest rack inlet, the hottest running CRAH's return, the most loaded UPS;
    each with who and when (null where the hall has none). A steady state is its own peak."""
    names = {"inlet": ("rack", twin.racks.names, "c"), "return": ("crah", twin.crahs.names, "c"),
             "ups_load": ("ups", twin.power.ups_names if twin.power is not None else [], "fraction")}
    current = twin.peak_values(state)
    out: dict[str, Any] = {}
    m = state.metrics
    for kind, (who, unit_names, unit) in names.items():
        value, index, when = m.get(f"peak_{kind}"), m.get(f"peak_{kind}_index"), m.get(f"peak_{kind}_time_s")
        now = current[kind]
        if steady and now is not None and np.size(now) and np.isfinite(np.max(now)):
            index, when = int(np.argmax(now)), state.time_s
            value = float(now[index])
        out[f"peak_{kind}_{unit}"] = round(value, 4) if value is not None else None
        out[f"peak_{kind}_{who}"] = unit_names[index] if value is not None and index is not None else None
        out[f"peak_{kind}_time_s"] = when if value is not None else None
    return out


def run_job(hall: HallModel, *, duration_s: float, dt_s: float = 1.0, out_dir: Path,
            record_every_s: float = 10.0, fields_every_s: float = 600.0, progress: bool = False,
            from_steady: bool = False, scenario: ScenarioModel | None = None, control: str = "embedded",
            airflow: str | None = None) -> dict:
    """A timed transient run that writes the time series, field snapshots and summary.json.

    ``from_steady`` starts from the steady state of the hall instead of still air at the initial
    temperature (what-if runs usually want the former).
    """
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    twin = HallTwin(hall, dt_s=dt_s, control=control, airflow=airflow)
    player = ScenarioPlayer(twin, scenario) if scenario is not None else None
    # Only now, with a hall that builds: a run that fails on its input must not cost the last results.
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear_previous_outputs(out_dir)
    state = twin.steady() if from_steady else twin.initial_state()
    if from_steady:
        state.stored_initial_j = twin.stored_heat_j(state)
        state.extra.clear()
        if state.controls is not None:
            state.controls.adopt(state)
    setup_s = time.perf_counter() - t0
    series = TimeSeriesRecorder(out_dir, interval_s=record_every_s)
    fields = FieldRecorder(out_dir, interval_s=fields_every_s)
    trackers: list[Tracker] = [series, fields]
    if progress:
        trackers.append(ProgressTracker(duration_s))
    info = Runner(twin, trackers, scenario=player).run(state, duration_s)
    summary_path = out_dir / "summary.json"
    pvd = [fields.pvd_path] if fields.paths else []
    result = summary(twin, state, info, outputs=[series.path, *fields.paths, *pvd, summary_path])
    if scenario is not None:  # (then player is not None either)
        result["scenario"] = {"name": scenario.name, "file": str(scenario.path) if scenario.path else None,
                              "events": state.scenario_log}
    result.update(setup_s=round(setup_s, 3), duration_s=duration_s, initial="steady" if from_steady else "uniform",
                  record_every_s=record_every_s, fields_every_s=fields_every_s, signal=info.signal)
    write_json(summary_path, result)
    return result


def _clear_previous_outputs(out_dir: Path) -> None:
    """A run owns its output folder: remove what an earlier run there wrote (only our own files)."""
    for old in [*out_dir.glob("fields/t_*.vti"), out_dir / "fields" / "steady.vti", out_dir / "fields" / "fields.pvd",
                out_dir / "timeseries.parquet", out_dir / "summary.json"]:
        if old.is_file():
            old.unlink()
    shutil.rmtree(out_dir / "timeseries.parts", ignore_errors=True)


def steady_job(hall: HallModel, *, out_dir: Path | None, airflow: str | None = None) -> dict:
    """The steady state solved directly; writes its field and summary.json when ``out_dir`` is given.

    Controllers at steady state hold their setpoints exactly: the steady solve uses ideal control.
    """
    t0 = time.perf_counter()
    twin = HallTwin(hall, airflow=airflow)
    setup_s = time.perf_counter() - t0
    state = twin.steady()
    info = RunInfo(wall_s=time.perf_counter() - t0, solver_s=time.perf_counter() - t0 - setup_s)
    outputs: list[Path] = []
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        _clear_previous_outputs(out_dir)
        outputs.append(write_fields(out_dir / "fields" / "steady.vti", twin, state))
        outputs.append(out_dir / "summary.json")
    result = summary(twin, state, info, outputs=outputs, mode="steady")
    result["setup_s"] = round(setup_s, 3)
    if out_dir is not None:
        write_json(out_dir / "summary.json", result)
    return result


def bench_job(hall: HallModel, *, duration_s: float, dt_s: float = 1.0, control: str = "embedded",
              airflow: str | None = None, power_check: bool = True) -> dict:
    """A timed run with no outputs and no progress bar, all parts running; adds set-up and per-step figures,
    and (``power_check``) the power-chain solve timed against pandapower's on the same networks."""
    rss_before = process_memory_bytes()["rss"]
    t0 = time.perf_counter()
    twin = HallTwin(hall, dt_s=dt_s, control=control, airflow=airflow)
    state = twin.initial_state()
    op = twin.operator(state)
    # One untimed step of the operator alone (result dropped): where numba has no cache the transport
    # kernel compiles here, as set-up, not inside the timed run.
    op.step(state.t_air_c, np.zeros(op.mover_flow_m3s.size))
    first_flow_s = twin.flow_s
    setup_s = time.perf_counter() - t0
    info = Runner(twin, []).run(state, duration_s)
    # Read before the bandwidth probe below, which allocates half a gigabyte of its own.
    peak = process_memory_bytes()["peak"]
    result = summary(twin, state, info, mode="bench")
    result["setup_s"] = round(setup_s, 3)
    result["step_ms"] = round(1e3 * info.solver_s / max(info.steps, 1), 3)
    result.update(transport_figures(twin))
    result["memory"] = memory_figures(peak, rss_before, twin.voxels.grid.n_cells)  # the summary's cells
    # The flow field: the first solve (part of set-up) apart from the refreshes while the run went on.
    refreshes = twin.flow_solves - 1
    result["airflow"] = {"model": twin.airflow_model, "buoyancy": twin.buoyancy if twin.momentum else None,
                         "heat_mixing": twin.heat_mixing,
                         "convection": twin.momentum.settings.convection if twin.momentum else None,
                         "turbulence": twin.momentum.settings.turbulence_model if twin.momentum else None,
                         "first_solve_s": round(first_flow_s, 3), "refreshes": refreshes,
                         "refresh_ms": round(1e3 * (twin.flow_s - first_flow_s) / refreshes, 2) if refreshes else None,
                         "refresh_every_s": round(info.sim_s / refreshes, 1) if refreshes else None,
                         "refresh_interval_s": twin.flow_refresh_s if twin.momentum else None}
    if power_check and twin.power is not None:
        from twin.electrical.bench import bench_power

        result["power_solve"] = bench_power(hall)
    return result


def process_memory_bytes() -> dict:
    """This process's resident memory now and its peak so far (Linux ``/proc/self/status``: VmRSS, VmHWM),
    bytes; the peak from ``getrusage`` elsewhere, and None for what a platform does not tell."""
    out: dict = {"rss": None, "peak": None}
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out["rss" if key == "VmRSS" else "peak"] = int(value.split()[0]) * 1024  # kB
    except OSError:
        import resource
        import sys

        # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
        scale = 1 if sys.platform == "darwin" else 1024
        out["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    return out


def memory_figures(peak_bytes: int | None, rss_before_bytes: int | None, cells: int) -> dict:
    """Peak memory of a bench run per cell of the grid: the whole process (interpreter and libraries
    included), and the twin's own share (peak above what the process held before the hall was built)."""
    per_cell = (lambda b: round(b / cells, 1) if b is not None and cells else None)  # noqa: E731
    twin_bytes = peak_bytes - rss_before_bytes if peak_bytes is not None and rss_before_bytes is not None else None
    return {"peak_bytes": peak_bytes, "peak_bytes_per_cell": per_cell(peak_bytes),
            "twin_peak_bytes": twin_bytes, "twin_peak_bytes_per_cell": per_cell(twin_bytes)}


def memory_bandwidth_gbs(*, size_mb: int = 256, repeats: int = 5) -> float:
    """Sustained copy bandwidth of this machine, GB/s (bytes read + written ÷ best time)."""
    src = np.ones(size_mb * 2**20 // 8)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best / 1e9


def transport_figures(twin: HallTwin) -> dict:
    """How the transport step compares with the memory-bandwidth bound.

    The bound counts the bytes one step must stream at least (``TransportOperator.bytes_per_sweep``: the
    matrix entries, 8-byte value + 4-byte index each, row pointers and the vectors a sweep reads and
    writes) times the sweeps, plus the responses the first guess adds (``response_bytes``) in the steps
    that used them; ratio = bound time ÷ measured time.
    """
    op = twin.current_operator
    if op is None or twin.transport_steps == 0:
        return {}
    n = twin.net.n
    sweeps = twin.transport_sweeps / twin.transport_steps
    bytes_per_step = sweeps * op.bytes_per_sweep + op.response_bytes * op.response_steps / twin.transport_steps
    bandwidth = memory_bandwidth_gbs()
    measured_s = twin.transport_s / twin.transport_steps
    bound_s = bytes_per_step / (bandwidth * 1e9)
    return {
        "transport_step_ms": round(measured_s * 1e3, 3),
        "transport_sweeps_per_step": round(sweeps, 3),
        "transport_bytes_per_cell_step": round(bytes_per_step / n, 1),
        "memory_bandwidth_gbs": round(bandwidth, 2),
        "transport_bandwidth_bound_ms": round(bound_s * 1e3, 3),
        "transport_bandwidth_ratio": round(bound_s / measured_s, 3),
        "flow_solves": twin.flow_solves,
        "flow_solve_s": round(twin.flow_s, 3),
    }


def refresh_study(hall: HallModel, *, duration_s: float, dt_s: float = 1.0, control: str = "embedded",
                  policies: tuple[tuple[float, int], ...] = ((10.0, 10), (30.0, 10), (30.0, 5), (60.0, 10)),
                  load_step: float = 1.5) -> dict:
    """What the live twin's quasi-steady momentum flow costs in accuracy: the same transient (still air at
    the initial temperature, every rack's IT load ×``load_step`` at a third of the run) with the flow
    refreshed every step, and with each (refresh interval s, iterations) policy; rack-inlet differences
    from the every-step run, sampled every step, and each run's real-time factor."""
    from twin.model.scenario import RackLoadEvent
    from twin.sim.scenario import apply_event

    def run(refresh_s: float, iterations: int) -> tuple[np.ndarray, RunInfo, int]:
        twin = HallTwin(hall, dt_s=dt_s, control=control, airflow="momentum")
        twin.flow_refresh_s, twin.flow_refresh_iterations = refresh_s, iterations
        state = twin.initial_state()
        inlets = []
        t0 = time.perf_counter()
        step_at = round(duration_s / 3 / dt_s)
        for k in range(round(duration_s / dt_s)):
            if k == step_at:
                apply_event(twin, RackLoadEvent(at=state.time_s, kind="rack_load", target="*", scale=load_step),
                            state)
            twin.step(state)
            inlets.append(state.t_intake_c.copy())
        wall = time.perf_counter() - t0
        info = RunInfo(steps=len(inlets), sim_s=state.time_s, wall_s=wall, solver_s=wall)
        return np.array(inlets), info, twin.flow_solves

    ref, ref_info, ref_solves = run(dt_s, 10)
    rows = [{"refresh_s": dt_s, "iterations": 10, "flow_solves": ref_solves,
             "rtf": round(ref_info.rtf, 2) if ref_info.rtf else None, "inlet_rms_k": 0.0, "inlet_max_k": 0.0}]
    for refresh_s, iterations in policies:
        inlets, info, solves = run(refresh_s, iterations)
        diff = inlets - ref
        rows.append({"refresh_s": refresh_s, "iterations": iterations, "flow_solves": solves,
                     "rtf": round(info.rtf, 2) if info.rtf else None,
                     "inlet_rms_k": round(float(np.sqrt(np.mean(diff ** 2))), 4),
                     "inlet_max_k": round(float(np.abs(diff).max()), 4)})
    return {"hall": hall.name, "duration_s": duration_s, "dt_s": dt_s, "load_step": load_step,
            "reference": "flow refreshed every step (10 iterations)", "policies": rows}


def dt_study(hall: HallModel, *, duration_s: float, dts_s: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0),
             reference_dt_s: float = 0.25, control: str = "embedded", airflow: str | None = None,
             load_step: float = 1.5, sample_s: float = 10.0) -> dict:
    """Rack-inlet error of each time step against ``reference_dt_s``, and each run's real-time factor.

    The same transient for every dt: still air at the initial temperature, every rack's IT load
    ×``load_step`` at a third of the run (on a multiple of ``sample_s``). Rack inlets are compared every
    ``sample_s`` (a multiple of every dt). The controllers are the same for every dt: their own periods
    and tuning; a controller samples at the first step on or after each of its instants, so a dt longer
    than its period stretches its effective interval to dt (reported per run).
    """
    from twin.model.scenario import RackLoadEvent
    from twin.sim.scenario import apply_event

    for dt in (reference_dt_s, *dts_s):
        ratio = sample_s / dt
        if abs(ratio - round(ratio)) > 1e-9:
            raise ValueError(f"dt = {dt:g} s does not divide the {sample_s:g} s sampling interval")
    step_at_s = round(duration_s / 3 / sample_s) * sample_s
    n_samples = int(duration_s // sample_s)

    def run(dt_s: float) -> tuple[np.ndarray, float, dict, float]:
        twin = HallTwin(hall, dt_s=dt_s, control=control, airflow=airflow)
        state = twin.initial_state()
        op = twin.operator(state)
        op.step(state.t_air_c, np.zeros(op.mover_flow_m3s.size))  # compile outside the timing
        per_sample = round(sample_s / dt_s)
        inlets = []
        wall_s = 0.0
        for k in range(n_samples * per_sample):
            if abs(state.time_s - step_at_s) < 1e-9:
                apply_event(twin, RackLoadEvent(at=state.time_s, kind="rack_load", target="*", scale=load_step),
                            state)
            t0 = time.perf_counter()
            twin.step(state)
            wall_s += time.perf_counter() - t0
            if (k + 1) % per_sample == 0:
                inlets.append(state.t_intake_c.copy())
        periods = {}
        if state.controls is not None:
            for c in [*state.controls.supply, *state.controls.fan]:
                kind = c.name.rsplit(".", 1)[-1]
                periods[kind] = {"period_s": c.period_s, "effective_s": max(c.period_s, dt_s)}
        return np.array(inlets), state.time_s / wall_s, periods, twin.transport_sweeps / max(twin.transport_steps, 1)

    ref, ref_rtf, _, ref_sweeps = run(reference_dt_s)
    rows = []
    for dt in dts_s:
        inlets, rtf, periods, sweeps = run(dt)
        err = np.abs(inlets - ref)
        rows.append({"dt_s": dt, "rtf": round(rtf, 1), "sweeps_per_step": round(sweeps, 2),
                     "inlet_rms_k": round(float(np.sqrt(np.mean(err ** 2))), 4),
                     "inlet_max_k": round(float(err.max()), 4),
                     "inlet_max_at_s": float(sample_s * (1 + np.unravel_index(np.argmax(err), err.shape)[0])),
                     "within_0_1k": bool(err.max() <= 0.1), "controller_sampling": periods})
    return {"hall": hall.name, "duration_s": duration_s, "control": control, "reference_dt_s": reference_dt_s,
            "reference_rtf": round(ref_rtf, 1), "reference_sweeps_per_step": round(ref_sweeps, 2),
            "load_step": load_step, "load_step_at_s": step_at_s,
            "sample_s": sample_s, "runs": rows}


def dt_study_human(r: dict) -> str:
    lines = [f"{r['hall']}: {r['duration_s']:g} s from still air, {r['control']} control, load ×{r['load_step']:g} "
             f"at {r['load_step_at_s']:g} s; rack inlets every {r['sample_s']:g} s against dt = "
             f"{r['reference_dt_s']:g} s (×{r['reference_rtf']:,.0f} real time, "
             f"{r['reference_sweeps_per_step']:.2f} sweeps per step)"]
    for row in r["runs"]:
        sampling = ", ".join(f"{k} every {v['effective_s']:g} s (own {v['period_s']:g} s)"
                             for k, v in row["controller_sampling"].items())
        lines.append(f"  dt {row['dt_s']:>4g} s: inlet rms {row['inlet_rms_k']:.3f} K, max {row['inlet_max_k']:.3f} K "
                     f"(t = {row['inlet_max_at_s']:g} s){'  within 0.1 K' if row['within_0_1k'] else ''}; "
                     f"×{row['rtf']:,.0f} real time, {row['sweeps_per_step']:.2f} sweeps per step"
                     + (f"; controllers: {sampling}" if sampling else ""))
    return "\n".join(lines)
