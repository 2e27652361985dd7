"""The `twin` command line as a user or a script meets it: real files, exit codes, one-line errors, and the
summary contract of README ("Summary keys"). The shared runs (tests/sim/conftest.py), the bench and a few
error cases are real subprocesses, which check the process's own output and exit code; the many bad-input
cases and the runs whose files and summaries are checked call the same entry point in this process
(``twin_main``), which saves an interpreter start-up each."""

from __future__ import annotations

import argparse
import json
import math
import resource
from pathlib import Path

import numpy as np
import pytest

from tests.halls import CROSSING_ROW
from tests.sim.runs import CONTRACT_KEYS, TINY, bad_hall, twin_cli, twin_main
from twin.cli import parse_duration_s


def _one_error_line(proc, *, code: int = 2) -> str:
    """The single stderr line of a failed command, after checking exit code, silence on stdout, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


# --- twin run --json ----------------------------------------------------------------------------

def test_run_json_prints_one_object_with_the_contract_keys(run_10min):
    """`twin run --json` prints exactly one JSON object on one line, with every contract key, and nothing on stderr."""
    proc, _ = run_10min
    summary = json.loads(proc.stdout)  # fails on anything before or after the object
    assert isinstance(summary, dict)
    assert proc.stdout.count("\n") == 1 and proc.stdout.endswith("}\n")
    assert set(CONTRACT_KEYS) <= summary.keys()
    assert proc.stderr == ""


def test_run_summary_figures_are_consistent(run_10min):
    """Steps × dt = sim_s = 600, rtf = sim_s / wall_s, 4 racks, energy conserved, timings add up."""
    summary = json.loads(run_10min[0].stdout)
    assert summary["mode"] == "transient" and summary["interrupted"] is False
    assert summary["steps"] * summary["dt_s"] == summary["sim_s"] == 600
    assert summary["rtf"] == pytest.approx(summary["sim_s"] / summary["wall_s"], rel=1e-2)
    assert summary["racks"] == 4 and summary["crahs"] == 1
    assert summary["it_load_kw"] == pytest.approx(4.0 + 6.0 + 8.0 + 5.0)
    assert abs(summary["energy_balance_error"]) < 1e-3
    assert summary["cells"] == math.prod(summary["grid"]) and 0 < summary["fluid_cells"] < summary["cells"]
    assert 0 <= summary["racks_outside_recommended"] <= summary["racks"]
    assert summary["mean_inlet_c"] <= summary["max_inlet_c"]
    # The wall time covers both parts that are timed apart (each figure is rounded to 0.1 ms).
    assert summary["solver_s"] + summary["tracker_s"] <= summary["wall_s"] + 2e-4


def test_run_outputs_exist_and_summary_file_matches(run_10min):
    """Every listed output exists, nothing else is left in DIR, and summary.json equals the printed JSON."""
    proc, out_dir = run_10min
    summary = json.loads(proc.stdout)
    outputs = [Path(p) for p in summary["outputs"]]
    assert all(p.is_file() for p in outputs), outputs
    assert set(outputs) == {out_dir / "timeseries.parquet", out_dir / "summary.json",
                            out_dir / "fields" / "t_00000000s.vti", out_dir / "fields" / "t_00000600s.vti",
                            out_dir / "fields" / "fields.pvd"}
    left = {p for p in out_dir.rglob("*") if p.is_file()}
    assert left == set(outputs)  # no timeseries.parts/, no temporary files
    assert json.loads((out_dir / "summary.json").read_text(encoding="utf-8")) == summary


def test_run_human_output_without_json(tmp_path, capsys):
    """Without --json, `twin run` prints a short human summary (no JSON) that lists its outputs."""
    proc = twin_main(capsys, "run", TINY, "--duration", "120s", "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert not proc.stdout.lstrip().startswith("{")
    assert "Tiny test hall (transient)" in proc.stdout
    assert str(tmp_path / "out" / "summary.json") in proc.stdout


def test_run_hall_without_racks_reports_null_inlets(tmp_path, capsys):
    """A hall with no racks (allowed: e.g. before fit-out) runs; inlet figures are null, summary.json strict JSON."""
    text = TINY.read_text(encoding="utf-8")
    path = tmp_path / "no-racks.toml"
    path.write_text(text[:text.index("[[rows]]")] + text[text.index("[[crahs]]"):], encoding="utf-8")
    proc = twin_main(capsys, "run", path, "--duration", "120s", "--out", tmp_path / "out", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["racks"] == 0 and summary["racks_outside_recommended"] == 0
    assert summary["max_inlet_c"] is None and summary["mean_inlet_c"] is None
    assert json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8")) == summary
    human = twin_main(capsys, "run", path, "--duration", "120s", "--out", tmp_path / "out")
    assert human.returncode == 0 and "no racks" in human.stdout, human.stderr


# --- twin run --steady --------------------------------------------------------------------------

def test_steady_agrees_with_a_long_transient_run(run_3h, tmp_path, capsys):
    """`twin run --steady --json` gives the hottest inlet of a settled 3 h run within 0.1 K, heat out = heat in."""
    transient = json.loads(run_3h[0].stdout)
    proc = twin_main(capsys, "run", TINY, "--steady", "--json", "--out", tmp_path / "steady")
    assert proc.returncode == 0, proc.stderr
    steady = json.loads(proc.stdout)
    assert steady["mode"] == "steady"
    assert set(CONTRACT_KEYS) <= steady.keys()
    assert steady["max_inlet_c"] == pytest.approx(transient["max_inlet_c"], abs=0.1)
    assert steady["mean_inlet_c"] == pytest.approx(transient["mean_inlet_c"], abs=0.1)
    assert steady["max_inlet_rack"] == transient["max_inlet_rack"]
    assert steady["heat_removed_kw"] == pytest.approx(steady["heat_released_kw"], rel=1e-6)
    assert steady["heat_released_kw"] > steady["it_load_kw"] + steady["crah_fan_power_kw"]  # + PSU, PDU losses
    assert abs(steady["energy_balance_error"]) < 1e-3
    assert [Path(p).name for p in steady["outputs"]] == ["steady.vti", "summary.json"]
    assert all(Path(p).is_file() for p in steady["outputs"])
    assert json.loads((tmp_path / "steady" / "summary.json").read_text(encoding="utf-8")) == steady


def test_steady_without_enough_cooling_exits_3(tmp_path, capsys):
    """A hall with more heat than cooling capacity has no steady state: exit 3, one line, no traceback."""
    path = bad_hall(tmp_path, ("it_kw = [4.0, 6.0, 8.0, 5.0]", "it_kw = [14.0, 14.0, 14.0, 14.0]"))
    line = _one_error_line(twin_main(capsys, "run", path, "--steady", "--json", "--out", tmp_path / "out"), code=3)
    assert str(path) in line and "no steady state" in line


# --- twin bench ---------------------------------------------------------------------------------

def test_bench_prints_figures_and_writes_nothing(tmp_path):
    """`twin bench --json` prints the contract keys and step_ms, lists no outputs and writes no file;
    --no-power-check leaves out the pandapower comparison (test_airflow_models keeps it and finds it)."""
    proc = twin_cli("bench", TINY, "--duration", "5min", "--no-power-check", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert set(CONTRACT_KEYS) | {"step_ms", "setup_s"} <= summary.keys()
    assert summary["mode"] == "bench"
    assert summary["outputs"] == []
    assert "power_solve" not in summary
    assert list(tmp_path.iterdir()) == []
    assert summary["steps"] * summary["dt_s"] == summary["sim_s"] == 300
    assert summary["step_ms"] > 0
    assert summary["step_ms"] == pytest.approx(1e3 * summary["solver_s"] / summary["steps"], rel=0.02, abs=2e-3)
    # Peak memory: the kernel's own count of this child's peak (getrusage) bounds what the bench read from /proc
    # (a unit slip, kB for bytes, fails one side or the other); numpy and scipy alone hold more than 50 MB.
    mem = summary["memory"]
    child_peak_bytes = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    assert 50e6 < mem["peak_bytes"] <= child_peak_bytes
    assert 0 < mem["twin_peak_bytes"] < mem["peak_bytes"]
    assert mem["peak_bytes_per_cell"] == pytest.approx(mem["peak_bytes"] / summary["cells"], abs=0.1)


# --- twin validate and user errors --------------------------------------------------------------

def test_validate_good_file():
    """`twin validate tiny.toml` exits 0 and says ok, naming the file."""
    proc = twin_cli("validate", TINY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{TINY}: ok") and proc.stderr == ""


@pytest.mark.parametrize(
    ("edits", "append", "key_path"),
    [
        ((("count = 4\n", "count = 4\nit_kww = 5.0\n"),), "", "rows[0].it_kww"),
        ((("fan_speed = 0.8", "fan_speed = 1.5"),), "", "crahs[0].fan_speed"),
        ((), CROSSING_ROW, "rows[1] (rack 5)"),
        ((("cell_m = 0.5", 'cell_m = "0.5"'),), "", "hall.cell_m"),
        ((("count = 4", 'count = "4"'),), "", "rows[0].count"),
        ((("fan_speed = 0.8", "fan_speed = true"),), "", "crahs[0].fan_speed"),
        ((("rack_size_m = [0.5, 1.0, 2.0]", "rack_size_m = [0.2, 1.0, 2.0]"),), "", "rows[0] (rack 1)"),
        ((("start_m = [1.0, 2.5]", "start_m = [1.0, 0.0]"),), "", "rows[0] (rack 1)"),
    ],
    ids=["unknown-key", "out-of-range", "overlapping-racks", "string-for-number", "string-for-integer",
         "boolean-for-number", "rack-smaller-than-a-cell", "intake-against-the-wall"],
)
def test_validate_bad_file_is_one_line(tmp_path, capsys, edits, append, key_path):
    """A bad hall file: exit 2 and one stderr line naming the file and the key path, no traceback."""
    path = bad_hall(tmp_path, *edits, append=append)
    line = _one_error_line(twin_main(capsys, "validate", path))
    assert line.startswith(f"twin validate: error: {path}: {key_path}"), line


def test_run_bad_hall_file_is_one_line_and_writes_nothing(tmp_path):
    """`twin run` on a bad hall file: exit 2, one line naming file and key, and no output folder."""
    path = bad_hall(tmp_path, ("count = 4\n", "count = 4\nit_kww = 5.0\n"))
    line = _one_error_line(twin_cli("run", path, "--duration", "120s", "--out", tmp_path / "out", "--json"))
    assert line.startswith(f"twin run: error: {path}: rows[0].it_kww"), line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("duration", ["10parsecs", "1e400", "-5"])
def test_run_bad_duration_is_one_line(tmp_path, capsys, duration):
    """A bad --duration: exit 2 and one line naming the option and the value, before any work."""
    line = _one_error_line(twin_main(capsys, "run", TINY, "--duration", duration, "--out", tmp_path / "out"))
    assert "--duration" in line and duration in line, line
    assert not (tmp_path / "out").exists()


def test_run_out_naming_a_file_is_one_line(tmp_path, capsys):
    """--out pointing at an existing file is a user error: exit 2, one line naming it, no traceback."""
    not_a_dir = tmp_path / "taken"
    not_a_dir.write_text("x", encoding="utf-8")
    line = _one_error_line(twin_main(capsys, "run", TINY, "--duration", "120s", "--out", not_a_dir))
    assert str(not_a_dir) in line, line


# --- parse_duration_s ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "seconds"),
    [("600", 600), ("10min", 600), ("1h", 3600), ("1.5h", 5400), ("90s", 90), ("2d", 172800), (" 10 min ", 600)],
)
def test_parse_duration_accepts(text, seconds):
    """Plain seconds and seconds, minutes, hours, days with a unit."""
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "-5", "0", "0s", "10parsecs", "500ms", "1e400", "inf", "nan", "1h30"])
def test_parse_duration_rejects(text):
    """Empty, non-numeric, negative, zero, unknown units and non-finite values are argparse errors."""
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration_s(text)


def test_validate_file_that_is_not_text_is_one_line(tmp_path, capsys):
    """Bytes that are not UTF-8 text: one line saying so, not a decoding traceback."""
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    line = _one_error_line(twin_main(capsys, "validate", path))
    assert line.startswith(f"twin validate: error: {path}: not a UTF-8 text file"), line


def test_corrupt_glb_mesh_is_one_line(tmp_path, capsys, monkeypatch):
    """A hall naming a GLB that is not one: validate and run both say so in one line."""
    # The broken mesh goes into a meshes folder of this test's own, not into assets/meshes/: a file
    # appearing there would change what the bundled-mesh tests of another xdist worker collect.
    meshes = tmp_path / "assets" / "meshes"
    meshes.mkdir(parents=True)
    (meshes / "test-broken.glb").write_bytes(b"glTF\x02\x00\x00\x00garbage-not-a-mesh")
    monkeypatch.setattr("twin.model.checks.ASSETS_DIR", tmp_path / "assets")
    path = bad_hall(tmp_path, append='\n[[obstacles]]\nname = "col"\nposition_m = [5.0, 0.5, 0.0]\n'
                                      'size_m = [0.5, 0.5, 3.0]\nmesh = "test-broken.glb"\n')
    for command in (["validate", path], ["run", path, "--duration", "60", "--out", tmp_path / "o"]):
        line = _one_error_line(twin_main(capsys, *command))
        assert "test-broken.glb: not a readable GLB mesh" in line, line


def test_failed_run_keeps_the_previous_results(tmp_path, capsys):
    """A run that fails on its input leaves the last run's outputs in the folder untouched."""
    out = tmp_path / "out"
    assert twin_main(capsys, "run", TINY, "--duration", "60", "--out", out).returncode == 0
    before = sorted(p.name for p in out.rglob("*"))
    path = bad_hall(tmp_path, ("start_m = [1.0, 2.5]", "start_m = [1.0, 0.0]"))  # intake against the wall
    _one_error_line(twin_main(capsys, "run", path, "--duration", "60", "--out", out))
    assert sorted(p.name for p in out.rglob("*")) == before


def test_progress_bar_goes_to_stderr_not_stdout(tmp_path):
    """With stderr on a terminal and stdout piped, the bar is drawn on stderr; stdout stays clean."""
    import os
    import pty
    import subprocess

    from tests.sim.runs import twin_command

    leader, follower = pty.openpty()
    proc = subprocess.run(twin_command("run", TINY, "--duration", "20min", "--out", tmp_path / "o"),
                          stdout=subprocess.PIPE, stderr=follower, timeout=120, check=False)
    os.close(follower)
    drawn = b""
    try:
        while chunk := os.read(leader, 65536):
            drawn += chunk
    except OSError:  # the pty is closed once read empty
        pass
    os.close(leader)
    assert proc.returncode == 0
    assert b"simulating" in drawn
    assert b"simulating" not in proc.stdout and proc.stdout.decode().startswith("Tiny test hall")


def test_export_csv_writes_the_time_series_with_units_in_the_header(run_10min, tmp_path):
    """`twin export RUN --csv FILE`: the Parquet columns in order, headed 'name [unit]', values equal on read-back."""
    import pandas as pd
    import pyarrow.parquet as pq

    out_dir = run_10min[1]
    csv_path = tmp_path / "series.csv"
    proc = twin_cli("export", out_dir, "--csv", csv_path)
    assert proc.returncode == 0, proc.stderr
    assert str(csv_path) in proc.stdout
    table = pq.read_table(out_dir / "timeseries.parquet")
    frame = pd.read_csv(csv_path)
    units = [f.metadata[b"unit"].decode() for f in table.schema]
    assert list(frame.columns) == [f"{name} [{unit}]" for name, unit in zip(table.column_names, units)]
    assert "rack.A01.t_inlet_c [degC]" in frame.columns and "crah.CRAH-01.tripped [1]" in frame.columns
    assert frame["crah.CRAH-01.running [1]"].dtype == bool  # written as true/false, read back as booleans
    for name, unit in zip(table.column_names, units):
        np.testing.assert_allclose(frame[f"{name} [{unit}]"].to_numpy(dtype=float),
                                   table.column(name).to_numpy().astype(float), rtol=1e-12, err_msg=name)


def test_export_csv_of_a_folder_that_is_no_run_says_so(tmp_path, capsys):
    """A folder without a time series: one line naming it, exit 2, no traceback."""
    proc = twin_main(capsys, "export", tmp_path, "--csv")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and str(tmp_path) in proc.stderr and "twin run" in proc.stderr


def test_bench_dt_study_errors_shrink_with_the_time_step():
    """`twin bench --dt-study`: backward Euler is first order, so the rack-inlet error against dt = 0.25 s
    grows with dt (roughly in proportion once dt is well above the reference), and the 0.1 K verdict
    follows the maximum; controllers report their own periods and the interval dt leaves them."""
    proc = twin_cli("bench", TINY, "--dt-study", "--duration", "2min", "--json", timeout_s=300)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    runs = {row["dt_s"]: row for row in r["runs"]}
    assert r["reference_dt_s"] == 0.25 and sorted(runs) == [0.5, 1.0, 2.0, 5.0]
    rms = [runs[dt]["inlet_rms_k"] for dt in sorted(runs)]
    assert all(a < b for a, b in zip(rms, rms[1:])), rms
    assert 0 < rms[0] and 1.5 < runs[5.0]["inlet_rms_k"] / runs[2.0]["inlet_rms_k"] < 5.0
    for row in runs.values():
        assert row["within_0_1k"] == (row["inlet_max_k"] <= 0.1)
        supply = row["controller_sampling"]["supply"]
        assert supply["period_s"] == 1.0 and supply["effective_s"] == max(1.0, row["dt_s"])


def test_twin_run_ends_without_the_interpreter_teardown_and_other_commands_with_it(tmp_path):
    """The console command (twin.cli.entry) ends `twin run` with os._exit once its output is flushed: an atexit
    handler registered before it does not run, yet the printed summary and the files are complete and the exit
    code is the command's; `twin validate` ends as usual (the handler runs)."""
    import subprocess
    import sys

    prog = ("import atexit, sys; atexit.register(lambda: print('TEARDOWN', file=sys.stderr)); "
            "from twin.cli import entry; entry()")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-c", prog, "run", str(TINY), "--duration", "60", "--json", "--out",
                          str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "TEARDOWN" not in run.stderr
    assert json.loads(run.stdout) == json.loads((out / "summary.json").read_text())
    bad = subprocess.run([sys.executable, "-c", prog, "run", str(tmp_path / "missing.toml")], capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 2 and "TEARDOWN" not in bad.stderr and "missing.toml" in bad.stderr
    other = subprocess.run([sys.executable, "-c", prog, "validate", str(TINY)], capture_output=True, text=True,
                           timeout=300)
    assert other.returncode == 0 and "TEARDOWN" in other.stderr
