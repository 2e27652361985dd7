"""Issue 10 study: the racks' faces as the CFD's boundary patches instead of the twin's volume sources.

The OpenFOAM references (validation/openfoam/case_from_hall.py) give each rack two patches: its intake face
is an outflow patch (no wall there: no shear on the tangential velocity, the normal velocity q/A into the
rack) and its exhaust face a velocity inlet (a jet at q/A). The twin (twin.thermal.momentum) takes the air
out of and puts it into the fluid cells next to the rack as volume sinks and sources, and the rack's faces
are no-slip walls to the air beside them; the exhaust's jet term leaves at about 2/3 of q/A (branch
plenum-jet-inlet's message). :class:`RackPatchSolver` makes the racks' faces behave like the CFD's patches,
without touching twin/ (a study: nothing changes in the product unless it wins on every hall):

* ``intake_patch`` (a): the tangential velocities of the intake cells see no wall shear on the rack's face
  (the wall factor of the CV side on the rack face is taken out), and the rack face's normal velocity, an
  inactive face that is zero in the twin, is taken as q/A into the rack while the momentum step assembles
  (the interpolated convecting velocity at the intake cells' centres) and while ν_t is updated (|U| of the
  intake cells for Chen–Xu; the strain rate for k-ε). The cells' sinks stay: mass is as before.
* ``exhaust_inlet`` (b): branch plenum-jet-inlet's velocity inlet, for the racks only (not the CRAHs): on
  the jet face of each outlet cell, no convective inflow (as air at rest) from the rack's closed back face,
  whose air the jet term brings in already; to the shear that face is an inlet at u_jet (diffusion ν h u_jet
  on the right-hand side); and the faces across the jet of the outlet cells carry the drag s (0 − u) of
  the source air that arrives with no sideways velocity (half the cell's source each).

Both work through the base solver's own assembly, compiled (upwind) or numpy (linear-upwind, tvd): (a) by the
wall tables and the face velocities the assembly reads, (b) by extra diagonal and right-hand-side terms per
face added where the assembly adds the movers' jet terms (:class:`_JetPlus`).

Run (held-T harness and the coupled steady solve; validation/README.md, "Under the CFD's own T"):

    .venv/bin/python validation/rack_patch_study.py held aisle-pair --variant a [--turbulence k-epsilon
        --convection linear-upwind --blend 1] --out DIR
    .venv/bin/python validation/rack_patch_study.py steady aisle-pair --variant ab
    .venv/bin/python validation/rack_patch_study.py coupled aisle-pair --variant ab --turbulence k-epsilon \
        --convection linear-upwind --blend 1 --out DIR
    .venv/bin/python validation/rack_patch_study.py profiles DIR/fields.npz [more.npz ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.thermal.momentum import _DIRS, MomentumSolver, _face_shape, _pair, _side  # noqa: E402
from validation.cfd_start import FACE_KEYS, face_velocity_from_cells  # noqa: E402
from validation.compare import HALLS, RESULTS
from validation.imposed_tiles import swap_momentum  # noqa: E402
from validation.tile_column_probe import AISLE_X_M, AISLE_Y_M, RACK_TOP_M  # noqa: E402

HERE = Path(__file__).resolve().parent
#: variant → (intake_patch, exhaust_inlet); "a-shear" / "a-normal": (a)'s two parts alone.
VARIANTS: dict[str, tuple[bool | str, bool]] = {
    "base": (False, False), "a": (True, False), "b": (False, True), "ab": (True, True),
    "a-shear": ("shear", False), "a-normal": ("normal", False)}


class _JetPlus:
    """The movers' jet matrix of one component with extra per-face terms: the assembly multiplies it twice,
    first by q (the jet's diagonal), then by q·u_jet (its right-hand side); the extras ride on those."""

    def __init__(self, base: sp.csr_matrix, extra_a: np.ndarray, extra_b: np.ndarray) -> None:
        self.base, self.extra = base, (extra_a.ravel(), extra_b.ravel())
        self.calls = 0

    def __matmul__(self, v: np.ndarray) -> np.ndarray:
        out = self.base @ v + self.extra[min(self.calls, 1)]
        self.calls += 1
        return out


class RackPatchSolver(MomentumSolver):
    """The momentum solver with the racks' intake faces as outflow patches (``intake_patch``) and/or their
    exhausts as velocity inlets (``exhaust_inlet``); ``n_racks``: the first movers that are racks. ``intake_patch``
    "shear" or "normal": only the wall shear's removal, or only the face's normal velocity q/A."""

    def __init__(self, *args: Any, n_racks: int, intake_patch: bool | str = False, exhaust_inlet: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.n_racks, self.intake_patch, self.exhaust_inlet = int(n_racks), intake_patch, exhaust_inlet
        m, h, shape = self.movers.count, self.h, self.shape
        solid = ~self.fluid
        # Per axis: the racks' intake faces (inactive faces between an intake cell and its rack) and the map
        # from mover flows to their normal velocity, q / (intake cells · h²) into the rack.
        self.intake_face = [np.zeros(_face_shape(shape, a), dtype=bool) for a in range(3)]
        self._intake_map: list[sp.csr_matrix] = []
        rows: list[list[np.ndarray]] = [[], [], []]
        cols: list[list[np.ndarray]] = [[], [], []]
        vals: list[list[np.ndarray]] = [[], [], []]
        for j in range(self.n_racks):
            direction = self.movers.direction[j]
            a = int(np.argmax(np.abs(direction)))
            sgn = int(np.sign(direction[a]))
            if sgn == 0:
                continue
            idx = np.array(np.unravel_index(np.asarray(self.movers.intake[j]), shape))
            beyond = idx.copy()
            beyond[a] += sgn
            inside = (beyond[a] >= 0) & (beyond[a] < shape[a])
            idx, beyond = idx[:, inside], beyond[:, inside]
            on_rack = solid[tuple(beyond)]
            idx = idx[:, on_rack]
            face = idx.copy()
            face[a] += 1 if sgn > 0 else 0
            flat = np.ravel_multi_index(tuple(face), _face_shape(shape, a))
            self.intake_face[a].ravel()[flat] = True
            rows[a].append(flat)
            cols[a].append(np.full(flat.size, j))
            vals[a].append(np.full(flat.size, sgn / (np.asarray(self.movers.intake[j]).size * h * h)))
        for a in range(3):
            n_f = int(np.prod(_face_shape(shape, a)))
            r = np.concatenate(rows[a]) if rows[a] else np.zeros(0, np.int64)
            self._intake_map.append(sp.csr_matrix(
                (np.concatenate(vals[a]) if vals[a] else np.zeros(0),
                 (r, np.concatenate(cols[a]) if cols[a] else np.zeros(0, np.int64))), shape=(n_f, m)))
        if intake_patch not in (False, True, "shear", "normal"):
            raise ValueError(f"intake_patch: {intake_patch!r} is not one of False, True, 'shear', 'normal'")
        if intake_patch in (True, "shear"):
            # No shear on the intake faces: the wall factor of every CV side made of them loses their share.
            for c in range(3):
                for k, (d, s) in enumerate(_DIRS):
                    if d == c:
                        continue
                    pa, pb = _pair(_side(self.intake_face[d], d, s), c, False)
                    share = 0.5 * (pa.astype(float) + pb.astype(float))
                    self._wall_factor[c][k] = np.maximum(self._wall_factor[c][k] - 2.0 * share, 0.0)
            self._tables = {}
        self._build_exhaust()

    def _build_exhaust(self) -> None:
        """(b)'s tables: per component, the racks' jet faces whose CV reaches back to the rack's closed back
        face (with that side's sign and the outlet cell), and the faces across each jet (½ / cells per rack)."""
        m, shape = self.movers.count, self.shape
        self._inlet: list[tuple[np.ndarray, int, np.ndarray, sp.csr_matrix] | None] = []
        self._cross: list[sp.csr_matrix] = []
        for c in range(3):
            fs = _face_shape(shape, c)
            n_f = int(np.prod(fs))
            faces, cells, rows, cols, vals, side = [], [], [], [], [], 0
            for j in range(self.n_racks):
                dc = self.movers.direction[j, c]
                if dc == 0.0:
                    continue
                idx = np.array(np.unravel_index(np.asarray(self.movers.outlet[j]), shape))
                jet = idx.copy()
                jet[c] += 1 if dc > 0 else 0
                behind = idx.copy()
                behind[c] += 0 if dc > 0 else 1
                jet_flat = np.ravel_multi_index(tuple(jet), fs)
                behind_flat = np.ravel_multi_index(tuple(behind), fs)
                ok = self.active[c].ravel()[jet_flat] & ~self.active[c].ravel()[behind_flat]
                faces.append(jet_flat[ok])
                cells.append(np.ravel_multi_index(tuple(idx[:, ok]), shape))
                rows.append(jet_flat[ok])
                cols.append(np.full(int(ok.sum()), j))
                vals.append(np.full(int(ok.sum()), dc / (np.asarray(self.movers.outlet[j]).size * self.h ** 2)))
                side = -1 if dc > 0 else 1  # the CV side towards the closed face, in _DIRS' sign
            if faces:
                u_map = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                      shape=(n_f, m))
                self._inlet.append((np.concatenate(faces), side, np.concatenate(cells), u_map))
            else:
                self._inlet.append(None)
            rows, cols, vals = [], [], []
            for j in range(self.n_racks):
                if self.movers.direction[j, c] != 0.0 or not np.any(self.movers.direction[j]):
                    continue
                idx = np.array(np.unravel_index(np.asarray(self.movers.outlet[j]), shape))
                for shift in (0, 1):
                    across = idx.copy()
                    across[c] += shift
                    flat = np.ravel_multi_index(tuple(across), fs)
                    ok = self.active[c].ravel()[flat]
                    rows.append(flat[ok])
                    cols.append(np.full(int(ok.sum()), j))
                    vals.append(np.full(int(ok.sum()), 0.5 / idx.shape[1]))
            self._cross.append(sp.csr_matrix(
                (np.concatenate(vals) if vals else np.zeros(0),
                 (np.concatenate(rows) if rows else np.zeros(0, np.int64),
                  np.concatenate(cols) if cols else np.zeros(0, np.int64))), shape=(n_f, m)))

    def intake_velocity_m_s(self, q: np.ndarray) -> list[np.ndarray]:
        """The racks' intake faces' normal velocity q/A per axis (zero elsewhere), m/s."""
        return [(self._intake_map[a] @ q).reshape(self.u[a].shape) for a in range(3)]

    @contextmanager
    def _intake_faces_open(self, q: np.ndarray) -> Iterator[None]:
        """(a): while the assembly or ν_t reads the field, the rack faces carry q/A into the racks."""
        if self.intake_patch not in (True, "normal") or not q.size:
            yield
            return
        saved = [x for x in self.u]
        normal = self.intake_velocity_m_s(q)
        self.u = [np.where(self.intake_face[a], normal[a], self.u[a]) for a in range(3)]
        try:
            yield
        finally:
            self.u = saved

    def _update_viscosity(self, q: np.ndarray, tg: np.ndarray | None, dt: float, u_ref: float) -> np.ndarray:
        with self._intake_faces_open(q):
            return super()._update_viscosity(q, tg, dt, u_ref)

    def _exhaust_terms(self, c: int, nu: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(b)'s extra diagonal and right-hand side of component c's faces (None: nothing to add)."""
        if not self.exhaust_inlet or not q.size:
            return None
        shape_f = self.u[c].shape
        extra_a = (self._cross[c] @ q).reshape(shape_f)  # s (0 − u) across the jets
        extra_b = np.zeros(shape_f)
        inlet = self._inlet[c]
        if inlet is not None:
            faces, side, cells, u_map = inlet
            uc = self.u[c].ravel()[faces]
            # Undo the upwind inflow the assembly counts from the closed face (velocity 0, interpolated flux
            # −side·h²·½·u_c into the CV when the jet leaves): the jet term brings that air in already.
            inflow = np.maximum(-side * self.h ** 2 * 0.5 * uc, 0.0)
            extra_a.ravel()[faces] -= inflow
            # To the shear the closed face is an inlet at u_jet: ν (outlet cell) h u_jet on the right.
            u_jet = (u_map @ q)[faces]
            extra_b.ravel()[faces] += nu.ravel()[cells] * self.h * u_jet
        return extra_a, extra_b

    def _momentum(self, c: int, nu: np.ndarray, tg: np.ndarray | None, t_ref: float, q: np.ndarray, dt: float,
                  sweeps: int | None = None, *, reuse: bool = False) -> np.ndarray:
        extra = self._exhaust_terms(c, nu, q)
        with self._intake_faces_open(q):
            if extra is None:
                return super()._momentum(c, nu, tg, t_ref, q, dt, sweeps, reuse=reuse)
            base = self._jet[c]
            plus = _JetPlus(base, *extra)
            self._jet[c] = plus  # type: ignore[call-overload,unused-ignore]
            try:
                out = super()._momentum(c, nu, tg, t_ref, q, dt, sweeps, reuse=reuse)
            finally:
                self._jet[c] = base
            if plus.calls != 2:
                raise RuntimeError(f"the assembly used the jet terms {plus.calls} times, expected 2")
            return out


def swap_solver(tw, variant: str) -> RackPatchSolver:  # type: ignore[no-untyped-def]
    """Replace a HallTwin's momentum solver by the study's (same geometry, movers and settings)."""
    intake_patch, exhaust_inlet = VARIANTS[variant]
    new = swap_momentum(tw, RackPatchSolver, n_racks=tw.n_racks, intake_patch=intake_patch,
                        exhaust_inlet=exhaust_inlet)
    assert isinstance(new, RackPatchSolver)
    return new


# ----------------------------------------------------------------------------------------------- harnesses

def held(hall: str, variant: str, out: Path, *, turbulence: str | None = None, convection: str | None = None,
         blend: float | None = None, spin_up_s: float = 120.0, window_s: float = 60.0) -> dict:
    """The held-T harness (validation/README.md, "Started from the CFD's field"): the study solver's flow
    marched under the transient CFD's T held (its time mean, buoyancy included), saved to ``out``/fields.npz;
    then the twin's heat (the plain solver's transport and eddy diffusivity) marched 420 s on that flow held.
    Returns the second march's time-mean intakes against the CFD's, the first's cold-aisle budget and (aisle-pair)
    its :func:`row_end_flow`. The fields file (1.8 MB) is for :func:`profiles`; the results keep the summary."""
    from validation.transient_twin import compare, march

    hall_path = HALLS / f"{hall}.toml"
    out.mkdir(parents=True, exist_ok=True)
    fields = out / "fields.npz"
    flow = march(hall_path, dt_s=0.25, spin_up_s=spin_up_s, window_s=window_s, start="cfd", hold="temperature",
                 turbulence=turbulence, convection=convection, blend=blend, save_to=fields,
                 momentum_factory=lambda tw: swap_solver(tw, variant))
    heat = march(hall_path, dt_s=0.25, spin_up_s=120.0, window_s=300.0, start=f"cfd:{fields}", hold="flow",
                 turbulence=turbulence)
    cmp = compare(heat, RESULTS / f"{hall}-transient")
    result = {"hall": hall, "variant": variant, "turbulence": flow.turbulence, "convection": flow.convection,
              "intakes_c": {r["rack"]: round(r["mean_c"], 3) for r in cmp["racks"]},
              "cfd_c": {r["rack"]: round(r["cfd_c"], 3) for r in cmp["racks"]},
              "rms_k": round(cmp["time_mean"]["all"]["rms_k"], 3),
              "row_ends_mean_k": round(cmp["time_mean"]["row_ends"]["mean_k"], 3),
              "budget_end": flow.probe_end, "flow_cpu_s": flow.cpu_s, "heat_cpu_s": heat.cpu_s,
              "energy_balance_error": heat.energy_balance_error}
    if hall == "aisle-pair":
        result["row_end_flow"] = row_end_flow(fields)
    (out / "summary.json").write_text(json.dumps(result, indent=1))
    return result


def coupled(hall: str, variant: str, out: Path, *, turbulence: str | None = None, convection: str | None = None,
            blend: float | None = None) -> dict:
    """The coupled march from the transient CFD's state (transient_twin.py --start cfd, 120 s spin-up, 300 s
    averaged) with the study solver; written to ``out`` as transient_twin.py writes its runs."""
    from validation.transient_twin import compare, march, write

    r = march(HALLS / f"{hall}.toml", dt_s=0.25, spin_up_s=120.0, window_s=300.0, start="cfd",
              turbulence=turbulence, convection=convection, blend=blend,
              momentum_factory=lambda tw: swap_solver(tw, variant))
    cmp = compare(r, RESULTS / f"{hall}-transient")
    write(r, cmp, out)
    return {"variant": variant, "rms": cmp["time_mean"]["all"], "row_ends": cmp["time_mean"]["row_ends"],
            "intakes_c": {x["rack"]: round(x["mean_c"], 3) for x in cmp["racks"]}, "cpu_s": r.cpu_s,
            "energy_balance_error": r.energy_balance_error, "probe_end": r.probe_end}


def steady(hall: str, variant: str, *, turbulence: str | None = None) -> dict:
    """The coupled steady solve (HallTwin.steady, Chen–Xu unless ``turbulence``; grid sequencing off, since its
    coarse grid would solve the unmodified problem) with the study solver; intakes against the reference
    compare.py checks against (validation/compare.py's check_reference)."""
    import time

    from twin.sim.twin import HallTwin
    from validation.compare import check_reference, errors_k, read_cfd, references
    from validation.numerics_study import load_hall_variant

    model = load_hall_variant(HALLS / f"{hall}.toml", turbulence=turbulence)
    tw = HallTwin(model, airflow="momentum", grid_sequencing=False)
    cpu0 = time.process_time()
    swap_solver(tw, variant)
    state = tw.steady()
    cpu = time.process_time() - cpu0
    refs = {kind: read_cfd(folder) for kind, folder in references(hall).items()}
    kind, _ = check_reference({k: v[1] for k, v in refs.items()})
    cfd = refs[kind][0]
    twin = {n: float(t) for n, t in zip(tw.racks.names, state.t_intake_c, strict=True)}
    heat_in = float(state.rack_heat_w.sum() + tw.mover_heat_w(state).sum())
    return {"hall": hall, "variant": variant, "reference": kind, "rms_k": errors_k(twin, cfd)["rms_k"],
            "intakes_c": {n: round(twin[n], 3) for n in cfd}, "cfd_c": {n: round(cfd[n], 3) for n in cfd},
            "cpu_s": round(cpu, 1), "energy_imbalance": (heat_in - float(state.crah_heat_removed_w.sum())) / heat_in}


# Aisle-pair's row ends (validation/halls/aisle-pair.toml: racks 0.6 m wide from x 2.4 m; the aisle's planes in
# tile_column_probe).
_RACK_X_M = {"A01": 2.4, "A04": 4.2, "B01": 2.4, "B04": 4.2}
_RACK_WIDTH_M = 0.6
_FRONT_Y_M = {"A": AISLE_Y_M[0], "B": AISLE_Y_M[1]}  # each row's front face
_INTO_AISLE = {"A": +1, "B": -1}  # the direction from a row's front face into the aisle
_END_X_M = dict(zip(("near", "far"), AISLE_X_M, strict=True))
_Z_RACK_M = (0.3 - 0.075, RACK_TOP_M)  # the room cells in front of the racks (0.225 … 2.025 m)


def row_end_flow(path: Path, cfd: Path = RESULTS / "aisle-pair-transient" / "fields.npz") -> dict:
    """Aisle-pair's row-end flow of a fields.npz (a twin's save_fields, or a CFD's) on the CFD's grid: per row-end
    rack the along-row (u_x) and vertical (u_z) velocity of its intake cells and of the cells one further into
    the aisle (means over the rack's width, m/s), and the normal velocity (u_y into the rack, positive) on the
    faces between them, each over z 0.225 … 2.025 m; the tile strips' u_z up the aisle; the end planes'
    inflow per 0.15 m layer (m³/s); the aisle's top outflow per x (m³/s)."""
    with np.load(cfd) as c:
        x, y, z = (np.asarray(c[k], dtype=float) for k in ("x_m", "y_m", "z_m"))
        cell_m = float(c["cell_m"])
    with np.load(path) as d:
        u = np.asarray(d["velocity_m_s"], dtype=float)
        # A twin's own face velocities (save_fields), or a CFD's cell centres averaged onto the faces, solids as zero.
        fx, fy, fz = ([np.asarray(d[k], dtype=float) for k in FACE_KEYS] if all(k in d.files for k in FACE_KEYS)
                      else face_velocity_from_cells(u))
    zr = np.flatnonzero((z > _Z_RACK_M[0] - 1e-9) & (z < _Z_RACK_M[1]))
    aisle = np.flatnonzero((y > AISLE_Y_M[0]) & (y < AISLE_Y_M[1]))
    out: dict = {"z_m": [round(float(v), 3) for v in z[zr]], "racks": {}}
    for rack, x0 in _RACK_X_M.items():
        xi = np.flatnonzero((x > x0) & (x < x0 + _RACK_WIDTH_M))
        y_front, into = _FRONT_Y_M[rack[0]], _INTO_AISLE[rack[0]]
        j_in = int(np.argmin(np.abs(y - (y_front + into * cell_m / 2))))  # the intake cells
        j_next = j_in + into
        face_j = max(j_in, j_next)  # the y-face between them
        sub = {}
        for tag, j in (("intake", j_in), ("next", j_next)):
            for name, axis in (("ux", 0), ("uz", 2)):
                sub[f"{name}_{tag}"] = np.nanmean(u[xi][:, j][:, zr, axis], axis=0)
        sub["uy_into_rack"] = -into * fy[xi][:, face_j][:, zr].mean(axis=0)
        out["racks"][rack] = {k: [round(float(v), 3) for v in vals] for k, vals in sub.items()}
    z_all = np.flatnonzero(z > 0)
    out["z_room_m"] = [round(float(v), 3) for v in z[z_all]]
    for end, xm in _END_X_M.items():
        i_strip = int(np.argmin(np.abs(x - (xm + (cell_m / 2 if end == "near" else -cell_m / 2)))))
        out[f"tile_strip_uz_{end}"] = [round(float(v), 3) for v in np.nanmean(u[i_strip][aisle][:, z_all, 2], axis=0)]
        i_face = round(xm / cell_m)
        sign = 1.0 if end == "near" else -1.0
        layer = sign * fx[i_face][aisle][:, z_all].sum(axis=0) * cell_m * cell_m
        out[f"end_inflow_{end}_m3s"] = [round(float(v), 4) for v in layer]
    k_top = int(np.argmin(np.abs(z - (RACK_TOP_M + cell_m / 2))))  # the face at the racks' top
    xa = np.flatnonzero((x > AISLE_X_M[0]) & (x < AISLE_X_M[1]))
    out["top_outflow_by_x_m3s"] = [round(float(v), 4) for v in (fz[xa][:, aisle, k_top].sum(axis=1) * cell_m * cell_m)]
    return out


def profiles(paths: list[Path]) -> dict:
    """:func:`row_end_flow` of the transient CFD's time mean and of each file, and per quantity the RMS of each
    file's profile minus the CFD's (m/s; m³/s per layer for the end planes)."""
    cfd = row_end_flow(RESULTS / "aisle-pair-transient" / "fields.npz")
    result: dict = {"cfd": cfd}
    for path in paths:
        tw = row_end_flow(path)
        diff: dict = {}
        for rack, sub in tw["racks"].items():
            for k, vals in sub.items():
                e = np.asarray(vals) - np.asarray(cfd["racks"][rack][k])
                diff[f"{rack}.{k}"] = round(float(np.sqrt(np.mean(e ** 2))), 3)
        for k in ("tile_strip_uz_near", "tile_strip_uz_far", "end_inflow_near_m3s", "end_inflow_far_m3s",
                  "top_outflow_by_x_m3s"):
            e = np.asarray(tw[k]) - np.asarray(cfd[k])
            diff[k] = round(float(np.sqrt(np.mean(e ** 2))), 4)
        result[str(path)] = {"flow": tw, "rms_vs_cfd": diff}
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("held", "coupled", "steady"):
        s = sub.add_parser(name)
        s.add_argument("hall")
        s.add_argument("--variant", choices=tuple(VARIANTS), default="base")
        s.add_argument("--turbulence", choices=("chen-xu", "k-epsilon"), default=None)
        if name in ("held", "coupled"):
            s.add_argument("--convection", choices=("upwind", "tvd", "linear-upwind"), default=None)
            s.add_argument("--blend", type=float, default=None)
            s.add_argument("--out", type=Path, required=True)
        if name == "held":
            s.add_argument("--window-s", type=float, default=60.0,
                           help="held: the held-T march after its 120 s spin-up, s (its flow at the end is kept)")
    s = sub.add_parser("profiles")
    s.add_argument("fields", type=Path, nargs="+")
    a = p.parse_args(argv)
    if a.cmd != "profiles" and not (HALLS / f"{a.hall}.toml").is_file():
        print(f"rack_patch_study: error: {HALLS / f'{a.hall}.toml'}: no such hall file (a name in "
              f"validation/halls/)", file=sys.stderr)
        return 2
    if getattr(a, "blend", None) is not None and not 0.0 <= a.blend <= 1.0:
        print(f"rack_patch_study: error: --blend must be 0 (upwind) to 1 (the full scheme), got {a.blend:g}",
              file=sys.stderr)
        return 2
    try:
        if a.cmd == "held":
            result = held(a.hall, a.variant, a.out, turbulence=a.turbulence, convection=a.convection, blend=a.blend,
                          window_s=a.window_s)
        elif a.cmd == "coupled":
            result = coupled(a.hall, a.variant, a.out, turbulence=a.turbulence, convection=a.convection, blend=a.blend)
        elif a.cmd == "steady":
            result = steady(a.hall, a.variant, turbulence=a.turbulence)
        else:
            result = profiles(a.fields)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"rack_patch_study: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
