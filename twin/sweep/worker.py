"""Running cases: the per-process cache of built halls and their base states, one case, a batch of cases.

Voxelizing a hall and building its flow and power networks costs far more than a steady solve of a
small hall, so each worker process builds a hall once (per hall variant: tile fractions and leakage
change the grid's faces) and keeps it with its base state; every case forks that state
(``state.copy()``), so no case sees another's changes. The same functions run a case in the calling
process (``run_case``), which is how the tests check a sweep against serial single runs.

Two things every worker process does before its first case:

- It undoes Dask's ``MALLOC_TRIM_THRESHOLD_=65536`` (:func:`prepare_process`). A Nanny sets it before it
  spawns a worker (``distributed.nanny.pre-spawn-environ``, also for ``dask worker``), and glibc then
  stops adapting its mmap threshold: every array above 128 KiB is a fresh ``mmap`` and every free a
  ``munmap``, so each temporary of a solve page-faults its memory in again. Measured on reference.toml's
  steady N-1 cases, in one process with and without the variable: 17x the minor page faults, 6x the system
  time and 2-3x the wall time per case, which was the whole of the "a case in a worker is 2-3x slower"
  gap. The process's own thresholds are set back to where glibc's adaptive rule ends up.
- It counts the halls it builds and the cases it runs per job key (:func:`process_stats`), so a test can
  check that the built hall is reused (one build per worker and hall variant) without timing anything.

A case can have a time limit (``SweepJob.case_timeout_s``): past it, the case is stopped where it stands
and reported as an error with that reason, and the sweep goes on (:func:`_call_with_limit`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import math
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from twin.model.load import HallModel, parse_hall
from twin.model.schema import ASHRAE_RECOMMENDED_C
from twin.sim.scenario import rack_indices
from twin.sim.state import TwinState
from twin.sim.twin import HallTwin
from twin.sweep.cases import Case

T = TypeVar("T")

__all__ = ["CaseTimeout", "SweepJob", "clear_cache", "prepare_process", "process_stats", "run_batch", "run_case"]

#: Loads above this fraction of a rating are reported as a warning (a common design margin, 80 %).
DEFAULT_LOAD_LIMIT = 0.8


@dataclass(frozen=True)
class SweepJob:
    """What every case of a sweep shares: the hall and how to run it. Small and picklable: it travels to
    every worker with each batch; ``key`` names the built hall in the workers' caches.

    Args:
        hall: the validated hall.
        key: a digest of the hall (and the start state's file): equal keys share a worker's built hall.
        airflow: airflow model (None: the hall file's).
        control: "ideal" (setpoints held exactly; steady what-ifs) or "embedded".
        dt_s: time step of transient cases, s.
        checkpoint: a checkpoint file the cases start from (None: the hall's steady state, or its initial
            state for steady cases, which the steady solve does not depend on).
        load_limit: fraction of a rating above which a load is a warning.
        case_timeout_s: wall-clock limit of one case's own work, s (the worker's one-time hall build is
            not counted); a case past it is reported as an error and the sweep goes on. None: no limit.
    """

    hall: HallModel
    key: str
    airflow: str | None = None
    control: str = "ideal"
    dt_s: float = 1.0
    checkpoint: str | None = None
    load_limit: float = DEFAULT_LOAD_LIMIT
    case_timeout_s: float | None = None


# Built halls by (job key, hall changes, options): (twin, start state, steady base state or None).
_CACHE: dict[tuple, list] = {}
_CACHE_MAX = 4  # hall variants kept per process (a reference hall's grid is ~100 MB with its solvers)


# What this process did, per job key: halls built (one per variant unless evicted) and cases run.
_BUILDS: Counter = Counter()
_CASES: Counter = Counter()

# glibc's malloc settings (mallopt's parameter numbers, malloc.h) and the values its adaptive mmap
# threshold reaches on 64-bit: blocks up to 32 MiB come from the heap, and up to twice that stays
# mapped after a free (DEFAULT_MMAP_THRESHOLD_MAX; the trim threshold follows at 2x).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_BYTES = 32 << 20
_TRIM_THRESHOLD_BYTES = 2 * _MMAP_THRESHOLD_BYTES
# The variables that switch glibc's adaptive threshold off when set at a process's start.
_MALLOC_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
_prepared: str | None = None


def clear_cache() -> None:
    _CACHE.clear()


def prepare_process() -> str:
    """Make this process allocate as a plain Python process does (once; returns what was done).

    Where a ``MALLOC_*_`` variable fixed glibc's thresholds at start-up (Dask's Nanny sets
    ``MALLOC_TRIM_THRESHOLD_=65536`` in every worker it spawns), the thresholds are set back with
    ``mallopt`` to the values glibc's own adaptive rule reaches, so that a solve's large temporaries
    reuse heap memory instead of being mapped, faulted in and unmapped each time.
    """
    global _prepared
    if _prepared is None:
        _prepared = _undo_malloc_env()
    return _prepared


def _undo_malloc_env() -> str:
    set_vars = [v for v in _MALLOC_ENV if v in os.environ]
    if not set_vars:
        return "glibc defaults (no MALLOC_*_ variable)"
    if not sys.platform.startswith("linux"):
        return f"{', '.join(set_vars)} set, but not on Linux: left alone"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - glibc only: musl's mallopt does nothing
    except (OSError, AttributeError):
        return f"{', '.join(set_vars)} set, but the C library is not glibc: left alone"
    ok = (libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES) == 1
          and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES) == 1)
    if not ok:
        return f"{', '.join(set_vars)} set; mallopt refused the thresholds"
    return (f"{', '.join(set_vars)} undone: mmap threshold {_MMAP_THRESHOLD_BYTES >> 20} MiB, "
            f"trim threshold {_TRIM_THRESHOLD_BYTES >> 20} MiB")


def process_stats() -> dict:
    """This process's id, its halls built and cases run per job key, and what :func:`prepare_process` did."""
    return {"pid": os.getpid(), "builds": dict(_BUILDS), "cases": dict(_CASES), "malloc": _prepared}


def _cache_key(job: SweepJob, case: Case) -> tuple:
    return (job.key, case.hall_changes(), job.airflow, job.control, job.dt_s)


def _built(job: SweepJob, case: Case) -> list:
    prepare_process()
    key = _cache_key(job, case)
    entry = _CACHE.get(key)
    if entry is None:
        _BUILDS[job.key] += 1
        hall = _hall_variant(job.hall, case)
        twin = HallTwin(hall, dt_s=job.dt_s, control=job.control, airflow=job.airflow)
        if job.checkpoint is not None:
            from twin.sim.checkpoint import load_checkpoint

            start = load_checkpoint(job.checkpoint, twin)
        else:
            start = twin.initial_state()
        while len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        entry = _CACHE[key] = [twin, start, None]
    return entry


def _hall_variant(hall: HallModel, case: Case) -> HallModel:
    """The hall with the case's tile fractions and containment leakage (the hall itself if none)."""
    if not case.tile_open_fraction and case.containment_leakage is None:
        return hall
    data = hall.spec.model_dump(mode="python", exclude_none=True)
    for target, frac in case.tile_open_fraction:
        for t in data.get("tiles", []):
            if target in ("*", t["name"]):
                t["open_fraction"] = frac
    if case.containment_leakage is not None:
        for c in data.get("containment", []):
            c["leakage"] = case.containment_leakage
    return parse_hall(data, source=hall.path)


def apply_case(twin: HallTwin, state: TwinState, case: Case) -> None:
    """Put the case's changes into ``state`` (a fork), as they stand from its time on."""
    for name in case.crahs_out:
        k = twin.crahs.names.index(name)
        state.crah_tripped[k] = True
        state.crah_running[k] = False
    if case.supply_setpoint_c is not None:
        state.crah_setpoint_c = np.full_like(state.crah_setpoint_c, case.supply_setpoint_c)
        if state.controls is not None:
            for name in twin.crahs.names:
                state.controls.registry.write(f"{name}.supply_temp_setpoint", case.supply_setpoint_c, "engineer",
                                              state.time_s)
    if case.rack_load_kw or case.load_scale:
        it_w = state.rack_it_w.copy()
        for target, kw in case.rack_load_kw:
            it_w[rack_indices(twin, target)] = kw * 1e3
        for target, factor in case.load_scale:
            idx = rack_indices(twin, target)
            it_w[idx] = it_w[idx] * factor
        state.rack_it_w = it_w
    if case.outdoor_temp_c is not None:
        state.outdoor_temp_c = float(case.outdoor_temp_c)
    if case.ups_out or case.pdus_out or case.feeds_out:
        if twin.power is None:
            raise ValueError("the hall has no [power] section: no UPS, PDU or feed to fail")
        net = twin.power.net
        mem = state.power
        if mem is None:
            raise ValueError("the state has no power chain memory although the hall has a [power] section")
        failed = np.zeros(net.n_ups, dtype=bool) if mem.sources.ups_failed is None else mem.sources.ups_failed.copy()
        for name in case.ups_out:
            failed[net.ups_names.index(name)] = True
        sides = (np.ones((net.n_racks, 2), dtype=bool) if mem.sources.rack_side_live is None
                 else np.array(mem.sources.rack_side_live, dtype=bool))
        for name in case.pdus_out:
            sides &= net.rack_pdu != net.pdu_names.index(name)
        for rack, side in case.feeds_out:
            sides[net.rack_names.index(rack), "ab".index(side)] = False
        mem.sources = dataclasses.replace(mem.sources, ups_failed=failed, rack_side_live=sides)
    if twin.power is not None:
        twin.power.place_losses(state, twin.crah_fan_power_w(state))
    else:
        state.rack_heat_w = state.rack_it_w * state.rack_powered


class CaseTimeout(BaseException):
    """Raised inside a case's thread when its time limit passes. A BaseException, so that no solver's
    ``except Exception`` fallback swallows it on its way out."""


#: How often the time limit's exception is raised again while the case still runs, s.
_TIMEOUT_REPEAT_S = 0.25


class _LimitState:
    """What a case's thread and its watchdog share (every change to ``done`` and ``fired`` under ``lock``)."""

    def __init__(self) -> None:
        self.thread_id = threading.get_ident()
        self.lock = threading.RLock()
        self.stop = threading.Event()
        self.exiting = False  # set by the case's thread, first thing, when its call ends (no lock: see below)
        self.done = False
        self.fired = False


def _watch(state: _LimitState, limit_s: float) -> None:
    wait_s = limit_s
    while not state.stop.wait(wait_s):
        with state.lock:
            if state.done or state.exiting:
                return
            state.fired = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(state.thread_id), ctypes.py_object(CaseTimeout))
        wait_s = _TIMEOUT_REPEAT_S


def _call_with_limit(limit_s: float | None, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)``, raising :class:`CaseTimeout` in this thread if it runs longer than ``limit_s``.

    A watchdog thread sets an asynchronous exception on this thread (``PyThreadState_SetAsyncExc``), which
    Python raises where this thread next checks for one (a call, a loop's back edge): within one GMRES
    iteration of a steady solve, one step of a transient run. No signal is used, because Dask runs tasks
    outside the main thread, where ``signal.alarm`` cannot be. Python drops an exception that lands in a
    finalizer (``__del__``, as in numba's first compile of a kernel), so the watchdog raises it again every
    ``_TIMEOUT_REPEAT_S`` while the call still runs. A call into compiled code is not interrupted; the case
    stops when it returns.

    No exception may outlive the call: one that did would land in whatever the thread runs next (a Dask
    worker's idle loop, whose thread it kills; seen with a 1 ms limit under heavy load when this was a
    ``contextlib`` context manager, whose ``__exit__`` runs Python calls before the clean-up). So the
    clean-up is in this frame's ``finally``, which the call's end reaches with no check for a pending
    exception on the way, and its first statement (again no check) tells the watchdog to raise no more.
    At most one raise is then still in flight: it is caught in the retry loop, or taken back under the lock.
    """
    if limit_s is None:
        return fn(*args)
    state = _LimitState()
    late = False
    t0_s = time.perf_counter()
    try:
        # Started inside the try: with a short limit the watchdog may fire while ``start()`` still waits for it.
        threading.Thread(target=_watch, args=(state, limit_s), name="case-time-limit", daemon=True).start()
        return fn(*args)
    finally:
        state.exiting = True
        while True:
            try:
                with state.lock:
                    state.done = True
                    if state.fired:  # one may be pending, set just as the call ended: take it back
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(state.thread_id), None)
                break
            except CaseTimeout:
                late = True
        state.stop.set()
        # A case past its limit is a timeout, whatever it returned: also when the call had finished (or was being
        # stopped) just as its limit passed, and when it ended past its limit before the watchdog, on a busy
        # machine, got to run at all (seen: a 1 ms capacity search that finished in a few ms as "ok").
        if late or time.perf_counter() - t0_s >= limit_s:
            raise CaseTimeout


def run_case(job: SweepJob, case: Case) -> dict:
    """Run one case and return its row: inputs, status ("ok", "warn", "fail" or "error"), reason, results."""
    t0 = time.perf_counter()
    row = case.inputs()
    _CASES[job.key] += 1
    try:
        entry = _built(job, case)
        if not case.steady and case.kind != "capacity" and job.checkpoint is None and entry[2] is None:
            # Normal operation's steady state, where every transient case starts: once per worker and hall
            # variant, like the build, so it is not part of a case's time limit.
            entry[2] = _steady_base(entry)
        _call_with_limit(job.case_timeout_s, _solve_case, job, case, entry, row)
    except CaseTimeout:
        # The solve stopped wherever it was: the cached hall's solvers may hold a half-updated warm start,
        # so the next case of this variant builds the hall afresh.
        _CACHE.pop(_cache_key(job, case), None)
        row.update(status="error", reason=f"timed out: the case ran past its limit of {job.case_timeout_s:g} s "
                                          f"(--case-timeout)")
    except Exception as exc:  # noqa: BLE001 - a failed case is a result: the sweep goes on
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not isinstance(exc, ValueError):
            msg = f"{type(exc).__name__}: {msg}"
        row.update(status="error", reason=msg)
    row["wall_s"] = time.perf_counter() - t0
    return row


def _solve_case(job: SweepJob, case: Case, entry: list, row: dict) -> None:
    """The case's own work on a built hall (``entry``): its results go into ``row``."""
    twin, start = entry[0], entry[1]
    if case.kind == "capacity":
        from twin.sweep.capacity import cooling_capacity

        row.update(cooling_capacity(job, twin, start, case))
    elif case.steady:
        state = start.copy()
        apply_case(twin, state, case)
        state = twin.steady(state)
    else:
        base = start if job.checkpoint is not None else entry[2]
        state = base.copy()
        _reset_metrics(state)
        t_start_s = state.time_s
        apply_case(twin, state, case)
        _run(twin, state, case)
        row.update(_transient_results(state, twin, t_start_s))
    if case.kind != "capacity":
        row.update(_results(job, twin, state))


def _steady_base(entry: list) -> TwinState:
    """The steady state of normal operation of a built hall (``entry``: twin, start state, ...)."""
    return entry[0].steady(entry[1])


def run_batch(job: SweepJob, cases: list[Case]) -> list[dict]:
    """Run cases one after another in this process (a Dask task runs one batch)."""
    return [run_case(job, c) for c in cases]


def _reset_metrics(state: TwinState) -> None:
    factory = TwinState.__dataclass_fields__["metrics"].default_factory
    if not callable(factory):
        raise TypeError("TwinState.metrics has no default factory")
    state.metrics = factory()


def _run(twin: HallTwin, state: TwinState, case: Case) -> None:
    player = None
    if case.scenario:
        from twin.model.scenario import load_scenario
        from twin.sim.scenario import ScenarioPlayer

        player = ScenarioPlayer(twin, load_scenario(Path(case.scenario), twin.hall))
    if case.duration_s is None:
        raise ValueError(f"case {case.name!r}: a transient case needs a duration")
    steps = int(round(case.duration_s / twin.dt_s))
    for _ in range(steps):
        if player is not None:
            player.apply_due(state)
        twin.step(state)


def _transient_results(state: TwinState, twin: HallTwin, t_start_s: float) -> dict:
    m = state.metrics

    def since(v: float | None) -> float:
        return math.nan if v is None else float(v) - t_start_s

    peak_i = m.get("peak_inlet_index")
    return {
        "time_to_27c_s": since(m["t_inlet_27c_s"]), "time_to_32c_s": since(m["t_inlet_32c_s"]),
        "min_battery_soc": math.nan if m["min_battery_soc"] is None else float(m["min_battery_soc"]),
        "peak_inlet_c": math.nan if m.get("peak_inlet") is None else float(m["peak_inlet"]),
        "peak_inlet_rack": "" if peak_i is None else twin.racks.names[int(peak_i)],
        "peak_inlet_time_s": since(m.get("peak_inlet_time_s")),
    }


def _results(job: SweepJob, twin: HallTwin, state: TwinState) -> dict:
    lo_c, hi_c = ASHRAE_RECOMMENDED_C
    inlet = np.asarray(state.t_intake_c, dtype=float)
    powered = np.asarray(state.rack_powered, dtype=bool)
    live_inlet = np.where(powered, inlet, -np.inf)
    i_hot = int(np.argmax(live_inlet)) if inlet.size else 0
    out = {
        "max_inlet_c": float(live_inlet[i_hot]) if inlet.size else math.nan,
        "max_inlet_rack": twin.racks.names[i_hot] if inlet.size else "",
        "mean_inlet_c": float(inlet[powered].mean()) if powered.any() else math.nan,
        "racks_above_27c": int(np.sum(powered & (inlet > hi_c))),
        "racks_below_18c": int(np.sum(powered & (inlet < lo_c))),
        "racks_dark": int(np.sum(~powered)),
        "it_kw": float(np.sum(state.rack_it_w * powered)) / 1e3,
        "heat_removed_kw": float(np.sum(state.crah_heat_removed_w)) / 1e3,
        "rack_inlet_c": inlet.tolist(),
    }
    problems: list[str] = []
    warnings: list[str] = []
    if out["racks_dark"]:
        dark = [twin.racks.names[i] for i in np.flatnonzero(~powered)]
        problems.append(f"{len(dark)} racks lose power ({', '.join(dark[:3])}{', …' if len(dark) > 3 else ''})")
    if out["max_inlet_c"] > hi_c:
        problems.append(f"rack {out['max_inlet_rack']} reaches {out['max_inlet_c']:.1f} °C")
    if twin.power is not None and state.power is not None and state.power.last is not None:
        loads = power_loads(twin, state)
        worst = max(loads, key=lambda x: x[2])
        out.update(worst_load_name=worst[0], worst_load_kind=worst[1], worst_load_fraction=worst[2])
        for kind in ("ups", "pdu", "feed"):
            of_kind = [x for x in loads if x[1] == kind]
            out[f"max_{kind}_load_fraction"] = max((x[2] for x in of_kind), default=math.nan)
        over = [x for x in loads if x[2] > 1.0]
        high = [x for x in loads if job.load_limit < x[2] <= 1.0]
        if over:
            problems += [f"{n} at {100 * f:.0f} % of its rating" for n, _, f in sorted(over, key=lambda x: -x[2])[:3]]
        if high:
            n, _, f = max(high, key=lambda x: x[2])
            warnings.append(f"{n} at {100 * f:.0f} % of its rating (limit {100 * job.load_limit:.0f} %)")
    if "status" not in out:
        out["status"] = "fail" if problems else ("warn" if warnings else "ok")
        out["reason"] = "; ".join(problems + warnings)
    return out


def power_loads(twin: HallTwin, state: TwinState) -> list[tuple[str, str, float]]:
    """(name, kind, load ÷ rating) of every UPS, PDU, MV/LV transformer and rated rack feed, from the state's
    last load flow."""
    if twin.power is None:
        raise ValueError("the hall has no [power] section: no UPS, PDU or feed loads")
    if state.power is None or state.power.last is None:
        raise ValueError("the state has no load flow of the power chain yet")
    net = twin.power.net
    res = state.power.last
    loads = [(n, "ups", float(f)) for n, f in zip(net.ups_names, res.ups_load_fraction)]
    loads += [(n, "pdu", float(f)) for n, f in zip(net.pdu_names, res.pdu_load_fraction)]
    # The MV/LV transformers in service, each against its own rating (one out leaves the rest loaded more).
    loads += [(n, "transformer", float(f))
              for n, f, on in zip(net.transformer_names, res.transformer_unit_load_fraction, net.transformer_in_service)
              if on]
    rated_va = feed_ratings_va(twin.hall)
    pf = np.cos(np.arctan(net.psu_tan_phi))
    for side, w in (("A", res.rack_feed_a_w), ("B", res.rack_feed_b_w)):
        for i, name in enumerate(net.rack_names):
            if np.isfinite(rated_va[i]):
                loads.append((f"{name} feed {side}", "feed", float(w[i] / pf[i] / rated_va[i])))
    return loads


def feed_ratings_va(hall: HallModel) -> np.ndarray:
    """Each rack's feed rating (either side), VA; inf where the hall file gives none."""
    power = hall.spec.power
    by_row = {f.row: f.rated_kva for f in power.rack_feeds} if power is not None else {}
    rated_kva = [by_row.get(r.row) for r in hall.racks]
    return np.array([np.inf if kva is None else kva * 1e3 for kva in rated_kva])
