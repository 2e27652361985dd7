"""The view of a finished `twin run`: its output folder read back as the bus would have carried it.

A run writes ``summary.json`` (hall file, KPIs, alarms), ``timeseries.parquet`` (per rack and CRAH
figures every record interval) and ``fields/t_XXXXXXXXs.vti`` (the 3D fields now and then). The view
takes the last field snapshot and the time-series row at the same simulated time, so `twin render
out/demo` draws the run's final state (what `make demo` shows) with the same code as a live twin.

What the files do not hold is left out or inferred: a CRAH is "running" when it moves air and
"stopped" otherwise (the time series has no trip flag); the alarms are those of ``summary.json``
still uncleared at the end.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from twin.bus.offline import OfflineView
from viewer.sources import ViewerError

__all__ = ["RunView", "is_run_folder", "open_run"]


# What a run folder gives is what an offline view of a file gives: the same three parts as a live client.
RunView = OfflineView


def is_run_folder(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / "summary.json").is_file()


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
    raise ViewerError(f"{folder}: no field snapshot in {folder / 'fields'} (t_*s.vti or steady.vti)")


def open_run(folder: Path) -> RunView:
    """The final state of a `twin run` output folder (ViewerError, one line, when it is incomplete)."""
    import pyvista as pv

    folder = Path(folder)
    try:
        run = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ViewerError(f"{folder / 'summary.json'}: cannot read the run's summary ({exc})") from None
    hall_file = Path(run.get("hall_file") or "")
    if not hall_file.is_file():
        raise ViewerError(f"{folder / 'summary.json'}: hall_file {str(hall_file)!r} not found (run the render from "
                          f"the folder the run was started in)")
    vti, t_field = _last_field(folder)
    grid = pv.read(vti)
    nx, ny, nz = (d - 1 for d in grid.dimensions)
    t_c = np.asarray(grid.cell_data["t_c"], dtype=np.float32).reshape(nz, ny, nx)
    arrays = {"t_c": t_c}
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
    for key in ("t_exhaust_c", "power_w", "heat_w", "flow_m3s"):
        racks["it_power_w" if key == "power_w" else key] = cols("rack", key)[1]
    crah_names, flow = cols("crah", "flow_m3s")
    crahs = {"name": crah_names, "flow_m3s": flow, "tripped": [False] * len(crah_names),
             "running": [bool(f and f > 0) for f in flow], "powered": [True] * len(crah_names)}
    for key in ("fan_speed", "valve", "t_supply_c", "t_return_c", "supply_setpoint_c", "heat_removed_w",
                "fan_power_w"):
        crahs[key] = cols("crah", key)[1]
    known = [(t, n) for t, n in zip(inlet, rack_names) if t is not None]
    hottest = max(known) if known else (None, None)
    kpis = {
        "it_power_w": row.get("power.it_w", row.get("hall.it_power_w")),
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
        from twin.model.schema import ASHRAE_ALLOWABLE_C, ASHRAE_RECOMMENDED_C

        hall["ashrae"] = {"class": cls, "recommended_c": list(ASHRAE_RECOMMENDED_C),
                          "allowable_c": list(ASHRAE_ALLOWABLE_C.get(cls, ASHRAE_ALLOWABLE_C["A1"]))}
    body = {"time_s": time_s, "precision": "float32", "grid": grid_info}
    return RunView(hall=hall, summary=summary, fields=(body, arrays))


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
