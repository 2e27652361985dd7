"""Is the aisle-pair CFD reference grid-converged at the row ends? The steady CFD at 0.075 m vs 0.15 m (issue 10).

Usage::

    python validation/openfoam/run_cfd.py validation/halls/aisle-pair.toml --plenum --cell-m 0.075   # the fine run
    python validation/cfd_grid_study.py                   # tables (markdown)
    python validation/cfd_grid_study.py --json

Reads committed CFD results only (``compare.read_cfd`` and the folders' CSVs; no solver runs). By default the
runs with fixed-value outflows it was written for (``results/fixed-value-outflow/``; validation/README.md, "The
references' outflow condition"); ``--coarse/--fine/--transient`` name others:

- ``results/aisle-pair/``: the steady reference at the hall's 0.15 m (4,000 SIMPLE iterations, mean of the
  last 2,000);
- ``results/aisle-pair-cell0.075/``: the same case, made the same way, on 0.075 m cells (every size of the
  hall is a whole number of them; ``run_cfd.py --cell-m``), averaged the same way (the last 20 blocks of
  100 iterations, at most the second half of the run);
- ``results/aisle-pair-transient/``: the time mean at 0.15 m, the reference the ≤ 1 K check uses.

Both steady runs' intakes (racks.csv) are means over the cells the rack-intake patches border, which are
0.15 m and 0.075 m thick respectively: the layer in front of a rack each grid resolves. The fine run is also
read over the same 0.15 m layer as the coarse run and the transient reference (its averaged field averaged
onto the 0.15 m grid, then :func:`intakes_on_layer`): that column is the like-for-like grid change.

Prints: per rack the two steady means with their block spreads (max − min of the averaged blocks), their
difference, the fine run against the transient mean; RMS and the row ends' mean; the fine run's row ends
per window of ``--window`` blocks (is it still drifting?); the tile flows per 0.6 m band
(``tile_flows.bands``); and the cold aisle's air budget (``tile_column_probe.budget``), the fine field
first averaged onto the 0.15 m grid (``numerics_study.coarsen_to``) so that both budgets use the same planes
(``--write-coarsened`` keeps that average as ``fields_0.15m.npz``, which is committed instead of the fine
run's 4 MB ``fields.npz``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from validation.compare import errors_k, read_cfd, read_racks  # noqa: E402
from validation.tile_column_probe import read_fields  # noqa: E402

__all__ = ["band_flows", "coarse_fields", "drift_windows", "intakes_on_layer", "rack_table", "study"]

ROW_ENDS = ("A01", "A04", "B01", "B04")
AISLE_X0_M = 2.4
AISLE_Y_MID_M = 3.0
COARSENED = "fields_{cell_m:g}m.npz"  # a fine run's field averaged onto the coarse grid (fields.npz is > 3 MB)


def _stats(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """``compare.errors_k`` of ``a`` − ``b`` and the row ends' mean difference, K."""
    ends = np.array([a[k] - b[k] for k in ROW_ENDS if k in b])
    return {**errors_k(a, b), "row_ends_mean_k": round(float(ends.mean()), 3)}


def rack_table(coarse: Path, fine: Path, transient: Path) -> dict:
    """Per rack the steady means at both grids (with spreads) and the transient mean, and the differences."""
    c, _ = read_cfd(coarse)
    f, _ = read_cfd(fine)
    t, _ = read_cfd(transient)
    sc, sf = read_racks(coarse, "t_intake_spread_k"), read_racks(fine, "t_intake_spread_k")
    rows = {r: {"coarse_c": c[r], "coarse_spread_k": sc[r], "fine_c": f[r], "fine_spread_k": sf[r],
                "transient_c": t[r], "fine_minus_coarse_k": round(f[r] - c[r], 3),
                "fine_minus_transient_k": round(f[r] - t[r], 3),
                "moved_beyond_spread": abs(f[r] - c[r]) > max(sc[r], sf[r])} for r in c}
    return {"racks": rows,
            "fine_vs_coarse": _stats(f, c), "fine_vs_transient": _stats(f, t), "coarse_vs_transient": _stats(c, t)}


def drift_windows(fine: Path, window: int) -> list[dict]:
    """The fine run's intakes averaged over consecutive windows of ``window`` Picard blocks (history.csv)."""
    with open(fine / "history.csv", newline="") as f:
        hist = list(csv.DictReader(f))
    out = []
    block = int(hist[0]["iteration"])  # the first row is the end of the first block
    for i in range(0, len(hist) - window + 1, window):
        w = hist[i:i + window]
        row = {"iterations": f"{int(w[0]['iteration']) - block + 1}-{w[-1]['iteration']}"}
        for r in ROW_ENDS:
            v = np.array([float(h[f"in.{r}"]) for h in w])
            row[r] = round(float(v.mean()), 3)
            row[f"{r}_range_k"] = round(float(np.ptp(v)), 3)
        out.append(row)
    return out


def band_flows(folder: Path) -> dict[str, float]:
    """Tile flows (m³/s) per 0.6 m band along x and aisle half (``tile_flows.bands``) of one CFD run."""
    from validation.tile_flows import bands

    with open(folder / "tiles.csv", newline="") as f:
        flows = {(float(r["x_m"]), float(r["y_m"])): float(r["flow_m3s"]) for r in csv.DictReader(f)}
    return bands(flows, AISLE_X0_M, AISLE_Y_MID_M)


def coarse_fields(folder: Path, cell_m: float) -> dict[str, np.ndarray]:
    """T and velocity of a run's ``fields.npz``, averaged onto cells of ``cell_m`` (fluid sub-cells of each)."""
    from validation.numerics_study import coarsen_to

    if not (folder / "fields.npz").is_file():  # a fine run commits its field averaged onto the coarse grid only
        return read_fields(folder / COARSENED.format(cell_m=cell_m))
    f = read_fields(folder / "fields.npz")
    factor = int(round(cell_m / float(f["cell_m"])))
    if factor == 1:
        return f
    fluid = np.isfinite(f["t_c"])
    t = coarsen_to(f["t_c"], fluid, factor)
    u = np.stack([coarsen_to(f["velocity_m_s"][..., i], fluid, factor) for i in range(3)], axis=-1)
    def centres(x: np.ndarray) -> np.ndarray:
        return x.reshape(-1, factor).mean(axis=1)
    return {"t_c": t, "velocity_m_s": u, "x_m": centres(f["x_m"]), "y_m": centres(f["y_m"]),
            "z_m": centres(f["z_m"])}


def intakes_on_layer(hall: Path, fields: dict[str, np.ndarray]) -> dict[str, float]:
    """Rack intakes (°C) of a field on the hall's own grid: the mean over the cells the hall's CFD rack-intake
    patches border (as ``run_cfd.intake_means``), so a finer run averaged onto that grid is read over the
    same 0.15 m layer in front of each rack as the coarse run."""
    sys.path.insert(0, str(HERE / "openfoam"))
    from case_from_hall import build_case

    case = build_case(hall, plenum=True)
    t = np.asarray(fields["t_c"], dtype=float).ravel()
    if t.size != case.cell_id.size:
        raise ValueError(f"field of {t.size} cells is not on {hall}'s grid of {case.cell_id.size}")
    return {m.owner: float(t[m.grid_cells].mean()) for m in case.movers.values() if m.kind == "rack_in"}


def study(coarse: Path, fine: Path, transient: Path, *, window: int) -> dict:
    from validation.tile_column_probe import budget

    res = rack_table(coarse, fine, transient)
    coarse_meta = json.loads((coarse / "meta.json").read_text())
    cell, hall = float(coarse_meta["cell_m"]), HERE.parent / coarse_meta["hall"]
    layer = intakes_on_layer(hall, coarse_fields(fine, cell))
    coarse_layer = intakes_on_layer(hall, coarse_fields(coarse, cell))
    for r, v in res["racks"].items():
        v["fine_on_coarse_layer_c"] = round(layer[r], 3)
        v["fine_layer_minus_coarse_k"] = round(layer[r] - v["coarse_c"], 3)
        v["coarse_reread_c"] = round(coarse_layer[r], 3)  # the coarse run read this way: racks.csv to rounding
    c, t = read_cfd(coarse)[0], read_cfd(transient)[0]
    res["fine_layer_vs_coarse"] = _stats(layer, c)
    res["fine_layer_vs_transient"] = _stats(layer, t)
    res["drift"] = drift_windows(fine, window)
    res["tile_bands_m3s"] = {name: {k: round(v, 4) for k, v in band_flows(d).items()}
                             for name, d in (("coarse", coarse), ("fine", fine), ("transient", transient))}
    res["aisle_budget"] = {}
    for name, d in (("coarse", coarse), ("fine", fine), ("transient", transient)):
        if (d / "fields.npz").is_file() or (d / COARSENED.format(cell_m=cell)).is_file():
            res["aisle_budget"][name] = {k: [round(v[0], 3), round(v[1], 2)]
                                         for k, v in budget(coarse_fields(d, cell)).items()}
    res["meta"] = {name: {k: json.loads((d / "meta.json").read_text()).get(k) for k in
                          ("cells", "cell_m", "iterations", "stopped_by", "intake_range_last_half_k",
                           "averaged_over_last_iterations", "solver_cpu_s", "wall_s", "load_average_1min",
                           "energy_balance_error")}
                   for name, d in (("coarse", coarse), ("fine", fine))}
    return res


def _markdown(res: dict) -> str:
    lines = ["| rack | steady 0.15 m °C (spread K) | steady 0.075 m, own 0.075 m layer °C (spread K) | 0.075 − 0.15 K "
             "| steady 0.075 m on the 0.15 m layer °C | − 0.15 K | transient 0.15 m °C | 0.075 (0.15 layer) − transient K |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r, v in res["racks"].items():
        mark = " *" if v["moved_beyond_spread"] else ""
        lines.append(f"| {r} | {v['coarse_c']:.2f} ({v['coarse_spread_k']:.2f}) | {v['fine_c']:.2f} "
                     f"({v['fine_spread_k']:.2f}) | {v['fine_minus_coarse_k']:+.2f}{mark} | "
                     f"{v['fine_on_coarse_layer_c']:.2f} | {v['fine_layer_minus_coarse_k']:+.2f} | {v['transient_c']:.2f} | "
                     f"{v['fine_on_coarse_layer_c'] - v['transient_c']:+.2f} |")
    for key, label in (("fine_vs_coarse", "0.075 (own layer) vs 0.15 steady"),
                       ("fine_layer_vs_coarse", "0.075 (0.15 m layer) vs 0.15 steady"),
                       ("fine_vs_transient", "0.075 (own layer) steady vs transient"),
                       ("fine_layer_vs_transient", "0.075 (0.15 m layer) steady vs transient"),
                       ("coarse_vs_transient", "0.15 steady vs transient")):
        s = res[key]
        lines.append(f"\n{label}: RMS {s['rms_k']:.2f} K, mean {s['mean_k']:+.2f} K, row ends' mean "
                     f"{s['row_ends_mean_k']:+.2f} K, largest {s['max_abs_k']:.2f} K")
    lines += ["", "fine run's row ends per window (mean °C, range of block values K):",
              "| iterations | " + " | ".join(ROW_ENDS) + " |", "|---|" + "---:|" * len(ROW_ENDS)]
    for w in res["drift"]:
        lines.append(f"| {w['iterations']} | " + " | ".join(f"{w[r]:.2f} ({w[r + '_range_k']:.1f})" for r in ROW_ENDS)
                     + " |")
    bands = res["tile_bands_m3s"]
    lines += ["", "tile flows per 0.6 m band (m³/s; 1 = CRAH end):", "| band | " + " | ".join(bands) + " |",
              "|---|" + "---:|" * len(bands)]
    for k in bands["coarse"]:
        lines.append(f"| {k} | " + " | ".join(f"{bands[n].get(k, float('nan')):.4f}" for n in bands) + " |")
    lines += ["", "cold aisle's air budget on the 0.15 m grid (m³/s into the aisle, mean T of the inflow °C):"]
    for name, b in res["aisle_budget"].items():
        lines.append(f"  {name}: " + "; ".join(f"{k} {v[0]:+.2f} ({v[1]:.1f})" for k, v in b.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coarse", type=Path, default=HERE / "results" / "fixed-value-outflow" / "aisle-pair")
    ap.add_argument("--fine", type=Path, default=HERE / "results" / "fixed-value-outflow" / "aisle-pair-cell0.075")
    ap.add_argument("--transient", type=Path, default=HERE / "results" / "fixed-value-outflow" / "aisle-pair-transient")
    ap.add_argument("--window", type=int, default=10, help="Picard blocks per window of the drift table")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write-coarsened", action="store_true",
                    help="write the fine run's fields.npz averaged onto the coarse grid as FINE/fields_<cell>m.npz "
                         "(small enough to commit; the budget then needs no fields.npz)")
    a = ap.parse_args(argv)
    for d in (a.coarse, a.fine, a.transient):
        if not (d / "racks.csv").is_file():
            ap.exit(2, f"{ap.prog}: error: {d}: no racks.csv (run run_cfd.py first)\n")
    if a.window < 1:
        ap.exit(2, f"{ap.prog}: error: --window: must be at least 1 block, got {a.window}\n")
    if a.write_coarsened:
        cell = float(json.loads((a.coarse / "meta.json").read_text())["cell_m"])
        f = coarse_fields(a.fine, cell)
        np.savez_compressed(a.fine / COARSENED.format(cell_m=cell), cell_m=cell,
                            **{k: v.astype(np.float32) for k, v in f.items() if k != "cell_m"})
    res = study(a.coarse, a.fine, a.transient, window=a.window)
    print(json.dumps(res, indent=1) if a.json else _markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
