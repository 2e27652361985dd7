"""How the perforated tiles share the floor supply: CFD (``--plenum``) vs the twin's airflow models.

Usage::

    python validation/tile_flows.py aisle-pair            # table per tile band
    python validation/tile_flows.py aisle-pair --json

Per tile face (the twin's grid faces of the floor with 0 < openness) it takes the flow up through it:

- CFD: ``validation/results/<hall>/tiles.csv`` (written by ``run_cfd.py --plenum``: the solver's face
  flux on the tile baffle, averaged like the intakes);
- twin, momentum and potential: ``HallTwin(hall, airflow=...).steady()``'s ``face_flow_m3s`` on the
  floor faces of ``twin.net`` (positive from the plenum cell to the room cell);
- uniform: the floor CRAHs' flow spread evenly over the tile area (the CFD without the plenum).

and sums it over bands of 0.6 m along x (a rack's width: band 1 is in front of A01/B01, next to the
CRAHs) and over the halves of the aisle on the A side (low y) and the B side (high y).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from twin.model import load_hall
from twin.sim.twin import HallTwin
from validation.compare import HALLS, RESULTS

BAND_M = 0.6


def tile_face_cells(twin: HallTwin) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices into twin.net's faces of the tile faces (plenum top → room), and their grid columns i, j."""
    net, vox = twin.net, twin.voxels
    nzp = vox.plenum_layers
    shape = vox.grid.shape
    za = np.unravel_index(net.fluid_flat[net.face_a], shape)
    sel = np.nonzero((net.face_axis == 2) & (za[2] == nzp - 1))[0]
    i, j, _ = np.unravel_index(net.fluid_flat[net.face_a[sel]], shape)
    return sel, i, j


def tile_faces(twin: HallTwin) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices into twin.net's faces of the tile faces, and their centres' x, y (m)."""
    sel, i, j = tile_face_cells(twin)
    return sel, twin.voxels.grid.centers(0)[i], twin.voxels.grid.centers(1)[j]


def twin_tile_flows(hall_path: Path, airflow: str) -> dict[tuple[float, float], float]:
    twin = HallTwin(load_hall(hall_path), airflow=airflow)
    state = twin.steady()
    sel, x, y = tile_faces(twin)
    return {(round(a, 3), round(b, 3)): float(q) for a, b, q in zip(x, y, state.face_flow_m3s[sel])}


def cfd_tile_flows(hall: str) -> dict[tuple[float, float], float]:
    from validation.imposed_tiles import read_tile_csv  # (imposed_tiles imports this module)

    return read_tile_csv(RESULTS / hall / "tiles.csv")


def bands(flows: dict[tuple[float, float], float], x0: float, y_mid: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for (x, y), q in sorted(flows.items()):
        b = int((x - x0) // BAND_M) + 1
        side = "A" if y < y_mid else "B"
        out[f"{b}{side}"] = out.get(f"{b}{side}", 0.0) + q
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("hall")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    hall_path = HALLS / f"{a.hall}.toml"
    tiles_csv = RESULTS / a.hall / "tiles.csv"
    if not hall_path.is_file() or not tiles_csv.is_file():
        # One line, not a traceback: only the raised-floor halls' CFD results have tile flows.
        have = sorted(d.name for d in RESULTS.iterdir() if (d / "tiles.csv").is_file() and (HALLS / f"{d.name}.toml").is_file())
        p.exit(2, f"{p.prog}: error: {a.hall}: no hall with CFD tile flows ({tiles_csv} missing); halls that have "
                  f"them: {', '.join(have) or 'none'}\n")
    hall = load_hall(hall_path)
    cfd = cfd_tile_flows(a.hall)
    series = {"cfd": cfd, "momentum": twin_tile_flows(hall_path, "momentum"),
              "potential": twin_tile_flows(hall_path, "potential")}
    missing = set(cfd) ^ set(series["momentum"])
    if missing:
        print(f"tile faces differ between CFD and twin: {sorted(missing)[:5]}", file=sys.stderr)
        return 1
    total = sum(c.rated_flow_m3s * c.fan_speed for c in hall.crahs if c.supply_to == "floor")
    series["uniform"] = {k: total / len(cfd) for k in cfd}
    xs = sorted({k[0] for k in cfd})
    ys = sorted({k[1] for k in cfd})
    x0, y_mid = xs[0] - hall.spec.hall.cell_m / 2, 0.5 * (ys[0] + ys[-1])
    table = {name: bands(f, x0, y_mid) for name, f in series.items()}
    faces = np.array([[series[n][k] for k in sorted(cfd)] for n in series])
    stats = {n: {"total_m3s": round(float(faces[i].sum()), 4), "min_face_m3s": round(float(faces[i].min()), 5),
                 "max_face_m3s": round(float(faces[i].max()), 5),
                 "cv": round(float(faces[i].std() / faces[i].mean()), 4)} for i, n in enumerate(series)}
    rms = {n: round(float(np.sqrt(np.mean((faces[i] - faces[0]) ** 2)) / faces[0].mean()), 4)
           for i, n in enumerate(series) if n != "cfd"}
    if a.json:
        print(json.dumps({"hall": a.hall, "bands_m3s": {n: {k: round(v, 4) for k, v in t.items()}
                                                       for n, t in table.items()},
                          "faces": stats, "face_rms_vs_cfd_rel": rms}, indent=1))
        return 0
    keys = list(table["cfd"])
    print(f"{a.hall}: flow up through the tiles per {BAND_M} m band along x (1 = next to the CRAHs) and aisle "
          f"half (A: low y, B: high y), m³/s")
    print(f"  {'band':5s} " + " ".join(f"{n:>10s}" for n in table))
    for k in keys:
        print(f"  {k:5s} " + " ".join(f"{table[n][k]:10.4f}" for n in table))
    for n, s in stats.items():
        print(f"  {n:10s} total {s['total_m3s']:.3f} m³/s, per face {s['min_face_m3s']:.4f}–{s['max_face_m3s']:.4f}, "
              f"CV {s['cv']:.3f}" + (f", RMS vs CFD {rms[n]:.3f} of the mean" if n in rms else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
