"""The bus's view of a twin without a server: for renders of a hall file, a checkpoint or a run folder.

:class:`OfflineView` holds exactly what a :class:`twin.bus.client.TwinClient` holds after its snapshot
(``hall``, ``summary``, ``fields``), built from the same functions the server publishes with, so a
viewer draws a file and a live twin through one code path and never touches the solver.

A finished `twin run` folder (:func:`run_view`) has no twin to ask: its view is read back from the
files the run wrote, in the shape of :mod:`twin.bus.views` (this package owns that shape, so both
producers live here). A run writes ``summary.json`` (hall file, KPIs, alarms), ``timeseries.parquet``
(per rack and CRAH figures every record interval) and ``fields/t_XXXXXXXXs.vti`` (the 3D fields now
and then); the view takes the last field snapshot and the time-series row at the same simulated time.
Each CRAH's running, tripped and powered flags come from the time series' boolean columns (files of
older runs, which lack them, get them inferred from the airflow). What the files do not hold is left
out; the alarms are those of ``summary.json`` still uncleared at the end.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin.bus import protocol as P
from twin.bus.views import field_arrays, hall_info, summary_body
from twin.model.load import HallError
from twin.model.schema import ASHRAE_ALLOWABLE_C, ASHRAE_RECOMMENDED_C

__all__ = ["NoSteadyView", "OfflineView", "is_run_folder", "offline_view", "run_view"]


class NoSteadyView(HallError):
    """A hall file whose steady state does not exist (more heat than cooling): nothing to draw."""


@dataclass
class OfflineView:
    hall: dict
    summary: dict
    fields: tuple[dict, dict[str, np.ndarray]]
    status: str = "offline"


def offline_view(source: str | Path, *, hall_path: str | Path | None = None, precision: str = "float32",
                 control: str = "embedded", airflow: str | None = None) -> OfflineView:
    """The view of a hall file (its steady state) or of a checkpoint (its saved state).

    ``source``: a hall ``.toml`` or a checkpoint ``.npz``; for a checkpoint the hall file is the one
    it names, unless ``hall_path`` is given. ``airflow``: the model of a hall's steady state (default:
    the hall file's); a checkpoint keeps its own. User errors raise :class:`HallError` (one line; a bad
    checkpoint too) or :class:`NoSteadyView`, so that callers need nothing from the solver's packages.
    """
    from twin.sim.checkpoint import CheckpointError
    from twin.sim.twin import NoSteadyState

    try:
        return _offline_view(Path(source), hall_path=hall_path, precision=precision, control=control,
                             airflow=airflow)
    except CheckpointError as exc:
        raise HallError(str(exc)) from None
    except NoSteadyState as exc:
        raise NoSteadyView(f"{source}: {exc}") from None


def _offline_view(source: Path, *, hall_path: str | Path | None, precision: str, control: str,
                  airflow: str | None) -> OfflineView:
    from twin.model.load import load_hall
    from twin.sim.checkpoint import load_checkpoint, read_checkpoint_meta
    from twin.sim.twin import HallTwin

    if source.suffix == ".npz":
        meta = read_checkpoint_meta(source)
        hall = load_hall(hall_path or meta["hall_path"])
        twin = HallTwin(hall, dt_s=float(meta["dt_s"]), control=meta.get("control", control),
                        airflow=meta.get("airflow", "potential"))
        state = load_checkpoint(source, twin)
    else:
        hall = load_hall(source)
        twin = HallTwin(hall, control=control, airflow=airflow)
        state = twin.steady(twin.initial_state())
        if twin.power is not None:
            # The plant and the load flow for this state (chillers at their COP, pumps, the chain's
            # losses), so that cooling power and PUE are the steady state's, not the fans' alone.
            twin.power.after_step(state, twin.dt_s, twin.crah_fan_power_w(state))
    twin.operator(state)  # the flow field of the state
    clock = {"speed": None, "max_speed": False, "paused": True, "dt_s": twin.dt_s, "server": None,
             "step_ms": None, "training": False}
    summary = P.decode_json(P.encode_json(summary_body(twin, state, clock=clock)))
    body, arrays = field_arrays(twin, state, precision=precision)
    return OfflineView(hall=P.decode_json(P.encode_json(hall_info(twin))), summary=summary,
                       fields=(P.decode_json(P.encode_json(body)), arrays))


def is_run_folder(path: str | Path) -> bool:
    """Whether ``path`` is the output folder of a `twin run` (it holds ``summary.json``)."""
    return Path(path).is_dir() and (Path(path) / "summary.json").is_file()


def run_view(folder: str | Path) -> OfflineView:
    """The final state of a `twin run` output folder; HallError (one line) when it is incomplete."""
    import pyvista as pv

    folder = Path(folder)
    try:
        run = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HallError(f"{folder / 'summary.json'}: cannot read the run's summary ({exc})") from None
    hall_file = Path(run.get("hall_file") or "")
    if not hall_file.is_file():
        raise HallError(f"{folder / 'summary.json'}: hall_file {str(hall_file)!r} not found (run the render from "
                        f"the folder the run was started in)")
    vti, t_field = _last_field(folder)
    grid = pv.read(vti)
    nx, ny, nz = (d - 1 for d in grid.dimensions)
    t_c = np.asarray(grid.cell_data["t_c"], dtype=np.float32).reshape(nz, ny, nx)
    arrays: dict[str, np.ndarray] = {"t_c": t_c}
    if "velocity_m_s" in grid.cell_data:
        arrays["velocity_m_s"] = np.asarray(grid.cell_data["velocity_m_s"], dtype=np.float32).reshape(nz, ny, nx, 3)
    spacing = float(grid.spacing[0])
    grid_info = {"shape_xyz": [nx, ny, nz], "origin_m": [float(v) for v in grid.origin], "spacing_m": spacing}
    time_s = t_field if math.isfinite(t_field) else float(run.get("sim_s") or 0.0)
    row = _series_row(folder / "timeseries.parquet", time_s)

    def cols(prefix: str, suffix: str) -> tuple[list[str], list[float | None]]:
        names, values = [], []
        for key, v in row.items():
            m = re.fullmatch(rf"{prefix}\.(.+)\.{suffix}", key)
            if m:
                names.append(m.group(1))
                values.append(None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v))
        return names, values

    rack_names, inlet = cols("rack", "t_inlet_c")
    racks = {"name": rack_names, "t_inlet_c": inlet}
    for key in ("t_exhaust_c", "it_load_w", "heat_w", "flow_m3s"):
        racks[key] = cols("rack", key)[1]
    crah_names, flow = cols("crah", "flow_m3s")
    crahs = {"name": crah_names, "flow_m3s": flow, **_crah_flags(row, crah_names, flow)}
    for key in ("fan_speed", "valve", "t_supply_c", "t_return_c", "supply_setpoint_c", "heat_removed_w",
                "fan_power_w"):
        crahs[key] = cols("crah", key)[1]
    known = [(t, n) for t, n in zip(inlet, rack_names) if t is not None]
    hottest = max(known) if known else (None, None)
    kpis = {
        "it_load_w": row.get("hall.it_load_w"),
        "rack_input_w": row.get("power.rack_input_w"),
        "cooling_power_w": row.get("power.cooling_w", row.get("hall.fan_power_w")),
        "pue": row.get("power.pue", run.get("pue")),
        "max_inlet_c": hottest[0], "max_inlet_rack": hottest[1],
        "racks_outside_recommended": int(row.get("hall.racks_outside_recommended") or 0),
    }
    active = [{"name": a.get("name"), "priority": a.get("priority", ""), "state": "ACTIVE"}
              for a in run.get("alarms") or [] if a.get("cleared_s") is None]
    summary = {"clock": {"time_s": time_s, "paused": True, "server": None, "speed": None},
               "hall": kpis, "racks": racks, "crahs": crahs, "alarms": {"active": active, "shelved": []}}
    text = hall_file.read_text(encoding="utf-8")
    cls = run.get("ashrae_class")
    hall = {"name": run.get("hall"), "path": str(hall_file), "toml": text, "grid": grid_info}
    if cls:
        hall["ashrae"] = {"class": cls, "recommended_c": list(ASHRAE_RECOMMENDED_C),
                          "allowable_c": list(ASHRAE_ALLOWABLE_C.get(cls, ASHRAE_ALLOWABLE_C["A1"]))}
    body = {"time_s": time_s, "precision": "float32", "grid": grid_info}
    return OfflineView(hall=hall, summary=summary, fields=(body, arrays))


def _crah_flags(row: dict, names: list[str], flow: list[float | None]) -> dict[str, list[bool]]:
    """Each CRAH's running / tripped / powered flags from the row; inferred only for older runs' files.

    Runs record the flags as boolean columns. Files written before that have none: a unit is then
    "running" when it moves air, never tripped, and powered.
    """
    flags: dict[str, list[bool]] = {}
    for flag in ("running", "tripped", "powered"):
        values = [row.get(f"crah.{name}.{flag}") for name in names]
        if all(v is not None for v in values):
            flags[flag] = [bool(v) for v in values]
    flags.setdefault("running", [bool(f and f > 0) for f in flow])
    flags.setdefault("tripped", [False] * len(names))
    flags.setdefault("powered", [True] * len(names))
    return flags


def _last_field(folder: Path) -> tuple[Path, float]:
    found = []
    for p in (folder / "fields").glob("t_*s.vti"):
        m = re.fullmatch(r"t_(\d+)s\.vti", p.name)
        if m:
            found.append((int(m.group(1)), p))
    if found:
        t, p = max(found)
        return p, float(t)
    steady = folder / "fields" / "steady.vti"
    if steady.is_file():
        return steady, math.nan
    raise HallError(f"{folder}: no field snapshot in {folder / 'fields'} (t_*s.vti or steady.vti)")


def _series_row(path: Path, time_s: float) -> dict[str, float | None]:
    """The time-series row recorded nearest ``time_s`` (the field snapshot's time), as a dict."""
    if not path.is_file():
        return {}
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if table.num_rows == 0:
        return {}
    times = np.asarray(table.column("time_s").to_numpy(), dtype=float)
    i = int(np.argmin(np.abs(times - time_s))) if math.isfinite(time_s) else table.num_rows - 1
    return {name: table.column(name)[i].as_py() for name in table.column_names}
