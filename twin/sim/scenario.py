"""Playing a scenario: its timed events applied to the twin's state between steps.

Events change what evolves (loads, trips, the utility) in the state, write setpoints through the
registry (like an operator would, with the registry's checks and ramps), and fail sensors in the
controllers that own them. Each applied event is logged with its outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

__all__ = ["ScenarioPlayer"]


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
        self._rows = {r.name: [i for i, rack in enumerate(self.twin.hall.racks) if rack.key.startswith(
            f"rows[{k}] ")] for k, r in enumerate(self.twin.hall.spec.rows)}

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

    def _apply(self, event, state: TwinState) -> str:
        twin = self.twin
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
            elif event.target in self._rows:
                idx = np.array(self._rows[event.target], dtype=int)
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
