"""The twin's state built from a CFD field: does the twin keep the CFD's row-end state or return to its own? (issue 10)

Usage::

    python validation/cfd_start.py aisle-pair                       # steady loop warm-started from the transient CFD
    python validation/cfd_start.py aisle-pair --fields validation/results/aisle-pair/fields.npz   # the steady CFD's
    python validation/cfd_start.py aisle-pair --json
    python validation/transient_twin.py aisle-pair --start cfd --dt 0.25 --spin-up-s 120 --window-s 300   # marched

Why (against the fixed-value CFD references of before 2026-12-01, validation/README.md, "The references' outflow
condition"): on aisle-pair the twin's momentum model settles, from its own steady answer or from rest, on a state
whose four row-end intakes were 2.2–2.8 K cooler than that CFD's. If started from the CFD's own field it stayed near
the CFD's intakes, the twin would have (at least) two states and the question would be which one is physical;
if it returns to its own, the gap is in its equations.

The CFD's ``fields.npz`` (validation/openfoam/run_cfd.py) holds cell-centred T (°C) and velocity (m/s) on the
twin's own grid, NaN in solids, the plenum included (``--plenum`` runs). The twin's state needs face velocities
that carry the movers' flows exactly (its transport conserves energy only on such flows):

1. each open face between two fluid cells gets the mean of the two cells' velocity component normal to it;
   faces on solids, on the domain's sides and closed floor panels get zero (:func:`face_velocity_from_cells`);
2. the field is projected onto div F = s, the movers' sources (rack exhausts and CRAH discharges in, intakes
   and returns out), by the momentum solver's own pressure correction, and closed to round-off
   (:meth:`twin.thermal.momentum.MomentumSolver.project_field`): the smallest change in the openness-weighted
   norm that makes the field a flow of these movers. The CFD's movers are boundary patches on the racks'
   faces, the twin's are volume sources in the cells in front of them, so the cells next to a mover are where
   the projection has most to do; :class:`CfdStart` reports how much it moved the field;
3. the pressure is the one the twin's momentum equations need for this field: one backward-Euler step of
   1 ms from zero pressure (:meth:`~twin.thermal.momentum.MomentumSolver.advance`) whose projection solves
   the pressure Poisson equation of the field's forces (convection, diffusion, buoyancy); the velocity the
   step moved (by at most ~1 mm/s) is put back, its pressure kept. Without it the first step of a march (or
   the first pseudo-time iterations of the steady loop) would spend itself building the hydrostatic and
   dynamic pressure from zero;
4. T per fluid cell from the CFD (plenum included); k and ε, which the CFD's fields.npz does not hold, start
   as the k-ε solver starts them from rest (uniform, from the velocity scale). A twin's own field written by
   :func:`save_fields` brings its face velocities (taken as they are, unless ``from_cells``) and, from a k-ε
   run, its k and ε.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from twin.model import HallError
from twin.sim.state import TwinState
from twin.sim.twin import HallTwin, NoSteadyState
from twin.thermal.compact import server_airflow_m3s
from twin.thermal.momentum import FlowNotConverged, MomentumSolver
from validation.compare import HALLS, RESULTS, read_means
from validation.tile_column_probe import cell_fields

__all__ = ["CfdStart", "cfd_state", "face_velocity_from_cells", "load_fields", "parse_start", "read_start_fields",
           "save_fields", "start_state", "steady_from_cfd"]

HERE = Path(__file__).resolve().parent
#: The pressure step: short enough that the velocity hardly moves, long enough that nothing underflows.
PRESSURE_STEP_S = 1e-3


def repo_relative(path: Path) -> str:
    """A path as written to the results: relative to the repository when inside it (the files travel)."""
    try:
        return str(Path(path).resolve().relative_to(HERE.parent))
    except ValueError:
        return str(path)


def parse_start(start: str, hall_stem: str) -> Path | None:
    """``cfd`` → the hall's transient CFD fields (results/<hall>-transient/fields.npz), ``cfd:PATH`` → PATH
    (a fields.npz or a results folder holding one); anything else → None (not a CFD start)."""
    if start != "cfd" and not start.startswith("cfd:"):
        return None
    path = Path(start[4:]) if start.startswith("cfd:") else RESULTS / f"{hall_stem}-transient"
    return path / "fields.npz" if path.is_dir() else path


#: A twin's own face velocities in a fields.npz (:func:`save_fields`), beside the CFD layout's cell-centred ones.
FACE_KEYS = ("face_ux_m_s", "face_uy_m_s", "face_uz_m_s")
#: A k-ε twin's k and ε in a fields.npz (:func:`save_fields`); a CFD's has none.
K_EPS_KEYS = ("k_m2s2", "eps_m2s3")


def read_start_fields(path: Path, shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """What a start takes from a fields.npz on a grid of ``shape``, as float arrays, in one read: T (°C,
    grid-shaped) and cell-centred velocity (m/s, (nx, ny, nz, 3)), and the face velocities and k, ε where the
    file holds them. ValueError naming the file and the key for a missing key or another grid."""
    if not path.is_file():
        raise ValueError(f"{path}: no such CFD fields file (expected run_cfd.py's fields.npz)")
    with np.load(path) as d:
        for key in ("t_c", "velocity_m_s"):
            if key not in d.files:
                raise ValueError(f"{path}: key {key!r} missing; a CFD fields.npz has t_c and velocity_m_s")
        out = {k: np.asarray(d[k], dtype=float) for k in ("t_c", "velocity_m_s", *FACE_KEYS, *K_EPS_KEYS)
               if k in d.files}
    t_c, u_c = out["t_c"], out["velocity_m_s"]
    if t_c.shape != shape or u_c.shape != (*shape, 3):
        raise ValueError(f"{path}: t_c has shape {t_c.shape} and velocity_m_s {u_c.shape}; the hall's grid needs "
                         f"{shape} and {(*shape, 3)} (a CFD of this hall on its own grid)")
    return out


def load_fields(path: Path, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """T (°C, grid-shaped) and cell-centred velocity (m/s, (nx, ny, nz, 3)) of a CFD ``fields.npz`` on a grid
    of ``shape`` (:func:`read_start_fields`)."""
    fields = read_start_fields(path, shape)
    return fields["t_c"], fields["velocity_m_s"]


def face_velocity_from_cells(u_cell: np.ndarray, active: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Face-normal velocities (the momentum solver's staggered arrays) from cell-centred ones: on each face
    the mean of its two cells' normal component; zero on the domain's sides, where either cell has no value
    (NaN: a solid) and, when given, where the face is not ``active`` (solids, sides, closed panels)."""
    out = []
    for a in range(3):
        comp = np.moveaxis(u_cell[..., a], a, 0)
        inner = 0.5 * (comp[:-1] + comp[1:])
        face = np.zeros((comp.shape[0] + 1, *comp.shape[1:]))
        face[1:-1] = np.where(np.isfinite(inner), inner, 0.0)
        face = np.moveaxis(face, 0, a)
        out.append(face if active is None else np.where(active[a], face, 0.0))
    return out


@dataclass
class CfdStart:
    """What the conversion did: how far the averaged field was from a flow of the twin's movers."""

    fields: str
    divergence_before_m3s: float      # rms over fluid cells of (div F − s) of the averaged faces
    divergence_after_m3s: float       # the same after the projection (round-off)
    projection_change_rms_m_s: float  # rms change of the open faces' velocity by the projection
    face_velocity_rms_m_s: float      # rms of the open faces' velocity after it
    largest_change_m_s: float
    pressure_step_change_m_s: float   # largest velocity change of the 1 ms pressure step (put back)
    t_mean_c: float                   # volume mean of T over the fluid cells (plenum included)
    t_filled_cells: int               # fluid cells without a CFD value (filled with the mean; 0 on a matching grid)


def save_fields(path: Path, m: MomentumSolver, t_fluid_c: np.ndarray) -> None:
    """The twin's current field in a CFD's fields.npz layout (T and cell-centred velocity, NaN in solids), with
    its own face velocities beside them (``face_u?_m_s``), which :func:`cfd_state` takes instead of the
    cell-centre average unless told otherwise: a twin's field carried from one study to the next unsmoothed."""
    t, u = cell_fields(m, t_fluid_c)
    path.parent.mkdir(parents=True, exist_ok=True)
    turbulence = dict(zip(K_EPS_KEYS, (m.k, m.eps), strict=True)) if m.k is not None and m.eps is not None else {}
    np.savez_compressed(path, t_c=t, velocity_m_s=u, **{k: m.u[a] for a, k in enumerate(FACE_KEYS)}, **turbulence)


def cfd_state(m: MomentumSolver, fields_path: Path, mover_flow_m3s: np.ndarray, *,
              from_cells: bool = False, fields: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, CfdStart]:
    """Set the solver's field (u, p; k-ε: k and ε reset) from a CFD's fields and return T per fluid cell
    (FluidNetwork order) and what the conversion did (module docstring, steps 1–4). A file written by
    :func:`save_fields` gives its face velocities directly (still projected), unless ``from_cells``.
    ``fields``: the file's contents as :func:`read_start_fields` gives them, when the caller has read it."""
    d = read_start_fields(fields_path, m.shape) if fields is None else fields
    t_grid, u_cell = d["t_c"], d["velocity_m_s"]
    q = np.asarray(mover_flow_m3s, dtype=float)
    s_grid = m.sources_m3s(q)
    m.reset()
    faces = [d[k] for k in FACE_KEYS] if all(k in d for k in FACE_KEYS) else None
    k_eps = (d[K_EPS_KEYS[0]], d[K_EPS_KEYS[1]]) if all(k in d for k in K_EPS_KEYS) and m.keps else None
    if faces is not None and not from_cells:
        m.u = [np.where(m.active[a], faces[a], 0.0) for a in range(3)]
    else:
        m.u = face_velocity_from_cells(u_cell, m.active)
    before = m._divergence_m3s(m.u) - s_grid
    u0 = [x.copy() for x in m.u]
    m.project_field(q)
    after = m._divergence_m3s(m.u) - s_grid
    change = np.concatenate([(m.u[a] - u0[a])[m.active[a]] for a in range(3)])
    faces = np.concatenate([m.u[a][m.active[a]] for a in range(3)])
    t_fluid = t_grid.ravel()[m.fluid_flat]
    missing = ~np.isfinite(t_fluid)
    t_fluid = np.where(missing, np.nanmean(t_fluid) if np.any(~missing) else 0.0, t_fluid)
    # The pressure the twin's momentum equations need for this field (step 3), the field itself kept.
    kept = [x.copy() for x in m.u]
    m.p[:] = 0.0
    m.advance(q, t_fluid, dt_s=PRESSURE_STEP_S)
    moved = max(float(np.max(np.abs(m.u[a] - kept[a]))) for a in range(3))
    m.u = kept
    # k and ε: a twin's own file (save_fields of a k-ε run) brings them; a CFD's fields.npz does not, and the
    # k-ε solver then starts them from the velocity scale as from rest.
    m.k, m.eps = (k_eps[0].copy(), k_eps[1].copy()) if k_eps is not None else (None, None)
    m._nu_wall = None
    fl = m.fluid
    return t_fluid, CfdStart(
        fields=repo_relative(fields_path), divergence_before_m3s=float(np.sqrt(np.mean(before[fl] ** 2))),
        divergence_after_m3s=float(np.sqrt(np.mean(after[fl] ** 2))),
        projection_change_rms_m_s=float(np.sqrt(np.mean(change ** 2))),
        face_velocity_rms_m_s=float(np.sqrt(np.mean(faces ** 2))),
        largest_change_m_s=float(np.max(np.abs(change))), pressure_step_change_m_s=moved,
        t_mean_c=float(t_fluid.mean()), t_filled_cells=int(missing.sum()))


def start_state(tw: HallTwin, fields_path: Path, *, from_cells: bool = False) -> tuple[TwinState, CfdStart]:
    """A twin state at the CFD's field: its momentum field and T, the servers' airflow at the fan law's value
    of the CFD field's intakes (as the CFD held its own), intakes and returns from the field."""
    m = tw.momentum
    if m is None:
        raise ValueError("a CFD start needs the momentum model")
    state = tw.initial_state()
    fields = read_start_fields(fields_path, m.shape)  # read once: the intakes below and the conversion
    t_grid = fields["t_c"]
    t_in = tw.intake_c(np.where(np.isfinite(t_grid), t_grid, np.nanmean(t_grid)).ravel()[m.fluid_flat])
    nr = tw.n_racks
    state.rack_flow_m3s = server_airflow_m3s(tw.racks, t_in[:nr], state.rack_it_w * state.rack_powered)
    t_air, info = cfd_state(m, fields_path, tw.mover_flow_m3s(state), from_cells=from_cells, fields=fields)
    state.t_air_c = t_air
    state.t_intake_c = t_in[:nr]
    state.t_return_c = t_in[tw._crah]
    state.momentum = {"ux": m.u[0].copy(), "uy": m.u[1].copy(), "uz": m.u[2].copy(), "p": m.p.copy()}
    state.stored_initial_j = tw.stored_heat_j(state)
    return state, info


def steady_from_cfd(hall_path: Path, fields_path: Path, *, turbulence: str | None = None,
                    max_outer: int | None = None) -> dict:
    """HallTwin.steady (momentum, no grid sequencing) warm-started from the CFD's state: outer iterations and
    intakes, with the intakes of the start (the CFD field read through the twin's intake cells)."""
    from validation.numerics_study import load_hall_variant

    tw = HallTwin(load_hall_variant(hall_path, turbulence=turbulence), airflow="momentum", grid_sequencing=False)
    cpu0 = time.process_time()
    state, info = start_state(tw, fields_path)
    start_in = tw.intake_c(state.t_air_c)
    # The loop reads the intakes once per outer iteration (and once more for the state it hands out): recording
    # them shows the path from the CFD's intakes to wherever the loop settles.
    path: list[np.ndarray] = []
    read_intakes = tw.intake_c

    def recording(t_air_c: np.ndarray) -> np.ndarray:
        out = read_intakes(t_air_c)
        path.append(out.copy())
        return out

    tw.intake_c = recording  # type: ignore[method-assign]
    solved = tw.steady(state, max_outer=max_outer)
    names = [f"in.{n}" for n in tw.racks.names] + [f"ret.{n}" for n in tw.crahs.names]
    end_in = np.concatenate([solved.t_intake_c, solved.t_return_c])
    assert tw.momentum is not None
    return {"hall": repo_relative(hall_path), "fields": repo_relative(fields_path), "turbulence": tw.momentum.settings.turbulence_model,
            "conversion": asdict(info), "outer_iterations": solved.extra["steady"]["outer_iterations"],
            "start_c": {k: round(float(v), 4) for k, v in zip(names, start_in, strict=True)},
            "steady_c": {k: round(float(v), 4) for k, v in zip(names, end_in, strict=True)},
            "outer_intakes_c": [[round(float(v), 3) for v in row] for row in path[:-1]],
            "energy_balance_error": float(tw.energy_balance_error(solved)),
            "cpu_s": round(time.process_time() - cpu0, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("hall", help="a hall name in validation/halls/ or a .toml path")
    p.add_argument("--fields", type=Path, default=None,
                   help="CFD fields.npz or its folder (default results/<hall>-transient/fields.npz)")
    p.add_argument("--turbulence", choices=("chen-xu", "k-epsilon"), default=None, help="[airflow] turbulence")
    p.add_argument("--max-outer", type=int, default=None, help="outer iterations of the steady loop at most")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    a = p.parse_args(argv)
    hall_path = Path(a.hall) if a.hall.endswith(".toml") else HALLS / f"{a.hall}.toml"
    try:
        if not hall_path.is_file():
            raise ValueError(f"{hall_path}: no such hall file")
        fields = parse_start("cfd" if a.fields is None else f"cfd:{a.fields}", hall_path.stem)
        assert fields is not None
        out = steady_from_cfd(hall_path, fields, turbulence=a.turbulence, max_outer=a.max_outer)
    except (HallError, OSError, ValueError, NoSteadyState, FlowNotConverged) as exc:
        print(f"cfd_start: error: {exc}", file=sys.stderr)
        return 1
    # The racks' intakes and the CRAHs' returns (the rows' "in." and "ret." entries); the RMS below is the racks'.
    ref = read_means(fields.parent) if (fields.parent / "racks.csv").is_file() else {}
    if a.json:
        print(json.dumps({**out, "cfd_c": ref}, indent=1))
        return 0
    c = out["conversion"]
    print(f"{out['hall']} from {out['fields']} ({out['turbulence']}): projection moved the faces by "
          f"{c['projection_change_rms_m_s']:.3f} m/s rms (max {c['largest_change_m_s']:.2f}; faces {c['face_velocity_rms_m_s']:.3f} "
          f"rms), divergence {c['divergence_before_m3s']:.2e} → {c['divergence_after_m3s']:.1e} m³/s rms; "
          f"steady loop {out['outer_iterations']} outer iterations, CPU {out['cpu_s']:.0f} s")
    print("| intake | CFD | twin at the CFD field | twin steady from it | steady − CFD |")
    print("|---|---:|---:|---:|---:|")
    for k, v in out["steady_c"].items():
        cfd = ref.get(k, float("nan"))
        print(f"| {k} | {cfd:.2f} | {out['start_c'][k]:.2f} | {v:.2f} | {v - cfd:+.2f} |")
    print("intakes per outer iteration: " + "; ".join(
        f"{i + 1}: " + " ".join(f"{v:.2f}" for v in row[:len(ref) or None]) for i, row in enumerate(out["outer_intakes_c"])))
    errs = [out["steady_c"][k] - ref[k] for k in ref if k.startswith("in.")]
    if errs:
        print(f"RMS over the racks {np.sqrt(np.mean(np.square(errs))):.2f} K")
    return 0


if __name__ == "__main__":
    sys.exit(main())
