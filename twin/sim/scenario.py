"""Playing a scenario: its timed events applied to the twin's state between steps.

Events change what evolves (loads, trips, the utility) in the state, write setpoints through the
registry (like an operator would, with the registry's checks and ramps), and fail sensors in the
controllers that own them. Each applied event is logged with its outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.model.scenario import (
    CrahEvent,
    RackLoadEvent,
    ScenarioModel,
    SensorEvent,
    SetpointEvent,
    UtilityEvent,
    check_targets,
)
from twin.sim.twin import HallTwin, TwinState

__all__ = ["ScenarioPlayer", "apply_event"]


@dataclass
class ScenarioPlayer:
    """Applies a scenario's events when their time comes; call :meth:`apply_due` before every step."""

    twin: HallTwin
    scenario: ScenarioModel
    log: list[dict] = field(default_factory=list)
    _next: int = 0

    def __post_init__(self) -> None:
        controls = self.twin.controls
        # Under ideal control there are no setpoints or sensors to check: those events are logged as ignored.
        check_targets(self.scenario, self.twin.hall, where=str(self.scenario.path or "<scenario>"),
                      setpoints=set(controls.registry.names()) if controls else None,
                      sensors=set(controls.sensors()) if controls else None)
        self._events = self.scenario.events
        self._rows = _rows_of(self.twin)

    def apply_due(self, state: TwinState) -> None:
        """Apply every event whose time has come (at or before the start of the coming step)."""
        t = state.time_s
        if self.scenario.spec.outdoor is not None:
            state.outdoor_temp_c = self.scenario.outdoor_temp_c(t, state.outdoor_temp_c)
        while self._next < len(self._events) and self._events[self._next].at <= t + 1e-9:
            event = self._events[self._next]
            self._next += 1
            outcome = self._apply(event, state)
            self.log.append({"time_s": t, "kind": event.kind, "target": getattr(event, "target", None),
                             "outcome": outcome})

    def state_dict(self) -> dict[str, Any]:
        """How far the scenario has played (index of the next event) and its log, for checkpoints.

        Everything an applied event changed lives in the state, the controllers or the power chain,
        which checkpoints save themselves; only the position in the event list is the player's own.
        """
        return {"next": self._next, "log": [dict(entry) for entry in self.log]}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (a player of the same scenario)."""
        n = int(d["next"])
        if not 0 <= n <= len(self._events):
            raise ValueError(f"next event {n} outside 0…{len(self._events)}")
        self._next = n
        self.log = [dict(entry) for entry in d["log"]]

    def _apply(self, event, state: TwinState) -> str:
        return apply_event(self.twin, event, state, rows=self._rows)


def apply_event(twin: HallTwin, event, state: TwinState, *, rows: dict[str, list[int]] | None = None) -> str:
    """Apply one event to the state now and say what came of it (scenario players and the bus use it).

    ``rows``: rack indices by row name (computed from the hall when not given).
    """
    if rows is None:
        rows = _rows_of(twin)
    if isinstance(event, CrahEvent):
        k = twin.crahs.names.index(event.target)
        state.crah_tripped[k] = event.kind == "crah_trip"
        return "tripped" if state.crah_tripped[k] else "restarted"
    if isinstance(event, UtilityEvent):
        if event.kind == "utility_outage":
            state.utility_ok = False
        elif event.kind == "utility_return":
            state.utility_ok = True
        elif twin.power is not None:
            twin.power.ats.fail_to_start = True
        else:
            return "ignored: the hall has no power chain"
        return "applied"
    if isinstance(event, RackLoadEvent):
        if event.target == "*":
            idx = np.arange(twin.n_racks)
        elif event.target in rows:
            idx = np.array(rows[event.target], dtype=int)
        else:
            idx = np.array([twin.racks.names.index(event.target)])
        new_w = event.it_kw * 1e3 if event.it_kw is not None else state.rack_it_w[idx] * event.scale
        state.rack_it_w = state.rack_it_w.copy()
        state.rack_it_w[idx] = new_w
        # The new load heats the hall from this step on (with the chain's losses where there is one).
        if twin.power is None:
            state.rack_heat_w = state.rack_it_w * state.rack_powered
        else:
            twin.power.place_losses(state)
        return f"{len(idx)} racks"
    if isinstance(event, SetpointEvent):
        if twin.controls is None:
            return "ignored: ideal control has no setpoint registry"
        result = twin.controls.registry.write(event.target, event.value, "engineer", state.time_s)
        return f"{result.status}: {result.reason}" if result.reason else result.status
    if isinstance(event, SensorEvent):
        if twin.controls is None:
            return "ignored: ideal control has no sensors"
        mode = "ok" if event.kind == "sensor_repair" else event.mode
        twin.controls.fail_sensor(event.target, mode, state.time_s)
        return mode
    return "unknown event"


def _rows_of(twin: HallTwin) -> dict[str, list[int]]:
    return {r.name: [i for i, rack in enumerate(twin.hall.racks) if rack.key.startswith(f"rows[{k}] ")]
            for k, r in enumerate(twin.hall.spec.rows)}
