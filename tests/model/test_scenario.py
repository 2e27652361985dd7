"""Scenario files: every shipped one loads against the reference hall; bad ones give one clear line."""

from __future__ import annotations

import pytest

from twin.model import ASSETS_DIR, bundled_hall
from twin.model.scenario import ScenarioError, load_scenario, parse_scenario

SHIPPED = sorted((ASSETS_DIR / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenarios_load_against_the_reference_hall(path):
    """Each shipped scenario validates, with its targets found in reference.toml."""
    model = load_scenario(path, bundled_hall("reference"))
    assert model.events and model.spec.scenario.duration == 3600.0
    assert [e.at for e in model.events] == sorted(e.at for e in model.events)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"at": "10min", "kind": "crah_trip", "target": "CRAH-99"}, "events[0].target: no CRAH named 'CRAH-99'; CRAHs: CRAH-01"),
        ({"at": "10min", "kind": "crah_trip", "targt": "CRAH-01"}, "events[0].targt: unknown key; allowed keys here: at, kind, target"),
        ({"at": "10parsec", "kind": "crah_trip", "target": "CRAH-01"}, "events[0].at: '10parsec' is not a duration"),
        ({"at": 60, "kind": "crah_explode", "target": "CRAH-01"}, "events[0]: Input tag 'crah_explode'"),
        ({"at": 60, "kind": "rack_load", "target": "A", "scale": -1}, "events[0].scale: Input should be greater than or equal to 0"),
        ({"at": 60, "kind": "rack_load", "target": "A"}, "events[0]: give exactly one of it_kw or scale"),
        ({"at": 60, "kind": "rack_load", "target": "Q", "scale": 2.0}, "events[0].target: 'Q' is neither a rack nor a row"),
        ({"at": "60", "kind": "setpoint", "target": "CRAH-01.supply_temp_setpoint", "value": "cold"},
         "events[0].value: Input should be a valid number"),
    ],
    ids=["unknown-crah", "misspelt-key", "bad-duration", "unknown-kind", "negative-scale", "no-load",
         "unknown-row", "string-value"],
)
def test_bad_event_is_one_line_naming_the_key(event, expected):
    """A bad event names the file, the key path and what is allowed."""
    with pytest.raises(ScenarioError) as info:
        parse_scenario({"scenario": {"name": "x"}, "events": [event]}, hall=bundled_hall("reference"))
    message = str(info.value)
    assert "\n" not in message and message.startswith("<scenario>: ")
    assert expected in message, message


def test_outdoor_profile_is_piecewise_linear_and_ordered():
    """The outdoor profile interpolates between its points, holds beyond them, and must be in time order."""
    model = parse_scenario({"scenario": {"name": "x"}, "outdoor": {"points": [["0", 20.0], ["1h", 30.0]]}})
    assert model.outdoor_temp_c(1800, 0.0) == pytest.approx(25.0)
    assert model.outdoor_temp_c(7200, 0.0) == 30.0
    with pytest.raises(ScenarioError, match="outdoor.points: times must increase"):
        parse_scenario({"scenario": {"name": "x"}, "outdoor": {"points": [["1h", 30.0], ["0", 20.0]]}})


@pytest.mark.parametrize("temp", [1000.0, float("nan"), "hot"])
def test_outdoor_temperature_outside_the_plausible_range_is_refused(temp):
    """Outdoor temperatures must be numbers within -40…55 °C, as in the hall file."""
    with pytest.raises(ScenarioError, match="outdoor.points: temperature"):
        parse_scenario({"scenario": {"name": "x"}, "outdoor": {"points": [["0", temp]]}})
