"""Fixed twin data for the console's tests: the tiny hall's description and one summary, frozen.

``data/hall.json`` and ``data/summary.json`` were taken from the real server code (views.hall_info and
views.summary_body) on tiny.toml with its power chain, 600 s after the steady state, floats rounded to
4 decimals. They are frozen so that snapshots do not move when the physics is tuned;
test_fixture_matches_the_server checks that their keys are still the ones the server sends.

:func:`scene` adds what makes a screen worth checking: a rack above the recommended band and alarms in
each ISA-18.2 state.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

__all__ = ["AUDIT", "HALL", "SUMMARY", "hall", "reference_hall", "reference_scene", "reference_summary", "scene",
           "setpoint", "summary", "whatif_done", "whatif_running"]

DATA = Path(__file__).parent / "data"
HALL: dict = json.loads((DATA / "hall.json").read_text(encoding="utf-8"))
SUMMARY: dict = json.loads((DATA / "summary.json").read_text(encoding="utf-8"))
#: reference.toml at its steady state (tests/tui/make_reference_data.py wrote them): the floor map's hall.
REFERENCE_HALL: dict = json.loads((DATA / "reference_hall.json").read_text(encoding="utf-8"))
REFERENCE_SUMMARY: dict = json.loads((DATA / "reference_summary.json").read_text(encoding="utf-8"))
#: A what-if's result event (N-1 all on tiny.toml, taken from the real server, floats rounded to 4
#: decimals; id, times and paths then fixed): tiny's one CRAH out has no steady state, its UPS and PDU
#: failures leave the other PDU above 80 %.
WHATIF: dict = json.loads((DATA / "whatif.json").read_text(encoding="utf-8"))

#: Audit records as the server writes them (twin/bus/server.py, _answer).
AUDIT: list[dict] = [
    {"type": "command", "time": "2026-01-01T00:09:00.000+00:00", "sim_time_s": 540.0, "client": "00aa",
     "role": "operator", "id": "c1", "kind": "set_setpoint", "name": "console",
     "target": "CRAH-01.supply_temp_setpoint", "old": 18.0, "new": 17.0, "status": "ok", "reason": ""},
    {"type": "command", "time": "2026-01-01T00:09:30.000+00:00", "sim_time_s": 570.0, "client": "00bb",
     "role": "operator", "id": "c2", "kind": "set_setpoint", "name": "script",
     "target": "CRAH-01.supply_temp_setpoint", "old": 17.0, "new": 40.0, "status": "out_of_range",
     "reason": "CRAH-01.supply_temp_setpoint: 40 °C outside [14, 27]"},
    {"type": "command", "time": "2026-01-01T00:09:50.000+00:00", "sim_time_s": 590.0, "client": "00aa",
     "role": "operator", "id": "c3", "kind": "alarm_ack", "name": "console", "target": "CRAH-01.trip",
     "old": "UNACK", "new": "ACKED", "status": "ok", "reason": ""},
]


def whatif_done(**changes) -> dict:
    """The frozen what-if result (a copy), with ``changes`` applied to its top-level fields."""
    return {**copy.deepcopy(WHATIF), **changes}


def whatif_running(wid: str = "9a7c01d2e3f4", kinds: str = "crah", fork_time_s: float = 630.0) -> dict:
    """The event a what-if sends when it starts."""
    return {"type": "whatif", "id": wid, "state": "running", "set": kinds, "mode": "steady", "duration_s": None,
            "cases_total": 2, "fork_time_s": fork_time_s}


def hall() -> dict:
    return copy.deepcopy(HALL)


def summary(time_s: float | None = None) -> dict:
    """The frozen summary (a copy to edit), optionally at another simulated time."""
    s = copy.deepcopy(SUMMARY)
    if time_s is not None:
        s["clock"]["time_s"] = float(time_s)
    return s


def _alarm(name: str, priority: str, message: str, state: str, raised_s: float, **kw) -> dict:
    return {"name": name, "priority": priority, "message": message, "state": state, "raised_s": raised_s,
            "acked_s": kw.get("acked_s"), "cleared_s": kw.get("cleared_s"), "value": kw.get("value"),
            "shelved_until_s": kw.get("shelved_until_s")}


def scene(time_s: float = 600.0) -> dict:
    """The frozen summary with A03 above the recommended band and alarms in every state."""
    s = summary(time_s)
    s["racks"]["t_inlet_c"][2] = 27.8
    s["racks"]["t_exhaust_c"][2] = 37.9
    s["hall"]["max_inlet_c"] = 27.8
    s["hall"]["max_inlet_rack"] = "A03"
    s["hall"]["racks_outside_recommended"] = 1
    s["alarms"] = {
        "active": [
            _alarm("CRAH-01.trip", "high", "CRAH-01: unit tripped", "ACKED", 480.0, acked_s=590.0),
            _alarm("A03.inlet_above_recommended", "medium", "A03: rack inlet above ASHRAE recommended 27 °C",
                   "UNACK", 560.0, value=27.8),
            _alarm("A01.inlet_below_recommended", "low", "A01: rack inlet below ASHRAE recommended 18 °C",
                   "RTNUN", 120.0, cleared_s=300.0),
        ],
        "shelved": [
            _alarm("CRAH-01.supply_temp.failed", "medium", "CRAH-01.supply_temp: sensor failed", "SHELVED",
                   400.0, shelved_until_s=4000.0),
        ],
    }
    return s


def setpoint(s: dict, name: str) -> dict:
    """The registry entry of setpoint ``name`` inside summary ``s`` (to edit in place)."""
    for ctl in s["controllers"]:
        for sp in ctl["setpoints"]:
            if sp["name"] == name:
                return sp
    raise KeyError(name)


def reference_hall() -> dict:
    return copy.deepcopy(REFERENCE_HALL)


def reference_summary() -> dict:
    return copy.deepcopy(REFERENCE_SUMMARY)


#: Racks of the reference scene that are out of the band: (name, inlet °C).
HOT_RACKS = (("H08", 33.4), ("H09", 28.6), ("G11", 27.9))


def reference_scene() -> dict:
    """reference.toml at steady state with H08 above the allowable band and H09, G11 above the recommended
    one (a hot spot in the high-density row and its neighbour across the contained aisle)."""
    s = reference_summary()
    names = s["racks"]["name"]
    for name, t_c in HOT_RACKS:
        i = names.index(name)
        rise = s["racks"]["t_exhaust_c"][i] - s["racks"]["t_inlet_c"][i]
        s["racks"]["t_inlet_c"][i] = t_c
        s["racks"]["t_exhaust_c"][i] = round(t_c + rise, 4)
    s["hall"]["max_inlet_c"] = max(t for _, t in HOT_RACKS)
    s["hall"]["max_inlet_rack"] = "H08"
    s["hall"]["racks_outside_recommended"] = len(HOT_RACKS)
    s["hall"]["racks_outside_allowable"] = 1
    return s
