"""Playing a scenario: its timed events applied to the twin's state between steps.

Events change what evolves (loads, trips, the utility) in the state, write setpoints through the
registry (like an operator would, with the registry's checks and ramps), and fail sensors in the
controllers that own them. Each applied event is logged with its outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

import numpy as np

from twin.model.scenario import (
    CrahEvent,
    Event,
    RackLoadEvent,
    ScenarioModel,
    SensorEvent,
    SetpointEvent,
    UtilityEvent,
    check_targets,
)
from twin.sim.state import TwinState
from twin.sim.twin import HallTwin

__all__ = ["ScenarioPlayer", "apply_event", "rack_indices"]


@dataclass
class ScenarioPlayer:
    """Applies a scenario's events when their time comes; call :meth:`apply_due` before every step.

    The player holds the scenario only: how far it has played and what it applied are the state's
    (``state.scenario_next``, ``state.scenario_log``), so a forked or restored state goes on from there.
    """

    twin: HallTwin
    scenario: ScenarioModel

    def __post_init__(self) -> None:
        # Under ideal control there are no setpoints or sensors to check: those events are logged as ignored.
        check_targets(self.scenario, self.twin.hall, where=str(self.scenario.path or "<scenario>"),
                      setpoints=self.twin.setpoint_names, sensors=self.twin.sensor_names)
        self._events = self.scenario.events
        self._rows = _rows_of(self.twin)

    def apply_due(self, state: TwinState) -> None:
        """Apply every event whose time has come (at or before the start of the coming step)."""
        t = state.time_s
        if self.scenario.spec.outdoor is not None:
            state.outdoor_temp_c = self.scenario.outdoor_temp_c(t, state.outdoor_temp_c)
        if not 0 <= state.scenario_next <= len(self._events):
            raise ValueError(f"scenario position {state.scenario_next} outside 0…{len(self._events)}: "
                             f"the state was not played with this scenario")
        while state.scenario_next < len(self._events) and self._events[state.scenario_next].at <= t + 1e-9:
            event = self._events[state.scenario_next]
            state.scenario_next += 1
            outcome = self._apply(event, state)
            state.scenario_log.append({"time_s": t, "kind": event.kind, "target": getattr(event, "target", None),
                                       "outcome": outcome})

    def _apply(self, event: Event, state: TwinState) -> str:
        return apply_event(self.twin, event, state, rows=self._rows)


def apply_event(twin: HallTwin, event: Event, state: TwinState, *, rows: dict[str, list[int]] | None = None) -> str:
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
        elif state.power is not None:
            state.power.ats.fail_to_start = True
        else:
            return "ignored: the hall has no power chain"
        return "applied"
    if isinstance(event, RackLoadEvent):
        idx = rack_indices(twin, event.target, rows)
        new_w = event.it_kw * 1e3 if event.it_kw is not None else state.rack_it_w[idx] * event.scale
        state.rack_it_w = state.rack_it_w.copy()
        state.rack_it_w[idx] = new_w
        # The new load heats the hall from this step on (with the chain's losses where there is one).
        if twin.power is None:
            state.rack_heat_w = state.rack_it_w * state.rack_powered
        else:
            twin.power.place_losses(state, twin.crah_fan_power_w(state))
        return f"{len(idx)} racks"
    if isinstance(event, SetpointEvent):
        if state.controls is None:
            return "ignored: ideal control has no setpoint registry"
        result = state.controls.registry.write(event.target, event.value, "engineer", state.time_s)
        return f"{result.status}: {result.reason}" if result.reason else result.status
    if isinstance(event, SensorEvent):
        if state.controls is None:
            return "ignored: ideal control has no sensors"
        mode = "ok" if event.kind == "sensor_repair" else event.mode
        state.controls.fail_sensor(event.target, mode, state.time_s)
        return mode
    assert_never(event)  # mypy checks that every kind of Event is handled above


def rack_indices(twin: HallTwin, target: str, rows: dict[str, list[int]] | None = None) -> np.ndarray:
    """Indices of the racks a load target names: a rack, a row, or ``"*"`` for every rack (``rows``: rack
    indices by row name, computed from the hall when not given). Scenarios and sweeps both resolve so."""
    if target == "*":
        return np.arange(twin.n_racks)
    rows = _rows_of(twin) if rows is None else rows
    if target in rows:
        return np.array(rows[target], dtype=int)
    return np.array([twin.racks.names.index(target)])


def _rows_of(twin: HallTwin) -> dict[str, list[int]]:
    return {r.name: [i for i, rack in enumerate(twin.hall.racks) if rack.row == r.name] for r in twin.hall.spec.rows}
