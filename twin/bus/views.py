"""What the bus says about the twin: the hall's static description, the summary of a state, the fields.

These are the bodies of the ``hello`` part of a snapshot, of ``summary`` messages and of ``fields``
messages (docs/protocol.md lists every key). Per-equipment figures are columns: one list per quantity,
in the order of the ``name`` list beside them, so that 200 racks cost a few kB of JSON.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from twin.control.sensors import FAILURE_MODES
from twin.model.load import Box, HallModel
from twin.model.schema import ASHRAE_ALLOWABLE_C, ASHRAE_RECOMMENDED_C
from twin.sim.observe import observe
from twin.sim.twin import HallTwin, TwinState
from twin.thermal.airflow import cell_velocity_m_s

__all__ = ["failed_sensors", "field_arrays", "fields_from", "hall_info", "hall_plan", "summary_body"]


def hall_info(twin: HallTwin) -> dict[str, Any]:
    """What does not change while a server runs: the hall file itself, its grid, names and topology."""
    hall = twin.hall
    grid = twin.voxels.grid
    text = hall.path.read_text(encoding="utf-8") if hall.path is not None else ""
    lo, hi = ASHRAE_RECOMMENDED_C
    cls = hall.spec.hall.ashrae_class
    info: dict[str, Any] = {
        "name": hall.name,
        "path": str(hall.path) if hall.path is not None else None,
        "toml": text,
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "grid": {"shape_xyz": [int(n) for n in grid.shape], "origin_m": [float(v) for v in grid.origin_m],
                 "spacing_m": float(grid.cell_m)},
        "dt_s": twin.dt_s,
        "control": twin.control_mode,
        "ashrae": {"class": cls, "recommended_c": [lo, hi], "allowable_c": list(ASHRAE_ALLOWABLE_C[cls])},
        "racks": list(twin.racks.names),
        "crahs": list(twin.crahs.names),
        "crah_rated_cooling_w": [float(w) for w in twin.crahs.rated_cooling_w],
        "plan": hall_plan(hall),
        # (1.2) What a training fault may fail: the CRAH controllers' sensors, and the ways they fail.
        "sensors": sorted(twin.sensor_names or ()),
        "rack_it_w": [float(w) for w in twin.racks.it_w],  # (1.2) the hall file's loads, before any load step
        "sensor_modes": [m for m in FAILURE_MODES if m != "ok"],
    }
    if twin.power is not None:
        net = twin.power.net
        info["power"] = {
            "ups": list(net.ups_names),
            "ups_rated_va": [float(va) for va in net.ups_rated_va],
            "battery_kwh": [float(j / 3.6e6) for j in net.battery_j],
            "pdus": list(net.pdu_names),
            "pdu_ups": [net.ups_names[i] for i in net.pdu_ups],
            "pdu_rated_va": [float(v) for v in net.pdu_rated_va],
            "rack_pdus": [[net.pdu_names[a], net.pdu_names[b]] for a, b in net.rack_pdu],
            "has_generator": twin.power.has_generator,
        }
    return info


def _plan_box(box: Box) -> list[float]:
    return [float(box.lo[0]), float(box.lo[1]), float(box.hi[0]), float(box.hi[1])]


def hall_plan(hall: HallModel) -> dict[str, Any]:
    """(1.2) The hall in plan, for floor maps: boxes ``[x0, y0, x1, y1]`` in metres (minimum corner, maximum
    corner; x east, y north), in the order of the names the hall view lists (racks, CRAHs, PDUs)."""
    spec = hall.spec
    aisles = [{"name": t.name, "kind": "tiles", "box": [t.x_m[0], t.y_m[0], t.x_m[1], t.y_m[1]]}
              for t in spec.tiles]
    aisles += [{"name": c.name, "kind": c.kind, "box": [c.x_m[0], c.y_m[0], c.x_m[1], c.y_m[1]]}
               for c in spec.containment]
    return {
        "size_m": [float(spec.hall.size_m[0]), float(spec.hall.size_m[1])],
        "rows": [{"name": r.name, "along": r.along, "facing": r.facing} for r in spec.rows],
        "racks": [_plan_box(r.box) for r in hall.racks],
        "rack_rows": [r.row for r in hall.racks],
        "rack_facing": [r.facing for r in hall.racks],
        "crahs": [_plan_box(c.box) for c in hall.crahs],
        "crah_facing": [c.facing for c in hall.crahs],
        "pdus": [_plan_box(p.box) for p in hall.pdus],
        "aisles": aisles,
        "obstacles": [{"name": o.name, "box": _plan_box(o.box)} for o in hall.obstacles],
    }


def failed_sensors(state: TwinState) -> dict[str, list[str]]:
    """(1.2) The sensors failed now, as columns ``{"name": [...], "mode": [...]}``: a sensor of a group
    (``CRAH-01.inlet_temp``, the unit's rack-inlet sensors) is listed when all of it is failed in one mode,
    each of its members (``CRAH-01.inlet_temp.A01``) when that one is."""
    out: dict[str, list[str]] = {"name": [], "mode": []}
    controls = state.controls
    if controls is None:
        return out
    for name, (array, index) in controls.sensors().items():
        modes = array.failure(state.time_s)
        if index is None:
            mode = modes[0] if len(set(modes)) == 1 and modes[0] != "ok" else None
        else:
            mode = modes[index] if modes[index] != "ok" else None
        if mode is not None:
            out["name"].append(name)
            out["mode"].append(mode)
    return out


def summary_body(twin: HallTwin, state: TwinState, *, clock: dict[str, Any]) -> dict[str, Any]:
    """The summary of a state: clock, hall KPIs, every rack, CRAH, UPS, PDU, controller and alarm."""
    obs = observe(twin, state)
    nr = twin.n_racks
    inlet = state.t_intake_c
    hottest = int(np.argmax(inlet)) if nr else None
    rated = twin.crahs.rated_cooling_w
    kpis: dict[str, Any] = {
        "it_load_w": obs["hall.it_load_w"],
        "rack_input_w": obs.get("power.rack_input_w"),
        "cooling_power_w": obs.get("power.cooling_w", obs["hall.fan_power_w"]),
        "facility_power_w": obs.get("power.facility_w"),
        "pue": obs.get("power.pue"),
        "max_inlet_c": obs["hall.max_inlet_c"],
        "max_inlet_rack": twin.racks.names[hottest] if hottest is not None else None,
        "mean_inlet_c": obs["hall.mean_inlet_c"],
        "racks_outside_recommended": obs["hall.racks_outside_recommended"],
        "racks_outside_allowable": obs["hall.racks_outside_allowable"],
        "heat_released_w": obs["hall.heat_released_w"],
        "heat_removed_w": obs["hall.heat_removed_w"],
        "utility_ok": bool(state.utility_ok),
        "on_generator": bool(obs.get("power.on_generator", 0.0)),
        "t_chw_c": state.t_chw_c,
        "chillers_running": bool(state.chillers_running),
        "outdoor_temp_c": state.outdoor_temp_c,
        "energy_balance_error": obs["hall.energy_balance_error"],
    }
    body: dict[str, Any] = {
        "clock": {**clock, "time_s": state.time_s, "steps": state.steps},
        "hall": kpis,
        "racks": {
            "name": list(twin.racks.names),
            "t_inlet_c": inlet,
            "t_exhaust_c": state.t_rack_c,
            "it_load_w": state.rack_it_w,
            "heat_w": state.rack_heat_w,
            "flow_m3s": state.rack_flow_m3s,
            "powered": state.rack_powered,
        },
        "crahs": {
            "name": list(twin.crahs.names),
            "running": state.crah_running,
            "tripped": state.crah_tripped,
            "powered": state.crah_powered,
            "fan_speed": state.crah_fan_speed,
            "valve": state.crah_valve,
            "t_supply_c": obs["crah.t_supply_c"],
            "t_return_c": state.t_return_c,
            "supply_setpoint_c": state.crah_setpoint_c,
            "heat_removed_w": state.crah_heat_removed_w,
            "capacity_used": np.where(rated > 0, state.crah_heat_removed_w / np.where(rated > 0, rated, 1.0), 0.0),
            "fan_power_w": obs["crah.fan_power_w"],
            "flow_m3s": state.crah_flow_m3s,
        },
        "controllers": _controllers(twin, state),
        "alarms": {"active": state.alarms.active(), "shelved": state.alarms.shelved()},
        "sensors": failed_sensors(state),
    }
    power = twin.power
    if power is not None and state.power is not None and state.power.last is not None:
        res = state.power.last
        out_w, loss_w = res.ups_output_w, res.ups_loss_w
        with np.errstate(divide="ignore", invalid="ignore"):
            eff = np.where(out_w > 0, out_w / (out_w + loss_w), np.nan)
        mode = np.where(~np.asarray(res.ups_output_on, dtype=bool), "off",
                        np.where(np.asarray(res.ups_on_battery, dtype=bool) | (not res.switchboard_live),
                                 "on_battery", np.where(np.asarray(res.ups_eco, dtype=bool), "eco", "online")))
        body["ups"] = {
            "name": list(power.ups_names),
            "mode": mode.tolist(),
            "soc": state.ups_soc,
            "output_w": out_w,
            "loss_w": loss_w,
            "efficiency": eff,
            "load_fraction": res.ups_load_fraction,
            "battery_w": res.battery_w,
        }
        body["pdus"] = {
            "name": list(power.net.pdu_names),
            "input_w": res.pdu_input_w,
            "loss_w": res.pdu_loss_w,
            "load_fraction": res.pdu_load_fraction,
        }
        body["sources"] = {
            "utility_w": res.utility_w,
            "generator_w": res.generator_w,
            "generator_online": bool(state.power.ats.outputs.get("generator_online", False)),
            "ats_on_generator": bool(state.power.ats.outputs.get("ats_on_generator", False)),
            "transformer_loss_w": res.transformer_loss_w,
            "transformer_load_fraction": res.transformer_load_fraction,
            # (1.2) Each MV/LV transformer in parallel (one in most halls): in service, losses, load ÷ its rating.
            "transformers": {"name": list(power.net.transformer_names),
                             "in_service": power.net.transformer_in_service,
                             "loss_w": res.transformer_unit_loss_w,
                             "load_fraction": res.transformer_unit_load_fraction},
            "mechanical_w": res.mechanical_w,
        }
    return body


def _controllers(twin: HallTwin, state: TwinState) -> list[dict[str, Any]]:
    """Each CRAH's loops with their mode and setpoints (unit, range, value in force, target, who may write)."""
    controls = state.controls
    if controls is None:
        return []
    by_owner: dict[str, list[dict]] = {}
    for sp in controls.registry.listing(state.time_s):
        owner = sp["name"].split(".", 1)[0]
        by_owner.setdefault(owner, []).append(sp)
    out = []
    for k, name in enumerate(twin.crahs.names):
        out.append({"name": name, "kind": "crah",
                    "supply_mode": controls.supply[k].mode, "fan_mode": controls.fan[k].mode,
                    "setpoints": by_owner.get(name, [])})
    return out


def field_arrays(twin: HallTwin, state: TwinState, *, precision: str = "float32") -> tuple[dict, dict[str, np.ndarray]]:
    """The 3D fields of ``state`` on the whole grid (see :func:`fields_from`)."""
    return fields_from(twin, state.t_air_c, twin.face_flows_m3s(state), time_s=state.time_s, steps=state.steps,
                       precision=precision)


def fields_from(twin: HallTwin, t_air_c: np.ndarray, face_flow_m3s: np.ndarray, *, time_s: float, steps: int,
                precision: str = "float32") -> tuple[dict, dict[str, np.ndarray]]:
    """The 3D fields on the whole grid, shape (nz, ny, nx) (x fastest, VTK's cell order); NaN in solids,
    from the air temperature of every fluid cell and the flow through every open face (a snapshot: the
    live twin's encoder builds them on its own thread from copies; only ``twin``'s fixed grid is shared).

    Returns (body, arrays): ``t_c`` air temperature and ``velocity_m_s`` (nz, ny, nx, 3; x, y, z
    components), both in ``precision`` (float32 or float16). Clients compute the speed themselves.
    """
    net = twin.net
    dtype = np.dtype(precision)
    vel = cell_velocity_m_s(net, face_flow_m3s)

    def zyx(values: np.ndarray) -> np.ndarray:
        g = net.to_grid(values)  # (nx, ny, nz) with NaN in solid cells
        return np.ascontiguousarray(np.transpose(g), dtype=dtype)

    t = zyx(t_air_c)
    v = np.stack([zyx(vel[:, a]) for a in range(3)], axis=-1)
    grid = twin.voxels.grid
    body = {"time_s": time_s, "steps": steps, "precision": dtype.name,
            "grid": {"shape_xyz": [int(n) for n in grid.shape], "origin_m": [float(x) for x in grid.origin_m],
                     "spacing_m": float(grid.cell_m)}}
    return body, {"t_c": t, "velocity_m_s": v}
