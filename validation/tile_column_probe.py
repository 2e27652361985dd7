"""Profiles of aisle-pair's cold aisle, CFD vs the momentum model: how high the tile column reaches.

Usage::

    python validation/tile_column_probe.py                       # steady momentum solve, transient CFD mean
    python validation/tile_column_probe.py --reference aisle-pair # against the steady CFD instead
    python validation/tile_column_probe.py --save /tmp/twin.npz   # keep the twin's fields ...
    python validation/tile_column_probe.py --load /tmp/twin.npz   # ... and print them again without solving

Prints, CFD | twin, cell-centred values on the twin's grid (the CFD's fields.npz is on the same grid):

- T (°C) and u_z (m/s) up the aisle's centre line (mean of the two cells either side of y = 3.0 m) at
  five stations along x, from the CRAH end (A01/B01) to the far end (A04/B04);
- T and u_y towards the racks along the row fronts (the intake cells: y = 2.475 m for A, 3.525 m for B);
- u_x through the aisle's end planes (x = 2.4 and 4.8 m, mean over the aisle's width) by height: the
  air the row ends draw in (negative at the far end: into the aisle);
- the aisle's air budget (m³/s): up through the tiles, in through each end plane below the racks' top
  (z < 2.1 m), in through the aisle's top (z = 2.1 m), and its mean temperature per inflow. Fluxes are
  mean cell-centre velocities of the two cells either side of a plane times its area, for both (the
  CFD's fields have no face fluxes), so the budget closes only approximately.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the twin is imported where it is used: a --load run reads files only
    from twin.sim.twin import HallTwin
    from twin.thermal.momentum import MomentumSolver

HERE = Path(__file__).resolve().parent
# aisle-pair's cold aisle (validation/halls/aisle-pair.toml; contained's is the same), the one place the studies
# (buoyancy, endstrip, rack patch, transient twin) take it from.
AISLE_X_M = (2.4, 4.8)  # the rows' ends: the aisle's end planes
AISLE_Y_M = (2.4, 3.6)  # the rows' front faces, row A's and row B's
AISLE_CENTRE_Y_M = (2.85, 3.15)  # holds the two 0.15 m cells either side of the aisle's centre line (y 3.0 m)
RACK_TOP_M = 2.1
END_STRIP_X_M = {"near": 2.475, "far": 4.725}  # the row ends' tile strips (cell centres, 0.15 m cells)
STATIONS_X_M = (2.475, 2.925, 3.525, 4.125, 4.725)


def cell_fields(m: MomentumSolver, t_fluid_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """T (°C) and cell-centred velocity (m/s, (nx, ny, nz, 3)) of a momentum solver's field on its grid, NaN in
    solids: the layout of a CFD's fields.npz. ``t_fluid_c``: T per fluid cell (FluidNetwork order)."""
    t = np.full(m.shape, np.nan)
    t.ravel()[m.fluid_flat] = t_fluid_c
    u = m.cell_velocity_m_s()
    u[~m.fluid] = np.nan
    return t, u


def grid_fields(twin: HallTwin, t_air_c: np.ndarray) -> dict[str, np.ndarray]:
    """A twin's T and cell velocity on its grid (:func:`cell_fields`, its current momentum solver's flow) with
    the cell centres (m): what :func:`budget` and the probes read, from a twin as from a CFD's fields.npz."""
    m = twin.momentum
    assert m is not None
    g = twin.voxels.grid
    t, u = cell_fields(m, t_air_c)
    return {"t_c": t, "velocity_m_s": u, "x_m": g.centers(0), "y_m": g.centers(1), "z_m": g.centers(2)}


def read_fields(path: Path, *, allow_pickle: bool = False) -> dict[str, np.ndarray]:
    """Every array of a fields .npz (a CFD's fields.npz, or a twin's saved in its layout), the file closed."""
    with np.load(path, allow_pickle=allow_pickle) as z:
        return {k: z[k] for k in z.files}


def twin_fields(hall: Path) -> dict[str, np.ndarray]:
    """The twin's steady T and cell velocity on its grid (NaN in solids), with the cell centres and its intakes."""
    from twin.model import load_hall
    from twin.sim.twin import HallTwin

    twin = HallTwin(load_hall(hall), airflow="momentum")
    state = twin.steady()
    return {**grid_fields(twin, state.t_air_c), "t_intake_c": state.t_intake_c}


def _idx(centres: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.flatnonzero((centres > lo) & (centres < hi))


def _near(centres: np.ndarray, value: float) -> int:
    return int(np.argmin(np.abs(centres - value)))


def budget(f: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """The cold aisle's inflows (m³/s, positive into the aisle) and their flow-weighted mean T (°C)."""
    x, y, z = f["x_m"], f["y_m"], f["z_m"]
    cell_m = float(x[1] - x[0])
    ix, jy = _idx(x, *AISLE_X_M), _idx(y, *AISLE_Y_M)
    kz = _idx(z, 0.0, RACK_TOP_M)
    t, u = f["t_c"], f["velocity_m_s"]
    out = {}

    def plane(axis: int, lo_cell: int, sign: float, cells_a: tuple, cells_b: tuple) -> tuple[float, float]:
        ua = u[cells_a][..., axis]
        ub = u[cells_b][..., axis]
        ta, tb = t[cells_a], t[cells_b]
        flux = sign * 0.5 * (ua + ub) * cell_m * cell_m
        upwind_t = np.where(flux > 0, ta if sign > 0 else tb, tb if sign > 0 else ta)
        inflow = np.nansum(flux)
        heat_in = np.nansum(np.where(flux > 0, flux * upwind_t, 0.0))
        q_in = np.nansum(np.maximum(flux, 0.0))
        return float(inflow), float(heat_in / q_in) if q_in > 0 else float("nan")

    k0 = _near(z, 0.075)
    out["tiles (z = 0)"] = plane(2, k0, +1.0, np.ix_(ix, jy, [k0 - 1]), np.ix_(ix, jy, [k0]))
    i0, i1 = ix[0], ix[-1]
    out["near end (x = 2.4)"] = plane(0, i0, +1.0, np.ix_([i0 - 1], jy, kz), np.ix_([i0], jy, kz))
    out["far end (x = 4.8)"] = plane(0, i1, -1.0, np.ix_([i1], jy, kz), np.ix_([i1 + 1], jy, kz))
    kt = kz[-1]
    out["top (z = 2.1)"] = plane(2, kt, -1.0, np.ix_(ix, jy, [kt]), np.ix_(ix, jy, [kt + 1]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", default="aisle-pair-transient", help="results/<name>/fields.npz")
    ap.add_argument("--save", type=Path, help="write the twin's fields here (npz)")
    ap.add_argument("--load", type=Path, help="read the twin's fields from here instead of solving")
    args = ap.parse_args(argv)
    if args.load:
        tw = read_fields(args.load)
    else:
        tw = twin_fields(HERE / "halls" / "aisle-pair.toml")
        if args.save:
            np.savez_compressed(args.save, **tw)
    cfd = read_fields(HERE / "results" / args.reference / "fields.npz")
    x, y, z = tw["x_m"], tw["y_m"], tw["z_m"]
    kz = _idx(z, 0.0, 3.0)
    jc = _idx(y, *AISLE_CENTRE_Y_M)
    print(f"twin vs CFD ({args.reference}); T °C and velocities m/s as CFD|twin")
    if "t_intake_c" in tw:
        print("twin intakes:", " ".join(f"{v:.2f}" for v in tw["t_intake_c"]))

    def col(f: dict, key: str, i: int, j: np.ndarray | int, comp: int | None = None) -> np.ndarray:
        v = f[key][i][j] if comp is None else f[key][i][j][..., comp]
        v = v[..., kz] if np.ndim(v) == 1 else v[:, kz]
        return v if np.ndim(v) == 1 else np.nanmean(v, axis=0)

    for title, jj, comp in (("aisle centre (y = 3.0 m): T | u_z", jc, 2),
                            ("row A front (y = 2.475 m, intake cells): T | u_y", _near(y, 2.475), 1),
                            ("row B front (y = 3.525 m, intake cells): T | −u_y", _near(y, 3.525), 1)):
        sign = -1.0 if "B front" in title else 1.0
        print(f"\n{title}")
        print("   z m " + "".join(f"   x = {xv:5.3f} T        u        " for xv in STATIONS_X_M))
        rows = []
        for xv in STATIONS_X_M:
            i = _near(x, xv)
            rows.append((col(cfd, "t_c", i, jj), col(tw, "t_c", i, jj),
                         sign * col(cfd, "velocity_m_s", i, jj, comp), sign * col(tw, "velocity_m_s", i, jj, comp)))
        for n, k in enumerate(kz):
            line = f"  {z[k]:5.3f}"
            for tc, tt, uc, ut in rows:
                line += f"  {tc[n]:5.1f}|{tt[n]:5.1f} {uc[n]:+5.2f}|{ut[n]:+5.2f}   "
            print(line)

    jy = _idx(y, *AISLE_Y_M)
    print("\nu_x through the aisle's end planes (mean over its width; + = along x), m/s CFD|twin; T there °C")
    ix = _idx(x, *AISLE_X_M)
    print("   z m    near end x = 2.4           far end x = 4.8")
    for k in kz:
        line = f"  {z[k]:5.3f}"
        for a, b in ((ix[0] - 1, ix[0]), (ix[-1], ix[-1] + 1)):
            uc = np.nanmean(0.5 * (cfd["velocity_m_s"][a, jy, k, 0] + cfd["velocity_m_s"][b, jy, k, 0]))
            ut = np.nanmean(0.5 * (tw["velocity_m_s"][a, jy, k, 0] + tw["velocity_m_s"][b, jy, k, 0]))
            tc = np.nanmean(0.5 * (cfd["t_c"][a, jy, k] + cfd["t_c"][b, jy, k]))
            tt = np.nanmean(0.5 * (tw["t_c"][a, jy, k] + tw["t_c"][b, jy, k]))
            line += f"   {uc:+5.2f}|{ut:+5.2f}  {tc:5.1f}|{tt:5.1f}   "
        print(line)

    print("\ncold aisle's air budget (x 2.4-4.8, y 2.4-3.6, z 0-2.1): inflow m³/s (+ in) and mean T of the inflow °C")
    bc, bt = budget(cfd), budget(tw)
    for key in bc:
        print(f"  {key:20s} {bc[key][0]:+6.3f}|{bt[key][0]:+6.3f}   {bc[key][1]:5.1f}|{bt[key][1]:5.1f}")
    print(f"  {'sum (= intakes)':20s} {sum(v[0] for v in bc.values()):+6.3f}|{sum(v[0] for v in bt.values()):+6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
