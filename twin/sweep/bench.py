"""``twin bench HALL --sweep``: the sweep's figures on this machine.

- N-1 over the hall's CRAHs, steady, in all: a LocalCluster started, every worker building the hall,
  the cases solved, the cluster closed (what a user waits for).
- Cases per second of a 100-case grid (10 supply setpoints 16–22 °C × 10 load factors) on tiny and on HALL, on a
  warm cluster (halls already built on every worker: the throughput of a long sweep).
- Speed-up from 1 to 2 workers on HALL's grid, warm, each with its own cluster, measured back to back.
- A case in a worker against the same case in this process (warm, same run, alternated): wall and CPU
  time and page faults per case. A worker that costs more per case than a process (as Dask's
  MALLOC_TRIM_THRESHOLD_ once made it, twin/sweep/worker.py) shows here.
"""

from __future__ import annotations

import os
import resource
import time

from twin.model.load import HallModel, bundled_hall
from twin.sweep.cases import Case, n_minus_1
from twin.sweep.command import job_for
from twin.sweep.engine import local_cluster, run_sweep
from twin.sweep.worker import SweepJob, _built

__all__ = ["bench_sweep", "grid_cases", "human"]


def grid_cases(n_setpoints: int = 10, n_scales: int = 10) -> list[Case]:
    """Setpoints 16…22 °C × load factors 0.8…1.25 on every rack, steady. At ×1.25 the reference hall runs at
    99 % of its cooling capacity and the steady solve needs its safeguarded outer iteration (≈ 16 s of CPU a
    case against ≈ 1.7 s for the rest), so the grid also measures how a sweep copes with uneven cases."""
    cases = []
    for i in range(n_setpoints):
        sp = 16.0 + 6.0 * i / max(1, n_setpoints - 1)
        for j in range(n_scales):
            f = 0.8 + 0.45 * j / max(1, n_scales - 1)
            cases.append(Case(f"setpoint {sp:.1f} °C, ×{f:.2f}", kind="grid", supply_setpoint_c=sp,
                              load_scale=(("*", f),)))
    return cases


def _warm(job: SweepJob) -> None:
    _built(job, Case("warm"))


def _timed_grid(job: SweepJob, cases: list[Case], n_workers: int) -> dict:
    client, cluster = local_cluster(n_workers)
    try:
        client.run(_warm, job)  # every worker builds the hall before the clock starts
        t0 = time.perf_counter()
        run = run_sweep(job, cases, client=client)
        wall = time.perf_counter() - t0
    finally:
        client.close()
        cluster.close()
    errors = sum(r["status"] == "error" for r in run.rows)
    return {"workers": n_workers, "cases": len(cases), "wall_s": round(wall, 3),
            "cases_per_s": round(len(cases) / wall, 3), "errors": errors}


def _case_costs(job: SweepJob, cases: list[Case]) -> dict:
    """Per-case wall time, CPU time and minor page faults of ``cases`` in the calling process (a worker's
    task or this process), after its build and a first case (one-time costs) are out of the way."""
    from twin.sweep.worker import run_batch

    run_batch(job, cases[:1])
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    run_batch(job, cases)
    wall_s = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    n = len(cases)
    return {"pid": os.getpid(), "wall_s_per_case": round(wall_s / n, 3),
            "cpu_s_per_case": round((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / n, 3),
            "minor_faults_per_case": (r1.ru_minflt - r0.ru_minflt) // n}


def _worker_vs_process(job: SweepJob, cases: list[Case], *, rounds: int = 2) -> dict:
    """The same cases in a one-worker cluster's worker and in this process, alternated ``rounds`` times;
    the best round of each (the least disturbed by other load) and their ratios."""
    client, cluster = local_cluster(1)
    try:
        worker, here = [], []
        for _ in range(rounds):
            worker.append(client.submit(_case_costs, job, cases, pure=False).result())
            here.append(_case_costs(job, cases))
    finally:
        client.close()
        cluster.close()
    best_w = min(worker, key=lambda r: r["wall_s_per_case"])
    best_p = min(here, key=lambda r: r["wall_s_per_case"])
    return {"cases": len(cases), "in_worker": best_w, "in_process": best_p,
            "wall_ratio": round(best_w["wall_s_per_case"] / best_p["wall_s_per_case"], 3),
            "cpu_ratio": round(min(r["cpu_s_per_case"] for r in worker) / min(r["cpu_s_per_case"] for r in here), 3)}


def bench_sweep(hall: HallModel, *, workers: int | None = None) -> dict:
    n = workers or os.cpu_count() or 1
    job = job_for(hall, airflow=None)
    cases = n_minus_1(hall, "crah")
    t0 = time.perf_counter()
    run = run_sweep(job, cases, n_workers=n)
    n1_wall = time.perf_counter() - t0
    out: dict = {"hall": hall.name, "cpu_count": os.cpu_count(), "load_avg_1min": os.getloadavg()[0],
                 "n_minus_1_crah": {"cases": len(cases), "workers": run.workers, "wall_s": round(n1_wall, 3),
                                    "case_s_mean": round(sum(r["wall_s"] for r in run.rows) / len(cases), 3),
                                    "errors": sum(r["status"] == "error" for r in run.rows)}}
    out["worker_vs_process"] = _worker_vs_process(job, [c for c in cases if c.kind == "crah"][:3])
    grid = grid_cases()
    tiny = bundled_hall("tiny")
    out["grid_tiny"] = _timed_grid(job_for(tiny, airflow=None), grid, n)
    out["grid_hall"] = _timed_grid(job, grid, n)
    # Back to back: 1 worker, then 2, so that both see the same load from elsewhere.
    one = _timed_grid(job, grid, 1)
    two = out["grid_hall"] if n == 2 else _timed_grid(job, grid, 2)
    out["speedup"] = {"one_worker": one, "two_workers": two, "ratio": round(one["wall_s"] / two["wall_s"], 3),
                      "load_avg_1min_after": os.getloadavg()[0]}
    return out


def human(r: dict) -> str:
    n1 = r["n_minus_1_crah"]
    g_t, g_h, s, w = r["grid_tiny"], r["grid_hall"], r["speedup"], r["worker_vs_process"]
    return "\n".join([
        f"{r['hall']}: sweep figures ({r['cpu_count']} cores, load average {r['load_avg_1min']:.1f} at start)",
        f"  N-1 over {n1['cases'] - 1} CRAHs, steady, {n1['workers']} workers: {n1['wall_s']:.1f} s in all "
        f"(cluster start and hall builds included; {n1['case_s_mean']:.2f} s per case)",
        f"  100-case grid, warm: tiny {g_t['cases_per_s']:.1f} cases/s, this hall {g_h['cases_per_s']:.2f} cases/s "
        f"({g_h['workers']} workers)",
        f"  1 → 2 workers on this hall's grid: {s['one_worker']['wall_s']:.1f} s → "
        f"{s['two_workers']['wall_s']:.1f} s, ×{s['ratio']:.2f} (load average {s['load_avg_1min_after']:.1f} after)",
        f"  a case in a worker ÷ in this process (N-1 cases, warm): wall ×{w['wall_ratio']:.2f}, "
        f"CPU ×{w['cpu_ratio']:.2f} ({w['in_worker']['cpu_s_per_case']:.2f} s against "
        f"{w['in_process']['cpu_s_per_case']:.2f} s of CPU; page faults {w['in_worker']['minor_faults_per_case']} "
        f"against {w['in_process']['minor_faults_per_case']})",
    ])
