"""Does aisle-pair's row-end gap need buoyancy? The twin and the CFD at the same scaled gravity (issue 10).

Usage::

    python -m validation.buoyancy_study twin aisle-pair --gravity-scale 0 --save R/twin-g0-chen-xu.npz
    python -m validation.buoyancy_study twin aisle-pair --gravity-scale 0 --turbulence k-epsilon --save R/twin-g0-k-epsilon.npz
    python -m validation.buoyancy_study twin aisle-pair --gravity-scale 0.5 --save R/twin-g0.5-chen-xu.npz
    python -m validation.buoyancy_study compare buoyancy-study/plenum-g0 R/twin-g0-chen-xu.npz R/twin-g0-k-epsilon.npz

(R = validation/results/buoyancy-study.) The CFD side is ``openfoam/run_cfd.py --gravity-scale S``.

``twin``: the twin's steady momentum solve (``HallTwin.steady``, what ``twin run --steady --airflow
momentum`` does) of a validation hall with g scaled by S:

* S = 0: a copy of the hall with ``[airflow] buoyancy = false``, the product's own switch (the flow is blind
  to temperature, T is still solved on it), solved as the hall file says (grid sequencing included);
* S > 0: the hall as it is with the momentum settings' ``gravity_m_s2`` = 9.81 S, solved without grid
  sequencing (its coarse grid would solve at the unscaled g; as ``tile_layer_study.py`` does for its solvers).

It saves the steady T and cell velocity on the twin's grid (NaN in solids), the cell centres and the rack
intakes (mean T of each rack's intake cells, the cells the CFD's intake patches border, as ``compare.py``)
into one ``.npz`` that ``tile_column_probe.py --load`` also reads.

``compare``: one CFD results folder against one or more saved twin solves, all on the same grid: per-rack
intakes and errors, RMS, mean error and the four row ends' mean error; the cold aisle's air budget
(``tile_column_probe.budget``); and T at the row-end probe points of ``row_end_probe.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

from twin.geometry.voxel import voxelize_hall
from twin.sim.twin import HallTwin
from validation.compare import HALLS, RESULTS, read_cfd, read_racks
from validation.numerics_study import hall_variant, load_hall_variant
from validation.tile_column_probe import grid_fields, read_fields

__all__ = ["hall_without_buoyancy", "solve_twin", "intake_errors"]

GRAVITY_M_S2 = 9.81  # the twin's MomentumSettings default and the CFD's |g| (case_from_hall.GRAVITY_M_S2)
ROW_END = re.compile(r"0[14]$")  # A01, A04, B01, B04: the racks at the ends of aisle-pair's rows


def hall_without_buoyancy(hall_path: Path, out_dir: Path, *, turbulence: str | None = None) -> Path:
    """A copy of a hall file with ``[airflow] buoyancy = false`` (and ``turbulence`` when given) added."""
    return hall_variant(hall_path, out_dir, turbulence=turbulence or None, airflow={"buoyancy": False})


def solve_twin(hall: str, *, gravity_scale: float, turbulence: str | None = None,
               tile_flows_csv: Path | None = None, keep_twin: bool = False) -> dict:
    """The twin's steady fields and intakes at g × ``gravity_scale`` (see the module docstring); with
    ``keep_twin`` also the solved ``HallTwin`` under "twin" (its solver's ν_t, k, ...).

    ``tile_flows_csv``: every tile face's flow fixed to a CFD ``tiles.csv``'s (scaled to the floor CRAHs'
    supply; ``imposed_tiles.py``'s device), solved without grid sequencing."""
    if not np.isfinite(gravity_scale) or gravity_scale < 0.0:
        raise ValueError(f"--gravity-scale must be a finite number >= 0, got {gravity_scale!r}")
    hall_path = HALLS / f"{hall}.toml"
    model = load_hall_variant(hall_path, turbulence=turbulence or None,
                              airflow={"buoyancy": False} if gravity_scale == 0.0 else None)
    sequencing = None if gravity_scale in (0.0, 1.0) and tile_flows_csv is None else False
    twin = HallTwin(model, airflow="momentum", grid_sequencing=sequencing)
    m = twin.momentum
    assert m is not None
    if tile_flows_csv is not None:
        from validation.imposed_tiles import impose_tile_flows, read_tile_csv

        impose_tile_flows(twin, model, read_tile_csv(tile_flows_csv), tile_flows_csv)
        m = twin.momentum
    if gravity_scale not in (0.0, 1.0):
        m.settings = dataclasses.replace(m.settings, gravity_m_s2=GRAVITY_M_S2 * gravity_scale)
    t0 = time.process_time()
    state = twin.steady()
    cpu_s = time.process_time() - t0
    fields = grid_fields(twin, state.t_air_c)
    vox = voxelize_hall(model)
    intakes = {r.name: float(fields["t_c"].ravel()[r.intake].mean()) for r in vox.racks}
    heat_in_w = float(state.rack_heat_w.sum() + twin.mover_heat_w(state).sum())
    removed_w = float(state.crah_heat_removed_w.sum())
    meta = {"hall": hall, "gravity_scale": gravity_scale, "buoyancy": m.settings.buoyancy,
            "gravity_m_s2": m.settings.gravity_m_s2 if m.settings.buoyancy else 0.0, "turbulence": m.settings.turbulence_model,
            "grid_sequencing": twin.grid_sequencing,
            "imposed_tile_flows": None if tile_flows_csv is None else str(tile_flows_csv), "steady_cpu_s": round(cpu_s, 1),
            "outer_iterations": state.extra.get("steady", {}).get("outer_iterations"),
            "energy_balance_error": (heat_in_w - removed_w) / heat_in_w,
            "intakes_c": {k: round(v, 3) for k, v in intakes.items()}}
    return {**fields, "t_intake_c": np.array(list(intakes.values())), "meta": meta,
            **({"twin": twin} if keep_twin else {})}


def intake_errors(twin_c: dict[str, float], cfd_c: dict[str, float]) -> dict[str, float]:
    """RMS, mean error and the row ends' mean error (K) of twin intakes against a CFD's, over the CFD's racks."""
    err = np.array([twin_c[n] - cfd_c[n] for n in cfd_c])
    ends = np.array([twin_c[n] - cfd_c[n] for n in cfd_c if ROW_END.search(n)])
    return {"rms_k": float(np.sqrt(np.mean(err ** 2))), "mean_k": float(err.mean()),
            "row_ends_mean_k": float(ends.mean()) if ends.size else float("nan")}


def _row_end_steadiness(folder: Path, meta: dict) -> str:
    """How well a steady CFD run's row-end mean is known: the four row ends' mean per averaged Picard block
    (history.csv), its sd over the blocks and the standard error of the mean from 5 batch means."""
    import csv

    with open(folder / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if "iteration" not in rows[0]:
        return "row ends: not a steady run (no per-iteration history)"
    first = meta["iterations"] - meta["averaged_over_last_iterations"]
    blocks = [r for r in rows if int(r["iteration"]) > first]
    ends = [k for k in rows[0] if k.startswith("in.") and ROW_END.search(k)]
    means = np.array([np.mean([float(r[k]) for k in ends]) for r in blocks])
    batches = np.array([b.mean() for b in np.array_split(means, 5)])
    return (f"row ends' mean over the {len(blocks)} averaged blocks: {means.mean():.2f} °C, sd per block "
            f"{means.std(ddof=1):.2f} K, standard error (5 batch means) {batches.std(ddof=1) / np.sqrt(5):.2f} K")


def _load_twin(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    fields = read_fields(path)
    return fields, json.loads(str(fields.pop("meta")))


def compare(cfd_folder: str, twin_paths: list[Path]) -> int:
    """Print the tables of validation/README.md's "Does the gap need buoyancy?" for one CFD folder."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # row_end_probe imports its sibling by bare name
    from validation.row_end_probe import HEIGHTS_M, POINTS
    from validation.tile_column_probe import budget

    folder = Path(cfd_folder) if Path(cfd_folder).exists() else RESULTS / cfd_folder
    cfd_c, cfd_meta = read_cfd(folder)
    cfd = read_fields(folder / "fields.npz")
    twins = [(p.stem, *_load_twin(p)) for p in twin_paths]
    print(f"CFD {folder.name}: {cfd_meta.get('buoyancy')}; iterations {cfd_meta.get('iterations')}, averaged over the "
          f"last {cfd_meta.get('averaged_over_last_iterations')}")
    spread = read_racks(folder, "t_intake_spread_k")
    print(_row_end_steadiness(folder, cfd_meta))
    print("\n| rack | CFD | CFD spread K | " + " | ".join(name for name, _, _ in twins) + " |")
    print("|---|---:|---:|" + "---:|" * len(twins))
    for n in cfd_c:
        print(f"| {n} | {cfd_c[n]:.2f} | {spread[n]:.2f} | "
              + " | ".join(f"{meta['intakes_c'][n]:.2f} ({meta['intakes_c'][n] - cfd_c[n]:+.2f})" for _, _, meta in twins)
              + " |")
    for key, label, fmt in (("rms_k", "RMS", ".2f"), ("mean_k", "mean error", "+.2f"),
                            ("row_ends_mean_k", "row ends' mean error", "+.2f")):
        print(f"| {label}, K | | | " + " | ".join(format(intake_errors(meta['intakes_c'], cfd_c)[key], fmt)
                                               for _, _, meta in twins) + " |")
    for name, _, meta in twins:
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in meta.items() if k != "intakes_c"))

    print("\ncold aisle's air budget (x 2.4-4.8, y 2.4-3.6, z 0-2.1): inflow m³/s, + into the aisle (mean T of the "
          "inflow, °C)")
    for name, b in [(f"CFD {folder.name}", budget(cfd))] + [(name, budget(f)) for name, f, _ in twins]:
        print(f"  {name}: " + "; ".join(f"{k} {v[0]:+.2f} ({v[1]:.1f})" if np.isfinite(v[1]) else
                                        f"{k} {v[0]:+.2f} (no inflow)" for k, v in b.items()))

    x, y, z = cfd["x_m"], cfd["y_m"], cfd["z_m"]
    ks = [int(np.argmin(np.abs(z - h))) for h in HEIGHTS_M]
    print(f"\nT (°C) at z = {' / '.join(f'{h:g}' for h in HEIGHTS_M)} m and (u_x, u_y) at 1.0 m (m/s): "
          "CFD | " + " | ".join(name for name, _, _ in twins))
    for xv, yv, what in POINTS:
        i, j = int(np.argmin(np.abs(x - xv))), int(np.argmin(np.abs(y - yv)))
        cols = [cfd] + [f for _, f, _ in twins]
        temps = " | ".join("/".join(f"{c['t_c'][i, j, k]:.1f}" for k in ks) for c in cols)
        vel = " | ".join(f"{c['velocity_m_s'][i, j, ks[1], 0]:+.2f},{c['velocity_m_s'][i, j, ks[1], 1]:+.2f}" for c in cols)
        print(f"  {what:30s} ({x[i]:.3f}, {y[j]:.3f})  T {temps}   u {vel}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("twin", help="the twin's steady solve at a scaled gravity, saved as .npz")
    t.add_argument("hall", help="hall name in validation/halls/")
    t.add_argument("--gravity-scale", type=float, default=1.0, metavar="S", help="g × S (0: buoyancy off)")
    t.add_argument("--turbulence", choices=("chen-xu", "k-epsilon"), default=None,
                   help="the twin's closure (default: the hall's)")
    t.add_argument("--imposed-tile-flows", type=Path, default=None,
                   help="fix every tile face's flow to a CFD tiles.csv's (e.g. results/buoyancy-study/plenum-g0)")
    t.add_argument("--save", type=Path, required=True, help="output .npz (fields, intakes, meta)")
    c = sub.add_parser("compare", help="a CFD results folder against saved twin solves")
    c.add_argument("cfd", help="CFD results folder (a path or a name under validation/results/)")
    c.add_argument("twins", nargs="+", type=Path, help=".npz files of the twin command")
    a = p.parse_args(argv)
    if a.cmd == "compare":
        return compare(a.cfd, a.twins)
    try:
        res = solve_twin(a.hall, gravity_scale=a.gravity_scale, turbulence=a.turbulence,
                         tile_flows_csv=a.imposed_tile_flows)
    except ValueError as exc:
        p.exit(2, f"{p.prog}: error: {exc}\n")
    meta = res.pop("meta")
    a.save.parent.mkdir(parents=True, exist_ok=True)
    # float32 like the CFD's fields.npz: the fields are for probes and tables, not for restarting a solve.
    np.savez_compressed(a.save, **{k: v.astype(np.float32) if k in ("t_c", "velocity_m_s") else v
                                   for k, v in res.items()}, meta=np.array(json.dumps(meta)))
    print(json.dumps(meta, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
