"""``twin bench HALL --sweep``: the sweep's figures on this machine, each printed as soon as it is measured.

Parts (``--sweep-only`` picks some; all by default, in this order):

- ``n1``: N-1 over the hall's CRAHs, steady, in all: a LocalCluster started, every worker building the
  hall, the cases solved, the cluster closed (what a user waits for).
- ``worker``: a case in a worker against the same case in this process (warm, same run, alternated):
  wall and CPU time and page faults per case. A worker that costs more per case than a process (as
  Dask's MALLOC_TRIM_THRESHOLD_ once made it, twin/sweep/worker.py) shows here.
- ``grid-tiny``: cases per second of the 100-case grid (:func:`grid_cases`) on tiny.toml, warm.
- ``grid``: the same on HALL with one worker, then with two (each its own cluster, back to back, so both
  see the same load from elsewhere), and the 1 → 2 worker speed-up with what limits it.

The grid runs warm and fair: each cluster's workers build the hall *and* solve one case before the clock
starts (the first solve compiles numba kernels and fills the solvers' caches), reported apart as
``warm_s``; both runs take the same cases in the same order, cut into batches by the sweep's own guided
self-scheduling (:func:`twin.sweep.engine.batches`), which ends every worker within about a case of the
others. From Dask's task stream each run also reports every worker's busy time, so the speed-up splits
into its factors (Amdahl): ``speedup = 2 × (C1 / C2) × (C2 / 2 T2) × (T1 / C1)`` where T is the wall
time and C the summed time of the tasks, i.e. per-case cost growth with two workers side by side, the
two workers' busy share (tail and dispatch), and the one-worker run's time outside its tasks (client,
scheduler, results). The client's own CPU time (scheduler included: a LocalCluster's runs in this
process) is reported too; on two cores it competes with the two workers.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterable

from twin.model.load import HallModel, bundled_hall
from twin.sweep.cases import Case, n_minus_1
from twin.sweep.command import job_for
from twin.sweep.engine import local_cluster, run_sweep
from twin.sweep.worker import SweepJob, run_batch

__all__ = ["SWEEP_PARTS", "bench_sweep", "grid_cases", "human", "item_lines"]

#: What `twin bench --sweep` can measure (``--sweep-only``), in the order it measures them.
SWEEP_PARTS = ("n1", "worker", "grid-tiny", "grid")

#: The bench's grid: 5 supply setpoints × 5 load factors × 4 outdoor temperatures = 100 cases.
BENCH_GRID = (5, 5, 4)


def grid_cases(n_setpoints: int = 5, n_scales: int = 5, n_outdoor: int = 1) -> list[Case]:
    """A setpoint study: supply setpoints 18…22 °C × load factors 0.6…1.0 on every rack × outdoor
    temperatures 0…40 °C, steady (outdoor 25 °C when ``n_outdoor`` is 1).

    It is the grid an operator runs before raising the supply setpoint to save chiller energy: how warm can
    the supply air be, at today's load and below, over the year's outdoor temperatures (which set the
    chillers' COP and the PUE). Every case is a full steady solve (each load factor changes the servers'
    airflow, so the flow is solved again): ≈ 2 s of CPU on reference.toml, 0.7 s at today's load, all
    inlets inside 18–27 °C. Loads near the hall's cooling capacity are left out because their steady solves
    cost far more than a sweep's overhead and would measure the solver, not the sweep (×1.2 and more on
    reference: the safeguarded outer iteration, 5–20× as long; `twin capacity` asks that question). The
    setpoints stop at 22 °C because the figures in README were measured on this grid; setpoints above the
    starting air once cost ≈ 50× as much (a start with no coil cooling; fixed in ``HallTwin.steady``,
    reference at 24 °C 55.7 s → 1.0 s) and no longer do.
    """
    cases = []
    for i in range(n_setpoints):
        sp = 18.0 + 4.0 * i / max(1, n_setpoints - 1)
        for j in range(n_scales):
            f = 0.6 + 0.4 * j / max(1, n_scales - 1)
            for k in range(n_outdoor):
                out_c = 25.0 if n_outdoor == 1 else 40.0 * k / (n_outdoor - 1)
                cases.append(Case(f"setpoint {sp:.1f} °C, ×{f:.2f}, outdoor {out_c:.0f} °C", kind="grid",
                                  supply_setpoint_c=sp, load_scale=(("*", f),), outdoor_temp_c=out_c))
    return cases


def _warm_worker(job: SweepJob) -> float:
    """Build the hall and solve one case in this worker (the one-time costs); returns the seconds it took."""
    t0 = time.perf_counter()
    run_batch(job, [Case("warm-up", kind="grid")])
    return time.perf_counter() - t0


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _busy_by_worker(stream: list[dict]) -> dict[str, dict]:
    """Per worker, from Dask's task stream: tasks, summed compute time and first start / last end, s."""
    out: dict[str, dict] = {}
    for task in stream:
        spans = [s for s in task.get("startstops", ()) if s.get("action") == "compute"]
        if not spans:
            continue
        w = out.setdefault(task["worker"], {"tasks": 0, "busy_s": 0.0, "start": float("inf"), "end": 0.0})
        w["tasks"] += 1
        for s in spans:
            w["busy_s"] += s["stop"] - s["start"]
            w["start"] = min(w["start"], s["start"])
            w["end"] = max(w["end"], s["stop"])
    return out


def _timed_grid(job: SweepJob, cases: list[Case], n_workers: int) -> dict:
    """The grid on a fresh cluster of ``n_workers``, warm; wall time and where it went."""
    from distributed import get_task_stream

    t_start = time.perf_counter()
    client, cluster = local_cluster(n_workers)
    try:
        start_s = time.perf_counter() - t_start
        warm = client.run(_warm_worker, job)  # every worker: hall built, one case solved
        cpu_workers_0 = client.run(_cpu_s)
        cpu_client_0 = _cpu_s()
        with get_task_stream(client) as ts:
            t0 = time.perf_counter()
            run = run_sweep(job, cases, client=client)
            wall = time.perf_counter() - t0
        cpu_client = _cpu_s() - cpu_client_0
        cpu_workers = {w: c - cpu_workers_0[w] for w, c in client.run(_cpu_s).items()}
    finally:
        client.close()
        cluster.close()
    per = _busy_by_worker(ts.data)
    busy = sum(w["busy_s"] for w in per.values())
    ends = [w["end"] for w in per.values()]
    cases_s = sum(r["wall_s"] for r in run.rows)
    return {"workers": n_workers, "cases": len(cases), "wall_s": round(wall, 3),
            "cases_per_s": round(len(cases) / wall, 3), "errors": sum(r["status"] == "error" for r in run.rows),
            "cluster_start_s": round(start_s, 2), "warm_s": [round(v, 2) for v in warm.values()],
            "case_s_mean": round(cases_s / len(cases), 3),
            "tasks_s": round(busy, 3),  # summed compute time of the batches, all workers
            "tasks": sum(w["tasks"] for w in per.values()),
            "busy_s_by_worker": [round(w["busy_s"], 2) for w in per.values()],
            "cpu_s_by_worker": [round(v, 2) for v in cpu_workers.values()],
            "tail_s": round(max(ends) - min(ends), 3) if len(ends) > 1 else 0.0,
            "client_cpu_s": round(cpu_client, 3),
            "load_avg_1min": round(os.getloadavg()[0], 2)}


def _speedup(one: dict, two: dict) -> dict:
    """T1/Tn and its factors: n × per-case cost (C1/Cn) × busy share (Cn/(n Tn)) × one worker's overhead (T1/C1)."""
    t1, t2, c1, c2, n = one["wall_s"], two["wall_s"], one["tasks_s"], two["tasks_s"], two["workers"]
    return {"ratio": round(t1 / t2, 3),
            "case_cost_ratio": round(c1 / c2, 3),  # < 1: a case takes longer with the workers side by side
            "busy_share": round(c2 / (n * t2), 3),  # < 1: a worker idled (tail, dispatch)
            "one_worker_overhead": round(t1 / c1, 3),  # > 1: time of the 1-worker run outside its tasks
            # the share of the n workers' time the client and the scheduler (one process) took in CPU:
            "client_cpu_share": round(two["client_cpu_s"] / (n * t2), 3),
            "worker_cpu_over_busy_all": round(sum(two["cpu_s_by_worker"]) / c2, 3),  # < 1: waited for a core
            "worker_cpu_over_busy_one": round(sum(one["cpu_s_by_worker"]) / c1, 3)}


def _case_costs(job: SweepJob, cases: list[Case]) -> dict:
    """Per-case wall time, CPU time and minor page faults of ``cases`` in the calling process (a worker's
    task or this process), after its build and a first case (one-time costs) are out of the way."""
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


def bench_sweep(hall: HallModel, *, workers: int | None = None, parts: Iterable[str] = SWEEP_PARTS,
                emit: Callable[[str], None] | None = None) -> dict:
    """Measure the chosen ``parts`` (:data:`SWEEP_PARTS`) on ``hall``; ``emit`` gets each item's line as soon
    as it is measured. Returns every item, keyed as :func:`item_lines` reads them."""
    want = set(parts)
    n = workers or os.cpu_count() or 1
    job = job_for(hall, airflow=None)
    out: dict = {"hall": hall.name, "cpu_count": os.cpu_count(), "load_avg_1min": os.getloadavg()[0],
                 "parts": [p for p in SWEEP_PARTS if p in want]}

    def done(key: str, item: dict) -> None:
        out[key] = item
        if emit is not None:
            for line in item_lines(key, item, out):
                emit(line)

    if emit is not None:
        emit(head_line(out))
    if "n1" in want:
        cases = n_minus_1(hall, "crah")
        t0 = time.perf_counter()
        run = run_sweep(job, cases, n_workers=n)
        n1_wall = time.perf_counter() - t0
        done("n_minus_1_crah", {"cases": len(cases), "workers": run.workers, "wall_s": round(n1_wall, 3),
                                "case_s_mean": round(sum(r["wall_s"] for r in run.rows) / len(cases), 3),
                                "errors": sum(r["status"] == "error" for r in run.rows),
                                "load_avg_1min": round(os.getloadavg()[0], 2)})
    if "worker" in want:
        crah = [c for c in n_minus_1(hall, "crah") if c.kind == "crah"][:3]
        done("worker_vs_process", _worker_vs_process(job, crah))
    grid = grid_cases(*BENCH_GRID)
    tiny = bundled_hall("tiny")
    tiny_job = job_for(tiny, airflow=None)
    if "grid-tiny" in want and tiny_job.key != job.key:
        done("grid_tiny", _timed_grid(tiny_job, grid, n))
    if "grid" in want:
        # Back to back: one worker, then two, so that both see the same load from elsewhere.
        done("grid_one_worker", _timed_grid(job, grid, 1))
        done("grid_hall", _timed_grid(job, grid, n))
        if n > 1:
            done("speedup", {"workers": n, **_speedup(out["grid_one_worker"], out["grid_hall"]),
                             "load_avg_1min_after": round(os.getloadavg()[0], 2)})
    if "grid-tiny" in want and tiny_job.key == job.key and "grid" not in want:
        done("grid_hall", _timed_grid(job, grid, n))
    return out


def head_line(r: dict) -> str:
    return (f"{r['hall']}: sweep figures ({r['cpu_count']} cores, load average {r['load_avg_1min']:.1f} at start; "
            f"grid: {BENCH_GRID[0]} setpoints × {BENCH_GRID[1]} load factors × {BENCH_GRID[2]} outdoor temperatures)")


def _grid_line(label: str, g: dict) -> str:
    return (f"  100-case grid on {label}, {g['workers']} worker{'s' if g['workers'] > 1 else ''}, warm: "
            f"{g['wall_s']:.1f} s, {g['cases_per_s']:.2f} cases/s ({g['case_s_mean']:.2f} s per case; "
            f"cluster start {g['cluster_start_s']:.1f} s and warm-up {max(g['warm_s']):.1f} s not counted; "
            f"busy {' + '.join(f'{b:.1f}' for b in g['busy_s_by_worker'])} s, tail {g['tail_s']:.1f} s, "
            f"client CPU {g['client_cpu_s']:.1f} s; load average {g['load_avg_1min']:.1f})"
            + (f", {g['errors']} errors" if g["errors"] else ""))


def item_lines(key: str, item: dict, r: dict) -> list[str]:
    """The human lines of one measured item (``r``: the items so far, for the hall's name)."""
    if key == "n_minus_1_crah":
        return [f"  N-1 over {item['cases'] - 1} CRAHs, steady, {item['workers']} workers: {item['wall_s']:.1f} s in "
                f"all (cluster start and hall builds included; {item['case_s_mean']:.2f} s per case; load average "
                f"{item['load_avg_1min']:.1f})" + (f", {item['errors']} errors" if item["errors"] else "")]
    if key == "worker_vs_process":
        w = item
        return [f"  a case in a worker ÷ in this process (N-1 cases, warm): wall ×{w['wall_ratio']:.2f}, "
                f"CPU ×{w['cpu_ratio']:.2f} ({w['in_worker']['cpu_s_per_case']:.2f} s against "
                f"{w['in_process']['cpu_s_per_case']:.2f} s of CPU; page faults "
                f"{w['in_worker']['minor_faults_per_case']} against {w['in_process']['minor_faults_per_case']})"]
    if key == "grid_tiny":
        return [_grid_line("tiny", item)]
    if key in ("grid_one_worker", "grid_hall"):
        return [_grid_line(r["hall"], item)]
    if key == "speedup":
        s = item
        return [f"  1 → {s['workers']} workers on {r['hall']}'s grid: ×{s['ratio']:.2f} = {s['workers']} × per-case "
                f"cost {s['case_cost_ratio']:.2f} × busy share {s['busy_share']:.2f} × one worker's overhead "
                f"{s['one_worker_overhead']:.2f} (client and scheduler took {100 * s['client_cpu_share']:.0f} % of "
                f"the cores; workers' CPU ÷ busy time {s['worker_cpu_over_busy_one']:.2f} alone, "
                f"{s['worker_cpu_over_busy_all']:.2f} side by side; load average {s['load_avg_1min_after']:.1f} after)"]
    return []


def human(r: dict) -> str:
    """Every measured item's lines, in measuring order (what ``emit`` printed one by one)."""
    keys = ("n_minus_1_crah", "worker_vs_process", "grid_tiny", "grid_one_worker", "grid_hall", "speedup")
    return "\n".join([head_line(r)] + [line for k in keys if k in r for line in item_lines(k, r[k], r)])
