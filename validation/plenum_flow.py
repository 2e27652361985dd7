"""The raised floor's plenum flow: CFD (``fields.npz``, U on the twin's grid) against the momentum model.

Usage::

    python validation/plenum_flow.py aisle-pair [--reference aisle-pair-transient] [--json]

What it prints, per quantity CFD and twin (cell-centred velocities, m/s; the plenum is the cells below
z = 0, layer 1 on the slab, the top layer under the tiles):

- the CRAH discharge: mean downward velocity of the plenum cells under the CRAHs, per layer (the jet
  blowing down from the supply face), and the flow-weighted jet speed at the top layer;
- the wall jet along the slab: per 0.6 m band along x (away from the CRAHs), the mean x-velocity of each
  layer over the plenum's width, and the volume flow along x through the band's cross-section;
- how much of the flow turns up at each band (the tile flows, from the velocity at the top layer);
- the Chen–Xu eddy viscosity the twin uses in the plenum (ν_t = 0.03874 |U| L), beside a mixing-length
  estimate from the CFD's own velocity (the same formula on the CFD's |U|), to see what the 3-cell depth
  makes of L.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from twin.model import load_hall
from twin.sim.twin import HallTwin
from twin.thermal.momentum import CHEN_XU_CONSTANT
from validation.compare import HALLS, RESULTS
from validation.tile_column_probe import grid_fields, read_fields

BAND_M = 0.6


def twin_plenum(hall_path: Path) -> tuple[HallTwin, np.ndarray]:
    """The twin (momentum model) after its steady solve, and its cell velocity (nx, ny, nz, 3)."""
    twin = HallTwin(load_hall(hall_path), airflow="momentum")
    state = twin.steady()
    return twin, grid_fields(twin, state.t_air_c)["velocity_m_s"]


def summarize(u: np.ndarray, twin: HallTwin) -> dict:
    vox = twin.voxels
    g = vox.grid
    nzp = vox.plenum_layers
    h = g.cell_m
    x = g.centers(0)
    out: dict = {}
    crah_cols = np.zeros(g.shape[:2], dtype=bool)
    for m in vox.crahs:
        i, j, _ = np.unravel_index(m.outlet, g.shape)
        crah_cols[i, j] = True
    out["discharge_uz_m_s"] = [round(float(np.nanmean(u[:, :, k, 2][crah_cols])), 4) for k in range(nzp)]
    uz_top = u[:, :, nzp - 1, 2][crah_cols]
    out["discharge_top_layer_jet_m_s"] = round(float(-np.nansum(uz_top * np.abs(uz_top)) / np.nansum(np.abs(uz_top))), 4)
    bands = np.arange(0.0, x[-1] + h, BAND_M)
    along: dict = {}
    for b0 in bands:
        sel = (x >= b0) & (x < b0 + BAND_M)
        if not sel.any():
            continue
        layer_ux = [round(float(np.nanmean(u[sel, :, k, 0])), 4) for k in range(nzp)]
        # Volume flow along x through the band's middle plane (sum over y and layers of u_x h², NaN = solid).
        i_mid = int(np.flatnonzero(sel)[len(np.flatnonzero(sel)) // 2])
        q_x = float(np.nansum(u[i_mid, :, :nzp, 0]) * h * h)
        up = float(np.nansum(np.clip(u[sel, :, nzp - 1, 2], 0, None)) * h * h)
        along[f"{b0:.1f}-{b0 + BAND_M:.1f}"] = {"ux_by_layer_m_s": layer_ux, "flow_along_x_m3s": round(q_x, 4),
                                                 "up_top_layer_m3s": round(up, 4)}
    out["along_x"] = along
    speed = np.sqrt(np.nansum(u[:, :, :nzp] ** 2, axis=-1))
    assert twin.momentum is not None
    wall_m = twin.momentum.wall_distance_m[:, :, :nzp]
    fluid = twin.momentum.fluid[:, :, :nzp]
    out["plenum_mean_speed_m_s"] = round(float(speed[fluid].mean()), 4)
    out["plenum_chen_xu_nu_t_m2s"] = round(float((CHEN_XU_CONSTANT * speed * wall_m)[fluid].mean()), 6)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("hall")
    p.add_argument("--reference", default=None)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    ref = a.reference or a.hall
    twin, u_twin = twin_plenum(HALLS / f"{a.hall}.toml")
    u_cfd = read_fields(RESULTS / ref / "fields.npz")["velocity_m_s"].astype(float)
    if u_cfd.shape != u_twin.shape:
        print(f"grids differ: CFD {u_cfd.shape}, twin {u_twin.shape}", file=sys.stderr)
        return 1
    res = {"cfd": summarize(u_cfd, twin), "twin": summarize(u_twin, twin)}
    if a.json:
        print(json.dumps(res, indent=1))
        return 0
    for key in ("discharge_uz_m_s", "discharge_top_layer_jet_m_s", "plenum_mean_speed_m_s", "plenum_chen_xu_nu_t_m2s"):
        print(f"{key:32s} CFD {res['cfd'][key]}   twin {res['twin'][key]}")
    print(f"{'band x, m':10s} {'CFD u_x by layer':>28s} {'twin':>28s} {'CFD Qx':>8s} {'twin':>7s} {'CFD up':>7s} {'twin':>7s}")
    for band, c in res["cfd"]["along_x"].items():
        t = res["twin"]["along_x"][band]
        print(f"{band:10s} {str(c['ux_by_layer_m_s']):>28s} {str(t['ux_by_layer_m_s']):>28s} "
              f"{c['flow_along_x_m3s']:8.3f} {t['flow_along_x_m3s']:7.3f} {c['up_top_layer_m3s']:7.3f} "
              f"{t['up_top_layer_m3s']:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
