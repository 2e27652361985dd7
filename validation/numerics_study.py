"""Is the twin's aisle-pair error its discretisation? Grid and convection-scheme study (issue 10).

Usage::

    python validation/numerics_study.py aisle-pair                                  # as `compare.py`
    python validation/numerics_study.py aisle-pair --cell-m 0.075                   # the twin on a finer grid
    python validation/numerics_study.py aisle-pair --convection linear-upwind --blend 1   # the CFD's U scheme
    python validation/numerics_study.py aisle-pair --turbulence k-epsilon --json

Runs the twin's steady momentum solve (``HallTwin.steady``, what ``twin run --steady --airflow momentum``
does) of a validation hall with numerical settings the hall file does not offer, and compares the rack
intakes with the hall's CFD reference (the one :func:`compare.check_reference` picks):

* ``--cell-m``: a copy of the hall with ``[hall] cell_m`` replaced (everything else kept; the hall's checks
  refuse a cell that does not divide the room, the raised floor or an object's size). The CFD stays on the
  hall's own grid, so a finer twin's temperature is averaged back onto that grid (fluid cells of each
  coarse cell, volume-weighted) before the intake cells the CFD's patches border are averaged: both sides
  then average the same 0.15 m-thick layer in front of each rack. The fine grid's own intake (its one
  fine layer) is reported beside it.
* ``--convection``/``--blend``: the momentum equations' convection scheme and the weight of its deferred
  correction (``MomentumSettings.convection``/``tvd_blend``); "linear-upwind" is OpenFOAM's ``bounded Gauss
  linearUpwind grad(U)`` with ``cellLimited Gauss linear 1``, what the references use for U.
* ``--turbulence``: the closure (as ``compare.py --turbulence``).
* ``--temperature-scheme linear-upwind``: the steady temperature solve carries the CFD's T scheme
  (``linearUpwind grad(T)``, cellLimited) as a deferred correction
  (:func:`twin.thermal.transport.linear_upwind_correction_w`), lagged by one outer iteration of the steady
  loop: each steady temperature solve of ``HallTwin.steady`` gets the correction of the field it starts
  from, so at the loop's fixed point (intakes within 0.05 K) the field is the corrected scheme's.

Nothing here changes the twin's defaults; it is the tool behind validation/README.md's "Is it the
discretisation?" table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import twin.sim.twin as twin_module
from twin.geometry.voxel import voxelize_hall
from twin.model import HallError, HallModel, load_hall
from twin.sim.twin import HallTwin, NoSteadyState
from twin.thermal.momentum import CONVECTION_SCHEMES, TURBULENCE_MODELS, MomentumSettings
from twin.thermal.steady import solve_steady_field
from twin.thermal.transport import linear_upwind_correction_w
from validation.compare import HALLS, check_reference, errors_k, read_cfd, references

__all__ = ["coarsen_to", "hall_variant", "load_hall_variant", "run_variant", "with_convection"]


def _toml_value(value: str | bool | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def hall_variant(hall_path: Path, out_dir: Path, *, cell_m: float | None = None, turbulence: str | None = None,
                 airflow: dict[str, str | bool | float] | None = None) -> Path:
    """A copy of a hall file in ``out_dir`` with ``[hall] cell_m`` replaced and/or keys added to its ``[airflow]``
    table (a new table at the end if it has none): ``airflow``'s (e.g. ``{"buoyancy": False}``), then
    ``turbulence``. A key the file sets already is a ValueError naming the file and the key: the study changes
    what it says it changes, and the hall file stays the source of everything else."""
    text = hall_path.read_text(encoding="utf-8")
    if cell_m is not None:
        text, n = re.subn(r"(?m)^cell_m\s*=.*$", f"cell_m = {cell_m!r}", text)
        if n != 1:
            raise ValueError(f"{hall_path}: expected one [hall] cell_m line, found {n}")
    added = {**(airflow or {}), **({} if turbulence is None else {"turbulence": turbulence})}
    for key in added:
        if re.search(rf"(?m)^{re.escape(key)}\s*=", text):
            raise ValueError(f"{hall_path}: [airflow] {key} is set in the file already")
    if added:
        entries = "\n".join(f"{key} = {_toml_value(value)}" for key, value in added.items())
        if re.search(r"(?m)^\[airflow\]\s*$", text):
            text = re.sub(r"(?m)^\[airflow\]\s*$", lambda _: "[airflow]\n" + entries, text, count=1)
        else:
            text += "\n[airflow]\n" + entries + "\n"
    out = out_dir / hall_path.name
    out.write_text(text, encoding="utf-8")
    return out


def load_hall_variant(hall_path: Path, *, cell_m: float | None = None, turbulence: str | None = None,
                      airflow: dict[str, str | bool | float] | None = None, what: str = "(study copy)") -> HallModel:
    """The validated hall of :func:`hall_variant`'s copy (the hall file itself when nothing is changed), the copy
    written to a temporary folder and read back. A copy the hall's checks refuse is a ValueError that names
    ``hall_path`` and ``what`` (how the copy came about) instead of the temporary file the user never named."""
    if cell_m is None and turbulence is None and not airflow:
        return load_hall(hall_path)
    with tempfile.TemporaryDirectory(prefix=f"{hall_path.stem}-variant-") as tmp:
        path = hall_variant(hall_path, Path(tmp), cell_m=cell_m, turbulence=turbulence, airflow=airflow)
        try:
            return load_hall(path)
        except HallError as exc:
            raise ValueError(str(exc).replace(str(path), f"{hall_path} {what}")) from None


def with_convection(settings: MomentumSettings, convection: str | None, blend: float | None) -> MomentumSettings:
    """``settings`` with the momentum equations' convection scheme and its deferred correction's weight
    (``MomentumSettings.convection`` / ``tvd_blend``) replaced where given; None keeps the setting."""
    return dataclasses.replace(settings, convection=convection or settings.convection,
                               tvd_blend=settings.tvd_blend if blend is None else blend)


def coarsen_to(t_fine: np.ndarray, fluid_fine: np.ndarray, factor: int) -> np.ndarray:
    """Mean of the fluid cells of each ``factor``³ block of a fine grid field (NaN where a block has none)."""
    nx, ny, nz = (n // factor for n in t_fine.shape)
    if (nx * factor, ny * factor, nz * factor) != t_fine.shape:
        raise ValueError(f"grid {t_fine.shape} is not {factor}× a coarser one")
    w = fluid_fine.astype(float)
    tw = np.where(fluid_fine, t_fine, 0.0)

    def blocks(a: np.ndarray) -> np.ndarray:
        return a.reshape(nx, factor, ny, factor, nz, factor).sum(axis=(1, 3, 5))

    total, count = blocks(tw), blocks(w)
    out = np.full(count.shape, np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out


def _recording_solve(intakes_of, intakes: list[dict[str, float]], temperature_scheme: str, net: object):
    """solve_steady_field as the steady loop calls it, with the T scheme's correction of the field it starts
    from when asked, and each solve's rack intakes (``intakes_of``) appended to ``intakes``: the outer
    iterations' history. Only solves on ``net`` (the hall's grid) are recorded: a grid-sequenced steady solve
    first runs the same loop on the coarse grid, whose fields have another shape."""
    def solve(*args, **kwargs):
        if temperature_scheme == "linear-upwind":
            net_of_solve, face, _q, _phi, air = args[:5]
            kwargs["source_w"] = linear_upwind_correction_w(net_of_solve, face, kwargs["t_guess_c"], air)
        res = solve_steady_field(*args, **kwargs)
        if args[0] is net:
            intakes.append(intakes_of(res.t_air_c))
        return res
    return solve


def run_variant(hall: str, *, cell_m: float | None = None, convection: str | None = None,
                blend: float | None = None, turbulence: str | None = None,
                max_outer: int | None = None, temperature_scheme: str = "upwind") -> dict:
    """Steady momentum solve of one variant of a validation hall; its intakes against the CFD."""
    hall_path = HALLS / f"{hall}.toml"
    ref_hall = load_hall(hall_path)
    ref_vox = voxelize_hall(ref_hall)
    h_ref = ref_vox.grid.cell_m
    refs = {kind: read_cfd(folder) for kind, folder in references(hall).items()}
    kind, _ = check_reference({k: m for k, (_, m) in refs.items()})
    cfd = refs[kind][0]
    # A refused copy's error says which options made it.
    asked = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in (("cell_m", cell_m), ("turbulence", turbulence))
                      if v is not None)
    hall_model = load_hall_variant(hall_path, cell_m=cell_m, turbulence=turbulence, what=f"with {asked}")
    if blend is not None and not 0.0 <= blend <= 1.0:
        raise ValueError(f"--blend {blend}: the deferred correction's weight is 0 (upwind) to 1 (the full scheme)")
    if blend is not None and (convection or hall_model.spec.airflow.convection) == "upwind":
        raise ValueError(f"--blend {blend} weights the tvd or linear-upwind correction, and {hall}'s convection is "
                         "upwind: give --convection tvd or linear-upwind")
    t0 = time.perf_counter()
    twin = HallTwin(hall_model, airflow="momentum")
    m = twin.momentum
    assert m is not None
    if convection is not None or blend is not None:
        m.settings = with_convection(m.settings, convection, blend)
    setup_s = time.perf_counter() - t0
    out: dict = {"hall": hall, "cell_m": twin.voxels.grid.cell_m, "cells": twin.voxels.grid.n_cells,
                 "convection": m.settings.convection, "blend": m.settings.tvd_blend if m.settings.convection != "upwind"
                 else 0.0, "turbulence": m.settings.turbulence_model, "reference": kind}
    out["temperature_scheme"] = temperature_scheme
    t1 = time.perf_counter()
    factor = round(h_ref / twin.voxels.grid.cell_m)
    if abs(factor * twin.voxels.grid.cell_m - h_ref) > 1e-9 * h_ref:
        raise ValueError(f"cell {twin.voxels.grid.cell_m} m does not divide the reference cell {h_ref} m")
    fluid = ~twin.voxels.solid

    def on_ref_grid(t_air_c: np.ndarray) -> dict[str, float]:
        """Intakes as the CFD has them: the field on the hall's own grid, the cells its patches border."""
        t_grid = twin.net.to_grid(t_air_c).reshape(twin.voxels.grid.shape)
        flat = (coarsen_to(t_grid, fluid, factor) if factor > 1 else t_grid).ravel()
        return {r.name: float(np.nanmean(flat[r.intake])) for r in ref_vox.racks}

    history: list[dict[str, float]] = []
    twin_module.solve_steady_field = _recording_solve(on_ref_grid, history, temperature_scheme, twin.net)  # this process only
    try:
        state = twin.steady(max_outer=max_outer)
    except NoSteadyState as exc:
        out.update(settled=False, error=str(exc).splitlines()[0], steady_s=round(time.perf_counter() - t1, 1))
        if len(history) >= 4:
            # Not a solution (validation/README.md: the mean of unconverged iterates is not one); shown to
            # say how far the wandering iterates are from the CFD, with their range over the last half.
            names = [r.name for r in ref_vox.racks]
            last = np.array([[h[n] for n in names] for h in history[len(history) // 2:]])
            mean = dict(zip(names, last.mean(axis=0), strict=True))
            err = np.array([mean[n] - cfd[n] for n in cfd])
            out["iterates_last_half"] = {
                "outer_iterations": len(history), "mean_c": {n: round(float(v), 3) for n, v in mean.items()},
                "range_k": {n: round(float(v), 3) for n, v in zip(names, np.ptp(last, axis=0), strict=True)},
                "rms_k_of_mean": round(float(np.sqrt(np.mean(err ** 2))), 3)}
        return out
    finally:
        twin_module.solve_steady_field = solve_steady_field
        names = [r.name for r in ref_vox.racks]
        out["intake_history_c"] = {"racks": names,
                                   "outer": [[round(h[n], 3) for n in names] for h in history]}
    out["steady_s"] = round(time.perf_counter() - t1, 1)
    out["setup_s"] = round(setup_s, 1)
    out["outer_iterations"] = state.extra.get("steady", {}).get("outer_iterations")
    flat_own = twin.net.to_grid(state.t_air_c).ravel()
    own = {r.name: float(np.mean(flat_own[r.intake])) for r in twin.voxels.racks}
    on_ref = on_ref_grid(state.t_air_c)
    err = errors_k(on_ref, cfd)
    out.update(settled=True, racks={n: {"cfd_c": round(cfd[n], 3), "twin_c": round(on_ref[n], 3),
                                        "twin_own_grid_c": round(own[n], 3), "error_k": round(on_ref[n] - cfd[n], 3)}
                                    for n in cfd},
               rms_k=err["rms_k"], mean_k=err["mean_k"])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("hall", help="hall name in validation/halls/ with CFD results (e.g. aisle-pair)")
    p.add_argument("--cell-m", type=float, default=None, help="the twin's cell edge, m (default: the hall's)")
    p.add_argument("--convection", choices=CONVECTION_SCHEMES, default=None,
                   help="momentum convection scheme (default: the hall's [airflow] convection)")
    p.add_argument("--blend", type=float, default=None, help="weight of the deferred correction, 0–1")
    p.add_argument("--turbulence", choices=TURBULENCE_MODELS, default=None, help="turbulence closure")
    p.add_argument("--temperature-scheme", choices=("upwind", "linear-upwind"), default="upwind",
                   help="advection scheme of the steady temperature solve")
    p.add_argument("--max-outer", type=int, default=None, help="outer iterations of the steady solve")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    try:
        res = run_variant(a.hall, cell_m=a.cell_m, convection=a.convection, blend=a.blend,
                          turbulence=a.turbulence, max_outer=a.max_outer,
                          temperature_scheme=a.temperature_scheme)
    except (HallError, ValueError, OSError) as exc:
        print(f"numerics_study: error: {exc}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps(res))
        return 0
    print(f"{res['hall']}: cell {res['cell_m']} m ({res['cells']} cells), convection {res['convection']} "
          f"(blend {res['blend']}), {res['turbulence']}, temperature {res['temperature_scheme']}; against the {res['reference']} CFD")
    if not res["settled"]:
        print(f"  no steady state after {res['steady_s']} s: {res['error']}")
        it = res.get("iterates_last_half")
        if it:
            print(f"  mean of the last half of {it['outer_iterations']} outer iterates (not a solution): "
                  f"RMS {it['rms_k_of_mean']:.2f} K; " + ", ".join(f"{n} {it['mean_c'][n]:.2f}±{it['range_k'][n] / 2:.2f}"
                                                         for n in it["mean_c"]))
        return 3
    for name, r in res["racks"].items():
        print(f"  {name:5s} CFD {r['cfd_c']:6.2f}  twin {r['twin_c']:6.2f} (own grid {r['twin_own_grid_c']:6.2f})  "
              f"{r['error_k']:+6.2f} K")
    print(f"  RMS {res['rms_k']:.2f} K, mean {res['mean_k']:+.2f} K; steady solve {res['steady_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
