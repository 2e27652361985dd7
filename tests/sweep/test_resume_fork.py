"""A sweep continues where it stopped (--resume keeps finished cases), and forks a running twin's state
from a checkpoint (--from)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.sim.runs import TINY, twin_main
from twin.model.load import load_hall
from twin.sim.checkpoint import load_checkpoint, save_checkpoint
from twin.sim.twin import HallTwin
from twin.sweep.cases import n_minus_1
from twin.sweep.command import job_for
from twin.sweep.engine import run_sweep
from twin.sweep.report import read_rows, write_parquet

pytestmark = pytest.mark.slow  # uses the package's two-worker LocalCluster (conftest.py)


def test_resume_keeps_finished_cases_and_runs_the_rest(client, tmp_path, capsys):
    """Cut a finished sweep's table to 6 of 14 rows (as Ctrl-C leaves it): --resume keeps the 5 that ran
    as they were (same wall times: not run again), and runs again the failed one (a lost worker is worth a
    retry) and the 8 others."""
    out = tmp_path / "sw"
    args = ("sweep", "tiny", "--n-1", "all", "--json", "--out", out, "--scheduler", client.scheduler.address)
    assert twin_main(capsys, *args).returncode == 0
    rows = read_rows(out / "cases.parquet")
    assert rows[1]["status"] == "error"  # without tiny's only CRAH: no steady state
    kept = [rows[0]] + rows[2:4] + rows[-2:]
    write_parquet([*kept, rows[1]], out / "cases.parquet")
    proc = twin_main(capsys, *args, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["resumed"] == 5
    again = {r["case"]: r for r in read_rows(out / "cases.parquet")}
    assert len(again) == 14
    for r in kept:
        assert again[r["case"]]["wall_s"] == r["wall_s"]
    assert [r["case"] for r in read_rows(out / "cases.parquet")] == [r["case"] for r in rows]


def test_sweep_from_checkpoint_forks_the_running_state(client, tmp_path):
    """Cases started from a checkpoint of a running twin (embedded control, 2 min in) equal the same
    failure applied by hand to the restored state and stepped in this process."""
    hall = load_hall(TINY)
    twin = HallTwin(hall, control="embedded")
    state = twin.initial_state()
    for _ in range(120):
        twin.step(state)
    path = tmp_path / "running.npz"
    save_checkpoint(path, twin, state)
    job = job_for(hall, airflow=None, control="embedded", checkpoint=path)
    cases = n_minus_1(hall, "crah", duration_s=60.0)
    rows = run_sweep(job, cases, client=client).rows
    assert [r["status"] for r in rows] != ["error"] * 2, rows
    fresh = HallTwin(hall, control="embedded")
    ref = load_checkpoint(path, fresh)
    ref.crah_tripped[0], ref.crah_running[0] = True, False
    fresh.power.place_losses(ref, fresh.crah_fan_power_w(ref))
    for _ in range(60):
        fresh.step(ref)
    np.testing.assert_allclose(rows[1]["rack_inlet_c"], ref.t_intake_c, rtol=0, atol=1e-9)
    assert rows[1]["max_inlet_c"] > rows[0]["max_inlet_c"]  # a minute without its CRAH: warmer
