"""The one grammar of durations (twin.model.units), and every reader of durations using it."""

from __future__ import annotations

import argparse

import pytest

from twin.model.units import parse_duration_s


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("600", 600), ("90s", 90), ("90 sec", 90), ("10min", 600), ("10m", 600), ("1h", 3600), ("1hr", 3600),
     ("1.5h", 5400), (".5h", 1800), ("2d", 172800), ("1e3", 1000), (" 10 MIN ", 600), (30, 30), (1.5, 1.5)],
)
def test_accepted(text, seconds):
    """Bare seconds, or a number with s/sec, m/min, h/hr or d, any case, blanks around the unit."""
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "soon", "-5", "+5", "1h30", "500ms", "10parsecs", "1 h 30 min", "inf", "nan", "1,5h", "h", True],
)
def test_refused_outside_the_grammar(text):
    """Anything else is refused with a message that names the units allowed and gives examples."""
    with pytest.raises(ValueError, match=r"is not a duration: write seconds, or a number with a unit s, min, h or d"):
        parse_duration_s(text)


@pytest.mark.parametrize("text", ["0", "0s", "0.0h", 0, "1e400", float("inf")])
def test_refused_zero_or_infinite(text):
    """Zero and non-finite values are durations in form but not in value: 'must be positive and finite'."""
    with pytest.raises(ValueError, match="must be positive and finite"):
        parse_duration_s(text)


def test_zero_where_allowed():
    """Scenario times may be zero (an event at the start), never negative."""
    assert parse_duration_s("0s", allow_zero=True) == 0.0
    with pytest.raises(ValueError, match="finite and ≥ 0"):
        parse_duration_s(float("nan"), allow_zero=True)


def test_every_reader_shares_the_grammar(tmp_path):
    """The CLI, the console's options, scenario files and the shelve dialog read '1hr' alike, and refuse
    '1h30' alike (once, two grammars disagreed on '1hr')."""
    import tui.cli
    import tui.dialogs.shelve
    import twin.cli
    from tests.halls import TINY
    from twin.model.load import load_hall
    from twin.model.scenario import ScenarioError, parse_scenario

    assert twin.cli.parse_duration_s("1hr") == 3600
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
        twin.cli.parse_duration_s("1h30")
    parser = argparse.ArgumentParser()
    tui.cli.add_parsers(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["console", "--trend-window", "1hr"]).trend_window == 3600
    assert tui.dialogs.shelve.parse_duration_s is parse_duration_s
    hall = load_hall(TINY)
    event = {"at": "1hr", "kind": "crah_trip", "target": hall.crahs[0].name}
    assert parse_scenario({"scenario": {"name": "x"}, "events": [event]}, hall=hall).events[0].at == 3600
    with pytest.raises(ScenarioError, match="not a duration"):
        parse_scenario({"scenario": {"name": "x"}, "events": [{**event, "at": "1h30"}]}, hall=hall)
