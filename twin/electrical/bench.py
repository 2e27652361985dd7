"""Benchmark of the power-chain solve against pandapower's ``runpp`` on the same networks (not a test).

Run: ``.venv/bin/python -m twin.electrical.bench [HALL.toml ...]`` (default: the bundled reference hall);
prints one JSON object per hall. pandapower is optional (the ``test`` extra); without it only our own
figures are reported.
"""

from __future__ import annotations

import functools
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from twin.electrical.network import PowerNetwork
from twin.electrical.solve import PowerResult, PowerSources, solve_power
from twin.model import HallModel, bundled_hall, load_hall

__all__ = ["bench_power", "main"]


def _per_call_s(fn: Callable[[], object], *, min_time_s: float = 0.5, max_calls: int = 100_000) -> float:
    """Median time of one call over batches filling about ``min_time_s``."""
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    batch = int(min(max_calls, max(1, min_time_s / 5 / one)))
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        times.append((time.perf_counter() - t0) / batch)
    return float(np.median(times))


def bench_power(hall: HallModel, *, seed: int = 1) -> dict:
    """Time per solve of ours (all networks: downstream trees, UPSs, upstream) and of pandapower's
    Newton-Raphson ``runpp`` on the same downstream and upstream networks, with rack loads varying
    ±10 % from step to step."""
    t0 = time.perf_counter()
    net = PowerNetwork(hall)
    setup_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    it = np.array([r.it_w for r in hall.racks])
    loads = [it * rng.uniform(0.9, 1.1, it.size) for _ in range(64)]
    mech = {"crah_fan_w": 0.04 * it.sum(), "chiller_w": 0.18 * it.sum(), "pump_w": 0.03 * it.sum()}
    k = iter(range(10**9))
    warm: dict = {}  # as the twin steps it: each solve starts from the last one's voltages

    def ours() -> PowerResult:
        return solve_power(net, loads[next(k) % 64], **mech, warm=warm)

    ours_s = _per_call_s(ours)
    res = ours()
    out: dict[str, Any] = {
        "hall": hall.name, "buses": len(net.bus_names), "branches": len(net.branch_names), "racks": net.n_racks,
        "setup_ms": 1e3 * setup_s, "solve_us": 1e6 * ours_s, "sweeps_per_solve": res.sweeps,
    }
    try:
        import pandapower  # noqa: PLC0415

        from twin.electrical import pandapower_ref as ref  # noqa: PLC0415
    except ImportError:
        out["pandapower"] = None
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        nets = [ref.pandapower_downstream(net, res)[0], ref.pandapower_upstream(net, res, PowerSources())[0]]
        build_s = time.perf_counter() - t0
        runpp_s = sum(_per_call_s(functools.partial(ref.run, pn), min_time_s=1.0) for pn in nets)

    out["pandapower"] = {
        "version": pandapower.__version__, "numba": False, "build_ms": 1e3 * build_s,
        "runpp_us": 1e6 * runpp_s, "runpp_over_ours": runpp_s / ours_s,
    }
    return out


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    halls = [load_hall(Path(a)) for a in args] or [bundled_hall("reference")]
    for hall in halls:
        print(json.dumps(bench_power(hall)))


if __name__ == "__main__":
    main()
