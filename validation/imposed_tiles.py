"""Plenum or room? The twin's room flow with the CFD's tile flows imposed, against the CFD's intakes.

Usage::

    python validation/imposed_tiles.py aisle-pair                 # CFD reference: results/aisle-pair/
    python validation/imposed_tiles.py aisle-pair --reference aisle-pair-transient
    python validation/imposed_tiles.py aisle-pair --json

The momentum model's error on a raised floor has two possible seats: the plenum (how the CRAHs' air is
shared among the tiles) and the room (where the tile jets, the rack exhausts and buoyancy take the air,
e.g. round the row ends). This script takes the plenum out of the question: it runs the twin's steady
solve (momentum model, buoyancy, the hall's own settings) three ways and compares each rack's intake
with the CFD's:

- ``twin``: the hall as it is (the twin's own plenum decides the tile flows);
- ``imposed``: every tile face's flow fixed to the CFD's (``tiles.csv``, per face, averaged like the
  intakes), scaled by one factor so that it sums to the CRAHs' supply exactly (the CFD's total differs by
  its mass-balance tolerance);
- ``uniform``: every tile face's flow fixed to the floor CRAHs' supply ÷ tile faces (what a plenum with
  no inertia would do; the old uniform-tile CFD's boundary condition).

How a tile flow is imposed (:class:`ImposedFaceSolver`): the tile faces keep their place in the grid and
carry their fixed velocity q / h² through every momentum iteration (so the room sees the same jets
it would with the solved value), but they are taken out of the pressure correction and of the
divergence closure: the plenum is then a region of its own in the pressure equation, whose sources (the
CRAH outlets) balance the fixed tile outflows exactly, and the room's flow solves around the fixed
inflows. The face flows stay divergence-free to round-off, so the temperature transport on them
conserves energy as usual.

If the room alone (``imposed``) comes within about 1 K RMS of the CFD, the error was the plenum's; if
not, it is the room's own (row-end recirculation).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from twin.model import HallModel, load_hall
from twin.sim.twin import HallTwin
from twin.thermal.momentum import MomentumSolver
from validation.compare import HALLS, RESULTS, errors_k, read_racks
from validation.tile_flows import tile_face_cells

__all__ = ["ImposedFaceSolver", "floor_supply_m3s", "impose_tile_flows", "imposed_tile_intakes", "read_tile_csv",
           "swap_momentum", "tile_face_grid", "tile_face_values"]



class ImposedFaceSolver(MomentumSolver):
    """The momentum solver with the velocity of some faces fixed (a validation device, not a model).

    ``fixed_u_m_s``: per axis, a face-shaped array of velocities, NaN where the face is solved as usual.
    Fixed faces must be active (open, fluid on both sides).
    """

    def __init__(self, *args, fixed_u_m_s: list[np.ndarray], **kwargs) -> None:
        self._fixed = [np.isfinite(f) for f in fixed_u_m_s]
        self._fixed_u = [np.where(m, f, 0.0) for m, f in zip(self._fixed, fixed_u_m_s)]
        super().__init__(*args, **kwargs)
        for a in range(3):
            if np.any(self._fixed[a] & ~self.active[a]):
                raise ValueError("a fixed face is not an open face between two fluid cells")
        self.u = [np.where(self._fixed[a], self._fixed_u[a], self.u[a]) for a in range(3)]

    def _build_poisson(self) -> None:
        # The pressure equation and the spanning tree see the fixed faces as walls: their flux is given.
        active = self.active
        self.active = [act & ~fix for act, fix in zip(active, self._fixed)]
        try:
            super()._build_poisson()
        finally:
            self.active = active

    def _check_air_paths(self) -> None:
        # The plenum is a region of its own in the pressure equation; air still passes the fixed faces.
        pass

    def _momentum(self, c, nu, tg, t_ref, q, dt, sweeps=None, *, reuse=False):  # type: ignore[no-untyped-def]
        x = super()._momentum(c, nu, tg, t_ref, q, dt, sweeps, reuse=reuse)
        return np.where(self._fixed[c], self._fixed_u[c], x)

    def _project(self, u, s_grid, dt, rtol, **kw):  # type: ignore[no-untyped-def]
        phi = super()._project(u, s_grid, dt, rtol, **kw)
        for a in range(3):
            u[a][:] = np.where(self._fixed[a], self._fixed_u[a], u[a])
        return phi


def tile_face_grid(twin: HallTwin) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid indices (i, j) and the z-face index of every tile face (plenum top → room), in twin.net order."""
    _, i, j = tile_face_cells(twin)
    return i, j, np.full(i.size, twin.voxels.plenum_layers)


def read_tile_csv(path: Path, column: str = "flow_m3s") -> dict[tuple[float, float], float]:
    """One column of a per-tile-face CSV (a CFD's tiles.csv, tile_turbulence.csv), keyed by the face's centre
    (x_m, y_m) rounded to the millimetre."""
    with open(path, newline="") as f:
        return {(round(float(r["x_m"]), 3), round(float(r["y_m"]), 3)): float(r[column]) for r in csv.DictReader(f)}


def cfd_tiles(reference: str) -> dict[tuple[float, float], float]:
    return read_tile_csv(RESULTS / reference / "tiles.csv")


def tile_face_values(twin: HallTwin, per_tile: dict[tuple[float, float], float], source: str | Path) -> np.ndarray:
    """``per_tile``'s value for each of the twin's tile faces (:func:`tile_face_grid` order); a face the table
    lacks is a one-line ValueError naming ``source``."""
    g = twin.voxels.grid
    i, j, _ = tile_face_grid(twin)
    try:
        return np.array([per_tile[(round(float(x), 3), round(float(y), 3))]
                         for x, y in zip(g.centers(0)[i], g.centers(1)[j])])
    except KeyError as exc:
        raise ValueError(f"{source}: no flow for the tile face at {exc.args[0]} (x_m, y_m)") from None


def floor_supply_m3s(hall: HallModel) -> float:
    """What the floor-supplying CRAHs blow into the plenum, all of which the tiles pass, m³/s."""
    return float(sum(c.rated_flow_m3s * c.fan_speed for c in hall.crahs if c.supply_to == "floor"))


def swap_momentum(twin: HallTwin, cls: type[MomentumSolver] = MomentumSolver, *,
                  openness: list[np.ndarray] | None = None, **kwargs) -> MomentumSolver:  # type: ignore[no-untyped-def]
    """Put a (study) momentum solver in the twin's place: the same voxels, movers and settings, the twin's face
    openness (copied: a study may change it) unless ``openness`` is given, and ``kwargs`` for ``cls``.
    Returns it. A twin that sequences its steady grid would solve its coarse grid with the plain solver: build
    studies with ``grid_sequencing=False``."""
    m = twin.momentum
    if m is None:
        raise ValueError("the twin has no momentum model to replace")
    new = cls(~m.fluid, [x.copy() for x in (m.openness if openness is None else openness)], m.h, m.movers,
              settings=m.settings, **kwargs)
    twin.momentum = new
    return new


def impose_tile_flows(twin: HallTwin, hall: HallModel, tile_flows_m3s: dict[tuple[float, float], float],
                      source: str | Path) -> float:
    """Fix every tile face's flow to ``tile_flows_m3s`` (per face centre), scaled by one factor to the floor
    CRAHs' supply, through :class:`ImposedFaceSolver` in the twin's place. Returns that factor."""
    g = twin.voxels.grid
    i, j, k = tile_face_grid(twin)
    q = tile_face_values(twin, tile_flows_m3s, source)
    scale = floor_supply_m3s(hall) / q.sum()
    fixed = [np.full(x.shape, np.nan) for x in twin.momentum.u]  # type: ignore[union-attr]
    fixed[2][i, j, k] = q * scale / g.cell_m**2
    swap_momentum(twin, ImposedFaceSolver, fixed_u_m_s=fixed)
    return float(scale)


def imposed_tile_intakes(hall_path: Path, tile_flows_m3s: dict[tuple[float, float], float] | None, *,
                         tol: float | None = None) -> dict:
    """Steady intakes (°C per rack) of the momentum model, with the tile flows fixed when given.

    ``tol``: the momentum solve's tolerance instead of the hall's (with the tile flows fixed, the room's
    row-end plumes lose the plenum's feedback and may settle more slowly).
    """
    hall = load_hall(hall_path)
    # No grid sequencing: the twin's solver is swapped for a study solver below, which a coarse grid would not be.
    twin = HallTwin(hall, airflow="momentum", grid_sequencing=False)
    if tol is not None:
        assert twin.momentum is not None
        twin.momentum.settings = replace(twin.momentum.settings, tol=tol)
    face_flow = None
    if tile_flows_m3s is not None:
        g = twin.voxels.grid
        i, j, _ = tile_face_grid(twin)
        keys = {(round(float(x), 3), round(float(y), 3)) for x, y in zip(g.centers(0)[i], g.centers(1)[j])}
        extra = set(tile_flows_m3s) - keys
        if extra:
            raise ValueError(f"tile faces differ between the reference and the twin: {sorted(extra)[:4]}")
        scale = impose_tile_flows(twin, hall, tile_flows_m3s, "the reference's tile flows")
        given = float(sum(tile_flows_m3s[key] for key in keys))
        face_flow = {"given_total": round(given, 5), "scaled_by": round(scale, 5)}
    state = twin.steady()
    out = {"intakes_c": {name: float(t) for name, t in zip(twin.racks.names, state.t_intake_c)}}
    if face_flow:
        sel = _tile_face_rows(twin)
        out["tiles"] = {**face_flow, "applied_total_m3s": round(float(state.face_flow_m3s[sel].sum()), 6)}
    # Heat released (racks and CRAH fans) against what the coils remove: the steady balance, closed.
    out["energy"] = {"heat_in_w": float(state.rack_heat_w.sum() + twin.mover_heat_w(state).sum()),
                     "removed_w": float(state.crah_heat_removed_w.sum())}
    return out


def _tile_face_rows(twin: HallTwin) -> np.ndarray:
    net, vox = twin.net, twin.voxels
    za = np.unravel_index(net.fluid_flat[net.face_a], vox.grid.shape)
    return np.nonzero((net.face_axis == 2) & (za[2] == vox.plenum_layers - 1))[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("hall", help="hall name in validation/halls/ (with a raised floor)")
    p.add_argument("--reference", default=None, help="results folder of the CFD (default: the hall's name)")
    p.add_argument("--runs", default="twin,imposed,uniform", help="which of twin, imposed, uniform to run")
    p.add_argument("--tol", type=float, default=None, help="momentum tolerance (default: the hall's)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    ref = a.reference or a.hall
    hall_path = HALLS / f"{a.hall}.toml"
    cfd = read_racks(RESULTS / ref)
    tiles = cfd_tiles(ref)
    uniform = {k: 1.0 for k in tiles}
    inputs = {"twin": None, "imposed": tiles, "uniform": uniform}
    runs = {name: imposed_tile_intakes(hall_path, inputs[name], tol=a.tol) for name in a.runs.split(",")}
    table = {}
    for name, res in runs.items():
        err = errors_k(res["intakes_c"], cfd)
        table[name] = {"rms_k": err["rms_k"], "mean_k": err["mean_k"],
                       "intakes_c": {r: round(res["intakes_c"][r], 3) for r in cfd},
                       **({"tiles": res["tiles"]} if "tiles" in res else {}), "energy": res["energy"]}
    if a.json:
        print(json.dumps({"hall": a.hall, "reference": ref, "cfd_c": cfd, "runs": table}, indent=1))
        return 0
    print(f"{a.hall}: rack intakes, °C (CFD: results/{ref}); twin = own plenum, imposed = CFD tile flows, "
          f"uniform = even tile flows")
    print(f"  {'rack':5s} {'CFD':>7s} " + " ".join(f"{n:>8s} {'Δ':>6s}" for n in table))
    for r in cfd:
        print(f"  {r:5s} {cfd[r]:7.2f} " + " ".join(f"{t['intakes_c'][r]:8.2f} {t['intakes_c'][r] - cfd[r]:+6.2f}"
                                                  for t in table.values()))
    print("  RMS        " + " ".join(f"{t['rms_k']:8.2f} {'':6s}" for t in table.values()))
    print("  mean       " + " ".join(f"{t['mean_k']:+8.2f} {'':6s}" for t in table.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
