"""A `twin run` folder read back as the bus's view (twin.bus.offline.run_view): a tripped CRAH shows as tripped."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.halls import TINY
from twin.bus.offline import run_view

TRIP_AT_S = 60.0


@pytest.fixture(scope="module")
def tripped_run(tmp_path_factory):
    """tiny.toml for 3 min with its only CRAH tripped at 1 min and never restarted."""
    from twin.cli import main

    tmp = tmp_path_factory.mktemp("trip")
    scenario = tmp / "trip.toml"
    scenario.write_text(f'[scenario]\nname = "trip"\n[[events]]\nat = "{TRIP_AT_S:g}s"\nkind = "crah_trip"\n'
                        'target = "CRAH-01"\n', encoding="utf-8")
    out = tmp / "out"
    assert main(["run", str(TINY), "--duration", "3min", "--scenario", str(scenario), "--fields-every", "60s",
                 "--out", str(out), "--json"]) == 0
    return out


def test_tripped_crah_reads_as_tripped_from_the_run_folder(tripped_run):
    """The view says tripped, not running, still powered, while the trip alarm is active (not just 'stopped')."""
    view = run_view(tripped_run)
    crahs = view.summary["crahs"]
    assert crahs["name"] == ["CRAH-01"]
    assert crahs["tripped"] == [True] and crahs["running"] == [False] and crahs["powered"] == [True]
    assert crahs["flow_m3s"] == [0.0]
    active = [a["name"] for a in view.summary["alarms"]["active"]]
    assert any("CRAH-01" in name and "trip" in name for name in active), active


def test_crah_flags_are_boolean_columns_that_follow_the_trip(tripped_run):
    """crah.<name>.running/tripped/powered are Arrow booleans that switch at the trip, not before."""
    table = pq.read_table(tripped_run / "timeseries.parquet")
    for flag in ("running", "tripped", "powered"):
        assert table.schema.field(f"crah.CRAH-01.{flag}").type == pa.bool_()
    time_s = table.column("time_s").to_pylist()
    tripped = table.column("crah.CRAH-01.tripped").to_pylist()
    running = table.column("crah.CRAH-01.running").to_pylist()
    # The row at 60 s is the state the trip event then acts on; every later row is tripped.
    assert [t for t, x in zip(time_s, tripped) if x] == [t for t in time_s if t > TRIP_AT_S]
    assert running == [not x for x in tripped]
    assert all(table.column("crah.CRAH-01.powered").to_pylist())
    run = json.loads((tripped_run / "summary.json").read_text(encoding="utf-8"))
    assert run["scenario"]["events"]  # the trip was played
