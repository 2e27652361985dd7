"""Why do the twin's end-strip tile jets not die within a metre as the CFD's do? (issue 10, g = 0 bench)

Usage::

    python -m validation.endstrip_study run LEVER --save R/LEVER.npz > R/LEVER.json
    python -m validation.endstrip_study profile R/*.npz          # the table against the g = 0 CFD
    python -m validation.endstrip_study cfd tile-study/split-k-transient aisle-pair-transient   # CFD profiles only

(R = validation/results/endstrip-study.) ``run``: aisle-pair with buoyancy off (a hall copy with
``[airflow] buoyancy = false``, as ``buoyancy_study``'s), the twin's steady momentum solve (one flow solve; T on
it), with one lever:

* ``base``: the hall as it is (Chen–Xu, upwind U), grid sequencing off (each lever is solved the same way);
* ``k-epsilon``; ``lu-0.5`` / ``lu-1`` (linear-upwind U, deferred-correction weight 0.5 / 1); ``tvd-1``;
  ``k-epsilon-lu-1`` (the CFD's closure and U scheme together);
* ``fine``: ``[hall] cell_m`` 0.075 (profiles averaged onto the 0.15 m cells);
* ``open-ends``: the two end strips' tile faces (x 2.475 and 4.725 m) are no walls to the tangential velocity
  (:class:`OpenEndStripSolver`; the other strips keep the twin's wall); ``open-ends-dist``: the same and the
  Chen–Xu wall distance no longer counts those faces as walls; ``open-all``: every tile face, both;
  ``slip-ends`` / ``slip-ends-dist`` / ``slip-all``: the faces only free-slip (no shear, no tangential momentum
  through them; see :class:`OpenEndStripSolver`); ``slip-room-ends`` / ``slip-room-all``: free-slip on the
  room side only (the plenum's top cells keep the plate's shear);
* ``cfd-split``: every tile face's open fraction recalibrated (:func:`calibrate_split`) until its flow is the g = 0
  CFD's (``tiles.csv``, scaled to the floor CRAHs' supply): the tile split of the CFD with the faces still the
  twin's tiles (walls to the tangential velocity, Borda–Carnot loss), unlike ``imposed_tiles``' fixed faces.

``profile`` reads saved solves (this module's or ``buoyancy_study``'s ``.npz``) and prints the far-end strip's
u_z, u_z(x) along the aisle's centre line, u_x through the far end plane, the row-end intakes and the RMS
against the g = 0 CFD's time mean (``buoyancy-study/plenum-g0-transient``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from twin.geometry.voxel import voxelize_hall
from twin.sim.twin import HallTwin, NoSteadyState
from twin.thermal.momentum import _DIRS, MomentumSolver, wall_distance_m
from validation.buoyancy_study import intake_errors
from validation.compare import HALLS, RESULTS, read_cfd
from validation.imposed_tiles import read_tile_csv, swap_momentum, tile_face_grid, tile_face_values
from validation.numerics_study import load_hall_variant, with_convection
from validation.tile_column_probe import AISLE_CENTRE_Y_M, AISLE_X_M, AISLE_Y_M, END_STRIP_X_M, grid_fields, read_fields

CFD_G0 = "buoyancy-study/plenum-g0-transient"
STRIP_Z_M = (0.225, 0.525, 0.975, 1.425)
ALONG_X_M = (4.125, 4.275, 4.425, 4.575, 4.725, 4.875)
PLANE_Z_M = (0.075, 0.525, 0.975, 1.425, 1.875)
LEVERS = {
    "base": {}, "k-epsilon": {"turbulence": "k-epsilon"},
    "lu-0.5": {"convection": "linear-upwind", "blend": 0.5}, "lu-1": {"convection": "linear-upwind", "blend": 1.0},
    "tvd-1": {"convection": "tvd", "blend": 1.0},
    "k-epsilon-lu-1": {"turbulence": "k-epsilon", "convection": "linear-upwind", "blend": 1.0}, "fine": {"cell_m": 0.075},
    "open-ends": {"open": "ends"}, "open-ends-dist": {"open": "ends", "distance": True},
    "open-all": {"open": "all", "distance": True},
    "slip-ends": {"open": "ends", "slip": True}, "slip-ends-dist": {"open": "ends", "slip": True, "distance": True},
    "slip-all": {"open": "all", "slip": True},
    "slip-room-ends": {"open": "ends", "slip": True, "room": True},
    "slip-room-all": {"open": "all", "slip": True, "room": True},
    "cfd-split": {"split": True},
}


class OpenEndStripSolver(MomentumSolver):
    """The momentum solver with chosen tile faces no walls to the tangential velocity.

    The twin makes every perforated face a wall to the velocity along it (``MomentumSolver._build_walls``: the
    air through the holes arrives with no tangential momentum, and the plate shears the air beside it); the
    CFD's porous layer has neither. Here the wall tables are rebuilt as if the chosen faces were wholly open;
    their flow law (Borda–Carnot loss), the pressure correction's weights and the mass balance stay the twin's.
    ``open_distance``: also leave them out of the Chen–Xu wall distance (its mixing length near the floor).
    ``slip_only``: only take away the plate's shear (a free-slip face); the tangential momentum of the air
    either side still does not pass through it (else the plenum's along-floor flow comes up with the jets).
    ``room_side_only`` (with ``slip_only``): the shear taken away on the room side only.
    """

    def __init__(self, *args, open_faces_z: tuple[np.ndarray, np.ndarray, np.ndarray],
                 open_distance: bool = False, slip_only: bool = False, room_side_only: bool = False,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        i, j, k = (np.asarray(x) for x in open_faces_z)
        if np.any(~self.active[2][i, j, k]) or np.any(self.openness[2][i, j, k] >= 1.0):
            raise ValueError("an opened face is not a perforated z-face between two fluid cells")
        kept = self.openness[2][i, j, k].copy()
        # _build_walls and wall_distance_m read the open fractions; every other user (the Poisson weights, the
        # correction) was set up in __init__ or reads the perforated value restored below.
        theta, halves, factor, loss = self._theta, self._open_half, self._wall_factor, self._loss
        self.openness[2][i, j, k] = 1.0
        try:
            self._build_walls()
            if slip_only:
                # A free-slip plate: no shear from it, and still no tangential momentum carried through it
                # (the plenum's along-floor flow stays below), i.e. the twin's pass fractions with the open
                # face's wall factors.
                self._theta, self._open_half = theta, halves
            if room_side_only:
                # Only the room's first cells above the faces lose the plate's shear; the plenum's top cells keep
                # it (its along-floor drag shapes the tile split: with the plate slip on both sides the end
                # strips' flow doubles).
                kr = int(k[0])
                down = _DIRS.index((2, -1))
                for c in (0, 1):
                    for kk in list(factor[c]):
                        new = self._wall_factor[c][kk]
                        self._wall_factor[c][kk] = factor[c][kk].copy()
                        if kk == down:
                            self._wall_factor[c][kk][..., kr] = new[..., kr]
            if open_distance:
                self.wall_distance_m = wall_distance_m(self.fluid, self.openness, self.h, self.settings.walls)
        finally:
            self.openness[2][i, j, k] = kept
            # _build_walls also sets the faces' Borda–Carnot losses from the open fractions: keep the tiles'.
            self._loss = loss
        self._tables = {}  # the compiled kernel's wall tables are cached per component: rebuild them


def _tile_faces(tw: HallTwin, which: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    i, j, k = tile_face_grid(tw)
    if which == "ends":
        x = tw.voxels.grid.centers(0)[i]
        keep = np.isclose(x, x.min()) | np.isclose(x, x.max())
        i, j, k = i[keep], j[keep], k[keep]
    return i, j, k


def cfd_tile_flows_m3s(tw: HallTwin, reference: str = CFD_G0) -> np.ndarray:
    """The CFD's flow of each of the twin's tile faces (``tile_face_grid`` order), m³/s."""

    source = RESULTS / reference / "tiles.csv"
    return tile_face_values(tw, read_tile_csv(source), source)


def recalibrated_openness(sigma: np.ndarray, q_m3s: np.ndarray, target_m3s: np.ndarray) -> np.ndarray:
    """Open fractions that pass ``target_m3s`` where ``sigma`` passed ``q_m3s`` at the same pressure drop: a face's
    Borda–Carnot flow is u = √(2Δp/ρ) σ/(1 − σ) (ζ = (1/σ − 1)²), so σ/(1 − σ) scales with the flow."""
    r = sigma / (1.0 - sigma) * target_m3s / q_m3s
    return r / (1.0 + r)


def calibrate_split(tw: HallTwin, *, rounds: int = 6) -> tuple:  # type: ignore[type-arg]
    """Steady solves with every tile face's open fraction σ rescaled between them so that its flow approaches
    the CFD's: a face's Borda–Carnot flow at a given pressure drop goes as σ/(1 − σ), so that ratio is scaled by
    target/actual each round. Returns the last state and the calibration's history (max |q − q_CFD| per round)."""
    m0 = tw.momentum
    assert m0 is not None
    i, j, k = _tile_faces(tw, "all")
    cfd_q = cfd_tile_flows_m3s(tw)
    openness = [x.copy() for x in m0.openness]
    history = []
    state = None
    for _ in range(rounds):
        tw.momentum = m0  # the plain solver, with this round's open fractions
        m = swap_momentum(tw, openness=openness)
        state = tw.steady()
        q = m.u[2][i, j, k] * m.h ** 2
        # the floor CRAHs' supply, all of which the tiles pass (the CFD's total agrees within 1e-6 relative)
        target = cfd_q * q.sum() / cfd_q.sum()
        history.append(float(np.abs(q - target).max()))
        openness[2][i, j, k] = recalibrated_openness(openness[2][i, j, k], q, target)
    assert state is not None
    sigma = openness[2][i, j, k]
    return state, {"max_abs_error_m3s": history, "openness_min_max": [float(sigma.min()), float(sigma.max())]}


def solve(lever: str) -> dict:
    """aisle-pair at g = 0 with one lever (see the module docstring): fields on the solve's grid and intakes."""
    opts = LEVERS[lever]
    hall_path = HALLS / "aisle-pair.toml"
    model = load_hall_variant(hall_path, cell_m=opts.get("cell_m"), turbulence=opts.get("turbulence"),
                              airflow={"buoyancy": False})
    tw = HallTwin(model, airflow="momentum", grid_sequencing=False)
    m = tw.momentum
    assert m is not None
    if "convection" in opts:
        m.settings = with_convection(m.settings, opts["convection"], opts["blend"])
    if "open" in opts:
        m = swap_momentum(tw, OpenEndStripSolver, open_faces_z=_tile_faces(tw, opts["open"]),
                          open_distance=bool(opts.get("distance")), slip_only=bool(opts.get("slip")),
                          room_side_only=bool(opts.get("room")))
    t0 = time.process_time()
    if opts.get("split"):
        state, split_info = calibrate_split(tw)
    else:
        state, split_info = tw.steady(), None
    cpu_s = time.process_time() - t0
    m = tw.momentum
    assert m is not None
    g = tw.voxels.grid
    fields = grid_fields(tw, state.t_air_c)
    intakes = {r.name: float(fields["t_c"].ravel()[r.intake].mean()) for r in voxelize_hall(model).racks}
    i, j, k = _tile_faces(tw, "all")
    x_t = g.centers(0)[i]
    strip_q = {f"{xv:.4f}": float(np.sum(m.u[2][i, j, k][x_t == xv]) * g.cell_m ** 2) for xv in np.unique(x_t)}
    info = m.last_info
    meta = {"lever": lever, "cell_m": g.cell_m, "turbulence": m.settings.turbulence_model,
            "convection": m.settings.convection, "blend": m.settings.tvd_blend, "steady_cpu_s": round(cpu_s, 1),
            "converged": None if info is None else bool(info.converged),
            "iterations": None if info is None else int(info.iterations),
            "final_residuals": None if info is None else [float(x) for x in info.history[-1]],
            "intakes_c": {n: round(v, 3) for n, v in intakes.items()}, "strip_flows_m3s": strip_q,
            "split_calibration": split_info}
    return {**fields, "t_intake_c": np.array(list(intakes.values())), "meta": meta}


def _box_mean(f: dict, comp: int, x: tuple[float, float], y: tuple[float, float], z: tuple[float, float]) -> float:
    """Mean of a velocity component over the fluid cells whose centres lie in a box (works on any grid)."""
    xs, ys, zs = (np.asarray(f[k]) for k in ("x_m", "y_m", "z_m"))
    sel = np.ix_((xs > x[0]) & (xs < x[1]), (ys > y[0]) & (ys < y[1]), (zs > z[0]) & (zs < z[1]))
    return float(np.nanmean(np.asarray(f["velocity_m_s"])[sel][..., comp]))


def profiles(f: dict, cell_m: float = 0.15) -> dict:
    """The end-strip bench's profiles of one field (CFD or twin), averaged onto 0.15 m cells."""
    def cell(c: float) -> tuple[float, float]:
        return c - cell_m / 2, c + cell_m / 2

    zc = [cell(z) for z in STRIP_Z_M]
    return {
        "far_strip_uz": [_box_mean(f, 2, cell(END_STRIP_X_M["far"]), AISLE_CENTRE_Y_M, z) for z in zc],
        "near_strip_uz": [_box_mean(f, 2, cell(END_STRIP_X_M["near"]), AISLE_CENTRE_Y_M, z) for z in zc],
        "along_uz_z0.525": [_box_mean(f, 2, cell(x), AISLE_CENTRE_Y_M, cell(0.525)) for x in ALONG_X_M],
        "along_uz_z0.975": [_box_mean(f, 2, cell(x), AISLE_CENTRE_Y_M, cell(0.975)) for x in ALONG_X_M],
        # the far end plane x = 4.8 m: mean of the cells either side, over the aisle's width
        "far_plane_ux": [_box_mean(f, 0, (AISLE_X_M[1] - cell_m, AISLE_X_M[1] + cell_m), AISLE_Y_M, cell(z))
                         for z in PLANE_Z_M],
    }


def _rms(a: list[float], b: list[float]) -> float:
    return float(np.sqrt(np.mean((np.array(a) - np.array(b)) ** 2)))


def profile_table(paths: list[Path], cfd: str = CFD_G0) -> dict:
    ref = read_fields(RESULTS / cfd / "fields.npz")
    cfd_c, _ = read_cfd(cfd)
    p_ref = profiles(ref)
    out = {"cfd": {"name": cfd, **p_ref, "intakes_c": cfd_c}}
    for path in paths:
        d = read_fields(path, allow_pickle=True)
        meta = json.loads(str(d["meta"])) if d["meta"].dtype.kind in "US" else d["meta"].item()
        p = profiles(d)
        tw = meta["intakes_c"]
        err = intake_errors(tw, cfd_c)
        out[path.stem] = {**p, "intakes_c": tw, **err,
                          "rms_far_strip_uz": _rms(p["far_strip_uz"], p_ref["far_strip_uz"]),
                          "rms_along_uz": _rms(p["along_uz_z0.525"] + p["along_uz_z0.975"],
                                               p_ref["along_uz_z0.525"] + p_ref["along_uz_z0.975"]),
                          "rms_far_plane_ux": _rms(p["far_plane_ux"], p_ref["far_plane_ux"]),
                          "strip_flows_m3s": meta.get("strip_flows_m3s"), "cpu_s": meta.get("steady_cpu_s")}
    return out


def _fmt(v: list[float]) -> str:
    return " / ".join(f"{x:.2f}" for x in v)


def print_table(t: dict) -> None:
    cfd = t["cfd"]
    print(f"CFD {cfd['name']}: far strip u_z {_fmt(cfd['far_strip_uz'])}; near strip {_fmt(cfd['near_strip_uz'])}")
    print(f"  u_z(x) z 0.525 at x {ALONG_X_M}: {_fmt(cfd['along_uz_z0.525'])}; z 0.975: {_fmt(cfd['along_uz_z0.975'])}")
    print(f"  far plane u_x at z {PLANE_Z_M}: {_fmt(cfd['far_plane_ux'])}")
    c = cfd["intakes_c"]
    print(f"  A01/B01 {c['A01']:.2f}/{c['B01']:.2f}  A04/B04 {c['A04']:.2f}/{c['B04']:.2f}")
    print("\n| lever | far strip u_z 0.225/0.525/0.975/1.425 | near strip u_z | RMS u_z strip / along / u_x plane "
          "| A01 / B01 | A04 / B04 | RMS K | row ends K |")
    print("|---|---|---|---|---|---|---:|---:|")
    for name, r in t.items():
        if name == "cfd":
            continue
        i = r["intakes_c"]
        print(f"| {name} | {_fmt(r['far_strip_uz'])} | {_fmt(r['near_strip_uz'])} | {r['rms_far_strip_uz']:.2f} / "
              f"{r['rms_along_uz']:.2f} / {r['rms_far_plane_ux']:.2f} | {i['A01']:.2f} / {i['B01']:.2f} | "
              f"{i['A04']:.2f} / {i['B04']:.2f} | {r['rms_k']:.2f} | {r['row_ends_mean_k']:+.2f} |")
    for name, r in t.items():
        if name != "cfd":
            print(f"{name}: u_z(x) z 0.525 {_fmt(r['along_uz_z0.525'])}; z 0.975 {_fmt(r['along_uz_z0.975'])}; "
                  f"far plane u_x {_fmt(r['far_plane_ux'])}; cpu {r['cpu_s']} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("lever", choices=tuple(LEVERS))
    r.add_argument("--save", type=Path, required=True)
    p = sub.add_parser("profile")
    p.add_argument("npz", type=Path, nargs="+")
    p.add_argument("--cfd", default=CFD_G0)
    p.add_argument("--json", type=Path, default=None)
    c = sub.add_parser("cfd")
    c.add_argument("folders", nargs="+")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        try:
            res = solve(args.lever)
        except NoSteadyState as exc:  # (k-epsilon-lu-1 has none: validation/README.md, "The far end's tile strip")
            print(f"endstrip_study: {args.lever}: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 3
        args.save.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.save, **{k: v for k, v in res.items() if k != "meta"},
                            meta=json.dumps(res["meta"]))
        print(json.dumps(res["meta"], indent=1))
    elif args.cmd == "profile":
        for path in args.npz:
            if not path.is_file():
                print(f"{path}: no such file", file=sys.stderr)
                return 2
        t = profile_table(args.npz, args.cfd)
        print_table(t)
        if args.json:
            args.json.write_text(json.dumps(t, indent=1))
    else:
        for folder in args.folders:
            p_ = profiles(read_fields(RESULTS / folder / "fields.npz"))
            print(folder, {k: _fmt(v) for k, v in p_.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
