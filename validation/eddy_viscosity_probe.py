"""Eddy viscosity, k and speed of aisle-pair by region: an OpenFOAM case's fields against the twin's k-ε and
Chen–Xu steady solves (issue 10; validation/README.md, "The references' outflow condition").

Usage::

    python validation/openfoam/run_cfd.py validation/halls/aisle-pair.toml --plenum --gravity-scale 0 \\
        --case /tmp/cfd-g0 --results /tmp/cfd-g0-results      # a case folder whose last iterate holds nut, k
    python validation/eddy_viscosity_probe.py /tmp/cfd-g0 --gravity-scale 0

The committed results keep averaged T and U only (``fields.npz``), so this reads a run's case folder: its
latest time directory (one iterate, not an average). The twin side is ``buoyancy_study.solve_twin`` at the
same gravity scale, with each closure; ν_t is the solver's own (``MomentumSolver.eddy_viscosity_m2s``).
Prints the mean ν_t (m²/s), k (m²/s², CFD and k-ε) and speed (m/s) over regions of the hall (:data:`REGIONS`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "openfoam"))

from validation.tile_column_probe import AISLE_X_M, AISLE_Y_M, RACK_TOP_M  # noqa: E402

#: Regions of aisle-pair (x, y, z bounds in m; None = the whole extent). The cold aisle from
#: tile_column_probe; "beyond" the row ends between the rows' outer faces (y 1.2–4.8 m).
REGIONS: dict[str, tuple[tuple[float | None, float | None], ...]] = {
    "plenum": ((None, None), (None, None), (None, 0.0)),
    "room": ((None, None), (None, None), (0.0, None)),
    "cold aisle, z 0-1 m": (AISLE_X_M, AISLE_Y_M, (0.0, 1.0)),
    "cold aisle, z 1-2.1 m": (AISLE_X_M, AISLE_Y_M, (1.0, RACK_TOP_M)),
    "beyond the near row end": ((1.2, AISLE_X_M[0]), (1.2, 4.8), (0.0, RACK_TOP_M)),
    "beyond the far row end": ((AISLE_X_M[1], 6.0), (1.2, 4.8), (0.0, RACK_TOP_M)),
    "above the racks": ((None, None), (None, None), (RACK_TOP_M, None)),
}


def region_masks(x_m: np.ndarray, y_m: np.ndarray, z_m: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks of :data:`REGIONS` on the grid of cell centres ``x_m``, ``y_m``, ``z_m``."""
    centres = np.meshgrid(x_m, y_m, z_m, indexing="ij")
    out = {}
    for name, bounds in REGIONS.items():
        m = np.ones(centres[0].shape, dtype=bool)
        for c, (lo, hi) in zip(centres, bounds):
            if lo is not None:
                m &= c > lo
            if hi is not None:
                m &= c < hi
        out[name] = m
    return out


def region_means(fields: dict[str, np.ndarray], masks: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Mean of each field over each region's cells where every field is finite (solids are NaN)."""
    ok = np.logical_and.reduce([np.isfinite(v) for v in fields.values()])
    return {name: {k: float(v[m & ok].mean()) if (m & ok).any() else float("nan") for k, v in fields.items()}
            for name, m in masks.items()}


def cfd_fields(case_dir: Path, hall: Path) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, ...]]:
    """nut, k and speed of a run_cfd case's latest time directory on the twin's grid (NaN in solids), and the
    grid's cell centres (x, y, z in m; the plenum below z = 0)."""
    from case_from_hall import build_case
    from run_cfd import latest_time, read_internal

    meta = json.loads((case_dir / "case.json").read_text())
    case = build_case(hall, plenum=meta["raised_floor"].startswith("plenum meshed"))
    tdir = latest_time(case_dir)
    fluid = case.cell_id >= 0
    out = {}
    for name in ("nut", "k", "U"):
        v = read_internal(tdir / name, case.n_cells)
        grid = np.full(case.vox.grid.shape + v.shape[1:], np.nan)
        grid[fluid] = v[case.cell_id[fluid]]
        out[name] = grid
    out["speed"] = np.linalg.norm(out.pop("U"), axis=-1)
    grid = case.vox.grid
    return out, (grid.centers(0), grid.centers(1), grid.centers(2))


def twin_fields(hall_name: str, gravity_scale: float, turbulence: str) -> dict[str, np.ndarray]:
    """ν_t (and k for k-ε) and speed of the twin's steady solve (buoyancy_study.solve_twin), NaN in solids."""
    from validation.buoyancy_study import solve_twin

    res = solve_twin(hall_name, gravity_scale=gravity_scale, turbulence=turbulence, keep_twin=True)
    m = res["twin"].momentum
    out = {"nut": np.where(m.fluid, m.eddy_viscosity_m2s(), np.nan),
           "speed": np.linalg.norm(res["velocity_m_s"], axis=-1)}
    if m.k is not None:
        out["k"] = np.where(m.fluid, m.k, np.nan)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("case", type=Path, help="a run_cfd.py case folder (--case) of aisle-pair")
    p.add_argument("--gravity-scale", type=float, default=1.0, help="the twin's g × S, as the case was run")
    p.add_argument("--hall", default="aisle-pair")
    a = p.parse_args(argv)
    hall = HERE / "halls" / f"{a.hall}.toml"
    if not (a.case / "case.json").is_file():
        p.exit(2, f"{p.prog}: error: {a.case}: not a run_cfd.py case folder (no case.json)\n")
    cfd, centres = cfd_fields(a.case, hall)
    twins = {t: twin_fields(a.hall, a.gravity_scale, t) for t in ("k-epsilon", "chen-xu")}
    masks = region_masks(*centres)
    means = {"CFD": region_means(cfd, masks), **{t: region_means(f, masks) for t, f in twins.items()}}
    print(f"{'region':26s} {'nu_t m2/s: CFD':>15s} {'k-eps':>8s} {'Chen-Xu':>8s} | {'k m2/s2: CFD':>13s} {'k-eps':>8s}"
          f" | speed m/s: CFD / k-eps / Chen-Xu")
    for r in REGIONS:
        c, k, cx = means["CFD"][r], means["k-epsilon"][r], means["chen-xu"][r]
        print(f"{r:26s} {c['nut']:15.5f} {k['nut']:8.5f} {cx['nut']:8.5f} | {c['k']:13.4f} {k['k']:8.4f} | "
              f"{c['speed']:.3f} / {k['speed']:.3f} / {cx['speed']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
