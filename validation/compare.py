"""Compare the twin's steady rack intakes with the OpenFOAM reference in validation/results/.

Usage::

    python validation/compare.py                       # every hall in validation/halls/ with CFD results
    python validation/compare.py open-row contained    # some halls
    python validation/compare.py --airflow momentum    # passes `--airflow momentum` to `twin run`
    python validation/compare.py --airflow momentum --turbulence k-epsilon   # sets [airflow] turbulence
    python validation/compare.py --json                # one JSON object on stdout

For each hall it runs ``twin run HALL --steady --json --out DIR`` (with ``--airflow X`` when given), reads
the steady field ``DIR/fields/steady.vti`` and takes each rack's intake temperature as the twin defines
it: the mean of the fluid cells in front of the rack (:func:`twin.geometry.voxel.voxelize_hall`). These
are the cells the CFD's intake patch borders, so both sides average the same cells of the same grid.
It prints per rack CFD, twin and twin − CFD, the RMS over the hall's racks, and the wall times (and the
CPU times, where the CFD run recorded its own: on a shared machine the wall times of two runs made at
different loads say less than their CPU times).
``--turbulence`` runs a copy of the hall file with ``[airflow] turbulence`` set (the hall stays the single
source: only that key is added).

A hall can have two CFD references: the steady SIMPLE run (``results/<hall>/``) and a time-averaged
transient run (``results/<hall>-transient/``, ``run_cfd.py --transient``). Both are shown, with the RMS
of the twin against each; the ≤ 1 K check uses the one :func:`check_reference` picks by a rule fixed
before looking at the twin (validation/README.md, "Which reference the check uses"): the steady run
where its intakes settled, else the transient time average, else the unsettled steady mean, flagged.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from twin.geometry.voxel import voxelize_hall
from twin.model import load_hall

__all__ = ["FINE_SUFFIX", "SETTLED_RANGE_K", "SPEED_TARGET_HALL", "check_reference", "compare_hall", "errors_k",
           "grid_pairs", "hall_names", "hot_rack_ranking", "read_cfd", "read_means", "read_racks", "read_vti_cells",
           "references", "twin_intakes_c"]

HERE = Path(__file__).resolve().parent
HALLS = HERE / "halls"
RESULTS = HERE / "results"

#: A steady run counts as settled when it met its own convergence criteria or its rack intakes moved by
#: at most this much over the last half of its iterations: half the 1 K target, so that the reference's
#: own wander cannot decide a pass or a fail.
SETTLED_RANGE_K = 0.5
#: Suffix of a hall's time-averaged transient results folder (``run_cfd.py --transient``).
TRANSIENT_SUFFIX = "-transient"
#: The hall on which issue 10 defines its speed target ("a steady momentum solve of a 135k-cell room
#: >= 100x faster than OpenFOAM's steady solve of the same case on one core"): open-row at 0.1 m cells,
#: 129,600 twin cells (120,150 fluid cells in the CFD). The other halls' speed checks are on 36-39k cells.
SPEED_TARGET_HALL = "open-row-fine"
#: A hall ``X-fine`` is hall ``X`` on a finer grid (validation/halls/*-fine.toml): both sides' grid
#: dependence is reported for each such pair.
FINE_SUFFIX = "-fine"


def read_vti_cells(path: Path, name: str) -> np.ndarray:
    """One cell array of a .vti written by twin.sim.vtkxml (binary, UInt64 header), shaped (nx, ny, nz)."""
    text = path.read_text(encoding="ascii")
    extent = [int(v) for v in re.search(r'WholeExtent="([^"]+)"', text).group(1).split()]
    shape = (extent[1] - extent[0], extent[3] - extent[2], extent[5] - extent[4])
    m = re.search(rf'<DataArray type="(\w+)" Name="{re.escape(name)}" NumberOfComponents="(\d+)"[^>]*>\s*(\S+)\s*'
                  r'</DataArray>', text)
    if m is None:
        raise KeyError(f"{path}: no cell array {name!r}")
    dtype = {"Float32": np.float32, "Float64": np.float64, "UInt8": np.uint8, "Int32": np.int32}[m.group(1)]
    raw = base64.b64decode(m.group(3))
    nbytes = int(np.frombuffer(raw[:8], dtype=np.uint64)[0])
    values = np.frombuffer(raw[8:8 + nbytes], dtype=dtype)
    comps = int(m.group(2))
    if comps == 1:
        return values.reshape(shape, order="F")
    return values.reshape(shape[2], shape[1], shape[0], comps).transpose(2, 1, 0, 3)


def twin_command() -> list[str]:
    """How to call the twin's CLI with this interpreter (the caller's PYTHONPATH decides which twin)."""
    return [sys.executable, "-c", "from twin.cli import entry; entry()"]  # as the twin command runs


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def twin_intakes_c(hall_path: Path, out_dir: Path, *, airflow: str | None = None,
                   turbulence: str | None = None) -> tuple[dict[str, float], dict]:
    """Run the twin's steady solve and return (intake °C per rack, its JSON summary).

    The summary gains ``cpu_s``: the CPU time (user + system) of the whole ``twin run`` process, and
    ``process_wall_s``: its elapsed time, start-up included."""
    if turbulence:
        from validation.numerics_study import hall_variant  # (numerics_study imports this module)

        hall_path = hall_variant(hall_path, out_dir, turbulence=turbulence)
    cmd = [*twin_command(), "run", str(hall_path), "--steady", "--json", "--out", str(out_dir / "run")]
    if airflow:
        cmd += ["--airflow", airflow]
    cpu0_s, wall0_s = _children_cpu_s(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    cpu_s, wall_s = _children_cpu_s() - cpu0_s, time.perf_counter() - wall0_s
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[3:])} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    summary = {**json.loads(proc.stdout), "cpu_s": round(cpu_s, 2), "process_wall_s": round(wall_s, 2)}
    t_c = read_vti_cells(out_dir / "run" / "fields" / "steady.vti", "t_c").astype(float)
    vox = voxelize_hall(load_hall(hall_path))
    flat = t_c.ravel()
    return {m.name: float(flat[m.intake].mean()) for m in vox.racks}, summary


def read_racks(folder: Path | str, column: str = "t_intake_c") -> dict[str, float]:
    """One column of a CFD results folder's racks.csv per rack (default the intake, °C; a hall name means
    ``results/<hall>``)."""
    folder = RESULTS / folder if isinstance(folder, str) else folder
    with open(folder / "racks.csv", newline="") as f:
        return {r["rack"]: float(r[column]) for r in csv.DictReader(f)}


def read_means(folder: Path | str) -> dict[str, float]:
    """A CFD results folder's rack intakes and CRAH returns, °C, keyed ``in.<rack>`` and ``ret.<crah>`` (the
    returns where it has a crahs.csv; a hall name means ``results/<hall>``)."""
    folder = RESULTS / folder if isinstance(folder, str) else folder
    means = {f"in.{rack}": t_c for rack, t_c in read_racks(folder).items()}
    if (folder / "crahs.csv").is_file():
        with open(folder / "crahs.csv", newline="") as f:
            means.update({f"ret.{r['crah']}": float(r["t_return_c"]) for r in csv.DictReader(f)})
    return means


def read_cfd(folder: Path | str) -> tuple[dict[str, float], dict]:
    """(intake °C per rack, meta) of one CFD results folder (a hall name means ``results/<hall>``)."""
    folder = RESULTS / folder if isinstance(folder, str) else folder
    intakes = read_racks(folder)
    return intakes, json.loads((folder / "meta.json").read_text())


def hall_names(results: Path = RESULTS) -> list[str]:
    """Halls with a steady CFD reference and a hall file (transient folders are a hall's second reference)."""
    if not results.is_dir():
        return []
    return sorted(d.name for d in results.iterdir() if (d / "racks.csv").is_file() and (HALLS / f"{d.name}.toml").is_file())


def references(hall: str, results: Path = RESULTS) -> dict[str, Path]:
    """The hall's CFD results folders by kind: ``steady`` and, when it has been run, ``transient``."""
    found = {"steady": results / hall, "transient": results / f"{hall}{TRANSIENT_SUFFIX}"}
    return {k: d for k, d in found.items() if (d / "racks.csv").is_file() and (d / "meta.json").is_file()}


def grid_pairs(halls: list[str]) -> list[tuple[str, str]]:
    """(coarse, fine) hall pairs among ``halls`` (names): ``X`` and ``X-fine`` where both are listed."""
    return [(h[: -len(FINE_SUFFIX)], h) for h in halls if h.endswith(FINE_SUFFIX) and h[: -len(FINE_SUFFIX)] in halls]


def check_reference(metas: dict[str, dict]) -> tuple[str, str]:
    """Which reference the ≤ 1 K check uses, and why: (``steady`` | ``transient``, reason).

    The rule looks at the references' own meta only, never at the twin: a steady run is a solution when
    it converged or its intakes settled within :data:`SETTLED_RANGE_K` over its last half; otherwise the
    time average of the transient run is used, because the mean of unconverged SIMPLE iterates is not a
    solution of anything (the iterates are not a time history). Without a transient run the unsettled
    steady mean is used and the reason says so.
    """
    steady = metas["steady"]
    wander_k = steady.get("intake_range_last_half_k")
    if steady.get("converged"):
        return "steady", "steady run converged"
    if wander_k is not None and wander_k <= SETTLED_RANGE_K:
        return "steady", f"steady intakes settled within {wander_k:.2f} K ≤ {SETTLED_RANGE_K} K over the last half"
    what = f"steady run unsettled (intakes wander {wander_k:.2f} K > {SETTLED_RANGE_K} K over the last half)" \
        if wander_k is not None else "steady run not converged"
    if "transient" in metas:
        return "transient", f"{what}: time average of the transient run"
    return "steady", f"{what}; no transient run yet: unconverged SIMPLE mean, provisional"


def errors_k(twin: dict[str, float], cfd: dict[str, float]) -> dict:
    """Twin − CFD intake errors over the CFD's racks: RMS, largest |error| and mean, K (rounded to mK)."""
    err = np.array([twin[name] - cfd[name] for name in cfd])
    return {"rms_k": round(float(np.sqrt(np.mean(err**2))), 3), "max_abs_k": round(float(np.abs(err).max()), 3),
            "mean_k": round(float(err.mean()), 3)}


def hot_rack_ranking(twin: dict[str, float], cfd: dict[str, float]) -> dict:
    """Whether the twin names the racks the CFD finds hottest, whatever its level: the hottest rack of each,
    the CFD's hottest ``n_hot`` (a quarter of the racks, at least two) and how many of them are also the
    twin's hottest ``n_hot``, and Spearman's rank correlation of the intakes (scipy's; ties share their mean
    rank). An operator acts on which racks run hot; an offset common to all racks changes none of these.
    ``cfd_margin_k`` is how much hotter the CFD's hottest rack is than its second: a hottest rack named by a
    margin within the reference's own uncertainty (tenths of a kelvin) says nothing either way."""
    from scipy.stats import spearmanr

    names = list(cfd)
    n_hot = max(2, len(names) // 4)
    by_cfd = sorted(names, key=lambda r: -cfd[r])
    by_twin = sorted(names, key=lambda r: -twin[r])
    rho = spearmanr([cfd[r] for r in names], [twin[r] for r in names]).statistic
    return {"hottest_cfd": by_cfd[0], "hottest_twin": by_twin[0], "n_hot": n_hot,
            "cfd_margin_k": round(cfd[by_cfd[0]] - cfd[by_cfd[1]], 3),
            "hot_shared": len(set(by_cfd[:n_hot]) & set(by_twin[:n_hot])),
            "spearman": round(float(rho), 3) if np.isfinite(rho) else None}


def compare_hall(hall: str, *, airflow: str | None = None, turbulence: str | None = None) -> dict:
    """Per-rack intake error of the twin against the hall's CFD references, and the RMS against each.

    ``cfd_c``, ``error_k``, ``rms_k``, ``max_abs_k`` and ``mean_k`` are against the check's reference
    (:func:`check_reference`, named in ``reference``); ``cfd_<kind>_c`` per rack and ``by_reference`` give
    every reference. The speed-up is against the steady CFD's time (the target compares steady solves):
    ``speedup`` on wall times (the check's, as for every hall), ``speedup_cpu`` on CPU times where the CFD
    recorded its solver's CPU time (``solver_cpu_s`` in its meta; the twin's is its whole command's).
    """
    refs = {kind: read_cfd(folder) for kind, folder in references(hall).items()}
    if "steady" not in refs:
        raise RuntimeError(f"{RESULTS / hall}: no steady CFD results (racks.csv and meta.json)")
    metas = {kind: meta for kind, (_, meta) in refs.items()}
    kind, reason = check_reference(metas)
    cfd = refs[kind][0]
    with tempfile.TemporaryDirectory(prefix=f"compare-{hall}-") as tmp:
        twin, summary = twin_intakes_c(HALLS / f"{hall}.toml", Path(tmp), airflow=airflow, turbulence=turbulence)
    racks = []
    for name in refs["steady"][0]:
        row = {"rack": name, "cfd_c": round(cfd[name], 3), "twin_c": round(twin[name], 3),
               "error_k": round(twin[name] - cfd[name], 3)}
        row.update({f"cfd_{k}_c": round(v[0][name], 3) for k, v in refs.items()})
        racks.append(row)
    steady_meta = metas["steady"]
    twin_wall = summary.get("wall_s")
    cfd_cpu = steady_meta.get("solver_cpu_s")
    twin_cpu = summary.get("cpu_s")
    return {
        "hall": hall,
        "airflow": airflow or "default (potential)",
        "turbulence": turbulence or "hall's (default chen-xu)",
        "racks": racks,
        "reference": kind,
        "reference_reason": reason,
        **errors_k(twin, cfd),
        "ranking": hot_rack_ranking(twin, cfd),
        "by_reference": {k: errors_k(twin, v[0]) for k, v in refs.items()},
        "cfd_wall_s": steady_meta.get("wall_s"),
        "cfd_cells": steady_meta.get("cells"),
        "transient_cfd_wall_s": metas["transient"].get("wall_s") if "transient" in metas else None,
        "twin_wall_s": twin_wall,
        "speedup": round(steady_meta["wall_s"] / twin_wall, 1) if twin_wall else None,
        "cfd_cpu_s": cfd_cpu,
        "cfd_load_average_1min": steady_meta.get("load_average_1min"),
        "twin_cpu_s": twin_cpu,
        "speedup_cpu": round(cfd_cpu / twin_cpu, 1) if cfd_cpu and twin_cpu else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("halls", nargs="*", help="hall names in validation/halls/ (default: all with CFD results)")
    p.add_argument("--airflow", default=None, help="airflow model passed to `twin run --airflow` (e.g. momentum)")
    p.add_argument("--turbulence", default=None, choices=("chen-xu", "k-epsilon"),
                   help="momentum model's turbulence closure: sets [airflow] turbulence in a copy of each hall")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    a = p.parse_args(argv)
    halls = a.halls or hall_names()
    try:
        out = [compare_hall(h, airflow=a.airflow, turbulence=a.turbulence) for h in halls]
    except (RuntimeError, ValueError) as exc:
        print(f"compare: error: {exc}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps({"halls": out}, indent=1))
        return 0
    for res in out:
        kinds = list(res["by_reference"])
        print(f"\n{res['hall']}  (twin airflow: {res['airflow']}, turbulence: {res['turbulence']}; check against the {res['reference']} CFD: "
              f"{res['reference_reason']})")
        print(f"  {'rack':6s} " + " ".join(f"{'CFD ' + k + ' °C':>16s}" for k in kinds)
              + f" {'twin °C':>8s} " + " ".join(f"{'twin−' + k + ' K':>16s}" for k in kinds))
        for r in res["racks"]:
            print(f"  {r['rack']:6s} " + " ".join(f"{r[f'cfd_{k}_c']:16.2f}" for k in kinds) + f" {r['twin_c']:8.2f} "
                  + " ".join(f"{r['twin_c'] - r[f'cfd_{k}_c']:+16.2f}" for k in kinds))
        for k, e in res["by_reference"].items():
            mark = "  <- the check" if k == res["reference"] else ""
            print(f"  against {k:9s}: RMS {e['rms_k']:.2f} K, max |error| {e['max_abs_k']:.2f} K, "
                  f"mean {e['mean_k']:+.2f} K{mark}")
        print(f"  CFD steady {res['cfd_wall_s']} s on one core ({res['cfd_cells']} cells), twin {res['twin_wall_s']} s"
              f" ({res['speedup']}× faster)")
        if res["speedup_cpu"] is not None:
            print(f"  CPU time: CFD solver {res['cfd_cpu_s']} s, twin {res['twin_cpu_s']} s ({res['speedup_cpu']}× faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
