"""`twin bench HALL --threads-study`: the steady solve's time with 1 and with 2 BLAS threads while another
process keeps one core busy (the situation on a shared 2-core machine; see twin/thermal/threads.py).

A benchmark, not a test: it reports numbers. Each timed solve gets a fresh twin (no warm start carried
over), the thread counts alternate so that drifts in the machine's load hit both alike, and the busy
process is one this command starts and stops.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from twin.model.load import HallModel
from twin.sim.twin import HallTwin
from twin.thermal.threads import SOLVER_BLAS_THREADS, blas_threads_now, limited_blas, solver_threads

__all__ = ["human", "threads_study"]


@contextmanager
def busy_core(enabled: bool = True) -> Iterator[None]:
    """One other process spinning on a core for the duration of the block."""
    if not enabled:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)  # let it start spinning
        yield
    finally:
        spinner.kill()
        spinner.wait()


def threads_study(hall: HallModel, *, threads: tuple[int, ...] = (1, 2), repeats: int = 3,
                  load_core: bool = True, airflow: str | None = None) -> dict:
    """Wall time of ``HallTwin.steady()`` (flow and temperature solves) per BLAS thread count."""
    with solver_threads(max(threads)), limited_blas():
        applied = blas_threads_now()  # what the BLAS library really took (it may cap a request)
    times: dict[int, list[float]] = {n: [] for n in threads}
    cells = 0
    with busy_core(load_core):
        for k in range(repeats):
            for n in threads if k % 2 == 0 else threads[::-1]:
                twin = HallTwin(hall, airflow=airflow)
                state = twin.initial_state()
                with solver_threads(n):
                    t0 = time.perf_counter()
                    twin.steady(state)
                    times[n].append(time.perf_counter() - t0)
                cells = int(twin.net.n)
    rows = [{"threads": n, "times_s": [round(t, 3) for t in times[n]], "best_s": round(min(times[n]), 3),
             "median_s": round(sorted(times[n])[len(times[n]) // 2], 3)} for n in threads]
    return {"hall": hall.name, "cells": cells,
            "default_threads": SOLVER_BLAS_THREADS, "blas_threads_available": blas_threads_now(),
            "max_threads_applied": applied, "busy_core": load_core, "repeats": repeats, "rows": rows}


def human(result: dict) -> str:
    lines = [f"{result['hall']} ({result['cells']:,} fluid cells): steady solve (flow + temperature), "
             f"{result['repeats']} runs per thread count"
             + (", another process loading one core" if result["busy_core"] else "")
             + f"; BLAS offers {result['blas_threads_available']} threads, the twin uses {result['default_threads']}"]
    for r in result["rows"]:
        each = ", ".join(f"{t:.2f}" for t in r["times_s"])
        lines.append(f"  {r['threads']} BLAS thread{'s' if r['threads'] > 1 else ' '}: median {r['median_s']:.2f} s, "
                     f"best {r['best_s']:.2f} s  ({each})")
    return "\n".join(lines)
