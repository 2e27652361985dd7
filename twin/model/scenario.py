"""Scenario files (TOML): timed events played against a hall, validated like hall files.

```toml
[scenario]
name = "CRAH-03 trips"
duration = "1h"                # optional: default run length

[[events]]
at = "10min"                   # seconds or a duration with a unit
kind = "crah_trip"
target = "CRAH-03"

[outdoor]                      # optional outdoor temperature profile, piecewise linear
points = [["0", 25.0], ["6h", 34.0]]
```

Event kinds and their keys:

| kind | target | other keys |
|---|---|---|
| crah_trip, crah_restart | a CRAH name | |
| utility_outage, utility_return | — | |
| generator_fail_to_start | — | |
| rack_load | a rack name, a row name, or "*" | it_kw (absolute) or scale (factor) |
| setpoint | a registered setpoint, e.g. "CRAH-01.supply_temp_setpoint" | value |
| sensor_fail | a sensor, e.g. "CRAH-02.return_temp" | mode: "stuck", "open" or "noisy" |
| sensor_repair | a sensor | |
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import Field, ValidationError, field_validator

from twin.model.load import HallError, HallModel, describe_validation_error, read_toml
from twin.model.strict import StrictModel
from twin.model.units import DURATION_PATTERN, parse_duration_s

#: What a duration may be written as in a file, for the JSON Schema (the validators convert it to seconds).
DurationInput = Union[float, Annotated[str, Field(pattern=DURATION_PATTERN)]]

__all__ = ["Event", "ScenarioError", "ScenarioModel", "check_event_target", "check_targets", "load_scenario",
           "parse_scenario", "EVENT_KINDS"]


class ScenarioError(HallError):
    """A user error in a scenario file (one line: file, key path, what is allowed)."""


_Strict = StrictModel


def _seconds(value: str | float | int, *, allow_zero: bool = True) -> float:
    return parse_duration_s(value, allow_zero=allow_zero)


class _EventBase(_Strict):
    at: float = Field(description="When the event happens: seconds of simulated time, or e.g. '10min'.")

    @field_validator("at", mode="before", json_schema_input_type=DurationInput)
    @classmethod
    def _duration(cls, v):
        return _seconds(v)


class CrahEvent(_EventBase):
    kind: Literal["crah_trip", "crah_restart"]
    target: str = Field(description="Name of the CRAH unit.")


class UtilityEvent(_EventBase):
    kind: Literal["utility_outage", "utility_return", "generator_fail_to_start"]


class RackLoadEvent(_EventBase):
    kind: Literal["rack_load"]
    target: str = Field(description="A rack name, a row name, or '*' for every rack.")
    it_kw: float | None = Field(default=None, ge=0.0, le=100.0, description="New IT load per rack, kW.")
    scale: float | None = Field(default=None, ge=0.0, le=10.0, description="Factor on the present IT load.")


class SetpointEvent(_EventBase):
    kind: Literal["setpoint"]
    target: str = Field(description="A registered setpoint, e.g. CRAH-01.supply_temp_setpoint.")
    value: float = Field(description="The value written (in the setpoint's unit).")


class SensorEvent(_EventBase):
    kind: Literal["sensor_fail", "sensor_repair"]
    target: str = Field(description="A sensor, e.g. CRAH-02.return_temp.")
    mode: Literal["stuck", "open", "noisy"] = Field(default="stuck", description="How the sensor fails.")


Event = Annotated[Union[CrahEvent, UtilityEvent, RackLoadEvent, SetpointEvent, SensorEvent],
                  Field(discriminator="kind")]
EVENT_KINDS = ("crah_trip", "crah_restart", "utility_outage", "utility_return", "generator_fail_to_start",
               "rack_load", "setpoint", "sensor_fail", "sensor_repair")


class ScenarioInfo(_Strict):
    name: str = Field(description="Name of the scenario, shown in reports.")
    description: str = Field(default="", description="What the scenario plays out.")
    duration: float | None = Field(default=None, description="Default run length, e.g. '1h'.")

    @field_validator("duration", mode="before", json_schema_input_type=DurationInput | None)
    @classmethod
    def _duration(cls, v):
        return None if v is None else _seconds(v, allow_zero=False)


class Outdoor(_Strict):
    points: list[tuple[float, float]] = Field(
        description="[time, temperature °C] pairs (time in seconds or e.g. '6h'), piecewise linear."
    )

    @field_validator("points", mode="before",
                     json_schema_input_type=list[tuple[DurationInput, Annotated[float, Field(ge=-40.0, le=55.0)]]])
    @classmethod
    def _times(cls, v):
        if not isinstance(v, list) or not v:
            raise ValueError("give at least one [time, temperature_c] pair")
        out = []
        for pair in v:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError("each point is a pair [time, temperature_c]")
            temp = pair[1]
            if isinstance(temp, bool) or not isinstance(temp, (int, float)) or not -40.0 <= temp <= 55.0:
                raise ValueError(f"temperature {temp!r} is not a number between -40 and 55 °C")
            out.append((_seconds(pair[0]), float(temp)))
        times = [t for t, _ in out]
        if times != sorted(times):
            raise ValueError("times must increase")
        return out


class Scenario(_Strict):
    scenario: ScenarioInfo
    events: list[Event] = []
    outdoor: Outdoor | None = None


@dataclass(frozen=True)
class ScenarioModel:
    path: Path | None
    spec: Scenario

    @property
    def name(self) -> str:
        return self.spec.scenario.name

    @property
    def events(self) -> list:
        """Events in time order (stable for events at the same time: file order)."""
        return sorted(self.spec.events, key=lambda e: e.at)

    def outdoor_temp_c(self, time_s: float, default_c: float) -> float:
        """Outdoor temperature at ``time_s`` from the profile (held flat beyond its ends)."""
        if self.spec.outdoor is None:
            return default_c
        pts = self.spec.outdoor.points
        if time_s <= pts[0][0]:
            return pts[0][1]
        for (t0, v0), (t1, v1) in zip(pts, pts[1:]):
            if time_s <= t1:
                return v0 + (v1 - v0) * (time_s - t0) / (t1 - t0) if t1 > t0 else v1
        return pts[-1][1]


def load_scenario(path: str | Path, hall: HallModel | None = None, *, setpoints: Set[str] | None = None,
                  sensors: Set[str] | None = None) -> ScenarioModel:
    """Read and validate a scenario file; with ``hall``, also check that its targets exist."""
    path = Path(path)
    return parse_scenario(read_toml(path, ScenarioError), source=path, hall=hall, setpoints=setpoints,
                          sensors=sensors)


def parse_scenario(data: dict, *, source: Path | None = None, hall: HallModel | None = None,
                   setpoints: Set[str] | None = None, sensors: Set[str] | None = None) -> ScenarioModel:
    where = str(source) if source else "<scenario>"
    try:
        spec = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(describe_validation_error(where, exc, Scenario)) from None
    model = ScenarioModel(source, spec)
    if hall is not None:
        check_targets(model, hall, where=where, setpoints=setpoints, sensors=sensors)
    return model


def check_targets(model: ScenarioModel, hall: HallModel, *, where: str, setpoints: Set[str] | None = None,
                  sensors: Set[str] | None = None) -> None:
    """Every event's target names something in the hall (one-line error listing what exists)."""
    for i, ev in enumerate(model.spec.events):
        check_event_target(ev, hall, where=f"{where}: events[{i}]", setpoints=setpoints, sensors=sensors)


def check_event_target(ev: Event, hall: HallModel, *, where: str, setpoints: Set[str] | None = None,
                       sensors: Set[str] | None = None) -> None:
    """One event's target names something in the hall; ``where`` prefixes the one-line error (file and
    key path of the event, e.g. ``"s.toml: events[2]"``)."""
    crahs = [c.name for c in hall.crahs]

    def short(names: Iterable[str]) -> str:
        names = sorted(names)
        return ", ".join(names[:12]) + (f", … ({len(names)} in all)" if len(names) > 12 else "")

    key = f"{where}.target"
    if isinstance(ev, CrahEvent) and ev.target not in crahs:
        raise ScenarioError(f"{key}: no CRAH named {ev.target!r}; CRAHs: {short(crahs)}")
    if isinstance(ev, RackLoadEvent):
        racks = {r.name for r in hall.racks}
        rows = {r.name for r in hall.spec.rows}
        if ev.target != "*" and ev.target not in racks and ev.target not in rows:
            raise ScenarioError(f"{key}: {ev.target!r} is neither a rack nor a row; rows: "
                                f"{short(rows)} (or a rack name, or '*')")
        if (ev.it_kw is None) == (ev.scale is None):
            raise ScenarioError(f"{where}: give exactly one of it_kw or scale")
    if isinstance(ev, SetpointEvent) and setpoints is not None and ev.target not in setpoints:
        raise ScenarioError(f"{key}: no setpoint {ev.target!r}; setpoints: {short(setpoints)}")
    if isinstance(ev, SensorEvent) and sensors is not None and ev.target not in sensors:
        raise ScenarioError(f"{key}: no sensor {ev.target!r}; sensors: {short(sensors)}")
