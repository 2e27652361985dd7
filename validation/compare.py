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
It prints per rack CFD, twin and twin − CFD, the RMS over the hall's racks, and the wall times.
``--turbulence`` runs a copy of the hall file with ``[airflow] turbulence`` set (the hall stays the single
source: only that key is added).
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from twin.geometry.voxel import voxelize_hall
from twin.model import load_hall

__all__ = ["compare_hall", "read_vti_cells", "twin_intakes_c"]

HERE = Path(__file__).resolve().parent
HALLS = HERE / "halls"
RESULTS = HERE / "results"


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
    return [sys.executable, "-c", "import sys; from twin.cli import main; sys.exit(main())"]


def hall_with_airflow_key(hall_path: Path, key: str, value: str, out_dir: Path) -> Path:
    """A copy of a hall file in ``out_dir`` with ``[airflow] key = "value"`` set (added to its [airflow] table,
    or a new table at the end)."""
    lines = hall_path.read_text(encoding="utf-8").splitlines()
    entry = f'{key} = "{value}"'
    if any(re.match(rf"\s*{re.escape(key)}\s*=", ln) for ln in lines):
        raise ValueError(f"{hall_path}: [airflow] {key} is set in the file already; edit it there")
    header = [i for i, ln in enumerate(lines) if ln.strip() == "[airflow]"]
    if header:
        lines.insert(header[0] + 1, entry)
    else:
        lines += ["", "[airflow]", entry]
    out = out_dir / hall_path.name
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def twin_intakes_c(hall_path: Path, out_dir: Path, *, airflow: str | None = None,
                   turbulence: str | None = None) -> tuple[dict[str, float], dict]:
    """Run the twin's steady solve and return (intake °C per rack, its JSON summary)."""
    if turbulence:
        hall_path = hall_with_airflow_key(hall_path, "turbulence", turbulence, out_dir)
    cmd = [*twin_command(), "run", str(hall_path), "--steady", "--json", "--out", str(out_dir / "run")]
    if airflow:
        cmd += ["--airflow", airflow]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[3:])} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    summary = json.loads(proc.stdout)
    t_c = read_vti_cells(out_dir / "run" / "fields" / "steady.vti", "t_c").astype(float)
    vox = voxelize_hall(load_hall(hall_path))
    flat = t_c.ravel()
    return {m.name: float(flat[m.intake].mean()) for m in vox.racks}, summary


def read_cfd(hall: str) -> tuple[dict[str, float], dict]:
    rows = list(csv.DictReader(open(RESULTS / hall / "racks.csv")))
    meta = json.loads((RESULTS / hall / "meta.json").read_text())
    return {r["rack"]: float(r["t_intake_c"]) for r in rows}, meta


def compare_hall(hall: str, *, airflow: str | None = None, turbulence: str | None = None) -> dict:
    """Per-rack intake error of the twin against the CFD for one hall, and the RMS."""
    cfd, meta = read_cfd(hall)
    with tempfile.TemporaryDirectory(prefix=f"compare-{hall}-") as tmp:
        twin, summary = twin_intakes_c(HALLS / f"{hall}.toml", Path(tmp), airflow=airflow, turbulence=turbulence)
    racks = [{"rack": name, "cfd_c": round(cfd[name], 3), "twin_c": round(twin[name], 3),
              "error_k": round(twin[name] - cfd[name], 3)} for name in cfd]
    err = np.array([r["error_k"] for r in racks])
    twin_wall = summary.get("wall_s")
    return {
        "hall": hall,
        "airflow": airflow or "default (potential)",
        "turbulence": turbulence or "hall's (default chen-xu)",
        "racks": racks,
        "rms_k": round(float(np.sqrt(np.mean(err**2))), 3),
        "max_abs_k": round(float(np.abs(err).max()), 3),
        "mean_k": round(float(err.mean()), 3),
        "cfd_wall_s": meta.get("wall_s"),
        "cfd_cells": meta.get("cells"),
        "twin_wall_s": twin_wall,
        "speedup": round(meta["wall_s"] / twin_wall, 1) if twin_wall else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("halls", nargs="*", help="hall names in validation/halls/ (default: all with CFD results)")
    p.add_argument("--airflow", default=None, help="airflow model passed to `twin run --airflow` (e.g. momentum)")
    p.add_argument("--turbulence", default=None, choices=("chen-xu", "k-epsilon"),
                   help="momentum model's turbulence closure: sets [airflow] turbulence in a copy of each hall")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    a = p.parse_args(argv)
    halls = a.halls or sorted(d.name for d in RESULTS.iterdir() if (d / "racks.csv").is_file()
                              and (HALLS / f"{d.name}.toml").is_file())
    try:
        out = [compare_hall(h, airflow=a.airflow, turbulence=a.turbulence) for h in halls]
    except (RuntimeError, ValueError) as exc:
        print(f"compare: error: {exc}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps({"halls": out}, indent=1))
        return 0
    for res in out:
        print(f"\n{res['hall']}  (twin airflow: {res['airflow']}, turbulence: {res['turbulence']})")
        print(f"  {'rack':6s} {'CFD °C':>8s} {'twin °C':>8s} {'twin−CFD K':>11s}")
        for r in res["racks"]:
            print(f"  {r['rack']:6s} {r['cfd_c']:8.2f} {r['twin_c']:8.2f} {r['error_k']:+11.2f}")
        print(f"  RMS {res['rms_k']:.2f} K, max |error| {res['max_abs_k']:.2f} K, mean {res['mean_k']:+.2f} K;"
              f" CFD {res['cfd_wall_s']} s on one core ({res['cfd_cells']} cells), twin {res['twin_wall_s']} s"
              f" ({res['speedup']}× faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
