"""Is the plenum CFD's porous tile layer what makes aisle-pair's row ends hot? (issue 10)

Usage::

    python validation/tile_layer_study.py twin aisle-pair                  # the twin with a CFD-like tile layer
    python validation/tile_layer_study.py twin aisle-pair --lateral-scale 1 --json
    python validation/tile_layer_study.py twin aisle-pair --turbulence k-epsilon --tile-turbulence CSV
    python validation/tile_layer_study.py twin aisle-pair --imposed-tile-flows TILES.csv   # tile flows fixed
    python validation/tile_layer_study.py tile-turbulence CASE_DIR OUT.csv  # k, ε at the tiles of a plenum run
    python validation/tile_layer_study.py budget aisle-pair-transient --twin own TILES.csv  # cold aisle's air budget
    python validation/tile_layer_study.py table aisle-pair-transient aisle-pair DIR ... [--twin JSON ...]

The plenum CFD (``run_cfd.py --plenum``, the reference) and the twin model a perforated tile differently:

- CFD: the tile faces are open; the one layer of room cells above them (height h) is a Darcy–Forchheimer
  zone, momentum sink ½ f |U| U per unit volume with f_z = ζ/h and f_x = f_y = 100 f_z (``--tile-lateral-scale``),
  so the jets leave the floor 0.15 m higher and no air moves sideways in that layer;
- twin: the tile face carries the Borda–Carnot loss ζ ½ u|u| (ζ = (1/σ − 1)² = 9) and is a wall to the
  tangential velocity; the cell above it is ordinary air.

``twin`` runs the twin's steady momentum solve with :class:`PorousLayerSolver`, a study variant (a
validation device, not a model) that mimics the CFD's layer: the tile faces become wholly open (no face
loss, tangential velocity passes as through an open face, as in the CFD's mesh) and the room cells right
above them carry the CFD's sink. On the staggered grid a face's control volume is half in each of its two
cells, so a face gets half the sink of each porous cell it touches: the diagonal term
h² ½ ζ_f |u_f| u_f of the twin's face loss with ζ_f |u_f| = Σ_porous cells ½ h f_c |U_cell|, |U_cell| the
cell-centre speed (as the CFD's |U|), lagged by one iteration like the face loss. A vertical face between
plenum and layer, or between the layer and the room above, gets ζ/2; a sideways face between two layer
cells 100 ζ, between a layer cell and an ordinary cell 50 ζ (lateral scale 100). ``--keep-tile-wall``
keeps the tile face a wall to the tangential velocity (the twin's own treatment) and only moves the loss.

``tile-turbulence`` reads k and ε of the last written iterate of a ``run_cfd.py --plenum`` case in the
room cells right above the tile faces (the top of the plenum CFD's porous layer's cells, where its jets
enter the room) and writes them per tile (x_m, y_m, k_m2s2, epsilon_m2s3) for ``run_cfd.py
--tile-turbulence``, which imposes them at floor-level tile inlets.

``budget`` prints the cold aisle's air budget (``tile_column_probe.budget``: in through the tiles, each
end plane below the racks' top and the top, with the inflows' mean temperature) of CFD fields and of twin
solves with their own or imposed tile flows.

``table`` prints the rack intakes of any number of CFD results folders (``racks.csv``) and twin runs
(``--twin``: this script's ``--json`` output) with the RMS of each against the first (the check's
reference) and against each other.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

import numpy as np

from twin.model import load_hall
from twin.sim.twin import HallTwin
from twin.thermal.momentum import MomentumSolver, _pair, borda_carnot_loss
from validation.compare import HALLS, RESULTS, read_racks
from validation.imposed_tiles import read_tile_csv, swap_momentum, tile_face_grid, tile_face_values
from validation.numerics_study import load_hall_variant

__all__ = ["PorousLayerSolver", "TileTurbulenceSolver", "layer_intakes", "tile_turbulence", "intake_table"]

HERE = Path(__file__).resolve().parent
#: Below this face speed the lagged |U|/|u_f| factor is capped (a face at rest feels no drag anyway).
_U_FLOOR_M_S = 1e-4


class PorousLayerSolver(MomentumSolver):
    """The momentum solver with the plenum CFD's porous tile layer instead of the twin's tile faces.

    ``tile_faces``: (i, j, k) grid indices of the tiles' z-faces (k: the face between the plenum's top
    cell k − 1 and the room cell k above, the layer). ``lateral_scale``: f_x = f_y = lateral_scale · f_z.
    ``keep_tile_wall``: keep the tile faces walls to the tangential velocity (else wholly open, as in the CFD).
    """

    def __init__(self, *args, tile_faces: tuple[np.ndarray, np.ndarray, np.ndarray], lateral_scale: float = 100.0,
                 keep_tile_wall: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        i, j, k = (np.asarray(x) for x in tile_faces)
        o = self.openness[2][i, j, k]
        if np.any(~self.active[2][i, j, k]) or np.any(o >= 1.0):
            raise ValueError("a tile face is not a perforated face between two fluid cells")
        zeta = borda_carnot_loss(o)
        if np.ptp(zeta) > 1e-9:
            raise ValueError("tiles of different open fractions: one ζ per study")
        self.tile_zeta = float(zeta[0])
        self.layer = np.zeros(self.shape, dtype=bool)
        self.layer[i, j, k] = True
        # ½ h f_c of a layer cell per axis c: ζ/2 vertically, lateral_scale · ζ/2 sideways.
        self._half_hf = [0.5 * self.tile_zeta * s for s in (lateral_scale, lateral_scale, 1.0)]
        # The pressure correction's face weights (openness in MomentumSolver) should follow each face's
        # momentum diagonal (SIMPLEC); a sideways face of the layer has lateral_scale times a tile's drag, and
        # with the plain weight 1 the projection keeps pushing air sideways that the momentum step then stops:
        # the continuity residual stalls (2e-2 on the test box at lateral_scale 100). Only the path to the
        # fixed point changes, not the fixed point (φ = 0 there). The tile faces keep the twin's weight σ.
        self._poisson_weights = [x.copy() for x in self.openness]
        for c in (0, 1):
            lo, hi = _pair(self.layer.astype(float), c, 0.0)
            self._poisson_weights[c] = np.where((lo + hi) > 0, self.openness[c] / (1.0 + lateral_scale),
                                                self.openness[c])
        self._build_poisson()
        if not keep_tile_wall:
            # The CFD's tile faces are ordinary open faces: the walls (tangential velocity) rebuilt with them.
            self.openness[2][i, j, k] = 1.0
            self._build_walls()
            self._tables = {}
        base = [x.copy() for x in self._loss]
        base[2][i, j, k] = 0.0  # the face loss moves into the layer
        self._base_loss = base

    def _build_poisson(self) -> None:
        weights = getattr(self, "_poisson_weights", None)
        if weights is None:  # the base class's first build, before the layer is known
            super()._build_poisson()
            return
        openness, self.openness = self.openness, weights
        try:
            super()._build_poisson()
        finally:
            self.openness = openness

    def _project(self, u, s_grid, dt, rtol, **kw):  # type: ignore[no-untyped-def]
        # The correction of the face flows uses the same weights as the pressure matrix.
        openness, self.openness = self.openness, self._poisson_weights
        try:
            return super()._project(u, s_grid, dt, rtol, **kw)
        finally:
            self.openness = openness

    def _layer_loss(self, c: int) -> np.ndarray:
        speed = np.where(self.layer, np.sqrt(np.sum(self.cell_velocity_m_s() ** 2, axis=-1)), 0.0)
        lo, hi = _pair(speed, c, 0.0)
        coef = self._half_hf[c] * (lo + hi)  # ζ_f |u_f| of the face's control volume
        u = np.maximum(np.abs(self.u[c]), _U_FLOOR_M_S)
        return np.where(self.active[c], self._base_loss[c] + coef / u, 0.0)

    def _momentum(self, c, nu, tg, t_ref, q, dt, sweeps=None, *, reuse=False):  # type: ignore[no-untyped-def]
        self._loss[c] = self._layer_loss(c)
        return super()._momentum(c, nu, tg, t_ref, q, dt, sweeps, reuse=reuse)


class TileTurbulenceSolver(MomentumSolver):
    """The k-ε momentum solver with k and ε held at given values in the room cells right above the tiles
    (a validation device: the plenum CFD's turbulence imposed where its tile jets enter the room).

    ``cells``: (i, j, k) grid indices of those cells; ``k_m2s2``, ``epsilon_m2s3``: their values.
    """

    def __init__(self, *args, cells: tuple[np.ndarray, np.ndarray, np.ndarray], k_m2s2: np.ndarray,
                 epsilon_m2s3: np.ndarray, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.keps:
            raise ValueError("imposed tile turbulence needs the k-epsilon model")
        self._cells = tuple(np.asarray(x) for x in cells)
        self._k_fixed = np.asarray(k_m2s2, dtype=float)
        self._eps_fixed = np.asarray(epsilon_m2s3, dtype=float)

    def _keps_solve(self, x, gamma, a_p, b, fixed, fixed_value):  # type: ignore[no-untyped-def]
        # The cells are Dirichlet rows of both solves (as the wall function's ε cells are), so their values
        # reach the room by convection and diffusion. _keps_step solves ε first (with the wall cells fixed),
        # then k (nothing fixed): which one this is follows from ``fixed``.
        mine = np.zeros(self.shape, dtype=bool)
        mine[self._cells] = True
        value = np.zeros(self.shape)
        if fixed is None:  # k
            value[self._cells] = self._k_fixed
            return super()._keps_solve(x, gamma, a_p, b, mine, value)
        value[self._cells] = self._eps_fixed
        return super()._keps_solve(x, gamma, a_p, b, fixed | mine, np.where(mine, value, fixed_value))


def layer_intakes(hall_path: Path, *, lateral_scale: float | None, keep_tile_wall: bool = False,
                  turbulence: str | None = None, tile_turbulence_csv: Path | None = None) -> dict:
    """Steady rack intakes (°C) of the momentum model with the CFD-like tile layer (``lateral_scale``
    None: the twin as it is), the tile flows and the energy balance. ``HallTwin.steady`` raises
    NoSteadyState unless the flow converged and the intakes settled, so every answer is a settled one."""
    twin = HallTwin(load_hall_variant(hall_path, turbulence=turbulence), airflow="momentum", grid_sequencing=False)
    m = twin.momentum
    assert m is not None
    if tile_turbulence_csv is not None:
        if lateral_scale is not None:
            raise ValueError("the tile layer and imposed tile turbulence are separate studies")
        i, j, k = tile_face_grid(twin)
        k_m2s2, eps_m2s3 = (tile_face_values(twin, read_tile_csv(tile_turbulence_csv, column), tile_turbulence_csv)
                            for column in ("k_m2s2", "epsilon_m2s3"))
        swap_momentum(twin, TileTurbulenceSolver, cells=(i, j, k), k_m2s2=k_m2s2, epsilon_m2s3=eps_m2s3)
    elif lateral_scale is not None:
        swap_momentum(twin, PorousLayerSolver, tile_faces=tile_face_grid(twin), lateral_scale=lateral_scale,
                      keep_tile_wall=keep_tile_wall)
    state = twin.steady()
    from validation.tile_flows import tile_faces

    sel, x, y = tile_faces(twin)
    return {"intakes_c": {n: round(float(t), 3) for n, t in zip(twin.racks.names, state.t_intake_c)},
            "tiles": {f"{a:.3f},{b:.3f}": round(float(q), 6) for a, b, q in zip(x, y, state.face_flow_m3s[sel])},
            "energy": {"heat_in_w": float(state.rack_heat_w.sum() + twin.mover_heat_w(state).sum()),
                       "removed_w": float(state.crah_heat_removed_w.sum())},
            "settings": {"lateral_scale": lateral_scale, "keep_tile_wall": keep_tile_wall,
                         "turbulence": m.settings.turbulence_model,
                         "tile_turbulence": None if tile_turbulence_csv is None else str(tile_turbulence_csv)}}


def tile_turbulence(case_dir: Path, out_csv: Path, hall_path: Path) -> dict:
    """k and ε of a plenum case's latest iterate in the room cells above the tiles, written per tile."""
    sys.path.insert(0, str(HERE / "openfoam"))
    from case_from_hall import build_case
    from run_cfd import latest_time, read_internal

    case = build_case(hall_path, plenum=True)
    tdir = latest_time(case_dir)
    n = case.n_cells
    k = read_internal(tdir / "k", n)
    eps = read_internal(tdir / "epsilon", n)
    tf = case.tile_faces
    grid = case.vox.grid
    ti, tj, _ = np.unravel_index(tf.room_grid, grid.shape)
    with open(out_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x_m", "y_m", "k_m2s2", "epsilon_m2s3", "k_plenum_m2s2", "epsilon_plenum_m2s3"])
        for a, b, kr, er, kp, ep in zip(grid.centers(0)[ti], grid.centers(1)[tj], k[tf.room_cells],
                                        eps[tf.room_cells], k[tf.plenum_cells], eps[tf.plenum_cells]):
            w.writerow([f"{a:.3f}", f"{b:.3f}", f"{kr:.6g}", f"{er:.6g}", f"{kp:.6g}", f"{ep:.6g}"])
    return {"iteration": tdir.name, "k_room_mean": float(k[tf.room_cells].mean()),
            "k_plenum_mean": float(k[tf.plenum_cells].mean()), "eps_room_mean": float(eps[tf.room_cells].mean())}


def twin_aisle_budget(hall_path: Path, tile_flows_csv: Path | None) -> dict[str, tuple[float, float]]:
    """The cold aisle's air budget (``tile_column_probe.budget``) of the twin's steady field, its own tile
    flows or every tile face's flow fixed to a tiles.csv's (scaled to the floor CRAHs' supply)."""
    from validation.imposed_tiles import impose_tile_flows, read_tile_csv
    from validation.tile_column_probe import budget, grid_fields

    hall = load_hall(hall_path)
    twin = HallTwin(hall, airflow="momentum", grid_sequencing=False)
    if tile_flows_csv is not None:
        impose_tile_flows(twin, hall, read_tile_csv(tile_flows_csv), tile_flows_csv)
    state = twin.steady()
    return budget(grid_fields(twin, state.t_air_c))


def intake_table(columns: dict[str, dict[str, float]]) -> str:
    """Markdown table: intakes per column, RMS of each against the first and the matrix of RMS between them."""
    names = list(columns)
    racks = list(columns[names[0]])
    ref = columns[names[0]]
    lines = ["| rack | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for r in racks:
        lines.append(f"| {r} | " + " | ".join(f"{columns[n][r]:.2f}" for n in names) + " |")

    def rms(a: dict[str, float], b: dict[str, float], sel: list[str]) -> float:
        return float(np.sqrt(np.mean([(a[r] - b[r]) ** 2 for r in sel])))

    ends = [r for r in racks if re.search(r"0[14]$", r)]
    lines.append(f"| RMS vs {names[0]} | " + " | ".join(f"{rms(columns[n], ref, racks):.2f}" for n in names) + " |")
    lines.append("| row ends: mean error | " + " | ".join(
        f"{np.mean([columns[n][r] - ref[r] for r in ends]):+.2f}" for n in names) + " |")
    lines += ["", "RMS between columns, K:", "", "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for a in names:
        lines.append(f"| {a} | " + " | ".join(f"{rms(columns[a], columns[b], racks):.2f}" for b in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("twin", help="the twin's steady intakes with the CFD-like tile layer")
    t.add_argument("hall", help="hall name in validation/halls/")
    t.add_argument("--lateral-scale", type=float, default=100.0, help="f_x = f_y = this × f_z (CFD: 100)")
    t.add_argument("--as-is", action="store_true", help="the twin's own tile faces (no layer), for reference")
    t.add_argument("--keep-tile-wall", action="store_true", help="tile faces stay walls to the tangential velocity")
    t.add_argument("--turbulence", choices=("chen-xu", "k-epsilon"), default=None,
                   help="the twin's turbulence model (default: the hall's)")
    t.add_argument("--tile-turbulence", type=Path, default=None,
                   help="k-epsilon: hold k, ε above the tiles at this CSV's values (tile-turbulence's output)")
    t.add_argument("--imposed-tile-flows", type=Path, default=None,
                   help="fix every tile face's flow to a tiles.csv's (imposed_tiles.py's device), e.g. "
                        "results/tile-study/tiles_paired.csv")
    t.add_argument("--json", action="store_true")
    k = sub.add_parser("tile-turbulence", help="k, ε above the tiles of a run_cfd.py --plenum case")
    k.add_argument("case_dir", type=Path)
    k.add_argument("out_csv", type=Path)
    k.add_argument("--hall", type=Path, default=HALLS / "aisle-pair.toml")
    bu = sub.add_parser("budget", help="the cold aisle's air budget of CFD fields and twin solves")
    bu.add_argument("folders", nargs="*", help="CFD results folders with fields.npz")
    bu.add_argument("--twin", nargs="*", default=None,
                    help="twin solves: 'own' (its own tile flows) or a tiles.csv to impose")
    bu.add_argument("--hall", type=Path, default=HALLS / "aisle-pair.toml")
    tb = sub.add_parser("table", help="intake table of CFD results folders and twin runs")
    tb.add_argument("folders", nargs="+", help="results folders (names under validation/results/ or paths)")
    tb.add_argument("--twin", nargs="*", default=[], type=Path, help="JSON outputs of the twin command")
    a = p.parse_args(argv)
    if a.cmd == "twin" and a.imposed_tile_flows is not None:
        from validation.imposed_tiles import imposed_tile_intakes

        res = imposed_tile_intakes(HALLS / f"{a.hall}.toml", read_tile_csv(a.imposed_tile_flows))
        res["intakes_c"] = {k2: round(v, 3) for k2, v in res["intakes_c"].items()}
        print(json.dumps(res, indent=1))
        return 0
    if a.cmd == "twin":
        res = layer_intakes(HALLS / f"{a.hall}.toml",
                            lateral_scale=None if a.as_is or a.tile_turbulence else a.lateral_scale,
                            keep_tile_wall=a.keep_tile_wall, turbulence=a.turbulence,
                            tile_turbulence_csv=a.tile_turbulence)
        if a.json:
            print(json.dumps(res, indent=1))
        else:
            print(json.dumps({k2: v for k2, v in res.items() if k2 != "tiles"}, indent=1))
        return 0
    if a.cmd == "tile-turbulence":
        print(json.dumps(tile_turbulence(a.case_dir, a.out_csv, a.hall), indent=1))
        return 0
    if a.cmd == "budget":
        from validation.tile_column_probe import budget, read_fields

        runs: dict[str, dict[str, tuple[float, float]]] = {}
        for f in a.folders:
            path = Path(f) if Path(f).exists() else RESULTS / f
            runs[f"CFD {f}"] = budget(read_fields(path / "fields.npz"))
        for tw in a.twin or []:
            runs[f"twin {tw}"] = twin_aisle_budget(a.hall, None if tw == "own" else Path(tw))
        print("cold aisle's inflows, m³/s (mean T of the inflow, °C); the tiles' plane is empty without a plenum")
        for name, b in runs.items():
            print(f"  {name}: " + "; ".join(f"{k} {v[0]:+.2f} ({v[1]:.1f})" for k, v in b.items()))
        return 0
    cols: dict[str, dict[str, float]] = {}
    for f in a.folders:
        path = Path(f) if Path(f).exists() else RESULTS / f
        cols[path.name] = read_racks(path)
    for tj in a.twin:
        cols[tj.stem] = json.loads(tj.read_text())["intakes_c"]
    print(intake_table(cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
