"""A run stopped part-way leaves readable files: Ctrl-C and SIGTERM finish the outputs and exit 128 + the signal number (130, 143); after
SIGKILL, every file under its final name is complete and the time-series parts read as one dataset."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from tests.sim.runs import REPO, TINY, read_pvd, read_vti, twin_command

DAY_S = 24 * 3600


def _start_day_long_run(out_dir: Path) -> subprocess.Popen:
    """`twin run tiny.toml --duration 24h` (about 10 s of wall time) in the background."""
    argv = twin_command("run", TINY, "--duration", "24h", "--record-every", "10s", "--out", out_dir)
    return subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_parts(proc: subprocess.Popen, parts_dir: Path, *, count: int, timeout_s: float = 30.0) -> None:
    """Poll until ``parts_dir`` holds ``count`` finished part files (the run is then well under way)."""
    deadline = time.monotonic() + timeout_s
    while len(list(parts_dir.glob("part-*.parquet"))) < count:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before writing {count} part(s): {proc.communicate()[1]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {count} part file(s) in {parts_dir} after {timeout_s} s")
        time.sleep(0.02)


@pytest.fixture
def day_long_run(tmp_path):
    """A started day-long run and its out dir; the process is killed at teardown if a test left it running."""
    out_dir = tmp_path / "out"
    proc = _start_day_long_run(out_dir)
    yield proc, out_dir
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopped_run_finishes_its_outputs(day_long_run, signum):
    """SIGINT/SIGTERM: exit 128 + signal, summary says interrupted, the Parquet reads back in order, no temp files."""
    proc, out_dir = day_long_run
    _wait_for_parts(proc, out_dir / "timeseries.parts", count=1)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr

    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["interrupted"] is True
    assert summary["signal"] == signal.Signals(signum).name
    assert 0 < summary["sim_s"] < DAY_S
    assert summary["steps"] * summary["dt_s"] == summary["sim_s"]
    assert all(Path(p).is_file() for p in summary["outputs"])

    time_s = pq.read_table(out_dir / "timeseries.parquet").column("time_s").to_numpy()
    assert time_s.size >= 60  # at least the part that was on disk before the signal
    assert np.all(np.diff(time_s) > 0)
    assert time_s[0] == 0 and time_s[-1] == summary["sim_s"]  # the state at the stop is recorded
    assert np.all(np.diff(time_s)[:-1] == 10.0)
    assert not (out_dir / "timeseries.parts").exists()
    assert [p for p in out_dir.rglob("*") if p.name.startswith(".")] == []


def test_killed_run_leaves_only_complete_files(day_long_run):
    """SIGKILL: each part file reads alone, the parts folder reads as one dataset, no half-written final file."""
    proc, out_dir = day_long_run
    parts_dir = out_dir / "timeseries.parts"
    _wait_for_parts(proc, parts_dir, count=2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    # Nothing that is only written at the end may exist, not even half-written.
    assert not (out_dir / "timeseries.parquet").exists()
    assert not (out_dir / "summary.json").exists()

    parts = sorted(parts_dir.glob("part-*.parquet"))
    assert len(parts) >= 2
    rows = [pq.read_table(part) for part in parts]  # raises on a truncated file
    assert all(table.num_rows > 0 for table in rows)
    dataset = ds.dataset(parts_dir, format="parquet")  # skips '.'-prefixed temporary files
    assert dataset.count_rows() == sum(table.num_rows for table in rows)
    assert dataset.schema.field("rack.A01.t_inlet_c").metadata[b"unit"] == b"degC"
    time_s = np.concatenate([table.column("time_s").to_numpy() for table in rows])
    assert time_s[0] == 0 and np.all(np.diff(time_s) == 10.0)  # parts in name order: no row lost or repeated
    # `twin export DIR --csv` reads the parts of a killed run: the same rows, in time order.
    from twin.sim.csvexport import write_timeseries_csv

    csv_rows = write_timeseries_csv(out_dir, out_dir.parent / "killed.csv").read_text(encoding="utf-8").splitlines()
    assert csv_rows[0].startswith('"time_s [s]","rack.A01.t_inlet_c [degC]"')
    assert [float(r.split(",")[0]) for r in csv_rows[1:]] == time_s.tolist()

    vtis = sorted((out_dir / "fields").glob("*.vti"))
    for path in vtis:  # field snapshots under their final names
        image, arrays = read_vti(path)
        assert image.GetNumberOfCells() > 0 and arrays["t_c"].size == image.GetNumberOfCells(), path
    # The collection is rewritten after each snapshot: it lists every one on disk with its time, except
    # that a kill between a snapshot's rename and the rewrite leaves that newest snapshot complete but not
    # yet listed (two files cannot be renamed at once). Every file it lists exists and reads.
    listed = read_pvd(out_dir / "fields" / "fields.pvd")
    assert len(listed) >= 1 and [p for _, p in listed] in (vtis, vtis[:-1])
    assert [t for t, _ in listed] == [float(p.stem[2:-1]) for _, p in listed]
    leftovers = [p for p in out_dir.rglob("*") if p.is_file() and p.suffix not in (".parquet", ".vti", ".pvd")]
    assert all(p.name.startswith(".") for p in leftovers), leftovers
