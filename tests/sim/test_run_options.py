"""`twin run` options: starting from the steady state, re-using an output folder, sub-second steps. The runs
call the CLI's entry point in this process (``twin_main``): what they check is the files and summaries written,
not the process (tests/sim/test_cli.py keeps real subprocesses for that)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.sim.runs import TINY, twin_main


@pytest.mark.parametrize(("control", "tolerance_k"), [("ideal", 0.01), ("embedded", 0.1)])
def test_run_from_steady_state_stays_there(tmp_path, capsys, control, tolerance_k):
    """--from-steady: the hall starts settled, so inlets stay at the steady values and energy still closes
    (within the sensor noise the embedded controllers act on)."""
    steady = json.loads(twin_main(capsys, "run", TINY, "--steady", "--json", "--out", tmp_path / "s").stdout)
    proc = twin_main(capsys, "run", TINY, "--from-steady", "--duration", "20min", "--control", control, "--json",
                     "--out", tmp_path / "r")
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)
    assert run["initial"] == "steady" and run["control"] == control
    assert abs(run["max_inlet_c"] - steady["max_inlet_c"]) < tolerance_k
    assert abs(run["energy_balance_error"]) < 1e-6
    series = pq.read_table(tmp_path / "r" / "timeseries.parquet")
    inlet = series.column("hall.max_inlet_c").to_numpy()
    assert np.ptp(inlet) < tolerance_k  # no start-up transient (a still-air start moves it by kelvins)


def test_rerun_into_same_folder_leaves_no_stale_outputs(tmp_path, capsys):
    """A second, shorter run into the same folder removes the first run's later field snapshots."""
    out = tmp_path / "out"
    assert twin_main(capsys, "run", TINY, "--duration", "30min", "--out", out).returncode == 0
    assert (out / "fields" / "t_00001800s.vti").is_file()
    proc = twin_main(capsys, "run", TINY, "--duration", "10min", "--json", "--out", out)
    assert proc.returncode == 0, proc.stderr
    listed = {str(p) for p in json.loads(proc.stdout)["outputs"]}
    on_disk = {str(p) for p in out.rglob("*") if p.is_file()}
    assert on_disk == listed


def test_sub_second_steps_name_field_snapshots_apart(tmp_path, capsys):
    """With dt = 0.5 s and snapshots every 1.5 s, no two snapshot times share a file name."""
    out = tmp_path / "out"
    proc = twin_main(capsys, "run", TINY, "--duration", "6", "--dt", "0.5", "--fields-every", "1.5", "--json", "--out", out)
    assert proc.returncode == 0, proc.stderr
    fields = sorted((out / "fields").glob("*.vti"))
    assert len(fields) == 5  # t = 0, 1.5, 3, 4.5, 6
    assert any("0001.500s" in p.name for p in fields)


def test_records_land_on_multiples_of_the_interval(tmp_path, capsys):
    """dt = 3 s, records every 10 s: rows at the first step on or after each multiple of 10 s."""
    proc = twin_main(capsys, "run", TINY, "--duration", "60", "--dt", "3", "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr
    time_s = pq.read_table(tmp_path / "o" / "timeseries.parquet").column("time_s").to_pylist()
    assert time_s == [0.0, 12.0, 21.0, 30.0, 42.0, 51.0, 60.0]


def test_duration_not_a_whole_number_of_steps_is_one_line(tmp_path, capsys):
    """--duration 5 --dt 2 is refused in one line instead of silently simulating 4 s."""
    proc = twin_main(capsys, "run", TINY, "--duration", "5", "--dt", "2", "--out", tmp_path / "o")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "twin run: error: --duration/--dt: a duration of 5 s is not a whole number of 2 s steps"


def test_bad_scenario_file_is_one_line(tmp_path, capsys):
    """`twin run --scenario` with a target the hall lacks: exit 2, one line naming the file and key."""
    path = tmp_path / "bad.toml"
    path.write_text('[scenario]\nname = "x"\n\n[[events]]\nat = "1min"\nkind = "crah_trip"\ntarget = "CRAH-09"\n',
                    encoding="utf-8")
    proc = twin_main(capsys, "run", TINY, "--scenario", path, "--duration", "120", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"twin run: error: {path}: events[0].target: no CRAH named 'CRAH-09'; CRAHs: CRAH-01"


def test_a_scenario_without_duration_plays_for_its_files_duration(tmp_path, capsys):
    """`twin run --scenario FILE` without --duration plays the file's own duration (2 min here, not the
    1 h default that the shipped scenarios happen to share), and an explicit --duration wins."""
    path = tmp_path / "trip.toml"
    path.write_text('[scenario]\nname = "trip"\nduration = "2min"\n\n'
                    '[[events]]\nat = "1min"\nkind = "crah_trip"\ntarget = "CRAH-01"\n', encoding="utf-8")
    summary = json.loads(twin_main(capsys, "run", TINY, "--scenario", path, "--json", "--out", tmp_path / "a").stdout)
    assert summary["sim_s"] == 120.0
    assert [(e["time_s"], e["outcome"]) for e in summary["scenario"]["events"]] == [(60.0, "tripped")]
    summary = json.loads(twin_main(capsys, "run", TINY, "--scenario", path, "--duration", "90s", "--json",
                                   "--out", tmp_path / "b").stdout)
    assert summary["sim_s"] == 90.0
